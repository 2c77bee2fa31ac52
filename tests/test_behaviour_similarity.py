"""Pose similarity (MoveMirror style): closed-form invariances, confidence weighting, the vectorized
best match against its pairwise definition, and the real model on the shared images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from edgepose.analysis.behaviours.similarity import (
    FLIP_INDEX,
    METRICS,
    Normalized,
    best_match,
    mirror,
    normalize,
    score_matrix,
    similarity,
    with_mirrors,
)
from edgepose.keypoints import KP


def random_poses(n: int, seed: int) -> np.ndarray:
    """``(n, 17, 3)`` poses with pixel coordinates in a 640x480 frame and confidences in (0.05, 1)."""
    rng = np.random.default_rng(seed)
    kp = np.empty((n, 17, 3))
    kp[..., 0] = rng.uniform(0, 640, (n, 17))
    kp[..., 1] = rng.uniform(0, 480, (n, 17))
    kp[..., 2] = rng.uniform(0.05, 1.0, (n, 17))
    return kp


def flipped(kp: np.ndarray, width: float) -> np.ndarray:
    """The pose as a mirror shows it: x -> width - x, left and right keypoints swapped."""
    out = kp[..., FLIP_INDEX, :].copy()
    out[..., 0] = width - out[..., 0]
    return out


def moved(kp: np.ndarray, scale: float, dx: float, dy: float) -> np.ndarray:
    out = kp.copy()
    out[..., 0] = kp[..., 0] * scale + dx
    out[..., 1] = kp[..., 1] * scale + dy
    return out


@pytest.mark.parametrize("metric", METRICS)
def test_identity_is_a_perfect_score(metric: str) -> None:
    for pose in random_poses(5, 1):
        assert similarity(pose, pose, metric) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    ("scale", "dx", "dy"),
    [
        (1.0, 300.0, -120.0),  # moved only
        (0.25, 0.0, 0.0),  # a quarter the size (further from the camera)
        (3.7, -50.0, 900.0),  # larger and elsewhere
    ],
)
def test_translation_and_scale_do_not_change_scores(metric: str, scale: float, dx: float, dy: float) -> None:
    a, b = random_poses(2, 2)
    assert similarity(a, moved(a, scale, dx, dy), metric) == pytest.approx(1.0, abs=1e-12)
    assert similarity(moved(a, scale, dx, dy), b, metric) == pytest.approx(similarity(a, b, metric), abs=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_a_mirrored_pose_matches_only_with_mirroring_on(metric: str) -> None:
    for pose in random_poses(5, 3):
        mirrored = flipped(pose, 640)
        assert similarity(pose, mirrored, metric, mirrored=True) == pytest.approx(1.0, abs=1e-12)
        assert similarity(pose, mirrored, metric, mirrored=False) < 0.95


def test_mirror_of_normalized_equals_normalized_of_mirror() -> None:
    kp = random_poses(4, 4)
    a, b = mirror(normalize(kp)), normalize(flipped(kp, 640))
    np.testing.assert_allclose(a.xy, b.xy, atol=1e-12)
    np.testing.assert_array_equal(a.conf, b.conf)


def test_normalized_poses_are_centred_unit_vectors() -> None:
    n = normalize(random_poses(6, 5))
    np.testing.assert_allclose((n.xy**2).sum(axis=(1, 2)), 1.0)
    np.testing.assert_allclose(n.xy.min(axis=1) + n.xy.max(axis=1), 0.0, atol=1e-12)  # box centre at 0


def test_a_keypoints_influence_falls_with_its_confidence() -> None:
    """One wrist far off: the weighted score recovers as that wrist's confidence falls (in either pose)."""
    base = random_poses(1, 6)[0]
    base[:, 2] = 0.9
    off = base.copy()
    off[KP["left_wrist"], :2] += (120.0, -90.0)
    for query, reference in ((off, base), (base, off)):  # the weight is the product: either pose's confidence
        scores = []
        for conf in (1.0, 0.6, 0.3, 0.1, 0.0):
            q = query.copy()
            q[KP["left_wrist"], 2] = conf
            scores.append(similarity(q, reference))
        assert np.all(np.diff(scores) > 0), scores
        assert scores[-1] < 1.0  # at confidence 0 the wrist still moves the box and the norm a little
    # Cosine ignores confidences: the same score whatever the wrist's confidence.
    lo, hi = off.copy(), off.copy()
    lo[KP["left_wrist"], 2] = 0.01
    assert similarity(lo, base, "cosine") == similarity(hi, base, "cosine")


def test_scores_are_in_zero_one_and_zero_at_the_point_reflection() -> None:
    kp = random_poses(30, 7)
    n = normalize(kp)
    for metric in METRICS:
        s = score_matrix(n, n, metric)
        assert ((s >= 0) & (s <= 1)).all()
    # Every keypoint at the same distance from the centre, reflected through it: weighted score 0.
    angles = np.r_[np.linspace(0, 2 * np.pi, 16, endpoint=False), 1.0]  # its box centred on the ring's centre
    ring = np.c_[np.cos(angles), np.sin(angles), np.ones(17)]
    reflected = ring.copy()
    reflected[:, :2] *= -1
    assert similarity(ring, reflected) == pytest.approx(0.0, abs=1e-9)


def pairwise_best(people: np.ndarray, library: np.ndarray, metric: str, mirrored: bool) -> tuple[list, list]:
    """The slow definition: every pair through :func:`similarity`, first best kept."""
    index, score = [], []
    for p in people:
        scores = [similarity(p, ref, metric, mirrored) for ref in library]
        index.append(int(np.argmax(scores)))
        score.append(max(scores))
    return index, score


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("mirrored", [False, True])
def test_best_match_equals_the_pairwise_definition(metric: str, mirrored: bool) -> None:
    people, library = random_poses(10, 8), random_poses(20, 9)
    library[13] = moved(people[4], 0.5, 10, 10)  # person 4's own pose is in the library
    library[17] = flipped(people[7], 640)  # person 7's mirror image is too
    got = best_match(normalize(people), normalize(library), metric, mirrored)
    index, score = pairwise_best(people, library, metric, mirrored)
    if mirrored:  # the library's mirror images made once give the same matches
        reused = best_match(normalize(people), normalize(library), metric, True, with_mirrors(normalize(library)))
        np.testing.assert_array_equal(reused.index, got.index)
        np.testing.assert_array_equal(reused.score, got.score)
        np.testing.assert_array_equal(reused.mirrored, got.mirrored)
        with pytest.raises(ValueError, match="twice"):
            best_match(normalize(people), normalize(library), metric, True, normalize(library))
    np.testing.assert_array_equal(got.index, index)
    np.testing.assert_allclose(got.score, score, atol=1e-12)
    assert got.index[4] == 13 and got.score[4] == pytest.approx(1.0)
    if mirrored:
        assert got.index[7] == 17 and got.mirrored[7] and got.score[7] == pytest.approx(1.0)


def test_best_match_of_an_empty_library_or_no_people() -> None:
    empty = Normalized(np.zeros((0, 17, 2)), np.zeros((0, 17)))
    got = best_match(normalize(random_poses(3, 10)), empty)
    assert got.index.tolist() == [-1, -1, -1] and got.score.tolist() == [0, 0, 0]
    assert len(best_match(empty, normalize(random_poses(3, 10))).index) == 0


def test_ties_go_to_the_first_library_pose() -> None:
    pose = random_poses(1, 11)
    got = best_match(normalize(pose), normalize(np.concatenate([pose, pose])))
    assert got.index.tolist() == [0]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (np.zeros((2, 16, 3)), ValueError),  # 16 keypoints
        (np.zeros((17, 2)), ValueError),  # no confidences
        (np.zeros((1, 17, 3), np.int32), TypeError),  # integers would be cast silently
        (np.full((1, 17, 3), np.nan), ValueError),
    ],
)
def test_bad_poses_are_refused(bad: np.ndarray, error: type) -> None:
    with pytest.raises(error):
        normalize(bad)


# --- the real model ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def estimator(movenet_path: Path):
    from edgepose.config.sections import DecoderConfig
    from edgepose.estimation.estimator import PoseEstimator
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.modelfile import read_model

    return PoseEstimator(LiteRtEngine(read_model(movenet_path), threads=2), DecoderConfig())


def best_pose(estimator, image: np.ndarray) -> np.ndarray:
    from edgepose.frame import Frame

    poses = estimator.estimate(Frame(np.ascontiguousarray(image), 0, 0.0, 0.0)).poses
    assert poses, "the model found no pose"
    return max(poses, key=lambda p: p.score).keypoints


def squat_variants(squat: np.ndarray) -> dict[str, np.ndarray]:
    """The squat image resized, shifted on a wider canvas, and flipped left-right."""
    import cv2

    h, w = squat.shape[:2]
    canvas = np.full((h + 200, w + 500, 3), squat[5, 5], np.uint8)
    canvas[150 : 150 + h, 420 : 420 + w] = squat
    return {
        "half size": cv2.resize(squat, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
        "1.6x": cv2.resize(squat, (int(w * 1.6), int(h * 1.6)), interpolation=cv2.INTER_LINEAR),
        "shifted": canvas,
        "flipped": squat[:, ::-1],
    }


def other_people(shared: Path, estimator) -> dict[str, np.ndarray]:
    """Different poses: the people of posenet_test_image.bmp (PoseNet's reference output, and MoveNet's best)."""
    from edgepose.sources.files import read_image

    image = read_image(shared / "images" / "posenet_test_image.bmp")
    h, w = image.shape[:2]
    people: dict[int, list] = {}
    path = shared / "models" / "posenet_mobilenet_v1_075_481_641_16_quant_decoder_reference.csv"
    with path.open() as f:
        for row in csv.DictReader(f):
            if float(row["pose_score"]) >= 0.5:
                people.setdefault(int(row["pose_id"]), []).append(
                    (
                        int(row["keypoint_id"]),
                        float(row["keypoint_x"]) * w,
                        float(row["keypoint_y"]) * h,
                        float(row["keypoint_score"]),
                    )
                )
    out = {f"posenet person {i}": np.array([r[1:] for r in sorted(rows)]) for i, rows in people.items()}
    out["movenet's best"] = best_pose(estimator, image)
    return out


# Bounds for the real model, per metric: (a variant of the squat scores at least, another person at most).
# Measured (mirroring on): weighted 0.94-0.98 against 0.73-0.87; cosine 0.98-1.00 against 0.78-0.89.
BOUNDS = {"weighted": (0.92, 0.90), "cosine": (0.97, 0.92)}


@pytest.fixture(scope="module")
def real_poses(estimator, squat_rgb, shared) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The squat's pose, the other people's, and the pose of each squat variant, through the real model."""
    variants = {name: best_pose(estimator, image) for name, image in squat_variants(squat_rgb).items()}
    return best_pose(estimator, squat_rgb), other_people(shared, estimator), variants


@pytest.mark.parametrize("metric", METRICS)
def test_squat_matches_its_own_library_entry_under_resize_shift_and_flip(metric: str, real_poses) -> None:
    reference, others, variants = real_poses
    same, different = BOUNDS[metric]
    assert len(others) >= 2
    names = ["squat", *others]
    library = normalize(np.stack([reference, *others.values()]))
    people = np.stack(list(variants.values()))
    got = best_match(normalize(people), library, metric, mirrored=True)
    report = {v: (names[i], round(float(s), 3)) for v, i, s in zip(variants, got.index, got.score, strict=True)}
    assert all(names[i] == "squat" for i in got.index), report
    assert (got.score >= same).all(), report
    flip = list(variants).index("flipped")
    assert got.mirrored[flip] and not got.mirrored[np.arange(len(people)) != flip].any(), report
    # The squat and each variant against the other people's poses (mirroring on): clearly worse.
    squats = normalize(np.stack([reference, *people]))
    against = best_match(squats, normalize(np.stack(list(others.values()))), metric, mirrored=True).score
    assert against.max() < different, against.round(3)
    assert against.max() < got.score.min() - 0.02, (against.round(3), report)
    # Mirroring off: the flipped image matches its unflipped source far worse.
    plain = score_matrix(normalize(people[[flip]]), normalize(reference), metric).item()
    assert plain < got.score[flip] - 0.2, (plain, report)
