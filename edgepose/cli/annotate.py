"""``edgepose annotate INPUT OUTPUT``: draw the poses onto an image, a directory of images or a video.

The poses come from running the model (the same building blocks as ``edgepose run``: the
configured model, the source for INPUT, the pipeline with its hooks), or from a recorded
JSON-lines file (``--from-jsonl``) whose documents match INPUT's frames: by ``file`` name in a
directory, by ``frame`` counter otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.cli import add_config, add_verbosity, log_level, shortcut_overrides, yaml_quote
from edgepose.errors import ConfigError, FrameError, InputError

if TYPE_CHECKING:  # the parser is built for every command: NumPy, OpenCV and the config load on use
    from edgepose.config import Config
    from edgepose.frame import Frame
    from edgepose.pose import FrameResult
    from edgepose.sources import Source
    from edgepose.viz import Style
    from edgepose.viz.output import FrameWriter

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotate", help="draw skeletons onto an image, a directory of images or a video")
    add_config(p)
    add_verbosity(p)
    p.add_argument("input", metavar="INPUT", help="image file, directory of images, or video file")
    p.add_argument("output", metavar="OUTPUT", help="image file (or directory), directory, or video file (.mp4, .avi)")
    p.add_argument("--model", metavar="PATH|NAME", help="model file or manifest name (model.name)")
    p.add_argument("--threads", type=int, metavar="N", help="model.threads")
    p.add_argument("--from-jsonl", metavar="POSES.jsonl", help="draw recorded documents instead of running the model")
    p.add_argument(
        "--min-score",
        type=float,
        metavar="S",
        help="hide keypoints scoring below S (default: decoder.min_keypoint_score)",
    )
    p.add_argument("--no-boxes", action="store_true", help="draw skeletons and keypoints only")
    p.add_argument(
        "--zones",
        action="store_true",
        help="draw the config's analysis.zones with their state (red: occupied, green: empty)",
    )
    p.add_argument("--angles", action="store_true", help="write each pose's joint angles (degrees) at its joints")
    p.add_argument(
        "--behaviours",
        action="store_true",
        help="write what the enabled analysis.behaviours find by each person: the matched pose, "
        "repetition counts, FALL (and a red box) while down",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgepose.config import load_config
    from edgepose.logs import setup_logging
    from edgepose.viz import Style

    first = (f"source.uri={yaml_quote(args.input)}", "source.loop=false", "source.realtime=false")
    if args.zones or args.angles or args.behaviours:  # the analysis stage computes what is drawn
        first = (*first, "analysis.enabled=true", *(("analysis.angles=true",) if args.angles else ()))
    config = load_config(args.config, shortcut_overrides(args, *first))
    b = config.analysis.behaviours
    if args.behaviours and not (b.match.enabled or b.falls.enabled or b.reps.enabled):
        raise ConfigError(
            "--behaviours: no behaviour is enabled",
            "enable one in the config or with --set analysis.behaviours.reps.enabled=true",
        )
    setup_logging(log_level(args, config.logging.level), config.logging.format)
    min_score = config.decoder.min_keypoint_score if args.min_score is None else args.min_score
    if not 0.0 <= min_score <= 1.0:
        raise ConfigError(f"--min-score {min_score} is outside 0..1", "a keypoint score: 0 shows every keypoint")
    style = Style(min_keypoint_score=min_score, boxes=not args.no_boxes)
    overlays = Overlays(args.zones, args.angles, args.behaviours)
    report = annotate(config, Path(args.output), style, Path(args.from_jsonl) if args.from_jsonl else None, overlays)
    print(report.summary(), file=sys.stderr)
    return 0


@dataclass
class Report:
    """What an annotate run did; every frame that was not written is counted in one of the fields."""

    output: Path
    written: int = 0
    failed: int = 0  # frames the source or the model could not process
    failures: list[str] = field(default_factory=list)  # why, for the first FAILURES_NAMED of them
    without_document: int = 0  # --from-jsonl: frames the file has no document for
    unused_documents: list[int] = field(default_factory=list)  # --from-jsonl: frames INPUT does not have

    def summary(self) -> str:
        from edgepose.stats import failure_summary

        parts = [f"annotated {self.written} frame(s) -> {self.output}"]
        if self.failed:
            parts.append(f"{self.failed} failed and skipped")
        if self.without_document:
            parts.append(f"{self.without_document} written without overlay (no document for them)")
        if self.unused_documents:
            parts.append(f"{len(self.unused_documents)} document(s) matched no frame")
        summary = "; ".join(parts)
        return f"{summary}\n{failure_summary(self.failed, self.failures)}" if self.failed else summary


@dataclass(frozen=True)
class Overlays:
    """What the analysis stage adds to the drawing (``--zones``, ``--angles``, ``--behaviours``)."""

    zones: bool = False
    angles: bool = False
    behaviours: bool = False

    def __bool__(self) -> bool:
        return self.zones or self.angles or self.behaviours


class Analyzed:
    """Draws the analysis overlays of a run: the stage's zone states after each frame, and angles."""

    def __init__(self, config: Config, overlays: Overlays) -> None:
        from edgepose.analysis.stage import make_analysis, zone_of

        self.overlays = overlays
        self.stage = make_analysis(config, config.source.camera) if overlays else None
        camera = config.source.camera
        self.zones = [zone_of(z) for z in config.analysis.zones if z.camera in ("", camera)]

    def draw(self, image: Any, result: FrameResult, style: Style) -> Any:
        """Zones (under everything), the poses, then the angles and the behaviours' labels, from
        ``result`` as the stage left it."""
        from edgepose.analysis.overlay import draw_angles, draw_behaviours, draw_zones
        from edgepose.viz import draw_poses

        if self.overlays.zones and self.zones:
            states = {s.zone: s for s in self.stage.zone_states()} if self.stage is not None else {}
            image = draw_zones(image, self.zones, states)
        image = draw_poses(image, result.poses, style)
        angles = result.analysis.pose_fields.get("angles") if result.analysis is not None else None
        if self.overlays.angles and angles is not None:
            image = draw_angles(image, result.poses, angles.degrees)  # type: ignore[attr-defined]
        a = result.analysis
        if self.overlays.behaviours and a is not None:
            down = a.falls.track_ids if a.falls is not None else ()
            image = draw_behaviours(image, result.poses, a.pose_fields.get("match"), a.pose_fields.get("reps"), down)
        return image


def open_writer(kind: str, source: Source, output: Path) -> FrameWriter:
    from edgepose.viz.output import DirectoryWriter, ImageFileWriter, VideoWriter

    """The writer that writes 'the same' as the input: image for image, directory, video."""
    if kind == "image":
        return ImageFileWriter(output, Path(str(source.files[0])).name)  # type: ignore[attr-defined]
    if kind == "directory":
        return DirectoryWriter(output)
    return VideoWriter(output, source.fps)


def frame_name(frame: Frame) -> str:
    """The input file name of a frame from an image source ('' for video)."""
    return frame.file


def annotate(
    config: Config, output: Path, style: Style, jsonl: Path | None = None, overlays: Overlays = Overlays()
) -> Report:
    """Annotate ``config.source.uri`` into ``output``; the poses come from the model or from ``jsonl``.

    ``overlays``: also zones with their state and joint angles, from the analysis stage run over
    the same poses (the model's, or the recorded documents').
    """
    from edgepose.sources import guess_kind, make_source
    from edgepose.stats import failure_summary

    kind = guess_kind(config.source.uri) if config.source.kind == "auto" else config.source.kind
    if kind not in ("image", "directory", "video"):
        raise InputError(f"cannot annotate a {kind} source", "give an image, a directory of images or a video file")
    documents = read_documents(jsonl) if jsonl is not None else None  # read first: fail before any work
    source = make_source(replace(config.source, loop=False), config.source.uri)
    source.open()
    report = Report(output)
    try:
        writer = open_writer(kind, source, output)
        try:
            analyzed = Analyzed(config, overlays)
            if documents is None:
                _from_model(config, source, writer, style, report, analyzed)
            else:
                _from_documents(
                    source, documents, writer, style, report, by_name=kind == "directory", analyzed=analyzed
                )
        finally:
            writer.close()
    finally:
        source.close()
    if not report.written:
        if report.failed:
            log.warning("%s", failure_summary(report.failed, report.failures))
        why = f"{report.failed} failed" if report.failed else "the input gave none"
        raise InputError(f"no frame was processed from {config.source.uri}: {why}")
    return report


def _from_model(
    config: Config, source: Source, writer: FrameWriter, style: Style, report: Report, analyzed: Analyzed
) -> None:
    from edgepose.app import build_estimator
    from edgepose.documents.poses import Stamp
    from edgepose.pipeline.lanes import Lane
    from edgepose.pipeline.runner import Pipeline
    from edgepose.stats import RunStats
    from edgepose.tracking import make_tracker

    loaded = build_estimator(config)
    stats = RunStats()

    def draw(frame: Frame, result: FrameResult, document: dict[str, Any]) -> None:
        writer.write(analyzed.draw(frame.image, result, style), frame_name(frame))
        report.written += 1

    stamp = Stamp(config.device_id, loaded.model_name, loaded.accelerator)
    # The same tracker as the daemon, so ids (and colours) match what `edgepose run` publishes.
    tracking = make_tracker(config.tracking, config.decoder.min_keypoint_score)
    lane = Lane("cam0", source, loaded.estimator, tracking=tracking, analysis=analyzed.stage)
    Pipeline([lane], [], stamp, stats, hooks=[draw]).run()
    report.failed, report.failures = stats.failed, list(stats.failures)


def _from_documents(
    source: Source,
    documents: Mapping[int, dict[str, Any]],
    writer: FrameWriter,
    style: Style,
    report: Report,
    by_name: bool = False,
    analyzed: Analyzed | None = None,
) -> None:
    # With ``by_name`` (a directory), images are matched by file name where the documents carry
    # it: ``frame`` counts only the images that decoded, which may not be the same as when recording.
    from edgepose.pose import FrameResult
    from edgepose.stats import FAILURES_NAMED
    from edgepose.viz import draw_poses, poses_from_document

    by_file = {doc["file"]: n for n, doc in documents.items() if isinstance(doc.get("file"), str)} if by_name else {}
    seen: set[int] = set()
    while True:
        try:
            frame = source.read()
        except FrameError as exc:  # one image of a directory: skipped and counted, as `run` does
            report.failed += 1
            if len(report.failures) < FAILURES_NAMED:
                report.failures.append(exc.message)
            log.warning("skipped a frame: %s", exc)
            continue
        if frame is None:
            break
        key = by_file.get(frame.file) if frame.file and by_file else frame.index
        document = documents.get(key) if key is not None else None
        if document is None:
            report.without_document += 1
            image = frame.image
        else:
            seen.add(key)
            if (document.get("width"), document.get("height")) != (frame.width, frame.height):
                raise InputError(
                    f"frame {frame.index}: the document is for a {document.get('width')}x{document.get('height')} "
                    f"frame, the input's is {frame.width}x{frame.height}",
                    "give the input the JSONL was recorded from",
                )
            poses = poses_from_document(document)
            if analyzed is not None and analyzed.stage is not None:
                # The recorded poses (ids included) through the same stage the daemon runs.
                result = FrameResult(
                    frame.index,
                    float(document.get("ts", frame.ts)),
                    frame.mono,
                    frame.width,
                    frame.height,
                    frame.camera,
                    poses,
                )
                image = analyzed.draw(frame.image, analyzed.stage.apply(result, source.continuous), style)
            else:
                image = draw_poses(frame.image, poses, style)
        writer.write(image, frame_name(frame))
        report.written += 1
    report.unused_documents = sorted(set(documents) - seen)


def read_documents(path: Path) -> dict[int, dict[str, Any]]:
    """Schema v1 documents of a JSONL file by their ``frame`` counter; one run and camera per file."""
    from edgepose.viz import poses_from_document

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"JSONL file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    documents: dict[int, dict[str, Any]] = {}
    first_line: dict[int, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not JSON: {exc.msg}") from None
        frame = doc.get("frame") if isinstance(doc, dict) else None
        if not isinstance(frame, int) or "poses" not in doc:
            raise InputError(f"{path}:{number}: not a pose document (no frame counter or poses)")
        if frame in documents:
            raise InputError(
                f"{path}:{number}: a second document for frame {frame} (line {first_line[frame]} has the first): "
                "the file holds more than one run or camera",
                f"jsonl:{path} appends; record into a new file, or with --sink 'jsonl:{path}?mode=w' to start "
                'it afresh each run; for several cameras keep one (grep \'"camera":"cam0"\')',
            )
        poses_from_document(doc)  # refuse malformed poses here, with the line number's frame
        documents[frame] = doc
        first_line[frame] = number
    if not documents:
        raise InputError(f"{path} holds no pose documents")
    return documents
