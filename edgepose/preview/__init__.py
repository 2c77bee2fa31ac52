"""Optional live preview page: the latest frame with the skeleton overlay, the stats, the last document."""

from edgepose.preview.server import LatestFrame, PreviewServer, is_local_client

__all__ = ["LatestFrame", "PreviewServer", "is_local_client"]
