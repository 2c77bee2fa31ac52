"""Text from other programs made safe to print: control and format characters become escapes.

A document's model name, a topic, an error naming a payload: anything another program chose may
hold ESC sequences that move the cursor, recolour, retitle or (in some terminals) write files. What
edgepose prints of it goes through :func:`printable` first, so it reads as ``\\x1b[2J`` instead.
"""

from __future__ import annotations

import re

# C0, DEL and C1 controls; zero-width, bidirectional and line/paragraph separators (Unicode Cf/Zl/Zp).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text: str, keep_newlines: bool = False) -> str:
    """``text`` with every control character written as its Python escape (``\\x1b``, ``\\u202e``)."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return char if keep_newlines and char == "\n" else char.encode("unicode_escape").decode("ascii")

    return CONTROL.sub(escape, text)
