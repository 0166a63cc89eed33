"""A one-line progress strip for background jobs: what runs, a bar, throughput."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from xcptui.engine import ProgressEvent
from xcptui.tui.widgets import fmt


class JobStatus(Horizontal):
    """Hidden when idle; ``start()``, feed ``progress(ev)``, then ``stop()``."""

    DEFAULT_CSS = """
    JobStatus { height: 1; display: none; dock: bottom; }  /* never pushed off screen */
    JobStatus.-running { display: block; }
    JobStatus > Label { width: 1fr; text-overflow: ellipsis; text-wrap: nowrap; }
    JobStatus > ProgressBar { width: auto; }
    JobStatus #rate { width: auto; min-width: 0; color: $text-muted; padding-left: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Label("", id="what")
        yield ProgressBar(total=None, show_eta=False, id="bar")
        yield Label("", id="rate")

    def start(self, text: str) -> None:
        self.add_class("-running")
        # job texts name files of the ISO or host ("opening {name}…"): never markup
        self.query_one("#what", Label).update(fmt.plain(text))
        self.query_one("#rate", Label).update("")
        self.query_one(ProgressBar).update(total=None, progress=0)

    def progress(self, ev: ProgressEvent) -> None:
        bar = self.query_one(ProgressBar)
        if ev.kind == "step":
            self.query_one("#what", Label).update(fmt.plain(ev.step))
            bar.update(total=ev.total or None, progress=0)
        elif ev.kind == "bytes":
            bar.update(total=ev.total or None, progress=ev.done)
            # a byte rate only for bytes: a count ("packages") is no B/s
            self.query_one("#rate", Label).update(
                fmt.rate(ev.done, ev.elapsed) if ev.unit == "B" else
                f"{ev.done}/{ev.total} {ev.unit}" if ev.unit and ev.total else "")

    def stop(self) -> None:
        self.remove_class("-running")
