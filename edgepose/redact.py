"""Hiding secrets in what edgepose prints: passwords inside URLs, and config values marked secret.

Cameras are often configured as ``rtsp://user:password@host/stream``; that URI appears in error
lines, logs and ``check-config --print``. Every place text leaves the process for a human (the
CLI's error line, the log formatter, the printed config) passes it through :func:`redact_text`,
so a new message that names a URI cannot leak its password.
"""

from __future__ import annotations

import re

HIDDEN = "***"

# scheme://userinfo@... within one run of non-blank characters. The userinfo is taken up to the
# LAST '@' of the run: a password written with a raw '@' (p@ss) is then hidden whole, not cut at
# its first '@' with the rest shown.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>\S*)@")


def _hide(match: re.Match[str]) -> str:
    scheme, userinfo = match["scheme"], match["userinfo"]
    user, colon, _password = userinfo.partition(":")
    if colon:  # user:password: the user name helps, the password never shows
        return f"{scheme}{user}:{HIDDEN}@"
    if "/" in userinfo:  # no user name before the '@' but a path: an '@' in the path, not credentials
        return match[0]
    return f"{scheme}{HIDDEN}@"  # a bare token as the user name (https://TOKEN@host) is a secret too


def redact_text(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` replaced by ``***``.

    A URL with only a user part (``https://TOKEN@host``) has that part hidden too, since services
    put tokens there. Text without such a URL is returned unchanged.
    """
    if "://" not in text:
        return text
    return _URL_USERINFO.sub(_hide, text)
