"""Checking documents against the committed JSON Schemas, and reading the documents a run wrote."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jsonschema

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
            events.append(doc)
        else:
            validate_document(doc)
            poses[doc["frame"]] = doc
    return poses, events
