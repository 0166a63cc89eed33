"""Error types: every failure a user can cause ends as one of these, with a one-line message."""

from __future__ import annotations

from typing import Protocol


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


class _Report(Protocol):
    def lines(self) -> list[str]: ...


class VerifyFailed(BuildError):
    """The built ISO failed a check that the source passes; the output was not written.

    ``report`` is the verification report of the would-be output, ``introduced`` its
    findings that the source does not have.
    """

    def __init__(self, message: str, report: _Report | None = None,
                 introduced: list[str] | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.introduced = list(introduced or [])


class Interrupted(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM, SIGHUP) stopped the work; raised by a UI's handler.

    A KeyboardInterrupt, so every ``finally`` and cleanup on that path runs.
    """

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum

    def __str__(self) -> str:
        return f"interrupted by {self.name}; nothing was written"
