"""Progress reporting and cancellation shared by every long engine operation.

Engine functions take ``progress: Progress`` and ``cancel: threading.Event``.
They call ``progress.step(...)`` / ``progress.advance(...)`` and ``check(cancel)``
between chunks; they never print.

A job of several stages (a build) declares them with weights (``stages``) and enters
each (``stage``); every event then carries the job's ``overall_done``/``overall_total``,
whose ratio never goes down and reaches 1 exactly once (``complete``). ``EtaSmoother``
turns that into an ETA that does not swing when one stage runs at another speed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from xcptui.engine import units
from xcptui.engine.errors import Cancelled
from xcptui.engine.layout import EventKind


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    ``kind`` is "step" (a new step starts), "bytes" (progress inside the step),
    "log" (a line for the log pane), "warn" (something the user must read) or
    "done" (the step finished).

    ``unit`` says what ``done``/``total`` count: "B" (bytes), a plural noun
    ("packages", "files") or "" (no measure: show no count). ``overall_done`` /
    ``overall_total`` are the whole job's progress in weight units (0/0 when the job
    declared no stages); ``stage`` is the job stage the step belongs to.
    """

    kind: EventKind
    step: str
    done: int = 0
    total: int = 0
    message: str = ""
    elapsed: float = 0.0
    unit: str = "B"
    overall_done: int = 0
    overall_total: int = 0
    stage: str = ""

    @property
    def fraction(self) -> float | None:
        """The whole job's fraction done, or None when the job has no stages."""
        return self.overall_done / self.overall_total if self.overall_total else None


ProgressCallback = Callable[[ProgressEvent], None]


def amount(n: int, unit: str) -> str:
    """``n`` in ``unit`` for people: "963.6 KiB", "11 packages", "" for no measure."""
    if unit == "B":
        return units.size(n)
    return f"{n} {unit}" if unit else ""


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
    _unit: str = "B"
    _last: float = 0.0
    _t0: float = field(default_factory=time.monotonic)
    _step_t0: float = field(default_factory=time.monotonic)
    warnings: list[str] = field(default_factory=list)
    _job: _Stages | None = None

    def _emit(self, ev: ProgressEvent) -> None:
        if self.callback is not None:
            job = self._job
            if job is not None:
                ev = replace(ev, unit=self._unit, overall_done=job.reported,
                             overall_total=job.total, stage=job.current)
            elif self._unit != "B":
                ev = replace(ev, unit=self._unit)
            self.callback(ev)

    def step(self, name: str, total: int = 0, unit: str = "B") -> None:
        if self._job is not None:
            self._job.step_ended(self._done if self._unit == "B" else 0)
        self._step, self._done, self._total, self._unit = name, 0, total, unit
        self._step_t0 = time.monotonic()
        self._last = 0.0
        self._emit(ProgressEvent(EventKind.STEP, name, 0, total))

    # -- the whole job -----------------------------------------------------------
    def stages(self, weights: Sequence[tuple[str, int, float]]) -> None:
        """Declare the job's stages in order: (key, bytes it works through, cost per
        byte relative to copying). Bytes reported by its steps advance a stage."""
        self._job = _Stages([(k, max(0, n), c) for k, n, c in weights])

    def stage(self, key: str) -> None:
        """Enter stage ``key``: the stages before it count as complete."""
        if self._job is not None:
            self._job.enter(key)

    def weigh(self, key: str, nbytes: int) -> None:
        """Refine a stage's byte count once it is known (a plan can tell)."""
        if self._job is not None:
            self._job.weigh(key, max(0, nbytes))

    def complete(self, name: str) -> None:
        """The job is done: the one event whose overall_done equals overall_total."""
        if self._job is not None:
            self._job.finish()
        self._unit = ""
        self._emit(ProgressEvent(EventKind.DONE, name, elapsed=time.monotonic() - self._t0))

    def advance(self, nbytes: int) -> None:
        self.update(self._done + nbytes)

    def update(self, done: int, total: int | None = None) -> None:
        self._done = done
        if total is not None:
            self._total = total
        if self._job is not None and self._unit == "B":
            self._job.progressed(done)
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



class _Stages:
    """The overall progress of a staged job, in weight units (bytes x relative cost).

    ``reported`` only grows and stays below ``total`` until ``finish``; when a
    re-weighed stage changes the total, it is rescaled so the fraction does not drop.
    """

    def __init__(self, weights: list[tuple[str, int, float]]) -> None:
        self.keys = [k for k, _n, _c in weights]
        self.nbytes = {k: n for k, n, _c in weights}
        self.cost = {k: c for k, _n, c in weights}
        self.index = -1
        self.acc = 0  # bytes of the current stage's finished steps
        self.reported = 0
        self.finished = False

    @property
    def current(self) -> str:
        return self.keys[self.index] if 0 <= self.index < len(self.keys) else ""

    def weight(self, key: str) -> int:
        # every stage weighs at least 1, so an empty stage still moves the bar
        return max(1, math.ceil(self.nbytes[key] * self.cost[key]))

    @property
    def total(self) -> int:
        return sum(self.weight(k) for k in self.keys)

    def _base(self) -> int:
        return sum(self.weight(k) for k in self.keys[:max(self.index, 0)])

    def _raise_to(self, value: int) -> None:
        if not self.finished:
            self.reported = max(self.reported, min(value, self.total - 1))

    def enter(self, key: str) -> None:
        i = self.keys.index(key)
        if i > self.index:
            self.index, self.acc = i, 0
            self._raise_to(self._base())

    def progressed(self, step_done: int) -> None:
        key = self.current
        if not key:
            return
        n = self.nbytes[key]
        part = min(self.acc + step_done, n) / n if n else 0.0
        self._raise_to(self._base() + int(part * self.weight(key)))

    def step_ended(self, step_done: int) -> None:
        if self.current:
            self.acc += step_done

    def weigh(self, key: str, nbytes: int) -> None:
        before = self.total
        self.nbytes[key] = nbytes
        after = self.total
        if before and after != before and not self.finished:
            self.reported = min(after - 1, math.ceil(self.reported * after / before))
        self._raise_to(self._base())

    def finish(self) -> None:
        self.index = len(self.keys)
        self.finished = True
        self.reported = self.total


@dataclass
class EtaSmoother:
    """A steady ETA for a job's overall progress.

    The rate is an exponentially weighted average over ``tau`` seconds, so a stage
    running at another speed moves it gradually; the estimated finish time is averaged
    again over ``follow`` seconds, so the ETA counts down and glides to a new estimate
    instead of jumping from 31 s to 4 min. Nothing is shown before ``warmup``.
    """

    tau: float = 8.0
    follow: float = 3.0
    warmup: float = 1.0
    _t0: float | None = None
    _done0: int = 0
    _t: float = 0.0
    _done: int = 0
    _rate: float | None = None
    _finish: float | None = None
    _eta: float | None = None

    def update(self, now: float, done: int, total: int) -> float | None:
        """Feed one sample; return the ETA in seconds (None: not known yet)."""
        if self._t0 is None:
            self._t0, self._t, self._done, self._done0 = now, now, done, done
            return None
        dt = now - self._t
        if dt <= 0:
            return self._eta
        if done >= total > 0:
            self._eta = 0.0
            return self._eta
        if now - self._t0 < self.warmup:
            return None
        if self._rate is None:  # the first estimate: the average since the start
            self._rate = (done - self._done0) / (now - self._t0)
        else:
            inst = max(0, done - self._done) / dt
            self._rate += (1.0 - math.exp(-dt / self.tau)) * (inst - self._rate)
        self._t, self._done = now, done
        if self._rate <= 0:
            return self._eta
        # smooth the finish time, not the ETA: a right estimate keeps it constant, so
        # the average has no lag bias (an averaged countdown would trail by ``follow``)
        raw = (total - done) / self._rate
        if self._finish is None:
            self._finish = now + raw
        else:
            self._finish += (1.0 - math.exp(-dt / self.follow)) * (now + raw - self._finish)
        # the average lags a stall: never claim less than half of what is left at this rate
        self._eta = max(self._finish - now, raw / 2)
        return self._eta


def check(cancel: threading.Event | None) -> None:
    """Raise Cancelled when the user asked to stop. Call it between chunks."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()
