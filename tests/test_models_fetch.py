"""``models fetch`` against a real HTTP server on 127.0.0.1 serving a copy of a shared model.

The server honours ``Range`` (as GitHub and Google storage do), can ignore it, and can close the
connection early to play a download cut short.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from edgepose.errors import ConfigError, InputError, UnavailableError
from edgepose.modelstore.fetch import ProgressBar, fetch, render
from edgepose.modelstore.manifest import ModelEntry, fetch_order, load_manifest
from tests.builders.cli import run_cli
from tests.builders.paths import MOVENET


@dataclass
class Behaviour:
    cut_after: int | None = None  # close the connection after this many body bytes (once)
    ranges: bool = True
    requests: list[dict[str, str]] = field(default_factory=list)


class Server:
    def __init__(self, root: Path) -> None:
        self.behaviour = Behaviour()
        behaviour_of = lambda: self.behaviour  # noqa: E731

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                b = behaviour_of()
                b.requests.append(dict(self.headers))
                path = root / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                rng = self.headers.get("Range")
                if rng and b.ranges:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if b.cut_after is not None:
                    self.wfile.write(body[: b.cut_after])
                    b.cut_after = None
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path: Path, movenet_path: Path) -> Iterator[Server]:
    root = tmp_path / "www"
    root.mkdir()
    shutil.copy(movenet_path, root / MOVENET)
    server = Server(root)
    yield server
    server.close()


def entry(sha: str = "", url: str = "https://example.invalid/x") -> ModelEntry:
    return ModelEntry("movenet_lightning_int8", MOVENET, url, sha)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_good_checksum_is_placed_atomically(tmp_path: Path, served: Server, movenet_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    out = fetch(entry(sha(movenet_path)), tmp_path / "cache", served.url, progress=lambda d, t: seen.append((d, t)))
    assert out == tmp_path / "cache" / MOVENET and out.read_bytes() == movenet_path.read_bytes()
    assert not (tmp_path / "cache" / (MOVENET + ".part")).exists()
    size = movenet_path.stat().st_size
    assert seen[-1] == (size, size) and len(seen) > 10


def test_bad_checksum_is_refused_and_the_partial_removed(tmp_path: Path, served: Server) -> None:
    with pytest.raises(InputError, match=r"checksum mismatch .* the download was removed") as err:
        fetch(entry("0" * 64), tmp_path / "cache", served.url)
    assert err.value.exit_code == 66
    assert list((tmp_path / "cache").iterdir()) == []


def test_interrupted_download_resumes_with_range(tmp_path: Path, served: Server, movenet_path: Path) -> None:
    served.behaviour.cut_after = 1_000_000
    part = tmp_path / "cache" / (MOVENET + ".part")
    with pytest.raises(UnavailableError, match="interrupted at 1000000 of 2894840 bytes") as err:
        fetch(entry(sha(movenet_path)), tmp_path / "cache", served.url)
    assert "again: it resumes" in (err.value.hint or "")
    assert part.stat().st_size == 1_000_000 and not (tmp_path / "cache" / MOVENET).exists()
    out = fetch(entry(sha(movenet_path)), tmp_path / "cache", served.url)
    assert served.behaviour.requests[-1].get("Range") == "bytes=1000000-"
    assert out.read_bytes() == movenet_path.read_bytes() and not part.exists()


def test_server_without_ranges_restarts_cleanly(tmp_path: Path, served: Server, movenet_path: Path) -> None:
    served.behaviour.cut_after = 500_000
    with pytest.raises(UnavailableError):
        fetch(entry(sha(movenet_path)), tmp_path / "cache", served.url)
    served.behaviour.ranges = False  # answers 200 with the whole file: the .part is replaced, not appended to
    out = fetch(entry(sha(movenet_path)), tmp_path / "cache", served.url)
    assert out.read_bytes() == movenet_path.read_bytes()


def test_a_stale_longer_partial_starts_over(tmp_path: Path, served: Server, movenet_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / (MOVENET + ".part")).write_bytes(b"x" * (movenet_path.stat().st_size + 10))  # server says 416
    out = fetch(entry(sha(movenet_path)), cache, served.url)
    assert out.read_bytes() == movenet_path.read_bytes()


def test_unknown_checksum_is_fetched_and_reported(
    tmp_path: Path, served: Server, caplog: pytest.LogCaptureFixture
) -> None:
    out = fetch(entry(""), tmp_path / "cache", served.url)
    assert f"sha256 of the download: {sha(out)}" in caplog.text


def test_missing_file_is_unavailable(tmp_path: Path, served: Server) -> None:
    with pytest.raises(UnavailableError, match="HTTP 404"):
        fetch(ModelEntry("nope", "nope.tflite", "x"), tmp_path, served.url)


def test_progress_bar_renders_and_throttles() -> None:
    assert render("m", 1_450_000, 2_900_000, width=10) == "m [#####.....]  50% 1.4/2.9 MB"
    assert render("m", 3_000_000, None) == "m 3.0 MB"
    now = [0.0]
    out = io.StringIO()
    bar = ProgressBar("m", out, interval=5.0, clock=lambda: now[0])
    bar(1, 100)
    bar(2, 100)  # within the interval: not written
    now[0] = 6.0
    bar(50, 100)
    bar(100, 100)  # the end is always written, once
    bar(100, 100)
    assert out.getvalue().count("\n") == 3 and out.getvalue().splitlines()[-1].endswith("100% 0.0/0.0 MB")


def test_cli_fetch_with_manifest_and_base_url(tmp_path: Path, served: Server, movenet_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {"models": [{"name": "m", "file": MOVENET, "url": "https://example.invalid/", "sha256": sha(movenet_path)}]}
        )
    )
    out = run_cli(
        "models", "fetch", "m", "--manifest", str(manifest), "--base-url", served.url, "--dir", str(tmp_path / "cache")
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"m: {tmp_path / 'cache' / MOVENET}"
    assert "m [" in out.stderr and "100%" in out.stderr  # the progress bar goes to stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(manifest.read_text().replace(sha(movenet_path), "f" * 64))
    out = run_cli(
        "models",
        "fetch",
        "m",
        "--manifest",
        str(bad),
        "--base-url",
        served.url,
        "--dir",
        str(tmp_path / "cache2"),
        "--no-progress",
    )
    assert out.returncode == 66 and "checksum mismatch" in out.stderr and "Traceback" not in out.stderr
    assert list((tmp_path / "cache2").iterdir()) == []


def two_stage_manifest(tmp_path: Path, models_dir: Path, served_root: Path) -> Path:
    """A manifest like the built-in BlazePose entries, served by the local server, plus a YOLO export entry."""
    for name in ("pose_landmark_lite.tflite", "pose_detection.tflite"):
        shutil.copy(models_dir / name, served_root / name)
    manifest = tmp_path / "two_stage.yaml"
    entries = [
        {
            "name": "det",
            "kind": "detector",
            "file": "pose_detection.tflite",
            "url": "https://example.invalid/d",
            "sha256": sha(models_dir / "pose_detection.tflite"),
        },
        {
            "name": "lite",
            "file": "pose_landmark_lite.tflite",
            "url": "https://example.invalid/l",
            "sha256": sha(models_dir / "pose_landmark_lite.tflite"),
            "requires": ["det"],
        },
        {
            "name": "yolo",
            "kind": "export",
            "file": "yolo.tflite",
            "url": "",
            "license": "AGPL-3.0",
            "export": "yolo export model=yolo11n-pose.pt format=tflite imgsz=320 int8=True",
        },
    ]
    manifest.write_text(yaml.safe_dump({"models": entries}))
    return manifest


def test_fetching_a_landmark_model_brings_its_detector(tmp_path: Path, served: Server, models_dir: Path) -> None:
    manifest = two_stage_manifest(tmp_path, models_dir, tmp_path / "www")
    cache = tmp_path / "cache"
    out = run_cli(
        "models",
        "fetch",
        "lite",
        "--manifest",
        str(manifest),
        "--base-url",
        served.url,
        "--dir",
        str(cache),
        "--no-progress",
    )
    assert out.returncode == 0, out.stderr
    # the detector first, into the same directory, where the daemon looks beside the landmark model
    assert out.stdout.splitlines() == [
        f"det: {cache / 'pose_detection.tflite'}",
        f"lite: {cache / 'pose_landmark_lite.tflite'}",
    ]
    assert (cache / "pose_detection.tflite").read_bytes() == (models_dir / "pose_detection.tflite").read_bytes()
    assert len(served.behaviour.requests) == 2


def test_a_yolo_export_entry_is_refused_with_its_licence_and_command(
    tmp_path: Path, served: Server, models_dir: Path
) -> None:
    manifest = two_stage_manifest(tmp_path, models_dir, tmp_path / "www")
    cache = tmp_path / "cache"
    out = run_cli(
        "models",
        "fetch",
        "lite",
        "yolo",
        "--manifest",
        str(manifest),
        "--base-url",
        served.url,
        "--dir",
        str(cache),
        "--no-progress",
    )
    assert out.returncode == 66 and "Traceback" not in out.stderr
    assert "yolo: edgepose does not download it: its weights are AGPL-3.0" in out.stderr
    assert "yolo export model=yolo11n-pose.pt format=tflite imgsz=320 int8=True" in out.stderr
    assert "save the .tflite it writes as yolo.tflite in a model directory" in out.stderr
    # every name is checked first: the landmark model named before it was not fetched either
    assert served.behaviour.requests == [] and not cache.exists()


def test_the_built_in_yolo_entries_are_refused_and_never_fetched() -> None:
    manifest = load_manifest()
    yolo = [e for e in manifest.values() if e.format == "yolo_pose"]
    assert yolo and all(e.kind == "export" and not e.url and e.license == "AGPL-3.0" for e in yolo)
    for entry in yolo:
        with pytest.raises(InputError, match=r"AGPL-3\.0") as err:
            fetch_order([entry.name], manifest)
        assert err.value.exit_code == 66 and entry.export in err.value.message
        assert "format=tflite" in entry.export and f"imgsz={entry.input[0]}" in entry.export
        assert ("int8=True" in entry.export) is ("int8" in entry.name)


def test_fetch_order_puts_requirements_first_once() -> None:
    manifest = load_manifest()
    names = [e.name for e in fetch_order(["blazepose_full", "blazepose_lite", "blazepose_detector"], manifest)]
    assert names == ["blazepose_detector", "blazepose_full", "blazepose_lite"]
    for name in ("blazepose_lite", "blazepose_full", "blazepose_heavy"):
        assert manifest[name].requires == ("blazepose_detector",) and len(manifest[name].sha256) == 64
    with pytest.raises(InputError, match="unknown model 'nope'"):
        fetch_order(["blazepose_lite", "nope"], manifest)


def test_fetch_order_refuses_a_cycle() -> None:
    a = ModelEntry("a", "a.tflite", "https://example.invalid/a", requires=("b",))
    b = ModelEntry("b", "b.tflite", "https://example.invalid/b", requires=("a",))
    with pytest.raises(InputError, match="cycle: a -> b -> a"):
        fetch_order(["a"], {"a": a, "b": b})


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"name": "x", "file": "x", "url": "u", "kind": "weird"}, "kind 'weird' is not one of"),
        ({"name": "x", "file": "x", "url": "u", "requires": ["ghost"]}, "requires unknown entries: ghost"),
        ({"name": "x", "file": "x", "url": "https://a", "kind": "export", "export": "yolo export"}, "has no url"),
        ({"name": "x", "file": "x", "url": "", "kind": "export"}, "says its export command"),
    ],
)
def test_a_broken_manifest_entry_is_a_config_error(tmp_path: Path, entry: dict, problem: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"models": [entry]}))
    with pytest.raises(ConfigError, match=problem):
        load_manifest(path)


def test_a_model_make_run_found_in_a_shared_folder_is_found_later_by_name(tmp_path, models_dir):
    """`make run` points EDGEPOSE_MODEL_DIRS at ../shared for its own commands; `fetch --if-missing`
    links what it found there into the cache, so `edgepose run` typed later in a shell finds it."""
    from tests.builders.cli import run_cli

    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache)}
    proc = run_cli("models", "fetch", "--if-missing", "--no-progress", "movenet_lightning_int8", env=env)
    assert proc.returncode == 0, proc.stderr
    link = cache / "edgepose" / "models" / "movenet_single_pose_lightning_ptq.tflite"
    assert link.is_symlink() and link.resolve() == (models_dir / link.name).resolve()
    assert "(linked as" in proc.stdout
    later = run_cli("models", "inspect", "movenet_lightning_int8", env={**env, "EDGEPOSE_MODEL_DIRS": ""})
    assert later.returncode == 0 and str(link) in later.stdout, later.stderr
    again = run_cli("models", "fetch", "--if-missing", "--no-progress", "movenet_lightning_int8", env=env)
    assert again.returncode == 0 and "linked" not in again.stdout  # once


def test_a_file_that_is_not_the_manifests_is_not_linked(tmp_path):
    from tests.builders.cli import run_cli

    other = tmp_path / "shared"
    other.mkdir()
    (other / "movenet_single_pose_lightning_ptq.tflite").write_bytes(b"not the model")
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache), "EDGEPOSE_MODEL_DIRS": str(other)}
    proc = run_cli("models", "fetch", "--if-missing", "--no-progress", "movenet_lightning_int8", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "checksum differs" in proc.stderr and not (cache / "edgepose" / "models").exists()
