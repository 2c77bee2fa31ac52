"""``edgepose watch``: what a device publishes, as a live terminal view or raw JSON lines.

:mod:`edgepose.tools.watch.state` folds messages into a :class:`WatchState` and renders it (pure
functions, tested without a broker); :mod:`edgepose.tools.watch.client` subscribes and drives them.
"""

from edgepose.tools.watch.state import WatchState, on_connection, on_message, render

__all__ = ["WatchState", "on_connection", "on_message", "render"]
