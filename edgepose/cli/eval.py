"""``edgepose eval``: check a model (its quantization, delegate, preprocessing) against COCO keypoints."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from edgepose.cli import add_config, add_verbosity, log_level, shortcut_overrides
from edgepose.config import load_config
from edgepose.errors import ConfigError
from edgepose.logs import counted, setup_logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="COCO keypoint accuracy (OKS AP) of a model on an annotated image set")
    add_config(p)
    add_verbosity(p)
    p.add_argument("--annotations", type=Path, required=True, metavar="COCO.json", help="COCO keypoint annotations")
    p.add_argument("--images", type=Path, required=True, metavar="DIR", help="directory holding the images")
    p.add_argument("--model", metavar="PATH|NAME", help="model.name (default: the configured model)")
    p.add_argument("--accelerator", choices=["cpu", "edgetpu", "auto"], help="model.accelerator")
    p.add_argument("--threads", type=int, metavar="N", help="model.threads")
    p.add_argument("--json", type=Path, metavar="RESULTS.json", help="write the detections in COCO results format")
    p.add_argument(
        "--shift",
        type=float,
        default=0.0,
        metavar="PX",
        help="move every predicted keypoint PX pixels right and down before scoring: a known "
        "error, to see what it costs in AP (default 0)",
    )
    p.add_argument(
        "--box-scale",
        type=float,
        default=None,
        metavar="S",
        help="person crops (single-person models, --protocol crops): how much each person's box is enlarged "
        "before the crop (default 1.25)",
    )
    p.add_argument(
        "--protocol",
        choices=["auto", "crops", "whole"],
        default="auto",
        help="auto: whole images for multi-person models, each annotated person's crop for single-person ones; "
        "crops: every model on the person crops (the pose overlapping the person's box most), the same "
        "protocol for all; "
        "whole: every model on whole images (default auto)",
    )
    p.set_defaults(func=evaluate)


def evaluate(args: argparse.Namespace) -> int:
    config = load_config(args.config, shortcut_overrides(args))
    setup_logging(log_level(args, config.logging.level), config.logging.format)
    from edgepose.app import build_estimator
    from edgepose.tools.evaluate import coco

    coco.require_pycocotools()  # say so before loading a model
    dataset = coco.load_dataset(args.annotations, args.images)
    # Every pose is kept: AP ranks detections by score, low-scoring ones included.
    config = dataclasses.replace(config, decoder=dataclasses.replace(config.decoder, min_pose_score=0.0))
    loaded = build_estimator(config)
    transform = coco.shift(args.shift, args.shift) if args.shift else None
    progress = None if args.quiet else (lambda m: print(f"eval: {m}", file=sys.stderr, flush=True))
    box_scale = coco.BOX_SCALE if args.box_scale is None else args.box_scale
    if not 0.1 <= box_scale <= 10:
        raise ConfigError(f"--box-scale: {box_scale} is outside 0.1..10")
    predictions = coco.predict(dataset, loaded.estimator, transform, progress, box_scale, args.protocol)
    scores = coco.score(dataset, predictions.results)
    if args.json:
        coco.write_results(predictions.results, args.json)
        log.info("wrote %s to %s", counted(len(predictions.results), "detection"), args.json)
    sys.stdout.write(coco.summary_table(loaded.model_name, loaded.accelerator, predictions, scores))
    return 0
