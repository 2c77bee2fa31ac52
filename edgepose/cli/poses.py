"""``edgepose poses``: the pose library that pose matching compares people against.

``add NAME INPUT`` takes the best pose of an image (through the configured model) or of one line
of a JSON-lines recording (``FILE.jsonl:LINE``), refuses a missing or weak one, prints it and
stores it normalized; ``list`` shows the library; ``remove NAME`` deletes an entry (a corrupt one
too, which is how to clear it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.cli import add_config, add_verbosity, log_level, shortcut_overrides
from edgepose.errors import InputError
from edgepose.keypoints import KEYPOINT_NAMES
from edgepose.terminal import printable

if TYPE_CHECKING:  # the parser is built for every command: NumPy and the config load on use
    from edgepose.analysis.behaviours.library import PoseLibrary
    from edgepose.config import Config
    from edgepose.pose import Pose

JSONL_LINE = re.compile(r"(?P<path>.+\.jsonl):(?P<line>[0-9]+)")
MIN_SCORE = 0.3
MIN_KEYPOINTS = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("poses", help="the pose library for pose matching: add, list, remove")
    psub = p.add_subparsers(dest="poses_command", metavar="ACTION", required=True)

    ap = psub.add_parser("add", help="add the best pose of an image or of a JSON-lines document")
    _common(ap)
    ap.add_argument("name", metavar="NAME", help="the pose's name (letters, digits, _ and -)")
    ap.add_argument("input", metavar="INPUT", help="an image file (run through the model), or FILE.jsonl:LINE")
    ap.add_argument("--replace", action="store_true", help="overwrite a pose of the same name")
    ap.add_argument("--model", metavar="PATH|NAME", help="model.name (default: the configured model)")
    ap.add_argument("--threads", type=int, metavar="N", help="model.threads")
    ap.add_argument(
        "--min-score",
        type=float,
        default=MIN_SCORE,
        metavar="S",
        help=f"refuse a pose scoring below S (default {MIN_SCORE})",
    )
    ap.add_argument(
        "--min-keypoints",
        type=int,
        default=MIN_KEYPOINTS,
        metavar="N",
        help=f"refuse a pose with fewer than N keypoints at or above decoder.min_keypoint_score "
        f"(default {MIN_KEYPOINTS})",
    )
    ap.set_defaults(func=add_pose)

    lp = psub.add_parser("list", help="the poses in the library")
    _common(lp)
    lp.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    lp.set_defaults(func=list_poses)

    rp = psub.add_parser("remove", help="delete a pose from the library")
    _common(rp)
    rp.add_argument("name", metavar="NAME")
    rp.set_defaults(func=remove_pose)


def _common(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    add_verbosity(parser)
    parser.add_argument("--library", metavar="DIR", help="the pose library directory (default: the configured one)")


def configured_library(config: Config) -> str:
    """The config's library directory (``analysis.behaviours.match.library``): where the daemon reads it."""
    return config.analysis.behaviours.match.library


def _setup(args: argparse.Namespace) -> tuple[Config, PoseLibrary]:
    from edgepose.analysis.behaviours.library import PoseLibrary
    from edgepose.analysis.behaviours.settings import library_dir
    from edgepose.config import load_config
    from edgepose.logs import setup_logging

    config = load_config(args.config, shortcut_overrides(args))
    setup_logging(log_level(args, config.logging.level), config.logging.format)
    directory = Path(args.library).expanduser() if args.library else library_dir(configured_library(config))
    return config, PoseLibrary(directory)


def add_pose(args: argparse.Namespace) -> int:
    from edgepose.analysis.behaviours.library import LibraryUsageError, check_name, entry_from_pose

    config, library = _setup(args)
    check_name(args.name)
    if library.path_of(args.name).exists() and not args.replace:  # say so before loading a model
        raise LibraryUsageError(
            f"a pose named {args.name!r} is already in {library.directory}",
            "pass --replace to overwrite it, or choose another name",
        )
    match = JSONL_LINE.fullmatch(args.input)
    if match:
        pose, source, width, height = pose_from_jsonl(Path(match["path"]), int(match["line"]))
    else:
        pose, source, width, height = pose_from_image(config, Path(args.input))
    where = source.get("image") or f"{source['jsonl']}:{source['line']}"
    check_pose(pose, where, args.min_score, args.min_keypoints, config.decoder.min_keypoint_score)
    entry = entry_from_pose(args.name, pose.keypoints, source, datetime.now(UTC), pose.score)
    path = library.add(entry, replace=args.replace)
    sys.stdout.write(show_pose(pose, width, height, config.decoder.min_keypoint_score))
    print(f"added {args.name!r} to {path}")
    return 0


def pose_from_image(config: Config, path: Path) -> tuple[Pose | None, dict[str, Any], int, int]:
    from edgepose.app import build_estimator
    from edgepose.frame import Frame
    from edgepose.sources.files import read_image

    image = read_image(path)  # FrameError (66) when missing, unreadable or not an image
    loaded = build_estimator(config)
    try:
        result = loaded.estimator.estimate(Frame(image, 0, time.time(), time.monotonic(), file=path.name))
    finally:
        loaded.estimator.engine.close()
    pose = max(result.poses, key=lambda p: p.score, default=None)
    return pose, {"image": str(path.resolve()), "model": loaded.model_name}, result.width, result.height


def pose_from_jsonl(path: Path, line: int) -> tuple[Pose | None, dict[str, Any], int, int]:
    import numpy as np

    from edgepose import strict_json
    from edgepose.viz import poses_from_document

    try:
        with path.open(encoding="utf-8") as f:
            text = next((t for n, t in enumerate(f, 1) if n == line), None)
    except FileNotFoundError:
        raise InputError(f"JSONL file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if text is None or line < 1:
        raise InputError(f"{path}:{line}: no such line", "lines are counted from 1")
    try:
        doc = strict_json.loads(text)
    except strict_json.BadJSONError as exc:
        raise InputError(f"{path}:{line}: not JSON ({exc.cause}: {exc})") from None
    if not isinstance(doc, dict) or "poses" not in doc:
        raise InputError(f"{path}:{line}: not a pose document")
    poses = poses_from_document(doc)
    for pose in poses:
        if not (np.isfinite(pose.keypoints).all() and np.isfinite(pose.score)):  # 1e308 is inf as float32
            raise InputError(f"{path}:{line}: a pose whose keypoints or score are not finite numbers")
    pose = max(poses, key=lambda p: p.score, default=None)
    frame, model = doc.get("frame"), doc.get("model")
    source = {
        "jsonl": str(path.resolve()),
        "line": line,
        "frame": frame if isinstance(frame, int) else None,
        "model": model if isinstance(model, str) else None,
    }
    return pose, source, _size(doc, "width"), _size(doc, "height")


def _size(doc: dict[str, Any], key: str) -> int:
    """A frame dimension of the document for the printout; 0 when it has none that is one."""
    value = doc.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1 << 20 else 0


def check_pose(pose: Pose | None, where: str, min_score: float, min_keypoints: int, keypoint_score: float) -> None:
    """Refuse no pose, or one too weak to be a reference (it would match anything, or nothing)."""
    if pose is None:
        raise InputError(f"{where}: no pose found", "use an image where one person is clearly visible")
    if pose.score < min_score:
        raise InputError(
            f"{where}: the best pose scores {pose.score:.2f}, below --min-score {min_score}",
            "use a clearer image, or lower --min-score",
        )
    visible = int((pose.keypoints[:, 2] >= keypoint_score).sum())
    if visible < min_keypoints:
        raise InputError(
            f"{where}: the best pose has {visible} keypoints at or above {keypoint_score}, "
            f"fewer than --min-keypoints {min_keypoints}",
            "use an image with the whole body in view, or lower --min-keypoints",
        )


def show_pose(pose: Pose, width: int, height: int, min_score: float) -> str:
    lines = [f"pose score {pose.score:.2f} in a {width}x{height} frame:"]
    for name, (x, y, s) in zip(KEYPOINT_NAMES, pose.keypoints.tolist(), strict=True):
        mark = "" if s >= min_score else "  (not visible)"
        lines.append(f"  {name:<15} {x:8.1f} {y:8.1f}  {s:.2f}{mark}")
    return "\n".join(lines) + "\n"


def list_poses(args: argparse.Namespace) -> int:
    _config, library = _setup(args)
    loaded = library.load()
    if args.json:
        entries = [{"name": e.name, "added": e.added, "score": e.score, "source": e.source} for e in loaded.entries]
        problems = [{"file": str(p.path), "problem": p.reason} for p in loaded.problems]
        print(json.dumps({"library": str(library.directory), "poses": entries, "problems": problems}, indent=2))
    elif not loaded.entries:
        print(f"no poses in {library.directory}" + ("" if loaded.problems else " (add one with `edgepose poses add`)"))
    else:
        print(f"{len(loaded.entries)} pose(s) in {library.directory}:")
        width = max(len(e.name) for e in loaded.entries)
        for e in loaded.entries:
            src = e.source.get("image") or (
                f"{e.source.get('jsonl')}:{e.source.get('line')}" if "jsonl" in e.source else "?"
            )
            print(printable(f"  {e.name:<{width}}  {e.added}  {src}"))
    for p in loaded.problems:
        print(f"edgepose: warning: {printable(str(p))}", file=sys.stderr)
    if loaded.problems:
        raise InputError(
            f"{len(loaded.problems)} file(s) in {library.directory} are not usable poses",
            "fix or delete them (`edgepose poses remove NAME`)",
        )
    return 0


def remove_pose(args: argparse.Namespace) -> int:
    _config, library = _setup(args)
    path = library.remove(args.name)
    print(f"removed {args.name!r} ({path})")
    return 0
