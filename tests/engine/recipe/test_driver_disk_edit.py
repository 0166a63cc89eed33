"""[[drivers.disk]] as an edit: one entry per source, a pending line, its undo."""

from __future__ import annotations

from pathlib import Path

from xcptui.engine import pending
from xcptui.engine import recipe as r
from xcptui.engine.recipe import edits


def test_add_replaces_same_source_and_undo_takes_it_back(tmp_path: Path) -> None:
    rec = r.Recipe()
    disk = tmp_path / "igc.iso"
    edits.add_driver_disk(rec, r.DriverDisk(disk))
    edits.add_driver_disk(rec, r.DriverDisk(disk, force=True))  # same source: replaced
    edits.add_driver_disk(rec, r.DriverDisk(tmp_path / "ixgbe.rpm", kernels=["all"]))
    assert [(d.source.name, d.force) for d in rec.drivers.disk] == [
        ("igc.iso", True), ("ixgbe.rpm", False)]
    lines = [c for c in pending.changes(rec, lambda p: None, lambda p: None)
             if c.text.startswith("driver disk ")]
    assert [c.step for c in lines] == ["installer", "installer"]
    assert "checks only warn" in lines[0].text and "(all)" in lines[1].text
    lines[0].undo(rec)
    assert [d.source.name for d in rec.drivers.disk] == ["ixgbe.rpm"]
