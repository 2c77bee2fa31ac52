"""``edgepose eval``: COCO keypoint accuracy (OKS AP) of the configured model, scored by pycocotools."""

from edgepose.tools.evaluate.coco import Predictions, Scores, load_dataset, predict, score, shift, write_results

__all__ = ["Predictions", "Scores", "load_dataset", "predict", "score", "shift", "write_results"]
