"""The manifest of known models: ``models/manifest.yaml`` (shipped inside the package as well)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from edgepose.errors import ConfigError

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable file the project knows by name."""

    name: str
    file: str
    url: str
    sha256: str = ""
    format: str = ""
    input: tuple[int, int] | None = None
    edgetpu: bool = False
    cpu_variant: str = ""
    kind: str = "model"
    license: str = ""


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, ModelEntry]:
    """Entries by name. A broken manifest is a packaging bug, reported as a config error."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries = {}
        for raw in data["models"]:
            raw = dict(raw)
            if raw.get("input") is not None:
                raw["input"] = tuple(raw["input"])
            entry = ModelEntry(**raw)
            entries[entry.name] = entry
        return entries
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"model manifest {path} is unreadable: {exc}") from None
