"""Checking documents against the committed JSON Schemas, and reading the documents a run wrote."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jsonschema
import numpy as np

from edgepose.documents.output import FrameOutput
from edgepose.documents.poses import Stamp
from edgepose.frame import Frame
from edgepose.pipeline.publisher import Publisher
from edgepose.pose import FrameResult
from edgepose.schema import load_schema


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_document(document: dict, schema: str = "poses.v1.json") -> None:
    """Raise if a document does not match the committed JSON Schema (checked once, then cached)."""
    _validator(schema).validate(document)


def parse_documents(text: str) -> list[dict]:
    """Every line of JSON-lines output, each validated against the schema."""
    docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    for doc in docs:
        validate_document(doc)
    return docs


def read_run(path: Path) -> tuple[dict[int, dict], list[dict]]:
    """Pose documents by frame and events in order, each validated against its schema."""
    poses, events = {}, []
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        if doc["schema"] == "edgepose.events/1":
            validate_document(doc, "events.v1.json")
            assert doc["frame"] in poses  # an event follows its frame's document
            events.append(doc)
        else:
            validate_document(doc)
            poses[doc["frame"]] = doc
    return poses, events


def output_of(result: FrameResult, stamp: Stamp, document: dict | None = None) -> FrameOutput:
    """What the pipeline hands every sink for ``result``, built by the pipeline's own
    :class:`~edgepose.pipeline.publisher.Publisher` (events and changed states when ``result`` was
    analyzed); ``document`` replaces the pose document built from ``stamp``."""
    publisher = Publisher([], stamp)
    built, events = publisher.document(result, stamp.accelerator, with_events=result.analysis is not None)
    image = np.zeros((result.height, result.width, 3), np.uint8)
    frame = Frame(image, result.frame_index, result.ts, result.mono, result.camera, result.file)
    return publisher.output(frame, result, built if document is None else document, events)
