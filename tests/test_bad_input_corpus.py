"""Every kind of bad input edgepose has met, generated here and run through the real CLI.

Each row builds its input in a temporary directory (nothing binary is committed) and names the
exit code README.md documents for it. Every row is checked the same way: that exit code, exactly
one ``edgepose: error:`` line when it is not 0 (none when it is), no traceback, and no half record
in anything written (stdout, JSON-lines files).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.bad_files import fill, huge_png, huge_tiff, obeying_modes, tmpfs, unreadable, video
from tests.builders.documents import parse_documents
from tests.builders.paths import ROOT
from tests.fleet_docs import pose_document
from tests.tiny_models import broadcast_model, movenet_single_outputs, pixel_model

OK, EX_NOINPUT, EX_CONFIG = 0, 66, 78


@dataclass
class Kit:
    """What a row builds its input from, and where it says its outputs are."""

    tmp: Path
    squat: Path  # a real photo of a person (BMP)
    outputs: list[Path] = field(default_factory=list)  # JSON-lines files the run writes

    @property
    def bgr(self) -> np.ndarray:
        return cv2.imread(str(self.squat))

    def image(self, name: str, image: np.ndarray, params: tuple[int, ...] = ()) -> Path:
        path = self.tmp / name
        assert cv2.imwrite(str(path), image, list(params))
        return path

    def pillow(self, name: str, mode: str, **save: object) -> Path:
        pil = pytest.importorskip("PIL.Image", reason="Pillow builds palette, CMYK and EXIF images")
        path = self.tmp / name
        picture = pil.fromarray(self.bgr[:, :, ::-1])
        if mode == "P":
            picture = picture.convert("P", palette=pil.Palette.ADAPTIVE)
        elif mode != "RGB":
            picture = picture.convert(mode)
        picture.save(path, **save)
        return path

    def raw(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def truncated(self, name: str, source: Path, keep: float = 0.5) -> Path:
        data = source.read_bytes()
        return self.raw(name, data[: int(len(data) * keep)])


def run_image(build: Callable[[Kit], Path]) -> Callable[[Kit], list[str]]:
    return lambda kit: ["run", "--source", str(build(kit)), "--sink", "stdout"]


def exif_rotated(kit: Kit) -> Path:
    pil = pytest.importorskip("PIL.Image", reason="Pillow writes the EXIF orientation")
    picture = pil.fromarray(kit.bgr[:, :, ::-1])
    exif = picture.getexif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    path = kit.tmp / "rotated.jpg"
    picture.save(path, exif=exif)
    return path


def unreadable_copy(kit: Kit) -> Path:
    return unreadable(Path(shutil.copy(kit.squat, kit.tmp / "unreadable.bmp")))


def mp4_without_moov(kit: Kit) -> Path:
    """The first 30% of an MP4 whose index (moov) comes last: a download cut short."""
    return kit.truncated("cut.mp4", kit.squat.parents[1] / "videos" / "walking_crowd_720p.mp4", 0.3)


def unreadable_directory(kit: Kit) -> list[str]:
    folder = Path(shutil.copytree(kit.squat.parent, kit.tmp / "images"))
    return ["run", "--source", str(unreadable(folder))]


def odd_directory(kit: Kit) -> list[str]:
    """Good odd images and bad files side by side: the good ones are processed, the bad named."""
    folder = kit.tmp / "odd"
    folder.mkdir()
    shutil.copy(kit.squat, folder / "a_plain.bmp")
    kit.image("odd/b_gray.png", cv2.cvtColor(kit.bgr, cv2.COLOR_BGR2GRAY))
    kit.image("odd/c_rgba.png", cv2.cvtColor(kit.bgr, cv2.COLOR_BGR2BGRA))
    kit.image("odd/d_16bit.png", kit.bgr.astype(np.uint16) * 257)
    kit.raw("odd/e_empty.jpg", b"")
    kit.raw("odd/f_text.png", b"not an image\n")
    huge_png(folder / "g_huge.png")
    kit.truncated("odd/h_truncated.jpg", kit.image("whole.jpg", kit.bgr))
    unreadable(Path(shutil.copy(kit.squat, folder / "i_unreadable.bmp")))
    return ["run", "--source", str(folder), "--sink", "stdout"]


def only_bad_directory(kit: Kit) -> list[str]:
    folder = kit.tmp / "bad"
    folder.mkdir()
    kit.raw("bad/a.jpg", b"")
    kit.raw("bad/b.png", b"\x89PNG\r\n\x1a\n")
    return ["run", "--source", str(folder), "--sink", "stdout"]


def bad_output_model(kit: Kit, bump: float) -> Path:
    """A MoveNet-shaped model whose output is a plausible pose, except on a black frame: NaN for
    ``bump`` 0, inf above (see :func:`tests.tiny_models.pixel_model`)."""
    path = kit.tmp / ("inf.tflite" if bump else "nan.tflite")
    path.write_bytes(pixel_model({"keypoints": movenet_single_outputs()}, bump=bump))
    return path


def bad_output_frames(bump: float, photos: int = 2) -> Callable[[Kit], list[str]]:
    """A directory of photos with a black image among them, through :func:`bad_output_model`."""

    def build(kit: Kit) -> list[str]:
        folder = kit.tmp / "frames"
        folder.mkdir()
        for i in range(photos):
            shutil.copy(kit.squat, folder / f"{2 * i}.bmp")
        kit.image("frames/1_black.png", np.zeros_like(kit.bgr))
        return ["run", "--model", str(bad_output_model(kit, bump)), "--source", str(folder), "--sink", "stdout"]

    return build


def bad_output_video(kit: Kit) -> list[str]:
    """A video (tracking and crop region on) whose middle frame is black: inf out of the model."""
    path = kit.tmp / "blink.avi"
    frames = [kit.bgr, kit.bgr, np.zeros_like(kit.bgr), kit.bgr, kit.bgr]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (kit.bgr.shape[1], kit.bgr.shape[0]))
    for image in frames:
        writer.write(image)
    writer.release()
    return ["run", "--model", str(bad_output_model(kit, 1.0)), "--source", str(path), "--sink", "stdout"]


def model_file(content: Callable[[], bytes]) -> Callable[[Kit], list[str]]:
    """A run of the photo through the model ``content`` builds."""

    def build(kit: Kit) -> list[str]:
        path = kit.raw("model.tflite", content())
        return ["run", "--model", str(path), "--source", str(kit.squat), "--sink", "stdout"]

    return build


def still(
    shape: tuple[int, ...] = (1, 192, 192, 3),
    signature: tuple[int, ...] | None = None,
    quantization: tuple[float, int] | None = None,
    inputs: int = 1,
) -> Callable[[], bytes]:
    """A MoveNet-shaped model whose input (of ``shape``) no op reads, so that any shape loads."""
    outputs = {"keypoints": movenet_single_outputs()}
    return lambda: pixel_model(outputs, shape, None, signature=signature, quantization=quantization, inputs=inputs)


def many_bad_then_good(kit: Kit) -> list[str]:
    """More bad files in a row than a camera may fail reads in a row (1000), then a good image."""
    folder = kit.tmp / "many"
    folder.mkdir()
    for i in range(1200):
        kit.raw(f"many/a{i:04d}.jpg", b"")
    shutil.copy(kit.squat, folder / "b_good.bmp")
    return ["run", "--source", str(folder), "--sink", "stdout"]


def looped_bad_directory(kit: Kit) -> list[str]:
    """``source.loop`` over a directory in which no image can be read: it must end, not spin."""
    return [*only_bad_directory(kit), "--set", "source.loop=true"]


def full_disk(kit: Kit) -> list[str]:
    disk = kit.tmp / "disk"  # mounted by the test (see ``how="full_disk"``)
    fill(disk, leave=4096)
    folder = kit.tmp / "frames"
    folder.mkdir()
    for i in range(8):
        shutil.copy(kit.squat, folder / f"{i}.bmp")
    kit.outputs.append(disk / "poses.jsonl")
    return ["run", "--source", str(folder), "--sink", f"jsonl:{disk / 'poses.jsonl'}", "--sink", "stdout"]


def config(text: bytes | None) -> Callable[[Kit], list[str]]:
    def build(kit: Kit) -> list[str]:
        path = kit.tmp / "edgepose.yaml"
        if text is None:
            path.mkdir()  # a directory where the file should be
        else:
            path.write_bytes(text)
        return ["check-config", "-c", str(path)]

    return build


def many_corners(n: int) -> bytes:
    """A zone whose polygon is a circle of n corners: simple, but far past the bound on corners."""
    turn = [2 * math.pi * i / n for i in range(n)]
    points = ", ".join(f"[{0.5 + 0.4 * math.cos(a):.5f}, {0.5 + 0.4 * math.sin(a):.5f}]" for a in turn)
    return f"analysis:\n  enabled: true\n  zones:\n    - name: a\n      polygon: [{points}]\n".encode()


def alias_bomb() -> bytes:
    """Nine levels of nine aliases of the level before: a few lines standing for 9**9 values."""
    lines = ["a0: &a0 [lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return ("\n".join(lines) + "\n").encode()


HEALTH_ELSEWHERE = ("--set", "service.health.host=192.0.2.1")  # TEST-NET-1: never this machine's


def unreadable_config(kit: Kit) -> list[str]:
    path = kit.raw("edgepose.yaml", b"model:\n  threads: 2\n")
    return ["check-config", "-c", str(unreadable(path))]


def jsonl_in_unwritable_dir(kit: Kit) -> list[str]:
    folder = kit.tmp / "locked"
    folder.mkdir(mode=0o555)
    return ["run", "--source", str(kit.squat), "--sink", f"jsonl:{folder / 'poses.jsonl'}"]


def annotate_into_unwritable_dir(kit: Kit) -> list[str]:
    folder = kit.tmp / "locked"
    folder.mkdir(mode=0o555)
    return ["annotate", str(kit.squat), str(folder / "drawn.png")]


# -- what other programs send (recordings, documents, library files) ------------------------------

TS = 1_764_633_600.0


def recorded(kit: Kit, name: str, lines: list[str]) -> Path:
    return kit.raw(name, "".join(line + "\n" for line in lines).encode())


def pose_line(**fields: object) -> str:
    doc = pose_document("pi-1", "cam0", 0, TS, people=1)
    doc.update(fields)
    return json.dumps(doc)


def hostile_recording(kit: Kit) -> list[str]:
    """Two good documents among lines another program wrote: each bad one is counted, the rest replayed."""
    lines = [
        pose_line(),
        pose_line(device="a+b"),  # a wildcard in the topic it would go to
        pose_line(camera="\x1b[2J"),
        pose_line(ts=TS).replace(str(TS), "NaN"),
        pose_line(ts=1e20),
        pose_line(frame=0).replace('"frame": 0', '"frame": 1e400'),
        pose_line(schema=[]),
        "[" * 100_000,
        pose_line(frame=1, ts=TS + 1),
    ]
    return ["replay", str(recorded(kit, "hostile.jsonl", lines)), "--sink", "stdout", "--speed", "0"]


def recorded_pose_of(value: str) -> Callable[[Kit], list[str]]:
    def build(kit: Kit) -> list[str]:
        doc = pose_document("pi-1", "cam0", 0, TS, people=1)
        doc["poses"][0]["keypoints"][0][0] = "@@"
        path = recorded(kit, "pose.jsonl", [json.dumps(doc).replace('"@@"', value)])
        return [
            "poses",
            "add",
            "x",
            f"{path}:1",
            "--library",
            str(kit.tmp / "lib"),
            "--min-score",
            "0",
            "--min-keypoints",
            "0",
        ]

    return build


def hostile_library(kit: Kit) -> list[str]:
    """A FIFO named like a pose (opening it would wait forever), 100,000 nested [ and /dev/zero."""
    library = kit.tmp / "lib"
    library.mkdir()
    os.mkfifo(library / "fifo.json")
    (library / "nested.json").write_text("[" * 100_000)
    (library / "zero.json").symlink_to("/dev/zero")
    return ["poses", "list", "--library", str(library)]


def record_into(build: Callable[[Kit], list[str]]) -> Callable[[Kit], list[str]]:
    """``record`` with outputs it cannot use: refused before it connects (no broker is needed)."""
    return lambda kit: ["record", "--host", "127.0.0.1", "--port", "1", *build(kit)]


@dataclass(frozen=True)
class Case:
    build: Callable[[Kit], list[str]]  # the CLI arguments, after building the input
    code: int  # the exit code README.md documents
    docs: int | None = None  # documents expected on stdout (None: not counted)
    how: str = "plain"  # plain | obeying_modes (chmod 000 holds) | full_disk | dev_full | closed_stdout
    says: str = ""  # what the error line must say


CASES = {
    # images that are odd but fine: one document each
    "grayscale png": Case(run_image(lambda k: k.image("gray.png", cv2.cvtColor(k.bgr, cv2.COLOR_BGR2GRAY))), OK, 1),
    "rgba png": Case(run_image(lambda k: k.image("rgba.png", cv2.cvtColor(k.bgr, cv2.COLOR_BGR2BGRA))), OK, 1),
    "16-bit png": Case(run_image(lambda k: k.image("deep.png", k.bgr.astype(np.uint16) * 257)), OK, 1),
    "palette png": Case(run_image(lambda k: k.pillow("palette.png", "P")), OK, 1),
    "cmyk jpeg": Case(run_image(lambda k: k.pillow("cmyk.jpg", "CMYK")), OK, 1),
    "progressive jpeg": Case(run_image(lambda k: k.image("prog.jpg", k.bgr, (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))), OK, 1),
    "exif-rotated jpeg": Case(run_image(exif_rotated), OK, 1),
    "1x1 image": Case(run_image(lambda k: k.image("tiny.png", k.bgr[:1, :1])), OK, 1),
    # images that cannot be used: one line, 66
    "huge png (50000x50000)": Case(run_image(lambda k: huge_png(k.tmp / "huge.png")), EX_NOINPUT, says="too large"),
    "huge tiff (OpenCV's own check)": Case(
        run_image(lambda k: huge_tiff(k.tmp / "huge.tif")), EX_NOINPUT, says="too large"
    ),
    "truncated jpeg": Case(run_image(lambda k: k.truncated("cut.jpg", k.image("whole.jpg", k.bgr))), EX_NOINPUT),
    "empty image file": Case(run_image(lambda k: k.raw("empty.jpg", b"")), EX_NOINPUT, says="is empty"),
    "text named .png": Case(run_image(lambda k: k.raw("text.png", b"hello\n")), EX_NOINPUT),
    "unreadable image": Case(run_image(unreadable_copy), EX_NOINPUT, how="obeying_modes", says="Permission denied"),
    # video
    "one-frame video": Case(run_image(lambda k: video(k.tmp / "one.avi", 1)), OK, 1),
    "truncated avi": Case(run_image(lambda k: k.truncated("cut.avi", video(k.tmp / "whole.avi", 10))), OK),
    "truncated mp4 (no moov)": Case(run_image(mp4_without_moov), EX_NOINPUT),
    "empty video file": Case(run_image(lambda k: k.raw("empty.mp4", b"")), EX_NOINPUT),
    "unreadable video": Case(
        run_image(lambda k: unreadable(video(k.tmp / "u.avi", 2))), EX_NOINPUT, how="obeying_modes"
    ),
    # directories
    "directory of odd and bad files": Case(odd_directory, OK, 4, how="obeying_modes"),
    "directory of only bad files": Case(only_bad_directory, EX_NOINPUT, 0, says="no frame was processed"),
    "unreadable directory": Case(unreadable_directory, EX_NOINPUT, how="obeying_modes"),
    "directory of 1200 bad files, then a good one": Case(many_bad_then_good, OK, 1),
    "looped directory of only bad files": Case(looped_bad_directory, EX_NOINPUT, 0, says="no image of directory"),
    # models whose output holds NaN or inf on some frames: those frames are counted as failed
    "model output inf on one image": Case(bad_output_frames(1.0), OK, 2),
    "model output NaN on one image": Case(bad_output_frames(0.0), OK, 2),
    "model output inf on one video frame": Case(bad_output_video, OK, 4),
    "model output inf on one video frame, overlapped pipeline": Case(
        lambda k: [*bad_output_video(k), "--set", "model.overlap=on"], OK, 4
    ),
    "model output NaN on every image": Case(bad_output_frames(0.0, photos=0), EX_NOINPUT, 0, says="no frame"),
    # models that cannot be fed: refused at load
    "model input of size zero": Case(model_file(still((1, 0, 0, 3))), EX_NOINPUT, says="has no elements"),
    "model input size left open (-1)": Case(
        model_file(still((1, 1, 1, 3), (1, -1, -1, 3))), EX_NOINPUT, says="input size is left open"
    ),
    "model batch left open (-1)": Case(model_file(still((1, 192, 192, 3), (-1, 192, 192, 3))), OK, 1),
    "model input too large (60000x60000)": Case(model_file(still((1, 60000, 60000, 3))), EX_NOINPUT, says="too large"),
    "model with two inputs": Case(model_file(still(inputs=2)), EX_NOINPUT, says="has 2 inputs"),
    "model output quantized with a scale of inf": Case(
        model_file(still(quantization=(float("inf"), 0))), EX_NOINPUT, says="quantization scale of inf"
    ),
    "model output quantized with a scale of NaN": Case(
        model_file(still(quantization=(float("nan"), 0))), EX_NOINPUT, says="quantization scale of nan"
    ),
    "model too large to allocate": Case(
        model_file(lambda: broadcast_model((1, 1 << 20, 1 << 20, 3))), EX_NOINPUT, says="out of memory"
    ),
    # configs
    "empty config (the defaults)": Case(config(b""), OK),
    "binary config": Case(config(b"\xff\xfe\x00garbage\x01"), EX_CONFIG),
    "latin-1 config": Case(config(b"device_id: caf\xe9\n"), EX_CONFIG),
    "tab-indented config": Case(config(b"model:\n\tthreads: 2\n"), EX_CONFIG),
    "config is a directory": Case(config(None), EX_CONFIG),
    # secrets: refused or printed, never shown
    "a number as mqtt.password": Case(
        config(b"mqtt:\n  username: u\n  password: 80238411\n"), EX_CONFIG, says="(hidden: a secret) is a number"
    ),
    "a password in a camera URL": Case(
        lambda k: ["check-config", "--set", "source.uri=rtsp://u:Zq8023@cam/s", "--set", "cameras.a.source.uri=a.mp4"],
        EX_CONFIG,
        says="rtsp://u:***@cam/s",
    ),
    # configs that parse but cannot work
    "empty mqtt.host": Case(config(b'mqtt:\n  host: ""\n'), EX_CONFIG, says="mqtt.host: empty"),
    "client id past MQTT's 65535 bytes": Case(
        lambda k: ["check-config", "--set", "mqtt.client_id=" + "c" * 65536], EX_CONFIG, says="mqtt.client_id"
    ),
    "source.retry_min above retry_max": Case(
        config(b"source:\n  retry_min: 9\n  retry_max: 1\n"), EX_CONFIG, says="is above source.retry_max"
    ),
    "zone on a camera that does not exist": Case(
        config(b"analysis: {enabled: true, zones: [{name: a, camera: back, polygon: [[0, 0], [1, 0], [1, 1]]}]}"),
        EX_CONFIG,
        says="not one of the cameras (cam0)",
    ),
    "zone of 5000 corners": Case(config(many_corners(5000)), EX_CONFIG, says="at most 128"),
    "YAML alias bomb (billion laughs)": Case(config(alias_bomb()), EX_CONFIG, says="aliases"),
    "recursive YAML alias": Case(config(b"sinks: &s [*s]\n"), EX_CONFIG, says="contains it"),
    # the HTTP endpoints (their clients: tests/test_http_guard.py): an address this machine cannot listen on
    "health endpoint on an address not this machine's": Case(
        lambda k: ["run", "--source", str(k.squat), "--set", "service.health.enabled=true", *HEALTH_ELSEWHERE],
        69,
        says="cannot listen on 192.0.2.1",
    ),
    "unreadable config": Case(unreadable_config, EX_CONFIG, how="obeying_modes"),
    "limit letting no frame through": Case(lambda k: ["run", "--source", str(k.squat), "--max-frames", "0"], EX_CONFIG),
    "NaN duration": Case(lambda k: ["run", "--source", str(k.squat), "--duration", "nan"], EX_CONFIG),
    # outputs
    "jsonl on a full disk": Case(full_disk, OK, 8, how="full_disk"),
    "stdout on a full device": Case(run_image(lambda k: k.squat), OK, how="dev_full"),
    "closed stdout": Case(run_image(lambda k: k.squat), EX_NOINPUT, how="closed_stdout", says="closed"),
    "jsonl in an unwritable directory": Case(jsonl_in_unwritable_dir, EX_NOINPUT, how="obeying_modes"),
    "annotate into an unwritable directory": Case(annotate_into_unwritable_dir, EX_NOINPUT, how="obeying_modes"),
    "write-default to a missing directory": Case(
        lambda k: ["check-config", "--write-default", str(k.tmp / "no" / "such.yaml")], EX_NOINPUT
    ),
    # what other programs send: recordings, documents, library files
    "recording with hostile lines": Case(hostile_recording, OK, 2),
    "replay at speed NaN": Case(
        lambda k: ["replay", str(recorded(k, "r.jsonl", [pose_line()])), "--speed", "nan"],
        EX_CONFIG,
        says="--speed must be",
    ),
    "record --dir that is a file": Case(
        record_into(lambda k: ["--dir", str(k.raw("file", b""))]), EX_NOINPUT, says="not a directory"
    ),
    "record --summary-json in a missing directory": Case(
        record_into(lambda k: ["--dir", str(k.tmp / "rec"), "--summary-json", str(k.tmp / "no" / "s.json")]),
        EX_NOINPUT,
        says="cannot write --summary-json",
    ),
    "poses add of a NaN keypoint": Case(recorded_pose_of("NaN"), EX_NOINPUT, says="not JSON"),
    "poses add of a 1e308 keypoint": Case(recorded_pose_of("1e308"), EX_NOINPUT, says="not finite"),
    "pose library of a FIFO, deep nesting and /dev/zero": Case(hostile_library, EX_NOINPUT, says="not usable poses"),
}


def run(case: Case, args: list[str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "edgepose", *args]
    if case.how == "obeying_modes":
        command = [*obeying_modes(), *command]
    if case.how == "closed_stdout":
        command = ["sh", "-c", 'exec "$0" "$@" >&-', *command]
    if case.how == "dev_full":
        with Path("/dev/full").open("w") as full:
            return subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120)
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


def assert_whole_records(text: str) -> list[dict]:
    assert text == "" or text.endswith("\n"), text[-200:]
    return parse_documents(text)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, squat_path: Path, tmp_path: Path) -> None:
    case = CASES[name]
    kit = Kit(tmp_path, squat_path)
    if case.how == "full_disk":
        with tmpfs(tmp_path / "disk", "64k"):
            args = case.build(kit)
            proc = run(case, args)
            written = [path.read_text() for path in kit.outputs]
    else:
        args = case.build(kit)
        proc = run(case, args)
        written = [path.read_text() for path in kit.outputs]
    assert proc.returncode == case.code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "unexpected error" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("edgepose: error:")]
    assert len(errors) == (1 if case.code else 0), proc.stderr
    assert not case.says or case.says in errors[0], proc.stderr
    docs = assert_whole_records(proc.stdout or "") if args[0] in ("run", "replay") else []
    if case.docs is not None and case.how not in ("dev_full", "closed_stdout"):
        assert len(docs) == case.docs, proc.stderr
    for text in written:
        assert_whole_records(text)


def test_exif_orientation_is_applied(squat_path: Path, tmp_path: Path) -> None:
    """The document's size is the image as displayed: 610x500 for the 500x610 photo turned 90°."""
    kit = Kit(tmp_path, squat_path)
    proc = run(Case(run_image(exif_rotated), OK), run_image(exif_rotated)(kit))
    (doc,) = parse_documents(proc.stdout)
    assert (doc["width"], doc["height"]) == (610, 500)


def test_every_bad_file_of_a_directory_is_named(squat_path: Path, tmp_path: Path) -> None:
    kit = Kit(tmp_path, squat_path)
    proc = run(CASES["directory of odd and bad files"], odd_directory(kit))
    for name in ("e_empty.jpg", "f_text.png", "g_huge.png", "h_truncated.jpg", "i_unreadable.bmp"):
        assert str(tmp_path / "odd" / name) in proc.stderr, name
    assert "5 frames failed" in proc.stderr


def test_a_non_finite_model_output_costs_its_frame_only(squat_path: Path, tmp_path: Path) -> None:
    """The black image's frame is named as failed, with the cause; the photos on either side are processed."""
    kit = Kit(tmp_path, squat_path)
    proc = run(CASES["model output inf on one image"], bad_output_frames(1.0)(kit))
    docs = parse_documents(proc.stdout)
    assert [d["file"] for d in docs] == ["0.bmp", "2.bmp"]
    assert "1 frame failed" in proc.stderr
    assert "frame 1_black.png: the model's keypoints output (keypoints) holds NaN or inf" in proc.stderr


def test_an_mqtt_port_that_is_not_mqtt_is_named_once(squat_path: Path) -> None:
    """``--sink mqtt`` at a port that answers HTTP: the run goes on (exit 0), one warning names it,
    and what could not be sent is counted at exit."""
    from tests.builders.mqtt import HTTP_400, FakeBroker

    fake = FakeBroker("send", HTTP_400)
    try:
        settings = ["mqtt.host=127.0.0.1", f"mqtt.port={fake.port}", "mqtt.reconnect_min=0.05"]
        args = ["run", "--source", str(squat_path), "--sink", "mqtt", *(f"--set={s}" for s in settings)]
        proc = run(Case(lambda k: args, OK), args)
    finally:
        fake.stop()
    assert proc.returncode == OK, proc.stderr
    assert "Traceback" not in proc.stderr and "edgepose: error:" not in proc.stderr, proc.stderr
    named = [line for line in proc.stderr.splitlines() if "answered the CONNECT with bytes that are not MQTT" in line]
    assert len(named) == 1 and "WARNING" in named[0], proc.stderr
    assert fake.accepted >= 1
    assert "1 message could not be sent before shutdown (counted as dropped)" in proc.stderr


def test_a_retained_reps_reset_is_ignored_and_counted(squat_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    """A reps reset someone published retained is on the broker when the daemon connects: one
    warning says it is ignored and why (tests/test_reps_reset_retained.py checks the count)."""
    from tests.mosquitto import Collector

    topic = "edgepose/corpus/cam0/reps/reset"
    commander = Collector(broker, [topic])
    commander.client.publish(topic, b"1", qos=1, retain=True).wait_for_publish(5)
    commander.close()
    settings = [
        *("device_id=corpus", "mqtt.host=127.0.0.1", f"mqtt.port={broker.port}", "source.loop=true"),
        *("analysis.enabled=true", "analysis.behaviours.reps.enabled=true"),
    ]
    args = ["run", "--source", str(squat_path), "--sink", "mqtt", "--duration", "3", *(f"--set={s}" for s in settings)]
    proc = run(Case(lambda k: args, OK), args)
    assert proc.returncode == OK, proc.stderr
    assert "Traceback" not in proc.stderr and "edgepose: error:" not in proc.stderr, proc.stderr
    ignored = [line for line in proc.stderr.splitlines() if "command ignored: it was published retained" in line]
    assert len(ignored) == 1 and topic in ignored[0], proc.stderr
