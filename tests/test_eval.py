"""edgepose eval: COCO keypoint AP of the real MoveNet model on the shared OCHuman images.

The AP comes from pycocotools itself; the test re-scores the written results independently. A run
with every keypoint moved 50 px must score clearly lower (an ordering, not a magic number).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from edgepose.app import build_estimator
from edgepose.config import load_config
from edgepose.decode.base import Decoder
from edgepose.errors import InputError, UnavailableError
from edgepose.estimation.estimator import PoseEstimator
from edgepose.tools.evaluate import coco
from tests.builders.cli import run_cli

MOVENET = "movenet_lightning_int8"


@pytest.fixture(scope="module")
def ochuman(shared: Path) -> Path:
    return shared / "keypoints" / "ochuman"


@pytest.fixture(scope="module")
def dataset(ochuman: Path) -> coco.Dataset:
    return coco.load_dataset(ochuman / "test_ochuman.json", ochuman)


@pytest.fixture(scope="module")
def estimator() -> PoseEstimator:
    config = load_config(None, [f"model.name={MOVENET}", "model.threads=2", "decoder.min_pose_score=0"])
    return build_estimator(config).estimator


def independent_ap(annotations: Path, results: list[dict]) -> float:
    """pycocotools used directly, as anyone would, on the results file."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth = COCO(str(annotations))
    ev = COCOeval(truth, truth.loadRes(results), "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return float(ev.stats[0])


def table_ap(stdout: str) -> float:
    """The AP column (percent) of the one result row of the eval table."""
    row = next(line for line in stdout.splitlines() if line.startswith("| movenet"))
    return float(row.strip("|").split("|")[5])


def test_eval_cli_writes_valid_results_and_pycocotools_ap(ochuman: Path, tmp_path: Path) -> None:
    results_path = tmp_path / "results.json"
    proc = run_cli(
        "eval",
        "--annotations",
        str(ochuman / "test_ochuman.json"),
        "--images",
        str(ochuman),
        "--model",
        MOVENET,
        "--json",
        str(results_path),
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(results_path.read_text())
    truth = json.loads((ochuman / "test_ochuman.json").read_text())
    # Single-person protocol: one detection per annotated person, on that person's image.
    people = [a for a in truth["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
    assert sorted(r["image_id"] for r in results) == sorted(a["image_id"] for a in people)
    sizes = {img["id"]: (img["width"], img["height"]) for img in truth["images"]}
    for r in results:
        assert r["category_id"] == 1 and 0.0 <= r["score"] <= 1.0
        kp = np.array(r["keypoints"]).reshape(17, 3)
        width, height = sizes[r["image_id"]]
        # Mapped back to image pixels (not crop or model-input coordinates).
        assert np.median(kp[:, 0]) < width and np.median(kp[:, 1]) < height and kp[:, 0].max() > 192
    ap = independent_ap(ochuman / "test_ochuman.json", results)
    # The table rounds to 0.1 and scores unrounded keypoints; the file keeps 0.001 px: allow both.
    assert table_ap(proc.stdout) == pytest.approx(100 * ap, abs=0.15)
    # Quality gate: an independent crop-and-score run gives about 0.49 on these 5 people.
    assert ap > 0.35
    assert "| person crops | 3 | 5 |" in proc.stdout


def test_keypoints_shifted_50px_score_clearly_lower(dataset: coco.Dataset, estimator: PoseEstimator) -> None:
    good = coco.score(dataset, coco.predict(dataset, estimator).results)
    shifted = coco.predict(dataset, estimator, transform=coco.shift(50, 50))
    broken = coco.score(dataset, shifted.results)
    assert broken.AP < good.AP / 2
    assert broken.AR < good.AR


def test_shift_option_on_the_command_line(ochuman: Path) -> None:
    args = ["eval", "--annotations", str(ochuman / "test_ochuman.json"), "--images", str(ochuman), "--model", MOVENET]
    plain, shifted = run_cli(*args, "-q"), run_cli(*args, "--shift", "50", "-q")
    assert plain.returncode == shifted.returncode == 0, shifted.stderr
    assert table_ap(shifted.stdout) < table_ap(plain.stdout)


def test_multi_person_protocol_uses_whole_images(dataset: coco.Dataset, estimator: PoseEstimator) -> None:
    """A decoder that says multi_person gets each whole image once, every pose kept."""

    @dataclasses.dataclass
    class AsMultiPerson(Decoder):
        inner: object
        format: str = "as-multi"
        multi_person: bool = True

        def decode(self, outputs, region):
            return self.inner.decode(outputs, region)

    whole = PoseEstimator(estimator.engine, estimator.config, decoder=AsMultiPerson(estimator.decoder))
    predictions = coco.predict(dataset, whole)
    assert predictions.mode == "whole images"
    assert sorted(r["image_id"] for r in predictions.results) == [1, 2, 3]  # one pose per whole image
    assert predictions.people == 5
    assert coco.score(dataset, predictions.results).AP >= 0.0


@pytest.mark.parametrize(
    ("bbox", "in_size", "expected"),
    [
        ([100, 100, 50, 100], (192, 192), (63, 88, 125, 125)),  # tall box: square of 1.25 x height
        ([0, 0, 80, 40], (192, 192), (-10, -30, 100, 100)),  # wide box at the corner: may leave the image
        ([10, 20, 40, 40], (256, 192), (-3, 15, 67, 50)),  # 4:3 input: widened to the input's aspect
    ],
)
def test_person_crop(bbox: list[float], in_size: tuple[int, int], expected: tuple[int, int, int, int]) -> None:
    crop = coco.person_crop(bbox, *in_size)
    assert crop == expected
    x, y, w, h = crop
    assert w / h == pytest.approx(in_size[0] / in_size[1], rel=0.03)
    cx, cy = bbox[0] + bbox[2] / 2, bbox[1] + bbox[3] / 2
    assert abs(x + w / 2 - cx) <= 1 and abs(y + h / 2 - cy) <= 1  # centred on the person


def test_cut_padded_is_black_outside_the_image() -> None:
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    crop = coco.cut_padded(image, (-2, -1, 4, 3))
    assert crop.shape == (3, 4, 3)
    assert (crop[0] == 0).all() and (crop[:, :2] == 0).all()
    assert (crop[1:, 2:] == image[:2, :2]).all()


def test_missing_images_are_counted_not_hidden(ochuman: Path, tmp_path: Path, estimator: PoseEstimator) -> None:
    data = json.loads((ochuman / "test_ochuman.json").read_text())
    data["images"].append({"file_name": "missing.jpg", "width": 10, "height": 10, "id": 99})
    annotations = tmp_path / "a.json"
    annotations.write_text(json.dumps(data))
    dataset = coco.load_dataset(annotations, ochuman)
    predictions = coco.predict(dataset, estimator)
    assert predictions.images == 3 and len(predictions.images_failed) == 1
    assert "missing.jpg" in predictions.images_failed[0]
    table = coco.summary_table("m", "cpu", predictions, coco.score(dataset, predictions.results))
    assert "not evaluated: missing.jpg" in table


def test_nothing_found_scores_zero(dataset: coco.Dataset) -> None:
    assert coco.score(dataset, []).AP == 0.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "annotation file not found"),
        ("{not json", "cannot read annotation file"),
        ('{"images": []}', "is not a COCO annotation file"),
        (
            '{"images": [], "annotations": [{"image_id": 1, "bbox": [0, 0, 1, 1], "keypoints": [0, 0]}]}',
            "keypoints are not 51 numbers",
        ),
    ],
)
def test_bad_annotations_are_one_line(content: str | None, message: str, tmp_path: Path, ochuman: Path) -> None:
    path = tmp_path / "ann.json"
    if content is not None:
        path.write_text(content)
    proc = run_cli("eval", "--annotations", str(path), "--images", str(ochuman), "--model", MOVENET)
    assert proc.returncode == 66, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(InputError, match=re.escape(message)):
        coco.load_dataset(path, ochuman)


def test_missing_image_directory(ochuman: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="image directory not found"):
        coco.load_dataset(ochuman / "test_ochuman.json", tmp_path / "nope")


def test_without_pycocotools_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pycocotools.coco", None)
    with pytest.raises(UnavailableError, match=r"edgepose\[eval\]"):
        coco.require_pycocotools()
