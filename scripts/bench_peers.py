#!/usr/bin/env python3
"""edgepose against the models' own implementations, in one interleaved run on the same frames.

    bash scripts/peers-venv.sh                       # once: Ultralytics and MediaPipe, outside the repo
    python scripts/bench_peers.py                    # YOLO11n-pose 320 int8, BlazePose lite and full
    python scripts/bench_peers.py --models yolo11n-pose_320_int8 --seconds 10 --rounds 5

Per model, every round runs (in a rotating order, each for ``--seconds / --rounds``): the engine's
bare invoke loop, edgepose's pipeline serially and overlapped with tracking and JSON on
(``edgepose.tools.bench.limit``), and the model's own implementation:

- YOLO-pose: Ultralytics' predictor on the same TFLite file,
  ``YOLO(path, task="pose").predict(frame, imgsz=S, verbose=False)`` per frame (frames as OpenCV's
  BGR arrays, which is what it takes), on ``--frames`` frames of ``--video``.
- BlazePose lite / full: MediaPipe's ``mp.solutions.pose.Pose(static_image_mode=False,
  model_complexity=0|1)`` in video mode, ``process(rgb)`` per frame, on frames where a person is
  seen (a corner of the video, ``--pose-crop``, or a still image repeated, ``--pose-image``):
  BlazePose's detector finds nobody in the whole walking video. YOLO-pose runs on both frame sets
  (``--yolo-frames``): at 320 it finds nobody in the whole 720p frames either, so the second set is
  the one where its decoding, tracking and JSON carry people.

The peers run in their own process, the peers venv's Python (``scripts/peers-venv.sh``: nothing of
them is a project dependency), idle while edgepose runs and the other way round. Each side gets the
same pre-decoded frames, converted once to the colour order it takes. Prints one JSON object per
model, the limit's stage table (where the time goes) and the ratio table; exit 69 when the peers
venv is missing or broken.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGEPOSE_SHARED", ROOT.parent / "shared"))
DEFAULT_VENV = Path(os.environ.get("EDGEPOSE_PEERS_VENV", Path.home() / ".cache" / "edgepose" / "peers-venv"))
DEFAULT_MODELS = "yolo11n-pose_320_int8,pose_landmark_lite,pose_landmark_full"
EX_USAGE, EX_UNAVAILABLE = 64, 69
MEDIAPIPE_COMPLEXITY = {"lite": 0, "full": 1, "heavy": 2}


class PeersUnavailableError(Exception):
    """The peers venv is missing, or a peer would not start in it: what is wrong and the line to run."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


# ---------------------------------------------------------------------------------------------
# Arguments and the peer each model is compared with (no edgepose import: the tests run these).


@dataclass(frozen=True)
class PeerSpec:
    """The model's own implementation: ``kind`` ``ultralytics`` (``size``: predict's imgsz, pixels) or
    ``mediapipe`` (``complexity``: Pose's model_complexity)."""

    kind: str
    label: str
    size: int = 0
    complexity: int = 0


def peer_for(model: str) -> PeerSpec:
    """The peer of a model named by its file stem (or path): YOLO-pose ``yolo*-pose_<S>_*``, BlazePose
    ``pose_landmark_<lite|full|heavy>``. Raises ValueError for any other model."""
    stem = Path(model).stem
    if stem.startswith("yolo") and "-pose" in stem:
        sizes = [int(part) for part in stem.split("_") if part.isdigit()]
        if not sizes:
            raise ValueError(f"{model}: no input size in the name (yolo11n-pose_<size>_<type>)")
        return PeerSpec("ultralytics", "Ultralytics predict", size=sizes[0])
    variant = stem.removeprefix("pose_landmark_").removeprefix("blazepose_")
    if variant != stem and variant in MEDIAPIPE_COMPLEXITY:
        complexity = MEDIAPIPE_COMPLEXITY[variant]
        return PeerSpec("mediapipe", f"MediaPipe Pose (complexity {complexity})", complexity=complexity)
    raise ValueError(
        f"{model}: no peer known (YOLO-pose yolo*-pose_<size>_*, BlazePose pose_landmark_* or blazepose_*)"
    )


def model_path(model: str, shared: Path = SHARED) -> str:
    """A bare name of a shared model file (``yolo11n-pose_320_int8``) as that file's path; anything
    else (a path, a name the model store knows) unchanged."""
    candidate = shared / "models" / f"{model}.tflite"
    return str(candidate) if Path(model).name == model and candidate.is_file() else model


def parse_crop(text: str) -> tuple[int, int, int]:
    """``X,Y,SIDE`` in pixels of the video frame: the square the BlazePose frames are cut from."""
    try:
        x, y, side = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected X,Y,SIDE (three integers)") from None
    if x < 0 or y < 0 or side <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: X and Y must be >= 0 and SIDE > 0")
    return x, y, side


def frame_sets(text: str) -> tuple[str, ...]:
    """``video`` and/or ``pose``, comma-separated, each once."""
    sets = tuple(part for part in text.split(",") if part)
    if not sets or any(part not in ("video", "pose") for part in sets) or len(set(sets)) != len(sets):
        raise argparse.ArgumentTypeError(f"{text!r}: expected video, pose or video,pose")
    return sets


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=DEFAULT_MODELS, help="model names or paths (YOLO-pose, BlazePose), A,B")
    p.add_argument("--peers-venv", type=Path, default=DEFAULT_VENV, help="the venv scripts/peers-venv.sh made")
    p.add_argument("--threads", type=positive(int), default=2, help="interpreter threads (edgepose and Ultralytics)")
    p.add_argument("--video", type=Path, default=SHARED / "videos" / "walking_crowd_720p.mp4")
    p.add_argument("--frames", type=positive(int), default=100, help="frames of --video decoded into memory")
    p.add_argument(
        "--pose-crop",
        type=parse_crop,
        default=(0, 120, 240),
        metavar="X,Y,SIDE",
        help="BlazePose frames: this square of each video frame (a person seen large)",
    )
    p.add_argument("--pose-image", type=Path, help="BlazePose frames: this image, repeated --frames times, instead")
    p.add_argument(
        "--yolo-frames",
        type=frame_sets,
        default=("video", "pose"),
        metavar="video,pose",
        help="YOLO-pose runs on the whole video frames, on BlazePose's frames (people seen large), or both",
    )
    p.add_argument("--seconds", type=positive(float), default=20.0, help="each variant's time over all rounds")
    p.add_argument("--rounds", type=positive(int), default=10, help="rounds the variants alternate in")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # the peers' side (peers venv)
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The arguments, every model checked to have a peer (a usage error, exit 2, otherwise)."""
    p = parser()
    args = p.parse_args(argv)
    if not args.worker:
        args.model_list = [m for m in args.models.split(",") if m]
        if not args.model_list:
            p.error("--models: no model named")
        for model in args.model_list:
            try:
                peer_for(model)
            except ValueError as e:
                p.error(f"--models: {e}")
    return args


def plan(models: Sequence[str], yolo_frames: Sequence[str]) -> list[tuple[str, str]]:
    """(model, frame set) in the order they run: a YOLO-pose model on each of ``yolo_frames``
    (``video``: the whole frames, ``pose``: BlazePose's frames), BlazePose on its frames."""
    return [(m, f) for m in models for f in (yolo_frames if peer_for(m).kind == "ultralytics" else ("pose",))]


def venv_python(venv: Path) -> Path:
    """The peers venv's interpreter; PeersUnavailableError (with the line that makes it) when there is none."""
    python = venv / "bin" / "python"
    if not python.is_file() or not os.access(python, os.X_OK):
        raise PeersUnavailableError(f"no peers venv at {venv} (no {python})", f"bash scripts/peers-venv.sh {venv}")
    return python


# ---------------------------------------------------------------------------------------------
# Ratios and the table (from edgepose.tools.bench.limit's summaries, each with its peer's fps).

# The pipeline variant the daemon runs on the CPU by default (model.overlap auto is serial there).
DAEMON_VARIANT = "serial"
GOAL_OF_BARE = 0.95


@dataclass(frozen=True)
class RatioRow:
    """One model: fps of the bare loop, of edgepose's pipeline (each variant) and of its peer."""

    model: str
    frames: str
    threads: int
    peer: str
    bare_fps: float
    peer_fps: float
    fps: dict[str, float]  # variant -> edgepose pipeline fps

    def of_bare(self, variant: str) -> float | None:
        return self.fps[variant] / self.bare_fps if self.bare_fps else None

    def of_peer(self, variant: str) -> float | None:
        return self.fps[variant] / self.peer_fps if self.peer_fps else None


def ratio_row(summary: dict[str, Any], peer: str, frames: str) -> RatioRow:
    """The row of one ``limit.summary`` (which ran with the peer variant)."""
    fps = {name: float(v["fps"]) for name, v in summary["variants"].items()}
    return RatioRow(
        summary["model"],
        frames,
        int(summary["threads"]),
        peer,
        float(summary["bare_fps"]),
        float(summary["peer_fps"] or 0.0),
        fps,
    )


def load_text(load: Sequence[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def verdict(row: RatioRow, variant: str = DAEMON_VARIANT) -> str:
    """Both goals for one variant: >= 0.95 of the bare loop, ahead of the peer."""
    of_bare, of_peer = row.of_bare(variant), row.of_peer(variant)
    bare = "n/a" if of_bare is None else ("met" if of_bare >= GOAL_OF_BARE else "missed")
    peer = "n/a" if of_peer is None else ("ahead" if of_peer > 1.0 else "behind")
    return f"{GOAL_OF_BARE} of bare: {bare}; peer: {peer}"


def ratio_table(rows: Sequence[RatioRow]) -> str:
    """Markdown: per model and edgepose variant, fps, the ratio to the bare loop and to the peer."""
    head = [
        "model",
        "frames",
        "threads",
        "bare fps",
        "peer",
        "peer fps",
        "edgepose variant",
        "fps",
        "/ bare",
        "/ peer",
        "goals",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        for variant, fps in row.fps.items():
            goals = verdict(row, variant)
            cells = [
                row.model,
                row.frames,
                str(row.threads),
                f"{row.bare_fps:.1f}",
                row.peer,
                f"{row.peer_fps:.1f}",
                variant,
                f"{fps:.1f}",
                _ratio(row.of_bare(variant)),
                _ratio(row.of_peer(variant)),
                goals,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The peers' side: runs in the peers venv (stdlib, NumPy and the peers only; no edgepose).


def _patch_torchvision_nms() -> None:
    """Ultralytics' own NMS in place of ``torchvision.ops.nms``: PyPI's torchvision is a CUDA build
    that fails beside the CPU torch. In this process only."""
    import types

    from ultralytics.utils.nms import TorchNMS

    try:
        import torchvision

        torchvision.ops.nms = TorchNMS.nms
    except Exception:  # the CUDA torchvision fails at import: a stand-in module with ops.nms alone
        stub, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
        ops.nms = TorchNMS.nms  # type: ignore[attr-defined]
        stub.ops = ops  # type: ignore[attr-defined]
        stub.__version__ = "0.0+stand-in"  # type: ignore[attr-defined]
        sys.modules["torchvision"], sys.modules["torchvision.ops"] = stub, ops


class UltralyticsPeer:
    def __init__(self, model: str, size: int, threads: int, frames: Any) -> None:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        _patch_torchvision_nms()
        import ultralytics.nn.backends.litert as backend
        from ultralytics import YOLO

        # Its LiteRT backend takes cpu_count - 1 interpreter threads (1 on a 2-core machine): ours.
        backend.NUM_THREADS = threads
        self.yolo = YOLO(model, task="pose")
        self.size = size
        self.frames = [f[..., ::-1].copy() for f in frames]  # Ultralytics takes OpenCV's BGR arrays
        self.version = __import__("ultralytics").__version__

    def step(self, n: int) -> None:
        self.yolo.predict(self.frames[n % len(self.frames)], imgsz=self.size, verbose=False)

    def close(self) -> None:
        pass


class MediaPipePeer:
    def __init__(self, complexity: int, frames: Any) -> None:
        import mediapipe as mp

        self.pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=complexity)
        self.frames = list(frames)  # RGB, as Pose.process takes
        self.version = mp.__version__

    def step(self, n: int) -> None:
        self.pose.process(self.frames[n % len(self.frames)])

    def close(self) -> None:
        self.pose.close()


def worker(stdin: IO[str], stdout: IO[str]) -> int:
    """Commands, one JSON object a line: setup (a peer on frames saved as .npy), round, quit."""
    import numpy as np

    peers: dict[str, Any] = {}

    def reply(obj: dict[str, Any]) -> None:
        stdout.write(json.dumps(obj) + "\n")
        stdout.flush()

    for line in stdin:
        msg = json.loads(line)
        try:
            if msg["cmd"] == "setup":
                frames = np.load(msg["frames"])
                spec = PeerSpec(**msg["spec"])
                if spec.kind == "ultralytics":
                    peer: Any = UltralyticsPeer(msg["model"], spec.size, msg["threads"], frames)
                else:
                    peer = MediaPipePeer(spec.complexity, frames)
                for n in range(5):  # first calls (graph start, predictor setup) stay out of the figures
                    peer.step(n)
                peers[msg["name"]] = peer
                reply({"ok": True, "version": peer.version})
            elif msg["cmd"] == "round":
                peer, seconds = peers[msg["name"]], float(msg["seconds"])
                n, t0 = 0, time.perf_counter()
                while (elapsed := time.perf_counter() - t0) < seconds:
                    peer.step(n)
                    n += 1
                reply({"ok": True, "frames": n, "seconds": elapsed})
            elif msg["cmd"] == "quit":
                break
        except Exception as e:  # said to the benchmark, which stops with it
            reply({"ok": False, "error": f"{type(e).__name__}: {e}"})
    for peer in peers.values():
        peer.close()
    return 0


# ---------------------------------------------------------------------------------------------
# The benchmark's side: edgepose's venv, the peers' process driven over a pipe.


class PeerProcess:
    """The peers venv's Python running this script with ``--worker``; its log goes to a file."""

    def __init__(self, python: Path, workdir: Path) -> None:
        self.log_path = workdir / "peers.log"
        env = dict(
            os.environ,
            YOLO_OFFLINE="1",
            YOLO_CONFIG_DIR=str(workdir / "ultralytics"),
            PYTHONNOUSERSITE="1",
            GLOG_minloglevel="2",
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        env.pop("PYTHONPATH", None)
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [str(python), str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            cwd=workdir,
        )

    def ask(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise PeersUnavailableError(f"the peers process ended:\n{self.log_tail()}", "bash scripts/peers-venv.sh")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise PeersUnavailableError(
                f"peer {msg.get('name')}: {answer.get('error')}\n{self.log_tail()}",
                "bash scripts/peers-venv.sh (again)",
            )
        return answer

    def log_tail(self, lines: int = 15) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@dataclass
class RemotePeer:
    """``limit``'s peer variant, run in the peers' process: ``round`` as ``bench.peer.Peer.round``."""

    process: PeerProcess
    name: str
    threads: int
    version: str = ""

    def round(self, images: Sequence[Any], seconds: float) -> tuple[int, float]:
        answer = self.process.ask({"cmd": "round", "name": self.name, "seconds": seconds})
        return int(answer["frames"]), float(answer["seconds"])


@contextlib.contextmanager
def peer_process(python: Path) -> Iterator[tuple[PeerProcess, Path]]:
    with tempfile.TemporaryDirectory(prefix="edgepose-peers-") as tmp:
        process = PeerProcess(python, Path(tmp))
        try:
            yield process, Path(tmp)
        finally:
            process.close()


def pose_frames(args: argparse.Namespace) -> tuple[list[Any], str]:
    """The BlazePose frames (RGB) and how they were made."""
    from edgepose.sources.files import read_image
    from edgepose.tools.bench.frames import first_frames

    if args.pose_image is not None:
        image = read_image(args.pose_image)
        return [image] * args.frames, f"{args.pose_image.name} x{args.frames}"
    x, y, side = args.pose_crop
    crops = [f[y : y + side, x : x + side].copy() for f in first_frames(args.video, args.frames)]
    return crops, f"{args.video.stem} [{x},{y} {side}px] x{len(crops)}"


def bench(args: argparse.Namespace, python: Path) -> int:
    os.environ.setdefault("EDGEPOSE_MODEL_DIRS", f"{SHARED / 'models'}{os.pathsep}{SHARED / 'images'}")
    import numpy as np

    from edgepose.app import build_estimator
    from edgepose.config import load_config
    from edgepose.tools.bench import limit
    from edgepose.tools.bench.frames import first_frames

    config = load_config(None, [])
    video = first_frames(args.video, args.frames)
    video_label = f"{args.video.stem} x{len(video)}"
    runs = plan(args.model_list, args.yolo_frames)
    sets = {"video": (video, video_label)}
    if any(frames == "pose" for _, frames in runs):
        sets["pose"] = pose_frames(args)
    setups, labels, peers = [], [], []
    with peer_process(python) as (process, tmp):
        for i, (model, frames) in enumerate(runs):
            spec = peer_for(model)
            images, label = sets[frames]
            m = dataclasses.replace(config.model, name=model_path(model), threads=args.threads)
            one = dataclasses.replace(config, model=m)
            loaded = build_estimator(one)
            s = limit.setup(loaded, one, "real", images)
            frames_file = tmp / f"frames{i}.npy"
            np.save(frames_file, np.stack(images))
            name = f"{i}:{model}"
            answer = process.ask(
                {
                    "cmd": "setup",
                    "name": name,
                    "spec": dataclasses.asdict(spec),
                    "frames": str(frames_file),
                    "model": str(loaded.model_path),
                    "threads": args.threads,
                }
            )
            frames_file.unlink()
            s.peer = RemotePeer(process, name, args.threads, answer["version"])  # type: ignore[assignment]
            s.peer_note = ""
            setups.append(s)
            labels.append(label)
            peers.append(f"{spec.label} {answer['version']}")
            print(
                json.dumps({"phase": "setup", "model": loaded.model_name, "peer": peers[-1], "frames": label}),
                file=sys.stderr,
                flush=True,
            )
        load_before = os.getloadavg()
        tallies = limit.interleaved(setups, args.seconds, args.rounds)
        load_after = os.getloadavg()
    summaries = [limit.summary(s, t) for s, t in zip(setups, tallies, strict=True)]
    rows = [ratio_row(s, p, f) for s, p, f in zip(summaries, peers, labels, strict=True)]
    for summary, peer in zip(summaries, peers, strict=True):
        print(json.dumps({"phase": "peers", "peer": peer, **summary}), flush=True)
    sys.stdout.write(limit.markdown(summaries) + "\n" + ratio_table(rows))
    print(f"\nload average (1, 5, 15 min): {load_text(load_before)} before, {load_text(load_after)} after")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        # The peers print to stdout (Ultralytics' logger, MediaPipe's C++ side): the replies get a
        # copy of it, and everything else goes to stderr (the benchmark's log file).
        replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
        sys.stdout.flush()
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        return worker(sys.stdin, replies)
    sys.path.insert(0, str(ROOT))
    from edgepose.errors import EdgeposeError

    try:
        python = venv_python(args.peers_venv)
        return bench(args, python)
    except PeersUnavailableError as e:
        print(f"bench_peers: {e}\n  -> {e.hint}", file=sys.stderr)
        return EX_UNAVAILABLE
    except EdgeposeError as e:  # a model or frame source that will not load
        print(f"bench_peers: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
