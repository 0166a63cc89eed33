"""Boot configs side by side (``v`` on Identity & boot and on Review).

The new text is what the engine will write: ``plan_boot_effects`` (the same stages
a build runs) gives ``new_text`` for isolinux.cfg / grub.cfg and ``efiboot_grub``
for the grub.cfg inside efiboot.img; the old text is the source's file. Computed in
a worker (efiboot.img is read through mtools).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from xcptui.engine import plan_boot_effects, read_efiboot_grub
from xcptui.engine.layout import (
    EFIBOOT_GRUB_NAME,
    EFIBOOT_IMG,
    GRUB_CFG,
    GRUB_USB_CFG,
    ISOLINUX_CFG,
)
from xcptui.engine.recipe import edits as ops
from xcptui.tui.state.session import Session
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets import side_by_side as sbs

CONFIGS = (ISOLINUX_CFG, GRUB_CFG, GRUB_USB_CFG)


@dataclass(frozen=True)
class ConfigPair:
    name: str
    old: bytes | None
    new: bytes | None  # None: the build leaves it as it is


def boot_pairs(s: Session) -> list[ConfigPair]:
    """(name, old, new) for each boot config the source has (called in a worker)."""
    fx = plan_boot_effects(s.iso, ops.clone(s.recipe))
    out = [ConfigPair(p.lstrip("/"), s.iso.read(p), fx.new_text.get(p))
           for p in CONFIGS if s.iso.exists(p)]
    if s.iso.exists(EFIBOOT_IMG):
        _, old = read_efiboot_grub(s.iso.read(EFIBOOT_IMG))
        out.append(ConfigPair(EFIBOOT_GRUB_NAME, old, fx.efiboot_grub))
    return out


def pair_view(p: ConfigPair) -> RenderableType:
    title = Text(p.name, style="bold")
    if p.new is None or p.new == p.old:
        title.append("  unchanged", style="dim")
        return Group(title, Text(""))
    rows = sbs.diff_rows(sbs.split_lines(p.old), sbs.split_lines(p.new))
    title.append(f"  {sbs.changed(rows)} line(s) differ", style="yellow")
    return Group(title, sbs.render(rows), Text(""))


class BootDiffScreen(Screen[None]):
    """Every boot config, old | new; ``q``/Escape closes."""

    BINDINGS = [Binding("q,escape,v", "close", "Close", id="boot-diff.close")]

    DEFAULT_CSS = """
    BootDiffScreen #boot-diff-title { height: 1; background: $boost; padding: 0 1; }
    BootDiffScreen #boot-diff-scroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[ConfigPair] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("Boot configs: source | after the build   (q closes)", style="bold"),
                     id="boot-diff-title")
        with VerticalScroll(id="boot-diff-scroll"):
            yield Static(Text("planning…", style="italic dim"), id="boot-diff-body")

    def on_mount(self) -> None:
        self.query_one("#boot-diff-scroll").focus()
        self._compute()

    @work(thread=True, exclusive=True, group="boot-diff", exit_on_error=False,
          description="Boot configs")
    def _compute(self) -> list[ConfigPair]:
        s = getattr(self.app, "session", None)
        return boot_pairs(s) if s is not None else []

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        body = self.query_one("#boot-diff-body", Static)
        if event.state == WorkerState.SUCCESS:
            self.pairs = event.worker.result
            body.update(Group(*[pair_view(p) for p in self.pairs or []])
                        if self.pairs else Text("This ISO has no boot configs.", style="dim"))
        elif event.state == WorkerState.ERROR:
            self.pairs = []
            body.update(fmt.plain(f"could not plan: {event.worker.error}", style="red"))

    def action_close(self) -> None:
        self.dismiss(None)
