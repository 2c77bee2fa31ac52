#!/usr/bin/env python3
"""Which resize should shrink camera frames to the model input? Accuracy and cost of each method.

    python scripts/resize_study.py [--shared ../shared] [--video-frames 24] [--repeat 30] [--timing-only] [--json OUT]

For every method of :mod:`edgepose.estimation.resize`, with MoveNet Lightning int8 on the CPU:

1. **OCHuman AP**: the crop-and-score protocol of ``edgepose eval`` (each annotated person's box
   x1.25 made square, cut at the image's resolution), built here from ``edgepose.tools.evaluate``'s own
   pieces with the resize swapped; the ``bilinear`` row is checked to give exactly the detections
   ``edgepose.tools.evaluate.predict`` gives (the same crops, the same bytes in, the same AP).
2. **Golden errors**: ``squat.bmp`` letterboxed whole, against Google's reference CSV (mean and
   max error as fractions of the image size, as tests/test_golden_movenet.py measures them).
3. **Camera shrinks**: each shared image upscaled (bicubic) to a long side of 1280 and 1920 pixels
   (the shrink a 720p and a 1080p frame gives), and walking-crowd frames at their native 720p and
   upscaled to 1080p, letterboxed into the 192 input. Keypoints are compared with the model's
   output on the full-quality input: the antialiased resize of the original (not upscaled) image
   or native frame. Error in model-input pixels over the reference's keypoints scoring > 0.3.
   No 256 model is in the shared assets, so at 256 (MoveNet Thunder, MultiPose) the input images
   themselves are compared with the full-quality input (mean absolute difference, levels).
4. **Cost**: ms per frame, per method, 720p and 1080p letterboxed and a 640x640 crop region, into
   192 and 256 (median of ``--repeat``, methods interleaved). ``--timing-only`` runs this part
   alone (no model, no pycocotools): the command for a Raspberry Pi.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgepose.estimation import resize  # noqa: E402
from edgepose.estimation.preprocess import Region, full_region, to_input_dtype  # noqa: E402
from edgepose.estimation.resize import Resize  # noqa: E402
from edgepose.tools.bench.frames import spread_frames  # noqa: E402

MOVENET = "movenet_single_pose_lightning_ptq.tflite"
REFERENCE_CSV = "movenet_single_pose_lightning_ptq_reference.csv"
LONG_SIDES = {"720p": 1280, "1080p": 1920}  # a 16:9 camera frame's long side
# Timed inputs: 16:9 camera frames letterboxed whole, and a square crop region around a person in
# a 720p frame (MoveNet on video cuts that after its first frame).
FRAMES = {"720p": (1280, 720), "1080p": (1920, 1080), "crop640": (640, 640)}
INPUTS = (192, 256)
MIN_REFERENCE_SCORE = 0.3  # keypoints of the reference pose that count for agreement


def cut_with(image: np.ndarray, region: Region, in_w: int, in_h: int, method: Resize) -> np.ndarray:
    """``edgepose.estimation.preprocess.cut`` with the resize swapped: the same geometry, black outside the image."""
    height, width = image.shape[:2]
    out = np.zeros((in_h, in_w, 3), np.uint8)
    sx, sy = in_w / region.w, in_h / region.h
    x0, y0 = max(region.x, 0.0), max(region.y, 0.0)
    x1, y1 = min(region.x + region.w, float(width)), min(region.y + region.h, float(height))
    if not (x1 > x0 and y1 > y0):
        return out
    dx0, dy0 = round((x0 - region.x) * sx), round((y0 - region.y) * sy)
    dx1, dy1 = min(in_w, round((x1 - region.x) * sx)), min(in_h, round((y1 - region.y) * sy))
    if dx1 <= dx0 or dy1 <= dy0:
        return out
    src = image[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
    method(src, dx1 - dx0, dy1 - dy0, out[dy0:dy1, dx0:dx1])
    return out


@dataclass(frozen=True)
class Model:
    """The engine and decoder of an estimator, run on inputs cut by any resize method."""

    engine: Any
    decoder: Any
    in_w: int
    in_h: int

    def pose(self, image: np.ndarray, method: Resize) -> tuple[np.ndarray, float]:
        """The best pose's ``(17, 3)`` keypoints (image pixels) and score, the whole image letterboxed."""
        region = full_region(image.shape[1], image.shape[0], self.in_w, self.in_h)
        rgb = cut_with(image, region, self.in_w, self.in_h, method)
        spec = self.engine.input
        outputs = self.engine.invoke(to_input_dtype(rgb, spec.dtype, spec.scale, spec.zero_point))
        poses = sorted(self.decoder.decode(outputs, region), key=lambda p: -p.score)
        return poses[0].keypoints.astype(np.float64), float(poses[0].score)


def load_model(models: Path) -> tuple[Model, Any]:
    from edgepose.config.sections import DecoderConfig
    from edgepose.estimation.estimator import PoseEstimator
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.modelfile import read_model

    # bilinear: check_parity holds the study's bilinear loop to this estimator's edgepose eval
    estimator = PoseEstimator(
        LiteRtEngine(read_model(models / MOVENET), threads=2), DecoderConfig(min_pose_score=0), resize="bilinear"
    )
    return Model(estimator.engine, estimator.decoder, estimator.in_w, estimator.in_h), estimator


def ochuman_results(model: Model, dataset: Any, method: Resize, images: dict[int, np.ndarray]) -> list[dict[str, Any]]:
    """``edgepose eval``'s single-person protocol (``tools.evaluate.coco.predict``) with ``method`` resizing."""
    from edgepose.tools.evaluate import coco

    results = []
    for info in dataset.images:
        for ann in dataset.people(info["id"]):
            crop = coco.person_crop(ann["bbox"], model.in_w, model.in_h)
            keypoints, score = model.pose(coco.cut_padded(images[info["id"]], crop), method)
            keypoints[:, 0] += crop[0]
            keypoints[:, 1] += crop[1]
            results.append(coco.detection(info["id"], keypoints, score))
    return results


FLIPPED = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)  # COCO-17 left and right swapped


def variant(dataset: Any, images: dict[int, np.ndarray], scale: float, flip: bool) -> tuple[Any, dict]:
    """The dataset with every image upscaled (bicubic) by ``scale`` and mirrored if ``flip``, annotations to match.

    Upscaling by 2 gives crops of 1400 to 2150 pixels for the 192 input: the 7x to 11x shrink of
    a person filling a 1080p frame. Mirroring shows the model other pixels of the same people
    (left and right keypoints swap). Unlabelled keypoints (v = 0) stay at (0, 0).
    """
    import cv2

    from edgepose.tools.evaluate.coco import Dataset

    data = json.loads(json.dumps(dataset.data))
    out: dict[int, np.ndarray] = {}
    for info in data["images"]:
        image = images[info["id"]]
        if scale != 1:
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
        out[info["id"]] = np.ascontiguousarray(image[:, ::-1]) if flip else image
        info["width"], info["height"] = image.shape[1], image.shape[0]
    widths = {info["id"]: info["width"] for info in data["images"]}
    for ann in data["annotations"]:
        kp = np.array(ann["keypoints"], np.float64).reshape(-1, 3)
        labelled = kp[:, 2] > 0
        kp[labelled, :2] *= scale
        x, y, w, h = (v * scale for v in ann["bbox"])
        if flip:
            kp[labelled, 0] = widths[ann["image_id"]] - kp[labelled, 0]
            kp = kp[list(FLIPPED)]
            x = widths[ann["image_id"]] - x - w
        ann["keypoints"], ann["bbox"] = kp.reshape(-1).tolist(), [x, y, w, h]
        ann["area"] = ann.get("area", w * h) * scale * scale
    return Dataset(data, dataset.annotations_path, dataset.images_dir), out


def ochuman_ap(model: Model, dataset: Any, methods: dict[str, Resize]) -> dict[str, dict[str, float]]:
    """AP per method on OCHuman as it is, and pooled over its four variants (1x and 2x, mirrored or not)."""
    from edgepose.sources.files import read_image
    from edgepose.tools.evaluate import coco

    images = {info["id"]: read_image(dataset.images_dir / str(info["file_name"])) for info in dataset.images}
    variants = [variant(dataset, images, scale, flip) for scale in (1, 2) for flip in (False, True)]
    out: dict[str, dict[str, float]] = {}
    for m, method in methods.items():
        plain = coco.score(dataset, ochuman_results(model, dataset, method, images))
        per = [coco.score(d, ochuman_results(model, d, method, i)).AP for d, i in variants]
        out[m] = {
            "AP": plain.AP,
            "AP50": plain.AP50,
            "AR": plain.AR,
            "AP_1x": (per[0] + per[1]) / 2,
            "AP_2x": (per[2] + per[3]) / 2,
        }
    return out


def golden_errors(model: Model, squat: np.ndarray, reference: np.ndarray, method: Resize) -> tuple[float, float]:
    keypoints, _ = model.pose(squat, method)
    h, w = squat.shape[:2]
    err = np.abs(np.c_[keypoints[:, 0] / w, keypoints[:, 1] / h] - reference[:, :2])
    return float(err.mean()), float(err.max())


def read_reference(path: Path) -> np.ndarray:
    with path.open() as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["keypoint_id"]))
    return np.array([[float(r["keypoint_x"]), float(r["keypoint_y"]), float(r["keypoint_score"])] for r in rows])


def upscaled(image: np.ndarray, long_side: int) -> np.ndarray:
    import cv2

    scale = long_side / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return image if size == (image.shape[1], image.shape[0]) else cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)


def camera_sources(shared: Path, video_count: int) -> list[tuple[str, np.ndarray, dict[str, np.ndarray]]]:
    """(name, original, {"720p": frame, "1080p": frame}) for every shared image and some video frames."""
    from edgepose.sources.files import read_image

    images = [shared / "images" / "squat.bmp", shared / "images" / "posenet_test_image.bmp"]
    images += sorted((shared / "keypoints" / "ochuman").glob("*.jpg"))
    sources = []
    for path in images:
        original = read_image(path)
        sources.append((path.name, original, {k: upscaled(original, v) for k, v in LONG_SIDES.items()}))
    for i, (_, frame) in enumerate(spread_frames(shared / "videos" / "walking_crowd_720p.mp4", video_count)):
        sources.append((f"video{i}", frame, {"720p": frame, "1080p": upscaled(frame, LONG_SIDES["1080p"])}))
    return sources


def agreement(model: Model, sources: list, methods: dict[str, Resize]) -> dict[str, dict[str, dict[str, float]]]:
    """Per method and case (frame size, images or video): keypoint error against the full-quality input's pose.

    Errors are in model-input pixels, over the reference pose's keypoints scoring above
    ``MIN_REFERENCE_SCORE``: the median, the 90th percentile and the share moved more than 3 px
    (a keypoint that jumped to another limb or person, which a single-pose model does in a crowd).
    """
    errors: dict[str, dict[str, list[np.ndarray]]] = {m: {} for m in methods}
    for name, original, frames in sources:
        kind = "video" if name.startswith("video") else "images"
        ref, _ = model.pose(original, resize.antialiased)
        keep = ref[:, 2] > MIN_REFERENCE_SCORE
        for size, frame in frames.items():
            factor = frame.shape[1] / original.shape[1]
            px = model.in_w / max(original.shape[:2])  # model-input pixels per original pixel (letterboxed)
            for m, method in methods.items():
                got, _ = model.pose(frame, method)
                d = np.hypot(got[keep, 0] / factor - ref[keep, 0], got[keep, 1] / factor - ref[keep, 1]) * px
                errors[m].setdefault(f"{size} {kind}", []).append(d)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for m, by_case in errors.items():
        out[m] = {}
        for case, parts in by_case.items():
            d = np.concatenate(parts)
            out[m][case] = {
                "median_px": float(np.median(d)),
                "p90_px": float(np.percentile(d, 90)),
                "over_3px": float((d > 3.0).mean()),
                "keypoints": int(d.size),
            }
    return out


def image_fidelity(sources: list, methods: dict[str, Resize], in_size: int) -> dict[str, dict[str, float]]:
    """Mean absolute difference (levels) of each method's input from the full-quality input, square ``in_size``."""
    diffs: dict[str, dict[str, list[float]]] = {m: {k: [] for k in LONG_SIDES} for m in methods}
    for _name, original, frames in sources:
        ref = cut_with(
            original,
            full_region(original.shape[1], original.shape[0], in_size, in_size),
            in_size,
            in_size,
            resize.antialiased,
        ).astype(np.int16)
        for size, frame in frames.items():
            region = full_region(frame.shape[1], frame.shape[0], in_size, in_size)
            for m, method in methods.items():
                got = cut_with(frame, region, in_size, in_size, method).astype(np.int16)
                diffs[m][size].append(float(np.abs(got - ref).mean()))
    return {m: {k: statistics.fmean(v) for k, v in by.items()} for m, by in diffs.items()}


def timing(methods: dict[str, Resize], repeat: int) -> dict[str, dict[str, float]]:
    """Median ms to cut each timed frame into each square input, per method (all methods interleaved)."""
    rng = np.random.default_rng(0)
    frames = {k: rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for k, (w, h) in FRAMES.items()}
    samples: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
    cases = [(size, in_size) for size in FRAMES for in_size in INPUTS]
    for _ in range(repeat):
        for size, in_size in cases:
            frame = frames[size]
            region = full_region(frame.shape[1], frame.shape[0], in_size, in_size)
            for m, method in methods.items():
                t0 = time.perf_counter()
                cut_with(frame, region, in_size, in_size, method)
                samples[m].setdefault(f"{size}->{in_size}", []).append((time.perf_counter() - t0) * 1e3)
    return {m: {case: statistics.median(v) for case, v in by.items()} for m, by in samples.items()}


def check_parity(model: Model, estimator: Any, dataset: Any, squat: np.ndarray) -> None:
    """The study's loop with ``bilinear`` is ``edgepose eval`` and ``preprocess.cut`` exactly, or the study is void."""
    from edgepose.estimation.preprocess import cut
    from edgepose.tools.evaluate import coco

    region = full_region(squat.shape[1], squat.shape[0], model.in_w, model.in_h)
    if not np.array_equal(
        cut_with(squat, region, model.in_w, model.in_h, resize.bilinear), cut(squat, region, model.in_w, model.in_h)
    ):
        raise SystemExit(
            "cut_with(bilinear) differs from edgepose.estimation.preprocess.cut: the study would not measure edgepose"
        )
    from edgepose.sources.files import read_image

    images = {info["id"]: read_image(dataset.images_dir / str(info["file_name"])) for info in dataset.images}
    ours = ochuman_results(model, dataset, resize.bilinear, images)
    theirs = list(coco.predict(dataset, estimator).results)
    if ours != theirs:
        raise SystemExit("the study's crop loop differs from edgepose.tools.evaluate.predict")


def markdown(report: dict[str, Any]) -> str:
    lines = []
    if "ap" in report:
        lines += [
            "| method | OCHuman AP | AP50 | AR | AP 1x, mirrored too | AP 2x, mirrored too | squat mean err | "
            "squat max err |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for m, ap in report["ap"].items():
            g = report["golden"][m]
            lines.append(
                f"| {m} | {100 * ap['AP']:.1f} | {100 * ap['AP50']:.1f} | {100 * ap['AR']:.1f} | "
                f"{100 * ap['AP_1x']:.1f} | {100 * ap['AP_2x']:.1f} | {g[0]:.4f} | {g[1]:.4f} |"
            )
        cases = list(next(iter(report["agreement"].values())))
        lines += [
            "",
            "keypoint error against the full-quality input (model-input px): median / p90 / share > 3 px",
            "",
            "| method | " + " | ".join(cases) + " | img diff 256 720p | img diff 256 1080p |",
            "|---|" + "--:|" * (len(cases) + 2),
        ]
        for m, by in report["agreement"].items():
            cells = [
                f"{by[c]['median_px']:.2f} / {by[c]['p90_px']:.2f} / {100 * by[c]['over_3px']:.0f}%" for c in cases
            ]
            f = report["fidelity_256"][m]
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {f['720p']:.2f} | {f['1080p']:.2f} |")
        lines.append("")
    cases = list(next(iter(report["ms"].values())))
    lines += ["| method | " + " | ".join(f"{c} ms" for c in cases) + " |", "|---|" + "--:|" * len(cases)]
    for m, by in report["ms"].items():
        lines.append(f"| {m} | " + " | ".join(f"{by[c]:.2f}" for c in cases) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--video-frames", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--timing-only", action="store_true", help="only the cost per method (no model)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    methods = dict(resize.METHODS)
    report: dict[str, Any] = {}
    if not args.timing_only:
        from edgepose.sources.files import read_image
        from edgepose.tools.evaluate import coco

        model, estimator = load_model(args.shared / "models")
        dataset = coco.load_dataset(
            args.shared / "keypoints/ochuman/test_ochuman.json", args.shared / "keypoints/ochuman"
        )
        squat = read_image(args.shared / "images" / "squat.bmp")
        reference = read_reference(args.shared / "models" / REFERENCE_CSV)
        check_parity(model, estimator, dataset, squat)
        report["ap"] = ochuman_ap(model, dataset, methods)
        report["golden"] = {m: golden_errors(model, squat, reference, f) for m, f in methods.items()}
        sources = camera_sources(args.shared, args.video_frames)
        report["agreement"] = agreement(model, sources, methods)
        report["fidelity_256"] = image_fidelity(sources, methods, 256)
    report["ms"] = timing(methods, args.repeat)
    print(markdown(report), end="")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
