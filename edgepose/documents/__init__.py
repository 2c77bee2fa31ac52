"""Every document edgepose publishes, built in one place: one module per document.

- :mod:`~edgepose.documents.poses`: the per-frame pose document (``edgepose.poses/1``), its
  :class:`~edgepose.documents.poses.Stamp` and the one-line JSON encoder every sink uses.
- :mod:`~edgepose.documents.meta`: what a subscriber needs to read the poses (``edgepose.meta/1``,
  published retained).
- :mod:`~edgepose.documents.stats`: the periodic ``edgepose.stats/1`` document.
- :mod:`~edgepose.documents.events`: the analysis stage's events (``edgepose.events/1``) and
  zone states (``edgepose.zone/1``).

A new document (for example the events of an analysis stage) gets its own module here, with its
schema in ``edgepose/schema/``; sinks only publish what these modules build.
"""

from __future__ import annotations

from edgepose.documents.events import EVENTS_SCHEMA, ZONES_SCHEMA, event_documents, zone_states
from edgepose.documents.meta import META_SCHEMA, meta_document
from edgepose.documents.poses import SCHEMA, PoseDocument, Stamp, encode, pose_entries, pose_entry, to_document
from edgepose.documents.stats import STATS_SCHEMA, host_facts, stats_document

__all__ = [
    "EVENTS_SCHEMA",
    "META_SCHEMA",
    "SCHEMA",
    "STATS_SCHEMA",
    "ZONES_SCHEMA",
    "PoseDocument",
    "Stamp",
    "encode",
    "event_documents",
    "host_facts",
    "meta_document",
    "pose_entries",
    "pose_entry",
    "stats_document",
    "to_document",
    "zone_states",
]
