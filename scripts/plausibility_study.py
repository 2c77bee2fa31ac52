#!/usr/bin/env python3
"""How many stitched poses the plausibility gate removes, and what it costs real ones.

    python scripts/plausibility_study.py [--shared ../shared] [--video-frames 40] [--json OUT]

With the gate's default thresholds (``edgepose.decode.plausibility.Thresholds``):

1. **Real poses**: the OCHuman annotations (5 people, heavy occlusion), the same with 10% to 90%
   of their keypoints removed at random, the poses of Coral's PoseNet reference CSVs on
   ``posenet_test_image.bmp`` (several people, three input sizes), and PoseNet's poses scoring
   above 0.5 on walking-crowd frames (people seen from above; PoseNet's own output, so it can
   hold chimeras too): how many the gate drops.
2. **Chimeras from annotations**: every ordered pair of annotated people, the joints split three
   ways (upper body from one and legs from the other, left side and right side, a random half),
   the second person placed five ways (where annotated, which for people of different images
   means much overlap; one body height to the side; boxes side by side at the first's size, at
   half and at twice its size) and a sixth, overlapping (centred on the first at its size, the
   hard case: a pose stitched from one spot is nearly a person). Same for the PoseNet
   people of the test image, where they stand.
3. **The model's own outputs**: MoveNet SinglePose on ``posenet_test_image.bmp`` and the OCHuman
   images whole (several people each), and on walking-crowd frames; on OCHuman's person crops,
   AP with and without the gate (the gate must not lower it).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgepose.decode import plausibility  # noqa: E402
from edgepose.keypoints import KP  # noqa: E402
from edgepose.tools.bench.frames import spread_frames  # noqa: E402

MOVENET = "movenet_single_pose_lightning_ptq.tflite"
POSENET_CSVS = tuple(
    f"posenet_mobilenet_v1_075_{size}_16_quant_decoder_reference.csv" for size in ("353_481", "481_641", "721_1281")
)
MIN_POSENET_SCORE = 0.3  # reference poses counted as people
MISSING_TRIALS = 3000  # annotated poses with 10% to 90% of their keypoints removed at random
UPPER = np.arange(17) < KP["left_hip"]  # nose to wrists
LEFT = np.array([name.startswith("left_") for name in KP])
SPLITS = ("upper/lower", "left/right", "random half")
PLACES = (
    "as found",
    "a body height away",
    "touching",
    "touching, half size",
    "touching, twice the size",
    "overlapping",
)


def annotated_people(path: Path) -> np.ndarray:
    """``(N, 17, 3)`` annotated keypoints of OCHuman, score 1 where labelled and 0 where not."""
    data = json.loads(path.read_text())
    kp = np.array([a["keypoints"] for a in data["annotations"] if a["num_keypoints"] > 0], np.float64)
    kp = kp.reshape(-1, 17, 3)
    kp[..., 2] = (kp[..., 2] > 0).astype(np.float64)
    return kp


def posenet_people(path: Path, width: int, height: int) -> np.ndarray:
    """``(N, 17, 3)`` poses of a Coral reference CSV scoring above ``MIN_POSENET_SCORE``, in image pixels."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    poses: dict[int, np.ndarray] = {}
    for r in rows:
        if float(r["pose_score"]) <= MIN_POSENET_SCORE:
            continue
        kp = poses.setdefault(int(r["pose_id"]), np.zeros((17, 3)))
        kp[int(r["keypoint_id"])] = (
            float(r["keypoint_x"]) * width,
            float(r["keypoint_y"]) * height,
            float(r["keypoint_score"]),
        )
    return np.array(list(poses.values())).reshape(-1, 17, 3)


def extent(pose: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Centre, width and height of a pose's labelled keypoints."""
    xy = pose[pose[:, 2] > 0, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return (lo + hi) / 2, float(hi[0] - lo[0]), float(hi[1] - lo[1])


def placed(second: np.ndarray, first: np.ndarray, place: str) -> np.ndarray:
    """``second``'s keypoints moved (and scaled about their centre) as ``place`` says, relative to ``first``."""
    if place == "as found":
        return second
    c1, w1, h1 = extent(first)
    c2, _, h2 = extent(second)
    size = {"touching, half size": 0.5, "touching, twice the size": 2.0}.get(place, 1.0)
    scale = size * h1 / max(h2, 1.0)
    if place == "overlapping":
        centre = c1
    elif place == "a body height away":
        centre = c1 + np.array([h1, 0.0])
    else:  # the two boxes side by side, a fifth of the first's width apart
        centre = c1 + np.array([w1 / 2 + size * w1 / 2 + 0.2 * w1, 0.0])
    out = second.copy()
    out[:, :2] = (second[:, :2] - c2) * scale + centre
    return out


def stitch(first: np.ndarray, second: np.ndarray, from_second: np.ndarray) -> np.ndarray:
    """A ``(17, 3)`` pose with the joints where ``from_second`` is set taken from ``second``."""
    return np.where(from_second[:, None], second, first)


def split_mask(split: str, rng: np.random.Generator) -> np.ndarray:
    """Which joints come from the second person."""
    if split == "upper/lower":
        return ~UPPER
    if split == "left/right":
        return ~LEFT & (np.arange(17) != KP["nose"])
    return rng.permutation(17) < 8


def chimera_set(
    people: np.ndarray, places: tuple[str, ...] = PLACES, seed: int = 0
) -> Iterator[tuple[str, str, np.ndarray]]:
    """(split, place, pose) for every ordered pair of ``people``, split and place (seeded random halves)."""
    rng = np.random.default_rng(seed)
    for i in range(len(people)):
        for j in range(len(people)):
            if i == j:
                continue
            for split in SPLITS:
                mask = split_mask(split, rng)
                for place in places:
                    yield split, place, stitch(people[i], placed(people[j], people[i], place), mask)


def removal_table(chimeras: list[tuple[str, str, np.ndarray]]) -> dict[str, dict[str, list[int]]]:
    """Per place and split: [removed, total] by the default gate."""
    verdict = plausibility.check(np.array([c[2] for c in chimeras]))
    table: dict[str, dict[str, list[int]]] = {}
    for (split, place, _), ok in zip(chimeras, verdict.plausible, strict=True):
        cell = table.setdefault(place, {}).setdefault(split, [0, 0])
        cell[0] += int(not ok)
        cell[1] += 1
    return table


POSENET = "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"
MIN_VIDEO_POSE_SCORE = 0.5  # PoseNet poses on the walking crowd counted as people


def posenet_crowd(shared: Path, count: int) -> np.ndarray:
    """``(N, 17, 3)`` PoseNet poses scoring above ``MIN_VIDEO_POSE_SCORE`` on walking-crowd frames, seen from above."""
    from edgepose.config.sections import DecoderConfig
    from edgepose.estimation.estimator import PoseEstimator
    from edgepose.frame import Frame
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.modelfile import read_model

    engine = LiteRtEngine(read_model(shared / "models" / POSENET), threads=2)
    estimator = PoseEstimator(engine, DecoderConfig(), model_options=engine.model.decoder_options)
    poses = []
    for i, frame in spread_frames(shared / "videos" / "walking_crowd_720p.mp4", count):
        poses += [
            p.keypoints for p in estimator.estimate(Frame(frame, i, 0.0, 0.0)).poses if p.score > MIN_VIDEO_POSE_SCORE
        ]
    return np.array(poses).reshape(-1, 17, 3)


def model_outputs(shared: Path, video_count: int) -> dict[str, Any]:
    """MoveNet SinglePose on crowded whole images and walking-crowd frames, and OCHuman AP with and without the gate."""
    from edgepose.config.sections import DecoderConfig
    from edgepose.estimation.estimator import PoseEstimator
    from edgepose.frame import Frame
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.modelfile import read_model
    from edgepose.sources.files import read_image
    from edgepose.tools.evaluate import coco

    estimator = PoseEstimator(
        LiteRtEngine(read_model(shared / "models" / MOVENET), threads=2), DecoderConfig(min_pose_score=0)
    )
    out: dict[str, Any] = {"whole_images": {}}
    ochuman = shared / "keypoints" / "ochuman"
    for path in [shared / "images" / "posenet_test_image.bmp", *sorted(ochuman.glob("*.jpg"))]:
        estimator.reset()
        pose = estimator.estimate(Frame(read_image(path), 0, 0.0, 0.0)).poses[0]
        v = plausibility.check(pose.keypoints[None])
        out["whole_images"][path.name] = {
            "score": round(pose.score, 3),
            "plausible": bool(v.plausible[0]),
            "why": list(v.why(0)),
            "limb": float(v.limb[0]),
            "symmetry": float(v.symmetry[0]),
            "span": float(v.span[0]),
        }
    poses = []
    for i, frame in spread_frames(shared / "videos" / "walking_crowd_720p.mp4", video_count):
        estimator.reset()
        poses.append(estimator.estimate(Frame(frame, i, 0.0, 0.0)).poses[0])
    v = plausibility.check(np.array([p.keypoints for p in poses]).reshape(-1, 17, 3))
    scored = np.array([p.score for p in poses]) >= 0.2
    out["video"] = {
        "frames": len(poses),
        "flagged": int((~v.plausible).sum()),
        "above_0.2": int(scored.sum()),
        "flagged_above_0.2": int((~v.plausible & scored).sum()),
    }
    dataset = coco.load_dataset(ochuman / "test_ochuman.json", ochuman)
    results = list(coco.predict(dataset, estimator).results)
    kept_verdict = plausibility.check(np.array([r["keypoints"] for r in results]).reshape(-1, 17, 3))
    kept = [r for r, ok in zip(results, kept_verdict.plausible, strict=True) if ok]
    out["ap"] = {
        "without": coco.score(dataset, results).AP,
        "with": coco.score(dataset, kept).AP,
        "poses": len(results),
        "dropped": len(results) - len(kept),
    }
    return out


def _real(v: plausibility.Verdict) -> dict[str, Any]:
    """How many of a set of real poses the gate drops, and each rule's largest measure over them."""

    def top(x: np.ndarray) -> float:
        return float(np.nanmax(x)) if np.isfinite(x).any() else float("nan")

    return {
        "poses": int(v.plausible.size),
        "dropped": int((~v.plausible).sum()),
        "limb_max": top(v.limb),
        "symmetry_max": top(v.symmetry),
        "span_max": top(v.span),
        "dropped_why": sorted({", ".join(v.why(i)) for i in np.flatnonzero(~v.plausible)}),
    }


def study(shared: Path, video_count: int, with_model: bool = True) -> dict[str, Any]:
    from edgepose.sources.files import read_image

    people = annotated_people(shared / "keypoints" / "ochuman" / "test_ochuman.json")
    test_image = read_image(shared / "images" / "posenet_test_image.bmp")
    crowd = [
        posenet_people(shared / "models" / name, test_image.shape[1], test_image.shape[0]) for name in POSENET_CSVS
    ]
    rng = np.random.default_rng(7)
    thinned = people[rng.integers(len(people), size=MISSING_TRIALS)].copy()
    gone = rng.random((MISSING_TRIALS, 17)) < rng.uniform(0.1, 0.9, (MISSING_TRIALS, 1))
    thinned[..., 2] = np.where(gone, 0.0, thinned[..., 2])
    report: dict[str, Any] = {
        "annotated": _real(plausibility.check(people)),
        "annotated_thinned": _real(plausibility.check(thinned)),
        "posenet_people": _real(plausibility.check(np.concatenate(crowd))),
        "chimeras_annotated": removal_table(list(chimera_set(people))),
        "chimeras_posenet": removal_table(list(chimera_set(crowd[1], places=("as found",)))),
    }
    if with_model:
        seen_from_above = plausibility.check(posenet_crowd(shared, video_count))
        report["posenet_crowd"] = _real(seen_from_above)
        report["model"] = model_outputs(shared, video_count)
    return report


def markdown(report: dict[str, Any]) -> str:
    a, p = report["annotated"], report["posenet_people"]
    lines = [
        "| real poses | poses | dropped | largest limb | largest symmetry | largest span |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    real = [
        ("OCHuman annotations", a),
        (f"the same, keypoints removed at random ({MISSING_TRIALS} draws)", report["annotated_thinned"]),
        ("PoseNet reference people (3 sizes)", p),
    ]
    if "posenet_crowd" in report:
        real.append((f"PoseNet on the walking crowd (score > {MIN_VIDEO_POSE_SCORE})", report["posenet_crowd"]))
    for name, r in real:
        lines.append(
            f"| {name} | {r['poses']} | {r['dropped']} | {r['limb_max']:.2f} | {r['symmetry_max']:.2f} | "
            f"{r['span_max']:.2f} |"
        )
    for title, table in (("annotated", report["chimeras_annotated"]), ("PoseNet people", report["chimeras_posenet"])):
        lines += [
            "",
            f"chimeras of {title}: removed / made",
            "",
            "| placed | " + " | ".join(SPLITS) + " | all |",
            "|---|" + "--:|" * (len(SPLITS) + 1),
        ]
        for place, by in table.items():
            cells = [f"{by[s][0]} / {by[s][1]}" for s in SPLITS]
            lines.append(
                f"| {place} | " + " | ".join(cells) + f" | {sum(by[s][0] for s in SPLITS)} / "
                f"{sum(by[s][1] for s in SPLITS)} |"
            )
    if "model" in report:
        m = report["model"]
        lines += [
            "",
            "| MoveNet SinglePose on | pose score | plausible | why | limb | symmetry | span |",
            "|---|--:|---|---|--:|--:|--:|",
        ]
        for name, r in m["whole_images"].items():
            lines.append(
                f"| {name} (whole) | {r['score']:.2f} | {r['plausible']} | {', '.join(r['why']) or '-'} | "
                f"{r['limb']:.2f} | {r['symmetry']:.2f} | {r['span']:.2f} |"
            )
        v = m["video"]
        lines += [
            "",
            f"walking crowd, {v['frames']} frames whole: {v['flagged']} poses flagged "
            f"({v['flagged_above_0.2']} of the {v['above_0.2']} scoring 0.2 or more)",
            f"OCHuman crops: AP {100 * m['ap']['without']:.1f} without the gate, {100 * m['ap']['with']:.1f} "
            f"with it ({m['ap']['dropped']} of {m['ap']['poses']} poses dropped)",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--video-frames", type=int, default=40)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    report = study(args.shared, args.video_frames)
    print(markdown(report), end="")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
