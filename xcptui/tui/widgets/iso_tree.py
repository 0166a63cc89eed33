"""The lazy tree of an ISO, of install.img inside it, and of RPM payloads.

Children are listed when a node is first expanded: ISO folders from the in-memory
index, install.img and RPMs from worker threads (with progress); every listing is
cached in the session, so expanding again is instant. Pending changes are drawn
with a colour and a sign: + added, ~ replaced, − removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.style import Style
from rich.text import Text, TextType
from textual import on, work
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode
from textual.worker import Worker, WorkerState, get_current_worker

from xcptui.engine import printable
from xcptui.tui.jobs import readers
from xcptui.tui.jobs.guard import guarded
from xcptui.tui.jobs.progress import posting_progress
from xcptui.tui.messages import JobFailed
from xcptui.tui.state.session import Session
from xcptui.tui.widgets import browse_model as bm
from xcptui.tui.widgets import fmt

MARK_STYLE = {"added": "bold green", "replaced": "bold yellow", "removed": "red strike",
              "changed": "bold yellow"}
MARK_SIGN = {"added": "+", "replaced": "~", "removed": "−", "changed": "~"}


def _ancestors(marks: Mapping[str, str]) -> frozenset[str]:
    """Every folder above a marked path ("/Packages" for "/Packages/x.rpm"), root excluded."""
    out: set[str] = set()
    for path in marks:
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts)):
            out.add("/" + "/".join(parts[:i]))
    return frozenset(out)


def legend() -> Text:
    t = Text()
    for mark, label in (("added", "added"), ("replaced", "replaced"), ("removed", "removed")):
        t.append(f"{MARK_SIGN[mark]} {label}", style=MARK_STYLE[mark].replace(" strike", ""))
        t.append("  ")
    return t


class IsoTree(Tree[bm.NodeInfo]):
    """``scope`` "iso": the whole ISO; "img": install.img only (the Installer step)."""

    DEFAULT_CSS = """
    IsoTree { width: 1fr; height: 1fr; }
    """

    class Loaded(Message):
        """A node's children arrived from a worker."""

        def __init__(self, node: TreeNode[bm.NodeInfo], children: list[bm.NodeInfo]) -> None:
            super().__init__()
            self.node = node
            self.items = children

    class WorkDone(Message):
        """A listing worker of the tree finished (worker messages do not bubble)."""

        def __init__(self, worker: Worker[Any]) -> None:
            super().__init__()
            self.worker = worker

    def __init__(self, scope: str = "iso", *, id: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id)
        self.scope = scope
        self.show_root = scope == "iso"
        self.guide_depth = 3
        self.iso_marks: Mapping[str, str] = {}
        self.img_marks: Mapping[str, str] = {}
        # folders holding a marked path (a collapsed Packages/ still shows its change)
        self.iso_dirs: frozenset[str] = frozenset()
        self.img_dirs: frozenset[str] = frozenset()
        self.filtered = False
        # filter results: (matches, how many are in the tree, node per (area, path))
        self._pages: tuple[list[bm.NodeInfo], int, dict[tuple[str, str],
                                                        TreeNode[bm.NodeInfo]]] = ([], 0, {})
        self._more_node: TreeNode[bm.NodeInfo] | None = None

    def process_label(self, label: TextType) -> Text:
        # Names come from the ISO: a str label would be parsed as Rich markup
        # ("[/]" raises, "[link=...]" injects) and its controls reach the terminal.
        return super().process_label(fmt.plain(label) if isinstance(label, str) else label)

    @property
    def session(self) -> Session | None:
        return getattr(self.app, "session", None)

    # -- building --------------------------------------------------------------------
    def load(self) -> None:
        """(Re)build from the session's ISO, collapsed, nothing listed but the top."""
        self.filtered = False
        self._more_node = None
        self.clear()
        s = self.session
        if s is None:
            self.root.set_label("(no ISO open)")
            return
        info = bm.iso_root() if self.scope == "iso" else bm.img_root()
        self.root.data = info
        self.root.set_label(s.source.name if self.scope == "iso" else "install.img")
        self.root.allow_expand = True
        self._populate(self.root)
        self.root.expand()

    def _add(self, parent: TreeNode[bm.NodeInfo], info: bm.NodeInfo) -> TreeNode[bm.NodeInfo]:
        if info.expandable:
            return parent.add(info.name, data=info, allow_expand=True)
        return parent.add_leaf(info.name, data=info)

    def _fill(self, node: TreeNode[bm.NodeInfo], children: list[bm.NodeInfo]) -> None:
        node.remove_children()
        for c in children:
            self._add(node, c)
        if node.data is not None:
            node.data.loaded = True
        if not children:
            node.allow_expand = False

    @guarded("Browse")
    def _populate(self, node: TreeNode[bm.NodeInfo]) -> None:
        info, s = node.data, self.session
        if info is None or s is None or info.loaded:
            return
        if info.area == bm.ISO and info.is_dir and not info.virtual:
            self._fill(node, bm.iso_children(s, info.path))
        elif info.is_image or (info.area == bm.IMG and info.is_dir and not info.virtual):
            if s.image_loaded:
                self._fill(node, bm.img_children(s, "/" if info.is_image else info.path))
            else:
                node.remove_children()
                node.add_leaf(Text("reading install.img…", style="italic dim"))
                self._load_image(node)
        elif info.is_rpm:
            cached = readers.cached_rpm_info(s, info.path)
            if cached is not None:
                self._fill(node, bm.rpm_children(cached, info.path, "/"))
            else:
                node.remove_children()
                node.add_leaf(Text("reading the RPM header…", style="italic dim"))
                self._load_rpm(node)
        elif info.area == bm.RPM and info.is_dir and info.container:
            cached = readers.cached_rpm_info(s, info.container)
            if cached is not None:
                self._fill(node, bm.rpm_children(cached, info.container, info.path))

    @on(Tree.NodeExpanded)
    def _expanded(self, event: Tree.NodeExpanded[bm.NodeInfo]) -> None:
        if event.node.data is not None and not event.node.data.loaded:
            self._populate(event.node)

    @work(thread=True, group="tree-image", exit_on_error=False, description="Read install.img")
    def _load_image(self, node: TreeNode[bm.NodeInfo]) -> None:
        s = self.session
        if s is None:
            return
        worker = get_current_worker()
        s.image(posting_progress(self, "tree"), worker.cancelled_event)
        info = node.data
        assert info is not None
        kids = bm.img_children(s, "/" if info.is_image else info.path)
        self.post_message(self.Loaded(node, kids))

    @work(thread=True, group="tree-rpm", exit_on_error=False, description="Read an RPM")
    def _load_rpm(self, node: TreeNode[bm.NodeInfo]) -> None:
        s, info = self.session, node.data
        if s is None or info is None:
            return
        worker = get_current_worker()
        rpm = readers.rpm_info_iso(s, info.path, posting_progress(self, "tree"),
                                   worker.cancelled_event)
        self.post_message(self.Loaded(node, bm.rpm_children(rpm, info.path, "/")))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        w = event.worker
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if event.state == WorkerState.ERROR:
            self.reset_failed(w.group)
            if w.error is not None:
                self.post_message(JobFailed(w.error, w.description or w.name))
        self.post_message(self.WorkDone(w))

    @on(Loaded)
    def _loaded(self, event: Loaded) -> None:
        self._fill(event.node, event.items)
        if not event.node.is_expanded:
            event.node.expand()

    def reset_failed(self, group: str) -> None:
        """After a failed load, let the user try again by expanding once more."""
        for node in self._tree_nodes.values():
            info = node.data
            if info is not None and not info.loaded and node.children and \
                    node.children[0].data is None:
                node.remove_children()
                node.collapse()

    # -- filter ----------------------------------------------------------------------
    PAGE = 500  # matches added to the tree at a time; the "more" node adds the next page

    def show_matches(self, matches: list[bm.NodeInfo], pattern: str, truncated: bool) -> None:
        """Replace the tree by the matches and the folders that lead to them, a page at
        a time: Enter on the last node ("N more…") adds the next page."""
        s = self.session
        if s is None:
            return
        self.clear()
        self._more_node = None
        self.filtered = True
        shown = [m for m in matches if not (self.scope == "img" and m.area != bm.IMG)]
        more = f" (stopped at {len(matches)})" if truncated else ""
        self.root.set_label(fmt.plain(f"{len(shown)} matches for {pattern!r}{more}"))
        self.root.data = None
        self._pages = (shown, 0, {})
        self._add_page()

    def _add_page(self) -> None:
        shown, done, made = self._pages
        if self._more_node is not None:
            self._more_node.remove()
            self._more_node = None
        page = shown[done:done + self.PAGE]
        for m in page:
            parent = self.root
            if m.area == bm.IMG and self.scope == "iso":
                parent = self._synthetic(made, bm.ISO, "/install.img", "install.img", self.root)
            parts = [p for p in m.path.split("/") if p][:-1]
            for i in range(len(parts)):
                path = "/" + "/".join(parts[: i + 1])
                parent = self._synthetic(made, m.area, path, parts[i], parent)
            key = (m.area, m.path)
            if key not in made:
                made[key] = self._add(parent, m)
        done += len(page)
        self._pages = (shown, done, made)
        if done < len(shown):
            left = len(shown) - done
            self._more_node = self.root.add_leaf(
                Text(f"… {left} more match{'es' if left != 1 else ''}: Enter shows the next "
                     f"{min(self.PAGE, left)}", style="italic"), data=None)
        self.root.expand_all()

    @on(Tree.NodeSelected)
    def _more_selected(self, event: Tree.NodeSelected[bm.NodeInfo]) -> None:
        if self._more_node is not None and event.node is self._more_node:
            event.stop()
            line = self.cursor_line
            self._add_page()
            self.cursor_line = line

    def _synthetic(self, made: dict[tuple[str, str], TreeNode[bm.NodeInfo]], area: str,
                   path: str, name: str, parent: TreeNode[bm.NodeInfo]
                   ) -> TreeNode[bm.NodeInfo]:
        key = (area, path)
        if key not in made:
            info = bm.NodeInfo(area, path, name, is_dir=True, kind="dir", loaded=True)
            if area == bm.ISO and path == "/install.img":
                info.is_dir = False
            made[key] = parent.add(name, data=info, allow_expand=True, expand=True)
        return made[key]

    # -- marks -----------------------------------------------------------------------
    def set_marks(self, iso_marks: Mapping[str, str], img_marks: Mapping[str, str]) -> None:
        self.iso_marks, self.img_marks = iso_marks, img_marks
        self.iso_dirs, self.img_dirs = _ancestors(iso_marks), _ancestors(img_marks)
        self._resync_virtual(self.root)
        self._invalidate()  # labels depend on the marks: redraw every line

    def _resync_virtual(self, node: TreeNode[bm.NodeInfo]) -> None:
        """Add nodes for new pending additions, drop the ones no longer pending."""
        info, s = node.data, self.session
        if s is None or self.filtered:
            return
        if info is not None and info.loaded and (info.is_dir or info.is_image) \
                and info.area != bm.RPM:
            real = [c for c in node.children if c.data is not None and not c.data.virtual]
            names = {c.data.name for c in real if c.data is not None}
            area = bm.IMG if (info.is_image or info.area == bm.IMG) else bm.ISO
            marks = self.img_marks if area == bm.IMG else self.iso_marks
            base = "" if info.is_image or (area == bm.IMG and info.path == "/") else info.path
            want = {v.name: v for v in bm._virtual_children(
                base, names, [p for p, m in marks.items() if m == "added"], area)}
            for c in list(node.children):
                if c.data is not None and c.data.virtual and c.data.name not in want:
                    c.remove()
            have = {c.data.name for c in node.children if c.data is not None}
            for name, v in want.items():
                if name not in have:
                    self._add(node, v)
        for c in list(node.children):
            self._resync_virtual(c)

    def mark_of(self, info: bm.NodeInfo | None) -> str | None:
        if info is None:
            return None
        if info.area == bm.ISO:
            marks, dirs, path = self.iso_marks, self.iso_dirs, info.path
        elif info.area == bm.IMG:
            marks, dirs, path = self.img_marks, self.img_dirs, info.path
        else:
            return None
        if path in marks:
            return marks[path]
        parts = path.rstrip("/").split("/")
        for i in range(len(parts) - 1, 0, -1):
            if marks.get("/".join(parts[:i]) or "/") == "removed":
                return "removed"
        if path in dirs:
            return "added" if info.virtual else "changed"
        return None

    def render_label(self, node: TreeNode[bm.NodeInfo], base_style: Style,
                     style: Style) -> Text:
        info = node.data
        if info is None or node.is_root:
            return super().render_label(node, base_style, style)
        mark = self.mark_of(info)
        text = Text()
        if node.allow_expand:
            text.append(self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE,
                        style=base_style)
        else:
            text.append("  ")
        if mark:
            text.append(MARK_SIGN[mark] + " ", style=MARK_STYLE[mark].replace(" strike", ""))
        name_style = MARK_STYLE.get(mark or "", "")
        if info.is_dir or info.is_image or info.is_rpm:
            name_style = (name_style + " bold").strip() if info.is_dir else name_style
        text.append(printable(info.name) + ("/" if info.is_dir else ""), style=name_style)
        if info.kind == "symlink" and info.link_target:
            text.append(f" → {printable(info.link_target)}", style="dim")
        if info.size is not None and not info.is_dir:
            text.append(f"  {fmt.size(info.size)}", style="dim")
        text.stylize(style)
        return text

    def selected_info(self) -> bm.NodeInfo | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def find_parent_dir(self) -> Any:
        """The folder an addition should go to: the selected folder, or the file's folder."""
        info = self.selected_info()
        if info is None:
            return None
        if info.is_dir or info.is_image:
            return info
        node = self.cursor_node
        parent = node.parent if node is not None else None
        return parent.data if parent is not None else None
