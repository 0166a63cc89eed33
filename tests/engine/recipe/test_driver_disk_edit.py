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


def test_pending_names_the_trees_of_a_driver_in_several() -> None:
    rec = r.Recipe()
    edits.put_driver(rec, r.Driver(Path("/x/igb.ko"), kernels=["all"], force=True))
    (c,) = pending.changes(rec, lambda p: None, lambda p: None, ["4.19.0+1", "4.19.322+1"])
    assert c.text == "driver igb.ko → updates/ of kernel trees all, vermagic check skipped"
    c.undo(rec)
    assert rec.installer.drivers == []
