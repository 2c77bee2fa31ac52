"""The manifest of known models: ``models/manifest.yaml`` (shipped inside the package as well)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from edgepose.errors import ConfigError, InputError

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
KINDS = ("model", "detector", "export", "sample")


@dataclass(frozen=True)
class ModelEntry:
    """One file the project knows by name: downloadable, or (kind ``export``) made by the user.

    ``requires`` names the entries fetched with this one (a BlazePose landmark model's detector);
    ``export`` is the command that makes a file edgepose never downloads (AGPL-3.0 YOLO weights).
    """

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
    requires: tuple[str, ...] = ()
    export: str = ""

    @property
    def downloadable(self) -> bool:
        return self.kind != "export" and bool(self.url)


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, ModelEntry]:
    """Entries by name. A broken manifest is a packaging bug, reported as a config error."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries = {}
        for raw in data["models"]:
            raw = dict(raw)
            if raw.get("input") is not None:
                raw["input"] = tuple(raw["input"])
            raw["requires"] = tuple(raw.get("requires") or ())
            entry = ModelEntry(**raw)
            entries[entry.name] = entry
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"model manifest {path} is unreadable: {exc}") from None
    for entry in entries.values():
        problem = _problem(entry, entries)
        if problem:
            raise ConfigError(f"model manifest {path}: {entry.name}: {problem}")
    return entries


def _problem(entry: ModelEntry, entries: dict[str, ModelEntry]) -> str | None:
    if entry.kind not in KINDS:
        return f"kind {entry.kind!r} is not one of {', '.join(KINDS)}"
    unknown = [n for n in entry.requires if n not in entries]
    if unknown:
        return f"requires unknown entries: {', '.join(unknown)}"
    if entry.kind == "export" and (entry.url or not entry.export):
        return "an export entry has no url and says its export command"
    return None


def export_advice(entry: ModelEntry) -> tuple[str, str]:
    """(why ``entry``, of kind ``export``, is never downloaded and the command that makes it; where to put it)."""
    why = (
        f"edgepose does not download it: its weights are {entry.license or 'not Apache-2.0'}, so you export it "
        f"yourself, on a PC: {entry.export}"
    )
    where = (
        f"save the .tflite it writes as {entry.file} in a model directory (see `edgepose models list`), "
        "or pass its path to --model"
    )
    return why, where


def export_refusal(entry: ModelEntry) -> InputError:
    """``models fetch`` of an export entry: refused with the licence and the export command."""
    why, where = export_advice(entry)
    return InputError(f"{entry.name}: {why}", where)


def fetch_order(names: Sequence[str], manifest: Mapping[str, ModelEntry]) -> list[ModelEntry]:
    """The entries to download for ``names``: each one's ``requires`` first, each entry once.

    Every name is checked before anything is downloaded: an unknown name or an export entry is
    refused (:class:`InputError`) and nothing is fetched.
    """
    order: list[ModelEntry] = []
    visiting: list[str] = []

    def add(name: str, wanted_by: str = "") -> None:
        entry = manifest.get(name)
        if entry is None:
            needed = f" (required by {wanted_by})" if wanted_by else ""
            raise InputError(f"unknown model {name!r}{needed}", "see `edgepose models list`")
        if entry in order:
            return
        if name in visiting:
            raise InputError(f"the manifest's requires form a cycle: {' -> '.join([*visiting, name])}")
        if not entry.downloadable:
            raise export_refusal(entry) if entry.kind == "export" else InputError(f"{name} has no download URL")
        visiting.append(name)
        for required in entry.requires:
            add(required, name)
        visiting.pop()
        order.append(entry)

    for name in names:
        add(name)
    return order
