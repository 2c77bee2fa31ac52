"""Downloading a manifest entry and verifying it before it is used.

The download goes to ``NAME.part`` beside the target and is renamed into place only once its
sha256 matches, so a model directory never holds a half-written or wrong file.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.request
from pathlib import Path

from edgepose.errors import InputError, UnavailableError
from edgepose.modelstore.manifest import ModelEntry

log = logging.getLogger(__name__)
CHUNK = 1 << 16


def fetch(entry: ModelEntry, directory: Path, timeout: float = 30.0) -> Path:
    """Download ``entry`` into ``directory``; returns the final path."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / entry.file
    part = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(entry.url, timeout=timeout) as response, part.open("wb") as out:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        raise UnavailableError(f"cannot download {entry.name} from {entry.url}: {exc}", "check the network") from None
    got = digest.hexdigest()
    if entry.sha256 and got != entry.sha256:
        part.unlink(missing_ok=True)
        raise InputError(
            f"{entry.name}: checksum mismatch (expected {entry.sha256}, got {got}); the download was removed",
            "retry; if it persists the file at the URL changed",
        )
    if not entry.sha256:
        log.warning("%s has no checksum in the manifest; sha256 of the download: %s", entry.name, got)
    part.replace(target)
    return target
