"""COCO keypoint accuracy (OKS AP) of a model, scored by pycocotools.

Two protocols, as the published figures use them:

- **multi-person** models see each whole image; every pose they report is a detection.
- **single-person** models (MoveNet SinglePose, BlazePose) see one crop per annotated person: the
  person's box, enlarged by ``BOX_SCALE`` around its centre and widened to the model input's
  aspect ratio (a square for MoveNet), cut at the image's own resolution (black outside the
  image). Keypoints are mapped back to image pixels by the crop's offset.

``protocol`` chooses: ``auto`` (the model's own, as above), ``crops`` (the single-person protocol
for every model; of a multi-person model's poses in a crop, the one overlapping the annotated box
most is its detection: the same protocol for all, blind to people the annotations leave out) or
``whole``.

Results are COCO-format detections: ``{"image_id", "category_id": 1, "keypoints": [x, y, s] * 17,
"score"}`` in image pixels; ``s`` is the keypoint score (OKS ignores it), ``score`` the pose score
that ranks detections for AP. Every pose is kept for scoring (``decoder.min_pose_score`` is set
to 0), as AP needs the low-scoring ones to rank.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.errors import FrameError, InputError, UnavailableError
from edgepose.estimation.estimator import PoseEstimator
from edgepose.frame import Frame
from edgepose.keypoints import NUM_KEYPOINTS
from edgepose.pose import Pose
from edgepose.sources.files import read_image

log = logging.getLogger(__name__)

PROTOCOLS = ("auto", "crops", "whole")
WHOLE, CROPS = "whole images", "person crops"  # the protocols as the summary table names them
BOX_SCALE = 1.25  # enlargement of a person's box for single-person crops (mmpose's top-down default)
PERSON = 1  # COCO's category id for people

# pycocotools' keypoint summary, in the order of COCOeval.stats.
STAT_NAMES = ("AP", "AP50", "AP75", "AP_medium", "AP_large", "AR", "AR50", "AR75", "AR_medium", "AR_large")

KeypointTransform = Callable[[np.ndarray], np.ndarray]  # (17, 3) x, y, score in image pixels -> same


def shift(dx: float, dy: float) -> KeypointTransform:
    """A transform moving every keypoint by (dx, dy) pixels: a known error, to see what it costs in AP."""

    def apply(keypoints: np.ndarray) -> np.ndarray:
        out = keypoints.copy()
        out[:, 0] += dx
        out[:, 1] += dy
        return out

    return apply


@dataclass(frozen=True)
class Dataset:
    """A COCO keypoint annotation file: its data and where its images are."""

    data: dict[str, Any]
    annotations_path: Path
    images_dir: Path

    @property
    def images(self) -> list[dict[str, Any]]:
        return list(self.data["images"])

    def people(self, image_id: int) -> list[dict[str, Any]]:
        """The annotated people of an image that count for AP: not crowds, with at least one keypoint."""
        return [
            a
            for a in self.data["annotations"]
            if a["image_id"] == image_id and not a.get("iscrowd", 0) and a.get("num_keypoints", 0) > 0
        ]


def load_dataset(annotations: Path, images_dir: Path) -> Dataset:
    """Read and check a COCO keypoint annotation file; :class:`InputError` saying what is wrong."""
    try:
        data = json.loads(annotations.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"annotation file not found: {annotations}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read annotation file {annotations}: {exc}") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations"), list)
    ):
        raise InputError(f"{annotations} is not a COCO annotation file (needs 'images' and 'annotations' lists)")
    image_ids = {img.get("id") for img in data["images"] if isinstance(img, dict)}
    for i, ann in enumerate(data["annotations"]):
        problem = annotation_problem(ann, image_ids)
        if problem:
            which = f"annotation id {ann['id']}" if isinstance(ann, dict) and "id" in ann else "annotation"
            hint = "fix or remove it: a COCO person has a bbox [x, y, w, h] and 17 (x, y, v) keypoints"
            raise InputError(f"{annotations}: {which} (annotations[{i}]): {problem}", hint)
    if not images_dir.is_dir():
        raise InputError(f"image directory not found: {images_dir}", "pass --images DIR")
    data.setdefault("categories", [{"id": PERSON, "name": "person", "supercategory": "person"}])
    dataset = Dataset(data, annotations, images_dir)
    if not any(dataset.people(img["id"]) for img in dataset.images):
        # pycocotools would score this AP 0 (or -1): a number that reads like a result
        raise InputError(
            f"nothing to evaluate: {annotations} has no annotated people (not crowds, with at least one keypoint)",
            "give an annotation file with person keypoints",
        )
    return dataset


def _numbers(value: Any, count: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == count
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )


def annotation_problem(ann: Any, image_ids: set[Any]) -> str | None:
    """What makes one COCO keypoint annotation unusable, or None (checked once, before any model runs)."""
    if not isinstance(ann, dict):
        return "not an object"
    if not _numbers(ann.get("bbox"), 4):
        return f"bbox is not 4 numbers: {json.dumps(ann.get('bbox'))[:60]}"
    if not _numbers(ann.get("keypoints"), 3 * NUM_KEYPOINTS):
        return f"keypoints are not {3 * NUM_KEYPOINTS} numbers: {json.dumps(ann.get('keypoints'))[:60]}"
    if ann.get("image_id") not in image_ids:
        return f"image_id {json.dumps(ann.get('image_id'))} is not in images"
    if not isinstance(ann.get("num_keypoints", 0), int) or not isinstance(ann.get("iscrowd", 0), int):
        return "num_keypoints and iscrowd must be whole numbers"
    return None


def person_crop(bbox: Sequence[float], in_w: int, in_h: int, scale: float = BOX_SCALE) -> tuple[int, int, int, int]:
    """The crop (x, y, w, h) in image pixels for a COCO box ``[x, y, w, h]``: enlarged by ``scale``
    around its centre, then widened on its short side to the input's aspect ratio (square for MoveNet).
    May extend past the image."""
    x, y, w, h = (float(v) for v in bbox)
    cx, cy = x + w / 2.0, y + h / 2.0
    w, h = max(w, 1.0) * scale, max(h, 1.0) * scale
    aspect = in_w / in_h
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cw, ch = max(1, math.ceil(w)), max(1, math.ceil(h))
    return math.floor(cx - cw / 2.0 + 0.5), math.floor(cy - ch / 2.0 + 0.5), cw, ch  # round half up


def cut_padded(image: np.ndarray, crop: tuple[int, int, int, int]) -> np.ndarray:
    """The crop of an RGB image at its own resolution, black where the crop is outside the image."""
    x, y, w, h = crop
    out = np.zeros((h, w, 3), np.uint8)
    height, width = image.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x1 > x0 and y1 > y0:
        out[y0 - y : y1 - y, x0 - x : x1 - x] = image[y0:y1, x0:x1]
    return out


def _moved(pose: Pose, dx: float, dy: float, transform: KeypointTransform | None) -> np.ndarray:
    keypoints = pose.keypoints.astype(np.float64)
    keypoints[:, 0] += dx
    keypoints[:, 1] += dy
    return transform(keypoints) if transform is not None else keypoints


def detection(image_id: int, keypoints: np.ndarray, score: float) -> dict[str, Any]:
    """One COCO-format keypoint result."""
    flat = [round(float(v), 3) for v in keypoints.reshape(-1)]
    return {"image_id": image_id, "category_id": PERSON, "keypoints": flat, "score": round(float(score), 5)}


@dataclass(frozen=True)
class Predictions:
    """What a model said about a dataset, and what could not be evaluated (counted, not hidden)."""

    results: tuple[dict[str, Any], ...]
    mode: str  # the protocol run: WHOLE (multi-person models' own) or CROPS (single-person models' own)
    images: int  # images read
    people: int  # annotated people that count (single-person: crops run)
    images_failed: tuple[str, ...]  # "file: why"


def predict(
    dataset: Dataset,
    estimator: PoseEstimator,
    transform: KeypointTransform | None = None,
    progress: Callable[[str], None] | None = None,
    box_scale: float = BOX_SCALE,
    protocol: str = "auto",
) -> Predictions:
    """Run the estimator over the dataset with ``protocol`` (``auto``: the one its decoder needs).

    ``transform`` is applied to each pose's keypoints (image pixels) before they are recorded.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {PROTOCOLS}")
    multi = estimator.decoder.multi_person if protocol == "auto" else protocol == "whole"
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    images = people = 0
    for n, info in enumerate(dataset.images, 1):
        path = dataset.images_dir / str(info["file_name"])
        try:
            image = read_image(path)
        except FrameError as exc:
            failed.append(f"{info['file_name']}: {exc.message}")
            log.warning("skipped image: %s", exc.message)
            continue
        images += 1
        image_id = info["id"]
        if progress:
            progress(f"[{n}/{len(dataset.images)}] {info['file_name']}")
        if multi:
            estimator.reset()
            result = estimator.estimate(Frame(image, n, 0.0, 0.0), continuous=False)
            people += len(dataset.people(image_id))
            results += [detection(image_id, _moved(p, 0, 0, transform), p.score) for p in result.poses]
            continue
        for ann in dataset.people(image_id):
            crop = person_crop(ann["bbox"], estimator.in_w, estimator.in_h, box_scale)
            estimator.reset()
            result = estimator.estimate(Frame(cut_padded(image, crop), n, 0.0, 0.0), continuous=False)
            people += 1
            x, y, w, h = (float(v) for v in ann["bbox"])
            best = subject(result.poses, (x - crop[0], y - crop[1], x - crop[0] + w, y - crop[1] + h))
            if best is not None:
                results.append(detection(image_id, _moved(best, crop[0], crop[1], transform), best.score))
    if not images:
        raise InputError(
            f"none of the {len(dataset.images)} images could be read from {dataset.images_dir}",
            failed[0] if failed else None,
        )
    return Predictions(tuple(results), WHOLE if multi else CROPS, images, people, tuple(failed))


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes; 0 when either is empty."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def subject(poses: Sequence[Pose], box: Sequence[float]) -> Pose | None:
    """The pose of a person crop that is the annotated person: the one whose box overlaps ``box``
    (the annotation's, in crop pixels) most, the better score on a tie.

    A single-person model gives one pose; a multi-person model also reports the neighbours the
    crop holds, often scoring higher. The annotated box is what the crop already tells a
    single-person model, so choosing by it gives both kinds the same information.
    """
    return max(poses, key=lambda p: (box_iou(p.box, box), p.score), default=None)


@dataclass(frozen=True)
class Scores:
    """pycocotools' keypoint summary (-1 where a size range has no people, as pycocotools reports)."""

    AP: float
    AP50: float
    AP75: float
    AP_medium: float
    AP_large: float
    AR: float
    AR50: float
    AR75: float
    AR_medium: float
    AR_large: float


def require_pycocotools() -> tuple[Any, Any]:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise UnavailableError(
            "edgepose eval needs pycocotools, which is not installed", "pip install 'edgepose[eval]'"
        ) from None
    return COCO, COCOeval


def score(dataset: Dataset, results: Sequence[Mapping[str, Any]]) -> Scores:
    """OKS AP/AR of ``results`` against the dataset, computed by pycocotools (its chatter goes to the log)."""
    COCO, COCOeval = require_pycocotools()
    evaluated = {img["id"] for img in dataset.images}
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        truth = COCO()
        truth.dataset = json.loads(json.dumps(dataset.data))  # pycocotools mutates what it is given
        truth.createIndex()
        if not results:  # pycocotools cannot load an empty result list: nothing found scores 0
            log.debug("%s", chatter.getvalue())
            return Scores(*([0.0] * len(STAT_NAMES)))
        found = truth.loadRes([dict(r) for r in results])
        ev = COCOeval(truth, found, "keypoints")
        ev.params.imgIds = sorted(evaluated)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    log.debug("%s", chatter.getvalue())
    return Scores(*(round(float(v), 4) for v in ev.stats))


def write_results(results: Sequence[Mapping[str, Any]], path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(list(results), indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def summary_table(model: str, accelerator: str, predictions: Predictions, scores: Scores) -> str:
    """Markdown: what was evaluated and the scores (AP in percent, as papers quote it)."""
    values = dataclasses.asdict(scores)
    shown = ("AP", "AP50", "AP75", "AR")
    head = "| model | accel | protocol | images | people | " + " | ".join(shown) + " |"
    cells = [f"{100 * values[k]:.1f}" if values[k] >= 0 else "-" for k in shown]
    lines = [
        head,
        "|---|---|---|--:|--:|--:|--:|--:|--:|",
        f"| {model} | {accelerator} | {predictions.mode} | {predictions.images} | {predictions.people} | "
        + " | ".join(cells)
        + " |",
    ]
    for failure in predictions.images_failed:
        lines.append(f"\nnot evaluated: {failure}")
    return "\n".join(lines) + "\n"
