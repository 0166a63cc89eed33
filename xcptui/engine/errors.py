"""Error types: every failure a user can cause ends as one of these, with a one-line message."""

from __future__ import annotations


class XcptuiError(Exception):
    """A failure explained in one line, naming the file and what is wrong.

    The CLI prints ``str(err)`` and exits non-zero; the TUI shows it in a dialog.
    """

    exit_code = 1

    def __init__(self, message: str) -> None:
        # Keep it to one line whatever the caller passed.
        super().__init__(" ".join(message.split()))


class InputError(XcptuiError):
    """A source file, recipe or argument is wrong."""


class RecipeError(InputError):
    """The recipe file has an unknown key, a wrong type or a missing source."""


class ToolMissing(XcptuiError):
    """A system tool xcptui needs is not installed."""


class BuildError(XcptuiError):
    """Building the output failed (disk full, I/O error...)."""


class Cancelled(XcptuiError):
    """The user cancelled; nothing was left behind."""

    exit_code = 130

    def __init__(self, message: str = "cancelled; nothing was written") -> None:
        super().__init__(message)
