"""Step 4: Packages/ (add, replace, remove), xcp-ng-deps Requires, dependency check, signing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.validation import Function
from textual.widgets import DataTable, Input, Label, Static
from textual.worker import Worker, WorkerState, get_current_worker

from xcptui.engine import CheckReport, XcptuiError, check_packages, evrcmp
from xcptui.engine import recipe as recipe_mod
from xcptui.engine.recipe import edits as ops
from xcptui.tui.dialogs.common import ErrorDialog, InputDialog
from xcptui.tui.dialogs.files import FileOpen
from xcptui.tui.dialogs.repo_options import RepoOptions, RepoOptionsDialog
from xcptui.tui.dialogs.requires_diff import RequiresScreen
from xcptui.tui.jobs import readers
from xcptui.tui.jobs.guard import guarded
from xcptui.tui.jobs.progress import posting_progress
from xcptui.tui.messages import JobProgress
from xcptui.tui.steps import package_rows as pr
from xcptui.tui.steps.base import Step
from xcptui.tui.steps.installer import RPM_FILTERS
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets import package_check as pc
from xcptui.tui.widgets.job_status import JobStatus
from xcptui.tui.widgets.row_table import RowTable

STATUS_STYLE = {pr.ORIGINAL: "dim", pr.ADDED: "bold green", pr.UPGRADE: "bold green",
                pr.DOWNGRADE: "bold yellow", pr.REPLACED: "yellow", pr.REMOVED: "red strike",
                pr.REBUILT: "bold yellow"}
COLUMNS = [("name", "name"), ("EVR", "evr"), ("arch", "arch"), ("size", "size"),
           ("status", "status")]
CELL_PADDING = 2  # DataTable's cell_padding on both sides
SIDE_WIDTH = 48  # the check pane beside the table (app.tcss: PackagesStep.-wide)
SORTS = ["name", "status", "size", "arch"]
DEP_RE = r"[A-Za-z0-9_.+()/:-]+(\s*(<|<=|=|==|>=|>)\s*[A-Za-z0-9_.+:~^-]+)?"


def _valid_requirement(text: str) -> bool:
    import re

    return bool(re.fullmatch(DEP_RE, text.strip()))


class PackagesStep(Step):
    KEY = "packages"
    TITLE = "Packages"
    INTRO = "Packages/, xcp-ng-deps and the installer's dependency check"

    BINDINGS = [
        Binding("a", "add_package", "Add", id="packages.add-package"),
        Binding("delete", "remove", "Remove", key_display="del", id="packages.remove"),
        Binding("f", "fix", "Fix", id="packages.fix"),
        Binding("q", "require", "Require", id="packages.require"),
        Binding("g", "options", "Signing", id="packages.options"),
        Binding("v", "requires_diff", "Req. diff", id="packages.requires-diff"),
        Binding("s", "sort", "Sort", id="packages.sort"),
        Binding("slash", "filter", "Filter", key_display="/", show=False, id="packages.filter"),
        Binding("c", "check", "Check", show=False, id="packages.check"),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._originals: list[Any] | None = None
        self._added: list[tuple[Path, Any]] = []
        self._rows: list[pr.PackageRow] = []
        self._deps: list[pr.DepRow] = []
        self._meta_requires: list[Any] = []
        self._sort = 0
        self._report: Any = None
        self._checked_text: str | None = None
        self._check_timer: Timer | None = None
        self._widths: dict[str, int] | None = None
        self._shown: list[pr.PackageRow] = []

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter packages by name", id="pk-filter", classes="filter")
        with Horizontal(classes="split", id="pk-split"):
            with Vertical(classes="split-main"):
                yield RowTable(id="pk-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="pk-options", classes="info-line")
            # below the table (side by side only when the table still gets WIDE_TABLE)
            with Horizontal(classes="split-side", id="pk-side"):
                with Vertical(id="pk-check-pane"):
                    yield Label("Dependency check", classes="pane-title")
                    with VerticalScroll(id="pk-check-scroll"):
                        yield Static(Text("not run yet", style="dim"), id="pk-check")
                with Vertical(id="pk-deps-pane"):
                    yield Label("xcp-ng-deps Requires (v)", classes="pane-title")
                    yield RowTable(id="pk-deps", cursor_type="row")
        yield JobStatus(id="pk-job")

    def on_mount(self) -> None:
        self._columns([])
        d = self.query_one("#pk-deps", DataTable)
        d.add_column("requirement", key="req")
        d.add_column("", key="status", width=8)

    def _columns(self, rows: list[pr.PackageRow]) -> None:
        """(Re)make the table's columns sized to the rows and the table's width."""
        t = self.query_one("#pk-table", DataTable)
        width = t.scrollable_content_region.width or 70
        avail = width - CELL_PADDING * len(COLUMNS) - 1
        widths = pr.column_widths(rows, avail, fmt.size)
        if self._widths == widths and t.columns:
            return
        self._widths = widths
        t.clear(columns=True)
        for label, key in COLUMNS:
            t.add_column(label, key=key, width=widths[key])

    def on_resize(self) -> None:
        self._place_side()
        if self._rows:
            self.call_after_refresh(self._render_tables)

    def _place_side(self) -> None:
        """The check beside the table only when the table keeps its natural width."""
        need = pr.natural_width(self._rows, fmt.size) + CELL_PADDING * len(COLUMNS) + 1
        wide = self.size.width >= need + SIDE_WIDTH
        if wide != self.has_class("-wide"):
            self.set_class(wide, "-wide")
            self.call_after_refresh(self._render_tables)  # columns for the new width

    def shown(self) -> None:
        s = self.session
        if s is not None and self._originals is None and s.iso.is_dir("/Packages"):
            self._load()
        self.query_one("#pk-table").focus()

    def session_changed(self) -> None:
        self._originals = None
        self._report = None
        self._checked_text = None
        self._added = []
        s = self.session
        if s is not None and not s.iso.is_dir("/Packages"):
            self.query_one("#pk-check", Static).update(
                Text("This ISO has no Packages/ directory (netinstall?).", style="yellow"))
        self._render_tables()

    def recipe_changed(self) -> None:
        if self._originals is None:
            self._render_tables()
            return
        self._load(added_only=True)

    # -- loading ---------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="pk-load", exit_on_error=False,
          description="List packages")
    def _load(self, added_only: bool = False) -> tuple[list[Any], list[tuple[Path, Any]]]:
        s = self.session
        assert s is not None
        cancel = get_current_worker().cancelled_event
        originals = self._originals if added_only and self._originals is not None else \
            readers.list_packages(s, posting_progress(self, "job"), cancel)
        added: list[tuple[Path, Any]] = []
        for p in list(s.recipe.packages.add):
            try:
                added.append((Path(p), readers.rpm_info_host(s, Path(p))))
            except XcptuiError as e:
                added.append((Path(p), str(e)))
        return originals, added

    def _loaded(self, originals: list[Any], added: list[tuple[Path, Any]]) -> None:
        self._originals, self._added = originals, added
        meta = next((o for o in originals if o.name == pr.META), None)
        self._meta_requires = list(meta.requires) if meta is not None else []
        self._schedule_check()  # first: a report of another recipe must not mark the rows
        self._render_tables()

    @guarded("Packages")
    def _render_tables(self) -> None:
        s = self.session
        table = self.query_one("#pk-table", DataTable)
        deps = self.query_one("#pk-deps", DataTable)
        row_before = table.cursor_row
        table.clear()
        deps.clear()
        if s is None or self._originals is None:
            self._options_line()
            return
        self._rows = pr.rows(self._originals, self._added, s.recipe, evrcmp, self._report)
        pattern = self.query_one("#pk-filter", Input).value
        shown = [r for r in self._rows if pr.matches(r, pattern)]
        self._place_side()
        self._columns(self._rows)
        table.clear()
        key = SORTS[self._sort]
        if key == "status":
            shown.sort(key=lambda r: (r.status == pr.ORIGINAL, r.name))
        elif key == "size":
            shown.sort(key=lambda r: (-r.size, r.name))
        else:
            shown.sort(key=lambda r: (getattr(r, key), r.name))
        self._shown = shown
        for r in shown:
            style = STATUS_STYLE.get(r.status, "")
            status = Text(r.status, style=style, no_wrap=True, overflow="ellipsis")
            if r.note:
                status.append_text(fmt.plain(f" {r.note}", "dim"))
            name_style = "strike dim" if r.status == pr.REMOVED else (
                "bold" if r.key.startswith("add:") else "")
            table.add_row(self._cell(r.name, name_style), self._cell(r.evr),
                          fmt.plain(r.arch), Text(fmt.size(r.size), justify="right"),
                          status, key=r.key)
        if table.row_count:
            table.move_cursor(row=min(max(row_before, 0), table.row_count - 1))
        self._deps = pr.dep_rows(self._meta_requires, s.recipe)
        for d in self._deps:
            style = STATUS_STYLE.get(d.status, "")
            deps.add_row(fmt.plain(d.text, "strike dim" if d.status == pr.REMOVED else ""),
                         Text({pr.ORIGINAL: "", pr.ADDED: "added", pr.REMOVED: "dropped",
                               pr.REPLACED: "changed"}[d.status], style=style),
                         key=f"dep:{d.name}:{d.status}")
        self._options_line()

    @staticmethod
    def _cell(text: str, style: str = "") -> Text:
        """Untrusted RPM text, cut with an ellipsis when the column is narrower."""
        t = fmt.plain(text, style)
        t.no_wrap, t.overflow = True, "ellipsis"
        return t

    def _options_line(self) -> None:
        s = self.session
        if s is None:
            return
        sig = s.recipe.signing
        sign = ("default (unsigned if the repository changes)" if sig is None else
                "unsigned" if sig.mode == "unsigned" else f"GPG key {sig.key}")
        p = s.recipe.packages
        flags = [n for n, on in (("downgrades allowed", p.downgrade),
                                 ("auto-require", p.auto_require), ("force", p.force)) if on]
        t = Text("signing: ", style="bold")
        t.append_text(fmt.plain(sign))
        if flags:
            t.append("  · " + ", ".join(flags), style="yellow")
        t.append(f"  · sort: {SORTS[self._sort]}", style="dim")
        if self._rows:
            n = pr.totals(self._rows)
            t.append("\nPackages/: ", style="bold")
            t.append(f"{n.before_count} RPMs, {fmt.size(n.before_bytes)}")
            if (n.added_bytes, n.removed_bytes) != (0, 0):
                t.append(f" → {n.after_count} RPMs, {fmt.size(n.after_bytes)}")
                delta = [f"+{fmt.size(n.added_bytes)} added"] * bool(n.added_bytes) + \
                    [f"-{fmt.size(n.removed_bytes)} removed"] * bool(n.removed_bytes)
                t.append(f" ({', '.join(delta)})", style="yellow")
        self.query_one("#pk-options", Static).update(t)

    # -- dependency check ------------------------------------------------------------
    def _repo_text(self) -> str:
        s = self.session
        if s is None:
            return ""
        r = recipe_mod.Recipe(packages=s.recipe.packages, deps=s.recipe.deps,
                              signing=s.recipe.signing)
        return recipe_mod.dumps(r)

    def _schedule_check(self) -> None:
        if self._repo_text() == self._checked_text:
            return
        if self._report is not None:
            self._report = None
            self.query_one("#pk-check", Static).update(Text("checking…", style="italic dim"))
        if self._check_timer is not None:
            self._check_timer.stop()
        self._check_timer = self.set_timer(0.4, self.action_check)

    def action_check(self) -> None:
        s = self.session
        if s is None or not s.iso.is_dir("/Packages"):
            return
        self._checked_text = self._repo_text()
        self._report = None  # the last report is of another recipe
        self.query_one("#pk-check", Static).update(Text("checking…", style="italic dim"))
        self._check(ops.clone(s.recipe))

    @work(thread=True, exclusive=True, group="pk-check", exit_on_error=False,
          description="Dependency check")
    def _check(self, rec: recipe_mod.Recipe) -> CheckReport:
        s = self.session
        assert s is not None
        return check_packages(s.iso, rec, posting_progress(self, "job"),
                        get_current_worker().cancelled_event)

    def _show_report(self, rep: CheckReport) -> None:
        self._report = rep
        self._render_tables()  # rows marked rebuilt / not installed from this report
        self.query_one("#pk-check", Static).update(pc.check_text(rep, self._fixable()))

    def _fixable(self) -> list[str]:
        """Packages added by the recipe that the installer would not install."""
        if self._report is None:
            return []
        names = [pr.not_installed_name(x) for x in self._report.not_installed]
        added = {r.name for r in self._rows if r.key.startswith("add:")}
        return [n for n in names if n in added]

    # -- actions -----------------------------------------------------------------------
    def _selected_row(self) -> pr.PackageRow | None:
        table = self.query_one("#pk-table", DataTable)
        shown = self._shown
        if not shown or table.cursor_row < 0 or table.cursor_row >= len(shown):
            return None
        return shown[table.cursor_row]

    def action_add_package(self) -> None:
        if self.session is None:
            return

        def chosen(path: Path | None) -> None:
            s = self.session
            if path is not None and s is not None:
                try:  # refused when chosen: never listed as "? ? 0 B added"
                    readers.rpm_info_host(s, path)
                except XcptuiError as e:
                    self.app.push_screen(ErrorDialog(str(e), "Not added"))
                    return
                ops.add_package(s.recipe, path)
                self.notify(f"{path.name} will be added to Packages/")
                self.changed()

        self.app.push_screen(FileOpen(Path.cwd(), "RPM to add or replace in Packages/",
                                      filters=RPM_FILTERS), chosen)

    @guarded("Remove")
    def action_remove(self) -> None:
        s = self.session
        if s is None:
            return
        deps = self.query_one("#pk-deps", DataTable)
        if deps.has_focus:
            if 0 <= deps.cursor_row < len(self._deps):
                d = self._deps[deps.cursor_row]
                if d.status == pr.ADDED or d.status == pr.REPLACED:
                    ops.unrequire(s.recipe, d.name)
                else:
                    ops.toggle_drop(s.recipe, d.name)
                self.changed()
            return
        row = self._selected_row()
        if row is None:
            return
        if row.source is not None:
            ops.unadd_package(s.recipe, row.source)
            self.notify(f"{row.source.name} will not be added")
        else:
            specs = [x for x in s.recipe.packages.remove if x in pr.spec_forms(row.info)]
            if specs:
                for x in specs:
                    s.recipe.packages.remove.remove(x)
                self.notify(f"{row.name} stays")
            else:
                ops.toggle_package_remove(s.recipe, row.spec)
                self.notify(f"{row.name} will be removed from Packages/")
        self.changed()

    @guarded("Fix")
    def action_fix(self) -> None:
        s = self.session
        if s is None:
            return
        row = self._selected_row()
        names = self._fixable()
        skipped = [] if self._report is None else [
            pr.not_installed_name(x) for x in self._report.skipped
            if " would NOT be installed" in x]
        # the selected row when it is skipped; an original one only when no added one is
        if row is not None and row.name in skipped and (row.name in names or not names):
            names = [row.name]
        if not names:
            self.notify("Nothing to fix: every added package would be installed.")
            return
        for n in names:
            ops.require(s.recipe, n)
        self.notify(f"xcp-ng-deps now requires {', '.join(names)}")
        self.changed()

    def action_require(self) -> None:
        row = self._selected_row()
        value = row.name if row is not None else ""

        def answer(text: str | None) -> None:
            s = self.session
            if text and s is not None:
                ops.require(s.recipe, text)
                self.changed()

        self.app.push_screen(InputDialog(
            "Require from xcp-ng-deps", "Requirement ('name' or 'name >= version'):", value,
            validators=[Function(_valid_requirement, "not 'name' or 'name OP version'")]),
            answer)

    def action_options(self) -> None:
        s = self.session
        if s is None:
            return
        signing = (s.facts.repo or {}).get("signing", "unknown")

        def answer(o: RepoOptions | None) -> None:
            if o is None or self.session is None:
                return
            rec = self.session.recipe
            ops.set_signing(rec, o.signing, o.key)
            rec.packages.downgrade = o.downgrade
            rec.packages.auto_require = o.auto_require
            rec.packages.force = o.force
            self.changed()

        self.app.push_screen(RepoOptionsDialog(s.recipe, signing), answer)

    def action_requires_diff(self) -> None:
        if self.session is None:
            return
        rep = self._report
        self.app.push_screen(RequiresScreen(rep.meta if rep is not None else None,
                                            checking=rep is None))

    def action_sort(self) -> None:
        self._sort = (self._sort + 1) % len(SORTS)
        self._render_tables()

    def action_filter(self) -> None:
        self.query_one("#pk-filter", Input).focus()

    @on(Input.Changed, "#pk-filter")
    def _filter_changed(self) -> None:
        self._render_tables()

    @on(Input.Submitted, "#pk-filter")
    def _filter_done(self) -> None:
        self.query_one("#pk-table").focus()

    @on(DataTable.HeaderSelected, "#pk-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key in SORTS:
            self._sort = SORTS.index(key)
            self._render_tables()

    # -- worker results ----------------------------------------------------------------
    @on(JobProgress)
    def _progress(self, event: JobProgress) -> None:
        self.job_progress(event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        w = event.worker
        if event.state == WorkerState.ERROR and w.group == "pk-check":
            self.query_one("#pk-check", Static).update(
                fmt.plain(f"check failed: {w.error}", style="bold red"))
            if isinstance(w.error, XcptuiError):
                self.job_finished(event.worker)
                event.prevent_default()  # shown inline; no dialog while typing
        if event.state != WorkerState.SUCCESS:
            return
        if w.group == "pk-load":
            originals, added = cast(tuple[list[Any], list[tuple[Path, Any]]], w.result)
            self._loaded(originals, added)
        elif w.group == "pk-check":
            self._show_report(cast(CheckReport, w.result))
