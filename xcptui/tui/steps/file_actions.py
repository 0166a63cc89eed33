"""Add / replace / remove / edit / extract on a tree selection (Browse and Installer)."""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import SuspendNotSupported
from textual.binding import Binding
from textual.message import Message
from textual.validation import Function
from textual.worker import get_current_worker

from xcptui.engine import Progress, extract_image
from xcptui.engine import recipe as recipe_mod
from xcptui.engine.recipe import edits as ops
from xcptui.tui.dialogs.common import InputDialog
from xcptui.tui.dialogs.files import FileOpen
from xcptui.tui.jobs import readers
from xcptui.tui.jobs.guard import guarded
from xcptui.tui.jobs.progress import posting_progress
from xcptui.tui.messages import ShowError
from xcptui.tui.state import statedir
from xcptui.tui.steps.base import Step
from xcptui.tui.widgets import browse_model as bm
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets.iso_tree import IsoTree

if TYPE_CHECKING:
    from xcptui.tui.state.session import Session

REPO_PATHS = ("/Packages", "/repodata")


def _abs_path_ok(value: str) -> bool:
    return value.startswith("/") and ".." not in value.split("/") and value.strip("/") != ""


def editor_command() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)


class EditReady(Message):
    """The content of a file to edit was read (in a worker)."""

    def __init__(self, info: bm.NodeInfo, data: bytes) -> None:
        super().__init__()
        self.info = info
        self.data = data


class FileActions(Step):
    """A Step with an IsoTree (``self.iso_tree``) and the file actions on its selection."""

    BINDINGS = [Binding("z,f3", "pager", "View", key_display="z", id="tree.pager")]

    @property
    def iso_tree(self) -> IsoTree:
        return self.query_one(IsoTree)

    def action_pager(self) -> None:
        """The selected file full screen (dialogs/pager.py)."""
        from xcptui.tui.dialogs import pager

        s, info = self.session, self.iso_tree.selected_info()
        if s is not None and info is not None and not pager.open_pager(self.app, s, info):
            self.notify("Select a file of the ISO or of install.img to view it.",
                        severity="warning")

    def _selected(self, what: str) -> bm.NodeInfo | None:
        info = self.iso_tree.selected_info()
        if info is None or self.session is None:
            self.notify(f"Select something to {what} first.", severity="warning")
            return None
        return info

    # -- remove ----------------------------------------------------------------------
    @guarded("Remove")
    def action_remove(self) -> None:
        info = self._selected("remove")
        s = self.session
        if info is None or s is None:
            return
        if info.area == bm.RPM:
            self.notify("That is inside an RPM; remove packages on the Packages step (4).",
                        severity="warning")
            return
        if info.path == "/" or info.is_image:
            self.notify("The root and install.img itself cannot be removed.", severity="warning")
            return
        if info.area == bm.ISO and any(info.path == p or info.path.startswith(p + "/")
                                       for p in REPO_PATHS):
            self.notify("Packages/ and repodata/ change through the Packages step (4), so the "
                        "repository metadata stays right.", severity="warning")
            return
        if info.area == bm.ISO:
            on = ops.toggle_iso_remove(s.recipe, info.path)
        else:
            on = ops.toggle_installer_remove(s.recipe, info.path)
        self.notify(f"{'Will remove' if on else 'Undone:'} {info.path}")
        self.changed()

    # -- add / replace -----------------------------------------------------------------
    def action_add_file(self) -> None:
        info = self._selected("add a file next to")
        if info is None:
            return
        if info.area == bm.RPM:
            self.notify("Files cannot be added inside an RPM.", severity="warning")
            return
        if info.area == bm.ISO and info.path.startswith(REPO_PATHS):
            self.notify("Add packages on the Packages step (4).", severity="warning")
            return
        replacing = not (info.is_dir or info.is_image)
        area = bm.IMG if info.is_image else info.area
        folder = "/" if info.is_image else (
            info.path if info.is_dir else info.path.rsplit("/", 1)[0] or "/")

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            dest = info.path if replacing else ops.iso_dest_under(folder, path.name)
            where = "in install.img" if area == bm.IMG else "on the ISO"
            self.app.push_screen(
                InputDialog("Destination", f"Put {path.name} at this path {where}:", dest,
                            validators=[Function(_abs_path_ok,
                                                 "must be an absolute path without '..'")]),
                lambda dest: self._put_file(area, path, dest))

        self.app.push_screen(FileOpen(Path.cwd(), "Add or replace a file"), chosen)

    @guarded("Add a file")
    def _put_file(self, area: str, source: Path, dest: str | None) -> None:
        s = self.session
        if dest is None or s is None:
            return
        if area == bm.IMG:
            ops.put_installer_file(s.recipe, recipe_mod.InstallerFile(source, dest))
        else:
            ops.put_iso_file(s.recipe, dest, source)
        self.notify(f"Will write {dest} from {source.name}")
        self.changed()

    # -- edit in $EDITOR ---------------------------------------------------------------
    @guarded("Edit")
    def action_edit(self) -> None:
        info = self._selected("edit")
        if info is None:
            return
        if info.area == bm.RPM or info.is_dir or info.is_image or info.kind != "file":
            self.notify("Select a regular file of the ISO or install.img to edit.",
                        severity="warning")
            return
        existing = self._pending_source(info)
        if existing is not None:
            self._edit(info, existing.read_bytes())
        elif info.virtual:
            self.notify("That file is a pending addition with no source to edit.",
                        severity="warning")
        else:
            self._read_for_edit(info)

    def _pending_source(self, info: bm.NodeInfo) -> Path | None:
        s = self.session
        if s is None:
            return None
        items: list[Any] = s.recipe.iso.files if info.area == bm.ISO else s.recipe.installer.files
        for f in items:
            if f.dest == info.path and Path(f.source).is_file():
                return Path(f.source)
        return None

    @work(thread=True, exclusive=True, group="edit-read", exit_on_error=False,
          description="Read the file to edit")
    def _read_for_edit(self, info: bm.NodeInfo) -> None:
        s = self.session
        assert s is not None
        if info.area == bm.ISO:
            data = readers.read_for_edit_iso(s, info.path)
        else:
            data = readers.read_for_edit_img(s, info.path)
        self.post_message(EditReady(info, data))

    def on_edit_ready(self, event: EditReady) -> None:
        event.stop()
        self._edit(event.info, event.data)

    @guarded("Edit")
    def _edit(self, info: bm.NodeInfo, data: bytes) -> None:
        s = self.session
        if s is None:
            return
        area = "iso" if info.area == bm.ISO else "installer"
        copy = statedir.edit_copy_path(s.source, area, info.path)
        copy.parent.mkdir(parents=True, exist_ok=True)
        if not (copy.exists() and copy.read_bytes() == data):
            copy.write_bytes(data)
        before = copy.read_bytes()
        cmd = [*editor_command(), str(copy)]
        try:
            try:
                with self.app.suspend():
                    subprocess.run(cmd, check=False)
            except SuspendNotSupported:  # headless (tests): the editor needs no terminal
                subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL,
                               capture_output=True)
        except OSError as e:
            self.post_message(ShowError(f"{cmd[0]}: cannot run the editor "
                                        f"({e.strerror or e}); set $EDITOR", "Edit"))
            return
        self.app.refresh()
        after = copy.read_bytes()
        if after == before:
            self.notify(f"{info.path}: not changed")
            if self._pending_source(info) != copy:
                copy.unlink(missing_ok=True)
            return
        if info.area == bm.ISO:
            ops.put_iso_file(s.recipe, info.path, copy)
        else:
            ops.put_installer_file(s.recipe, recipe_mod.InstallerFile(copy, info.path))
        self.notify(f"{info.path}: edited copy kept in {copy.parent}; it is in the recipe now")
        self.changed()

    # -- extract -----------------------------------------------------------------------
    def action_extract(self) -> None:
        info = self._selected("extract")
        if info is None:
            return
        if info.area == bm.RPM or info.virtual:
            self.notify("Select a file or folder of the ISO or install.img (an RPM itself "
                        "can be extracted).", severity="warning")
            return

        def chosen(text: str | None) -> None:
            if text:
                self._extract(info, Path(text).expanduser())

        # a typed destination (Enter confirms); created when missing
        self.app.push_screen(InputDialog(
            "Extract", f"Copy {info.path} into this folder (created if missing):",
            str(Path.cwd() / "extracted"),
            validators=[Function(lambda v: bool(v.strip()), "type a folder")]), chosen)

    @work(thread=True, exclusive=True, group="extract", exit_on_error=False,
          description="Extract")
    def _extract(self, info: bm.NodeInfo, dest: Path) -> None:
        s = self.session
        assert s is not None
        cancel = get_current_worker().cancelled_event
        progress = posting_progress(self, "job")
        dest.mkdir(parents=True, exist_ok=True)
        if info.area == bm.ISO:
            written = s.iso.extract(info.path, dest, progress, cancel)
        else:
            written = extract_from_image(s, info.path, dest, progress, cancel)
        files = [p for p in written if p.is_file() and not p.is_symlink()]
        total = sum(p.stat().st_size for p in files)
        self.app.notify(f"extracted {len(files)} file{'s' if len(files) != 1 else ''} "
                        f"({fmt.size(total)}) to {dest}")


def extract_from_image(s: Session, path: str, dest: Path, progress: Progress,
                       cancel: threading.Event | None) -> list[Path]:
    """Copy an install.img file or subtree to ``dest``; the paths written."""
    img = s.image()
    return list(extract_image(img, path.strip("/"), dest, progress=progress, cancel=cancel))
