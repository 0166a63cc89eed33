"""Step 2: browse the ISO, install.img and RPMs; preview; extract; mark changes."""

from __future__ import annotations

import re

from rich.console import RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Input, Static, Tree
from textual.worker import Worker, WorkerState, get_current_worker

from xcptui.tui.dialogs import pager
from xcptui.tui.dialogs.search import Hit, SearchScreen
from xcptui.tui.jobs.progress import posting_progress
from xcptui.tui.messages import JobProgress
from xcptui.tui.steps.file_actions import FileActions
from xcptui.tui.widgets import browse_model as bm
from xcptui.tui.widgets import preview
from xcptui.tui.widgets.iso_tree import IsoTree, legend
from xcptui.tui.widgets.job_status import JobStatus


class BrowseStep(FileActions):
    KEY = "browse"
    TITLE = "Browse"
    INTRO = "look inside; install.img and RPMs open like folders"

    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="browse.filter"),
        Binding("x", "extract", "Extract", id="browse.extract"),
        Binding("a", "add_file", "Add", id="browse.add-file"),
        Binding("e", "edit", "Edit", id="browse.edit"),
        Binding("delete", "remove", "Remove", key_display="del", id="browse.remove"),
        Binding("ctrl+f", "content_search", "Search", id="browse.content-search"),
        # 80x24 leaves the tree ~10 rows: m gives the whole screen to it, Esc gives it back
        Binding("m", "maximize_tree", "Maximise", show=False, id="browse.maximize"),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._preview_timer: Timer | None = None
        self._preview_for: bm.NodeInfo | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="browse-split", classes="split"):
            with Vertical(id="browse-left", classes="split-main"):
                yield Input(placeholder="/ filter by name (glob: *.ko), Enter; Esc clears",
                            id="browse-filter", classes="filter")
                yield IsoTree("iso", id="browse-tree")
                yield Static(legend(), id="browse-legend", classes="legend")
            with VerticalScroll(id="browse-preview", classes="split-side preview"):
                yield Static(Text("Select a file to preview it.", style="dim"),
                             id="browse-preview-body")
        yield JobStatus(id="browse-job")

    def shown(self) -> None:
        self.iso_tree.focus()

    def session_changed(self) -> None:
        self.query_one("#browse-filter", Input).value = ""
        self.iso_tree.load()
        self._marks()
        self.query_one("#browse-preview-body", Static).update(
            Text("Select a file to preview it.", style="dim"))

    def recipe_changed(self) -> None:
        self._marks()

    def _marks(self) -> None:
        s = self.session
        if s is not None:
            self.iso_tree.set_marks(s.iso_marks(), s.image_marks())

    # -- filter ----------------------------------------------------------------------
    def action_maximize_tree(self) -> None:
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
        else:
            screen.maximize(self.iso_tree, container=False)
            self.iso_tree.focus()

    def action_filter(self) -> None:
        self.query_one("#browse-filter", Input).focus()

    @on(Input.Submitted, "#browse-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        pattern = event.value.strip()
        if not pattern:
            self.iso_tree.load()
            self._marks()
            self.iso_tree.focus()
            return
        self.query_one(JobStatus).start(f"searching for {pattern!r}…")
        self._search(pattern)

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        filt = self.query_one("#browse-filter", Input)
        if key == "escape" and filt.has_focus:
            filt.value = ""
            if self.iso_tree.filtered:
                self.iso_tree.load()
                self._marks()
            self.iso_tree.focus()
            getattr(event, "stop", lambda: None)()

    @work(thread=True, exclusive=True, group="search", exit_on_error=False,
          description="Search")
    def _search(self, pattern: str) -> tuple[str, list[bm.NodeInfo], bool]:
        s = self.session
        assert s is not None
        if s.has_image and not s.image_loaded:
            s.image(posting_progress(self, "job"), get_current_worker().cancelled_event)
        found, truncated = bm.search(s, pattern)
        return pattern, found, truncated

    # -- content search (dialogs/search.py) ------------------------------------------
    def action_content_search(self) -> None:
        if self.session is not None:
            self.app.push_screen(SearchScreen(), self.jump_to_hit)

    def jump_to_hit(self, hit: Hit | None) -> None:
        """Show the hit's file alone in the tree and open the pager at its line."""
        s = self.session
        if s is None or hit is None:
            return
        path = hit.path
        if hit.area == bm.IMG:
            ie = s.image().get(path.strip("/"))
            if ie is None:
                return
            info = bm.img_node(ie)
        else:
            e = s.iso.entry(path)
            info = bm.NodeInfo(bm.ISO, path, e.name, size=e.size, entry=e)
        self.iso_tree.show_matches([info], path.rsplit("/", 1)[-1], False)
        def select() -> None:  # once the rebuilt tree has its lines
            for node in self.iso_tree._tree_nodes.values():
                if node.data is not None and node.data.key == info.key:
                    self.iso_tree.move_cursor(node)

        self.iso_tree.call_after_refresh(select)
        self.iso_tree.focus()
        a, b = hit.spans[0] if hit.spans else (0, 0)
        pat = re.compile(re.escape(hit.text[a:b])) if b > a else None
        pager.open_pager(self.app, s, info, line=hit.line - 1, pattern=pat)

    # -- preview ---------------------------------------------------------------------
    @on(Tree.NodeHighlighted, "#browse-tree")
    def _highlighted(self, event: Tree.NodeHighlighted[bm.NodeInfo]) -> None:
        self._preview_for = event.node.data
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(0.12, self._start_preview)

    def _start_preview(self) -> None:
        info = self._preview_for
        if info is None or self.session is None:
            return
        self._preview(info)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False,
          description="Preview")
    def _preview(self, info: bm.NodeInfo) -> RenderableType:
        s = self.session
        assert s is not None
        return preview.build(s, info, posting_progress(self, "job"),
                             get_current_worker().cancelled_event)

    # -- worker results --------------------------------------------------------------
    @on(JobProgress)
    def _progress(self, event: JobProgress) -> None:
        self.job_progress(event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        w = event.worker
        if event.state != WorkerState.SUCCESS:
            return
        if w.group == "preview" and w.result is not None:
            self.query_one("#browse-preview-body", Static).update(w.result)
            self.query_one("#browse-preview").scroll_home(animate=False)
        elif w.group == "search" and w.result is not None:
            pattern, found, truncated = w.result
            self.iso_tree.show_matches(found, pattern, truncated)
            self._marks()
