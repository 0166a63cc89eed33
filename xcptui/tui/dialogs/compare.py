"""Compare the open ISO with another one: the engine's ``diff_isos`` report as a tree.

The report's text is the engine's (``DiffReport.lines``, the same lines as
``xcptui diff``); this screen only folds it by indentation (sections, kernel trees,
entries) and colours the change marks. The diff runs in a thread worker; Escape
cancels it (the engine stops at its next check) or closes the screen.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from xcptui.engine import Cancelled, DiffReport, Progress, ProgressEvent, XcptuiError, diff_isos
from xcptui.tui.widgets import fmt

_MARKS = {"+": "green", "-": "red", "~": "yellow", "^": "cyan", "v": "magenta"}


def _label(line: str) -> Text:
    body = line.strip()
    t = fmt.plain(body)
    head = body[:1]
    if head in _MARKS and body[1:2] == " ":
        t.stylize(_MARKS[head], 0, 1)
    elif not line.startswith(" "):
        t.stylize("bold")
    return t


def fill(tree: Tree[None], lines: list[str]) -> int:
    """Nest ``lines`` under ``tree.root`` by their indentation (two spaces a level);
    returns how many lines were placed. Sections with few children start expanded."""
    stack: list[tuple[int, TreeNode[None]]] = [(-1, tree.root)]
    placed: list[TreeNode[None]] = []
    for line in lines:
        depth = (len(line) - len(line.lstrip(" "))) // 2
        while stack[-1][0] >= depth:
            stack.pop()
        node = stack[-1][1].add(_label(line), expand=False)
        stack.append((depth, node))
        placed.append(node)
    for node in placed:
        node.allow_expand = bool(node.children)  # leaves show no arrow
    for node in tree.root.children:
        if node.children and len(node.children) <= 40:
            node.expand()
    return len(placed)


class CompareScreen(Screen[None]):
    """What changed from ISO A (the open one) to ISO B."""

    BINDINGS = [
        Binding("escape", "close", "Cancel / close", id="compare.close"),
        Binding("e", "expand_all", "Expand all", id="compare.expand"),
        Binding("c", "collapse_all", "Collapse all", id="compare.collapse"),
    ]

    DEFAULT_CSS = """
    CompareScreen { layout: vertical; }
    CompareScreen #compare-title { height: 1; background: $boost; padding: 0 1;
                                   text-wrap: nowrap; text-overflow: ellipsis; }
    CompareScreen #compare-tree { height: 1fr; }
    CompareScreen #compare-status { height: auto; max-height: 4; padding: 0 1;
                                    color: $text-muted; }
    """

    def __init__(self, a: Path, b: Path) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.report: DiffReport | None = None
        self.running = False
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        title = Text("Compare  ", style="bold")
        title.append_text(fmt.plain(fmt.display_path(self.a)))
        title.append("  ->  ", style="dim")
        title.append_text(fmt.plain(fmt.display_path(self.b)))
        yield Static(title, id="compare-title")
        tree: Tree[None] = Tree("differences", id="compare-tree")
        tree.show_root = False
        yield tree
        yield Static(Text("comparing…", style="italic"), id="compare-status")

    def on_mount(self) -> None:
        self.query_one(Tree).focus()
        self.running = True
        self._run()

    def _status(self, text: Text | str) -> None:
        self.query_one("#compare-status", Static).update(text)

    def _progress(self, ev: ProgressEvent) -> None:
        if ev.kind in ("step", "bytes"):
            frac = f" {int(100 * ev.done / ev.total)}%" if ev.total and ev.unit == "B" else ""
            self.app.call_from_thread(self._status, fmt.plain(f"comparing: {ev.step}{frac}"))

    @work(thread=True, exclusive=True, group="compare")
    def _run(self) -> None:
        worker = get_current_worker()
        try:
            rep = diff_isos(self.a, self.b, Progress(self._progress), self._cancel)
        except Cancelled:
            self.app.call_from_thread(self._finished, None, "comparison cancelled")
            return
        except XcptuiError as e:
            self.app.call_from_thread(self._finished, None, str(e))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._finished, rep, None)

    def _finished(self, rep: DiffReport | None, error: str | None) -> None:
        self.running = False
        if rep is None:
            self._status(fmt.plain(error or "", style="red"))
            return
        self.report = rep
        lines = rep.lines()[2:]  # the --- / +++ header is the title line
        fill(self.query_one(Tree), lines[:-1])
        verdict = "identical" if rep.identical else "the ISOs differ"
        self._status(Text(f"{verdict}  ·  e expand all  c collapse all  Esc close",
                          style="bold" if not rep.identical else ""))

    def action_expand_all(self) -> None:
        self.query_one(Tree).root.expand_all()

    def action_collapse_all(self) -> None:
        for node in self.query_one(Tree).root.children:
            node.collapse_all()

    def action_close(self) -> None:
        if self.running:
            self._cancel.set()
            self._status(Text("cancelling…", style="italic"))
            return
        self.dismiss(None)
