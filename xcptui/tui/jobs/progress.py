"""An engine ``Progress`` whose events arrive at a widget as ``JobProgress`` messages,
and the texts a staged job's progress shows (overall ETA, the current stage line)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual.message_pump import MessagePump

from xcptui.engine import EtaSmoother, Progress, ProgressEvent, progress_amount
from xcptui.tui.messages import JobProgress
from xcptui.tui.widgets import fmt


def posting_progress(target: MessagePump, tag: str) -> Progress:
    """An engine Progress whose events arrive at ``target`` as JobProgress messages.

    ``post_message`` is thread-safe and never blocks the worker; the engine's
    Progress throttles byte events to 20 per second.
    """
    def post(ev: ProgressEvent) -> None:
        target.post_message(JobProgress(tag, ev))

    return Progress(post)


def step_detail(ev: ProgressEvent) -> str:
    """What a step has done in its own unit: "3.2 MiB of 5.4 MiB · 12.0 MiB/s",
    "5 of 11 packages", or "" for a step with no measure (never a byte count for it)."""
    if not ev.unit or (not ev.done and not ev.total):
        return ""
    if ev.unit == "B":
        text = fmt.size(ev.done) + (f" of {fmt.size(ev.total)}" if ev.total else "")
        rate = fmt.rate(ev.done, ev.elapsed)
        return f"{text} · {rate}" if rate and ev.done < (ev.total or ev.done + 1) else text
    return f"{ev.done} of {progress_amount(ev.total, ev.unit)}" if ev.total else \
        progress_amount(ev.done, ev.unit)


@dataclass
class OverallMeter:
    """One staged job's overall bar: its fraction, a smoothed ETA, the stage line."""

    clock: Callable[[], float] = time.monotonic
    eta: EtaSmoother = field(default_factory=EtaSmoother)
    step: str = ""

    def feed(self, ev: ProgressEvent) -> float | None:
        """Take one event; return the ETA in seconds (None: not known yet)."""
        if ev.kind in ("step", "bytes"):
            self.step = ev.step
        if ev.fraction is None:
            return None
        return self.eta.update(self.clock(), ev.overall_done, ev.overall_total)

    @staticmethod
    def eta_text(eta: float | None, ev: ProgressEvent) -> str:
        if ev.fraction is None:
            return ""
        if ev.fraction >= 1.0:
            return "done"
        return f"ETA {fmt.duration(eta)}" if eta is not None else "ETA estimating…"

    def stage_line(self, ev: ProgressEvent) -> Text:
        """The current step (untrusted: it may name ISO files) and its own measure."""
        t = Text("▶ ", style="bold yellow")
        t.append_text(fmt.plain(self.step or ev.step))
        detail = step_detail(ev) if ev.kind == "bytes" else ""
        if detail:
            t.append(f"  {detail}", style="dim")
        return t
