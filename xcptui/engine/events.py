"""Progress reporting and cancellation shared by every long engine operation.

Engine functions take ``progress: Progress`` and ``cancel: threading.Event``.
They call ``progress.step(...)`` / ``progress.advance(...)`` and ``check(cancel)``
between chunks; they never print.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from xcptui.engine.errors import Cancelled
from xcptui.engine.layout import EventKind


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    ``kind`` is "step" (a new step starts), "bytes" (progress inside the step),
    "log" (a line for the log pane), "warn" (something the user must read) or
    "done" (the step finished).
    """

    kind: EventKind
    step: str
    done: int = 0
    total: int = 0
    message: str = ""
    elapsed: float = 0.0


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class Progress:
    """Turns engine calls into ProgressEvents for a callback (which may be None).

    Byte events are throttled to ``min_interval`` seconds so a UI is not flooded.
    """

    callback: ProgressCallback | None = None
    min_interval: float = 0.05
    _step: str = ""
    _done: int = 0
    _total: int = 0
    _last: float = 0.0
    _t0: float = field(default_factory=time.monotonic)
    _step_t0: float = field(default_factory=time.monotonic)
    warnings: list[str] = field(default_factory=list)

    def _emit(self, ev: ProgressEvent) -> None:
        if self.callback is not None:
            self.callback(ev)

    def step(self, name: str, total: int = 0) -> None:
        self._step, self._done, self._total = name, 0, total
        self._step_t0 = time.monotonic()
        self._last = 0.0
        self._emit(ProgressEvent(EventKind.STEP, name, 0, total))

    def advance(self, nbytes: int) -> None:
        self.update(self._done + nbytes)

    def update(self, done: int, total: int | None = None) -> None:
        self._done = done
        if total is not None:
            self._total = total
        now = time.monotonic()
        if now - self._last >= self.min_interval or (self._total and done >= self._total):
            self._last = now
            self._emit(ProgressEvent(EventKind.BYTES, self._step, done, self._total,
                                     elapsed=now - self._step_t0))

    def finish_step(self) -> None:
        self._emit(
            ProgressEvent(
                EventKind.DONE, self._step, self._done, self._total,
                elapsed=time.monotonic() - self._step_t0,
            )
        )

    def log(self, message: str) -> None:
        self._emit(ProgressEvent(EventKind.LOG, self._step, message=message))

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self._emit(ProgressEvent(EventKind.WARN, self._step, message=message))




def check(cancel: threading.Event | None) -> None:
    """Raise Cancelled when the user asked to stop. Call it between chunks."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()
