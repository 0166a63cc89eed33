"""Adding a driver disk ([[drivers.disk]]: a driver-disk ISO or a driver RPM): the
engine's plan for it (its expansion plus the install.img plan), then a yes/no."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xcptui.engine import XcptuiError, expand_driver_disks, plan_image, printable
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.dialogs.common import ChoiceDialog
from xcptui.tui.dialogs.files import Filters

DISK_FILTERS = Filters(("*.iso, *.rpm", lambda p: p.suffix in (".iso", ".rpm")),
                       ("all", lambda p: True))
SHOWN = 8  # plan lines in the dialog (it does not scroll: the buttons must fit at 80x24)
SHOWN_WARNINGS = 4


@dataclass
class DiskAnalysis:
    source: Path
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # the engine's refusal without force
    forced_ok: bool = False  # force turns the refusal into warnings


def _plan(img: Any, disk: recipe_mod.DriverDisk, progress: Any,
          cancel: threading.Event | None) -> tuple[list[str], list[str]]:
    rec = recipe_mod.Recipe()
    rec.drivers.disk = [disk]
    with tempfile.TemporaryDirectory(prefix="xcptui-disk-") as work:
        exp = expand_driver_disks(rec, Path(work), cancel)
        changes, warnings = list(exp.changes), list(exp.warnings)
        if exp.edits:
            plan = plan_image(img, exp.edits, progress=progress, cancel=cancel)
            changes += [f"install.img: {c}" for c in plan.changes]
            warnings += list(plan.warnings)
    return changes, warnings


def analyse(img: Any, source: Path, progress: Any,
            cancel: threading.Event | None) -> DiskAnalysis:
    """The engine's plan for the disk as the recipe would have it (default trees)."""
    a = DiskAnalysis(source)
    try:
        a.changes, a.warnings = _plan(img, recipe_mod.DriverDisk(source), progress, cancel)
        return a
    except XcptuiError as e:
        a.error = str(e)
    try:
        a.changes, a.warnings = _plan(img, recipe_mod.DriverDisk(source, force=True),
                                      progress, cancel)
        a.forced_ok = True
    except XcptuiError:
        pass  # not a driver disk at all: force does not help
    return a


def confirm(a: DiskAnalysis) -> ChoiceDialog:
    """Add / (Add with force) / Cancel, with the plan; untrusted lines made printable."""
    lines = []
    if a.error:
        lines += [f"✗ {printable(a.error)}", ""]
    lines += [f"• {printable(c)}" for c in a.changes[:SHOWN]]
    if len(a.changes) > SHOWN:
        lines.append(f"… {len(a.changes) - SHOWN} more")
    lines += [f"! {printable(w)}" for w in a.warnings[:SHOWN_WARNINGS]]
    if len(a.warnings) > SHOWN_WARNINGS:
        lines.append(f"… {len(a.warnings) - SHOWN_WARNINGS} more warnings")
    if len(a.changes) > SHOWN or len(a.warnings) > SHOWN_WARNINGS:
        lines.append("(Review lists the whole plan)")
    if a.error is None:
        choices = [("add", "Add driver disk", "primary"), ("cancel", "Cancel", "default")]
    elif a.forced_ok:
        choices = [("force", "Add with force", "warning"), ("cancel", "Cancel", "default")]
    else:
        choices = [("cancel", "Cancel", "default")]
    return ChoiceDialog(f"Add the driver disk {a.source.name}?", "\n".join(lines), choices)
