"""Step 3: changes inside install.img: drivers, driver disks, RPM payloads, files,
$EDITOR edits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Static, Tree
from textual.worker import Worker, WorkerState, get_current_worker

from xcptui.engine import AddRpmPayload, XcptuiError, plan_image, printable
from xcptui.engine import recipe as recipe_mod
from xcptui.engine.recipe import edits as ops
from xcptui.tui.dialogs import driver as driver_dialog
from xcptui.tui.dialogs import driver_disk
from xcptui.tui.dialogs.common import ChoiceDialog
from xcptui.tui.dialogs.driver import DriverAnalysis, DriverDialog
from xcptui.tui.dialogs.files import FileOpen, Filters
from xcptui.tui.jobs import readers
from xcptui.tui.jobs.guard import guarded
from xcptui.tui.jobs.progress import posting_progress
from xcptui.tui.messages import JobProgress
from xcptui.tui.state.session import Session
from xcptui.tui.steps.file_actions import FileActions
from xcptui.tui.widgets import fmt, preview
from xcptui.tui.widgets.change_table import ChangeTable
from xcptui.tui.widgets.iso_tree import IsoTree, legend
from xcptui.tui.widgets.job_status import JobStatus

KO_FILTERS = Filters(("*.ko", lambda p: ".ko" in p.name),
                     ("all", lambda p: True))
RPM_FILTERS = Filters(("*.rpm", lambda p: p.suffix == ".rpm"),
                      ("all", lambda p: True))


def analyse_driver(s: Session, source: Path, progress: Any,
                   cancel: threading.Event | None) -> DriverAnalysis:
    """modinfo of a host .ko plus the engine's verdict and plan for each kernel tree."""
    if source.stat().st_size > readers.MODINFO_MAX:
        raise XcptuiError(f"{source}: too big for a kernel module")
    mi = readers.modinfo(source.read_bytes(), source.name)
    return driver_dialog.analyse(s.image(progress, cancel), source, mi, progress, cancel)


def analyse_rpm(s: Session, source: Path, progress: Any,
                cancel: threading.Event | None) -> tuple[Any, list[str], list[str]]:
    info = readers.rpm_info_host(s, source)
    img = s.image(progress, cancel)
    plan = plan_image(img, [AddRpmPayload(source)], progress=progress, cancel=cancel)
    return info, list(plan.changes), list(plan.warnings)


class InstallerStep(FileActions):
    KEY = "installer"
    TITLE = "Installer image"
    INTRO = "drivers, RPM payloads and files inside install.img"

    BINDINGS = [
        Binding("d", "add_driver", "Driver", id="installer.add-driver"),
        Binding("p", "add_rpm", "RPM payload", id="installer.add-rpm"),
        Binding("k", "add_driver_disk", "Driver disk", id="installer.add-driver-disk"),
        Binding("a", "add_file", "Add file", id="installer.add-file"),
        Binding("e", "edit", "Edit", id="installer.edit"),
        Binding("delete", "remove", "Remove", key_display="del", id="installer.remove"),
        Binding("x", "extract", "Extract", show=False, id="installer.extract"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("", id="installer-info", classes="info-line")
        with Horizontal(id="installer-split", classes="split"):
            with Vertical(classes="split-main"):
                yield IsoTree("img", id="installer-tree")
                yield Static(legend(), classes="legend")
            with Vertical(classes="split-side"):
                yield Label("Pending install.img changes  (Delete undoes)",
                            classes="pane-title")
                yield ChangeTable(show_area=False, id="installer-changes")
                yield Static("", id="installer-preview", classes="preview mini-preview")
        yield JobStatus(id="installer-job")

    def shown(self) -> None:
        s = self.session
        if s is not None and s.has_image and not self.iso_tree.root.children:
            self.iso_tree.load()
        self.iso_tree.focus()

    def session_changed(self) -> None:
        s = self.session
        if s is None:
            return
        if not s.has_image:
            self.query_one("#installer-info", Static).update(
                Text("This ISO has no /install.img.", style="yellow"))
            return
        self._info()
        self.iso_tree.clear()  # listed when the step is first shown
        self.recipe_changed()

    def _info(self) -> None:
        s = self.session
        if s is None:
            return
        ii = s.facts.install_img or {}
        kernels = s.kernels()
        t = Text("install.img  ", style="bold")
        if "compression" in ii:
            t.append(f"{ii['compression']}, {ii['segments']} segment(s), "
                     f"{fmt.size(ii['size'])}  ")
        for i, k in enumerate(kernels):  # kernel versions: folder names in the image
            t.append(("kernels: " if i == 0 else ", ") + printable(k))
            t.append(" (main)" if i == 0 else " (alt)", style="dim")
        self.query_one("#installer-info", Static).update(t)

    def recipe_changed(self) -> None:
        s = self.session
        if s is None:
            return
        table = self.query_one(ChangeTable)
        table.show([c for c in s.changes() if c.step == "installer"])
        self.iso_tree.set_marks(s.iso_marks(), s.image_marks())

    # -- remove: on the changes table it means "undo" --------------------------------
    @guarded("Remove")
    def action_remove(self) -> None:
        table = self.query_one(ChangeTable)
        s = self.session
        if table.has_focus and s is not None:
            change = table.selected_change()
            if change is not None:
                change.undo(s.recipe)
                self.notify(f"Undone: {change.text}")
                self.changed()
            return
        super().action_remove()

    def _pick_then(self, title: str, filters: Any, analyse: Callable[[Path], object]) -> None:
        """Ask for a host file, then analyse it in a worker (install.img must exist)."""
        if self.session is None or not self.session.has_image:
            self.notify("This ISO has no install.img.", severity="warning")
            return

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.query_one(JobStatus).start(f"reading {path.name}…")
                analyse(path)

        self.app.push_screen(FileOpen(Path.cwd(), title, filters=filters), chosen)

    # -- drivers ---------------------------------------------------------------------
    def action_add_driver(self) -> None:
        self._pick_then("Driver (.ko) to add or swap", KO_FILTERS, self._analyse_driver)

    @work(thread=True, exclusive=True, group="analyse", exit_on_error=False,
          description="Driver")
    def _analyse_driver(self, source: Path) -> DriverAnalysis:
        s = self.session
        assert s is not None
        return analyse_driver(s, source, posting_progress(self, "job"),
                              get_current_worker().cancelled_event)

    @guarded("Driver")
    def _driver_chosen(self, driver: Any) -> None:
        s = self.session
        if driver is None or s is None:
            return
        ops.put_driver(s.recipe, driver)
        self.notify(f"Driver {driver.source.name} added to the recipe")
        self.changed()

    # -- driver disks ([[drivers.disk]]) -------------------------------------------------
    def action_add_driver_disk(self) -> None:
        self._pick_then("Driver disk (ISO) or driver RPM", driver_disk.DISK_FILTERS,
                        self._analyse_disk)

    @work(thread=True, exclusive=True, group="analyse", exit_on_error=False,
          description="Driver disk")
    def _analyse_disk(self, source: Path) -> driver_disk.DiskAnalysis:
        s = self.session
        assert s is not None
        progress = posting_progress(self, "job")
        cancel = get_current_worker().cancelled_event
        return driver_disk.analyse(s.image(progress, cancel), source, progress, cancel)

    def _confirm_disk(self, a: driver_disk.DiskAnalysis) -> None:
        def answer(choice: str | None) -> None:
            s = self.session
            if choice in ("add", "force") and s is not None:
                ops.add_driver_disk(s.recipe, recipe_mod.DriverDisk(a.source,
                                                                    force=choice == "force"))
                self.notify(f"Driver disk {a.source.name} added to the recipe")
                self.changed()

        self.app.push_screen(driver_disk.confirm(a), answer)

    # -- RPM payloads ------------------------------------------------------------------
    def action_add_rpm(self) -> None:
        self._pick_then("RPM whose files go into install.img", RPM_FILTERS, self._analyse_rpm)

    @work(thread=True, exclusive=True, group="analyse", exit_on_error=False,
          description="RPM payload")
    def _analyse_rpm(self, source: Path) -> tuple[Path, Any, list[str], list[str]]:
        s = self.session
        assert s is not None
        info, changes, warnings = analyse_rpm(s, source, posting_progress(self, "job"),
                                              get_current_worker().cancelled_event)
        return source, info, changes, warnings

    def _confirm_rpm(self, source: Path, info: Any, changes: list[str],
                     warnings: list[str]) -> None:
        # RPM tags and paths escaped one by one: a newline in a Summary forges no line
        lines = [printable(f"{info.nevra}: {info.summary}"), f"{len(info.files)} files", ""]
        lines += [f"• {printable(c)}" for c in changes[:20]]
        if len(changes) > 20:
            lines.append(f"… {len(changes) - 20} more")
        lines += [f"! {printable(w)}" for w in warnings]
        lines += ["", "Scriptlets do not run and the image's rpmdb is not updated."]

        def answer(choice: str | None) -> None:
            s = self.session
            if choice == "yes" and s is not None:
                ops.add_installer_rpm(s.recipe, source)
                self.notify(f"Payload of {source.name} added to the recipe")
                self.changed()

        self.app.push_screen(ChoiceDialog(f"Add the payload of {source.name}?",
                                          "\n".join(lines),
                                          [("yes", "Add payload", "primary"),
                                           ("cancel", "Cancel", "default")]), answer)

    # -- preview of the selection --------------------------------------------------------
    @on(Tree.NodeHighlighted, "#installer-tree")
    def _highlighted(self, event: Tree.NodeHighlighted[Any]) -> None:
        info = event.node.data
        if info is not None and self.session is not None and info.kind == "file":
            self._preview(info)
        else:
            self.query_one("#installer-preview", Static).update("")

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False,
          description="Preview")
    def _preview(self, info: Any) -> RenderableType:
        s = self.session
        assert s is not None
        return preview.build(s, info)

    # -- worker results ----------------------------------------------------------------
    @on(JobProgress)
    def _progress(self, event: JobProgress) -> None:
        self.job_progress(event)

    def on_iso_tree_work_done(self, event: IsoTree.WorkDone) -> None:
        if event.worker.group == "tree-image" and event.worker.state == WorkerState.SUCCESS:
            self._info()
            self.recipe_changed()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        w = event.worker
        if event.state != WorkerState.SUCCESS:
            return
        if w.group == "analyse" and isinstance(w.result, DriverAnalysis):
            self._info()
            self.app.push_screen(DriverDialog(w.result), self._driver_chosen)
        elif w.group == "analyse" and isinstance(w.result, driver_disk.DiskAnalysis):
            self._confirm_disk(w.result)
        elif w.group == "analyse" and isinstance(w.result, tuple):
            self._confirm_rpm(*w.result)
        elif w.group == "preview" and w.result is not None:
            self.query_one("#installer-preview", Static).update(w.result)
