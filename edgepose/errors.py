"""Expected failures, each carrying the sysexits code the CLI exits with.

Anything raised as an :class:`EdgeposeError` is reported as one line (what, where, what to do)
without a traceback; anything else is a bug and exits 1.
"""

from __future__ import annotations

EX_OK = 0
EX_SOFTWARE = 1  # not sysexits' 70: the issue tracker and users expect 1 for "unexpected"
EX_USAGE = 64  # a command line argparse refuses (its own default, 2, is in no table)
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_CONFIG = 78


class EdgeposeError(Exception):
    """An expected failure with a message for the user and an optional hint on what to do."""

    exit_code = EX_SOFTWARE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # The camera it concerns, set where several run and the message alone would not say which;
        # kept apart from ``message`` so that code reads it as data, never by parsing the text.
        self.camera: str | None = None

    @property
    def said(self) -> str:
        """The message as the user reads it: ``camera <name>: <message>`` once a camera is set."""
        return f"camera {self.camera}: {self.message}" if self.camera else self.message

    def __str__(self) -> str:
        return f"{self.said} ({self.hint})" if self.hint else self.said


class ConfigError(EdgeposeError):
    """The configuration (file, override or secret) is invalid.

    The message is one line whatever the config holds: a key or value with a newline or another
    control character (YAML allows them) is shown escaped, so the error stays one line.
    """

    exit_code = EX_CONFIG

    def __init__(self, message: str, hint: str | None = None, key: str | None = None) -> None:
        super().__init__(_one_line(message), _one_line(hint) if hint is not None else None)
        self.key = key  # the config key at fault, where the raiser knows it better than its caller


def _one_line(text: str) -> str:
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class InputError(EdgeposeError):
    """An input (source, image, video, model file) is missing, unreadable or not what it claims."""

    exit_code = EX_NOINPUT


class UnavailableError(EdgeposeError):
    """A required service, library or piece of hardware is not available."""

    exit_code = EX_UNAVAILABLE


class FrameError(EdgeposeError):
    """One frame could not be processed; the pipeline counts it and goes on."""

    exit_code = EX_NOINPUT
