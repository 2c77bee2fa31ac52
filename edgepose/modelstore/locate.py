"""Finding a model or sample file by manifest name or path, across the model directories.

Search order: ``EDGEPOSE_MODEL_DIRS`` (colon-separated; what tests and CI point at ``../shared``),
then ``model.dirs`` from the config, then the fetch cache directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from edgepose.errors import InputError
from edgepose.modelstore.manifest import ModelEntry, export_advice, load_manifest

ENV_DIRS = "EDGEPOSE_MODEL_DIRS"


def cache_dir(configured: str = "", env: Mapping[str, str] | None = None) -> Path:
    """Where fetched models go: the config, systemd's CacheDirectory, or ~/.cache/edgepose/models."""
    env = os.environ if env is None else env
    if configured:
        return Path(configured).expanduser()
    if env.get("CACHE_DIRECTORY"):
        return Path(env["CACHE_DIRECTORY"].split(":")[0]) / "models"
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "edgepose" / "models"


def search_dirs(extra: Sequence[str] = (), cache: str = "", env: Mapping[str, str] | None = None) -> list[Path]:
    env = os.environ if env is None else env
    dirs = [Path(d).expanduser() for d in env.get(ENV_DIRS, "").split(os.pathsep) if d]
    dirs += [Path(d).expanduser() for d in extra]
    dirs.append(cache_dir(cache, env))
    return dirs


def locate(
    name_or_path: str,
    dirs: Sequence[Path],
    manifest: Mapping[str, ModelEntry] | None = None,
) -> Path:
    """The file for a manifest name, or the path itself; :class:`InputError` saying what to do if absent."""
    manifest = load_manifest() if manifest is None else manifest
    entry = manifest.get(name_or_path)
    if entry is None:
        path = Path(name_or_path).expanduser()
        if path.exists():
            return path
        for d in dirs:  # a bare file name found in a model directory
            if path.name == name_or_path and (d / path.name).exists():
                return d / path.name
        if path.suffix or os.sep in name_or_path:
            raise InputError(
                f"model file not found: {name_or_path}", "check the path, or use a name from `edgepose models list`"
            )
        raise InputError(
            f"unknown model {name_or_path!r}",
            "use a path to a .tflite file or one of: " + ", ".join(n for n, e in manifest.items() if e.kind == "model"),
        )
    for d in dirs:
        candidate = d / entry.file
        if candidate.exists():
            return candidate
    searched = ", ".join(str(d) for d in dirs) or "(none)"
    if entry.kind == "export":
        why, where = export_advice(entry)
        raise InputError(
            f"{entry.name} ({entry.file}) is not in any model directory (searched {searched}); {why}", where
        )
    raise InputError(
        f"{entry.name} ({entry.file}) is not in any model directory (searched {searched})",
        f"run `edgepose models fetch {entry.name}`, or set {ENV_DIRS} to a directory that holds it",
    )
