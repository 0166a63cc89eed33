"""The recipe edit rules: de-duplication, replacement, and undo of one change."""

from __future__ import annotations

from pathlib import Path

import pytest

from xcptui.engine import pending
from xcptui.engine import recipe as r
from xcptui.engine.recipe import edits


def test_put_driver_replaces_same_file_kernel_and_dest() -> None:
    rec = r.Recipe()
    edits.put_driver(rec, r.Driver(Path("/a/igb.ko")))
    edits.put_driver(rec, r.Driver(Path("/b/igb.ko")))  # same name, same (main) kernel
    edits.put_driver(rec, r.Driver(Path("/b/igb.ko"), kernel="4.19.309"))  # kernel-alt
    edits.put_driver(rec, r.Driver(Path("/b/ixgbe.ko")))
    assert [(str(d.source), d.kernel) for d in rec.installer.drivers] == [
        ("/b/igb.ko", None), ("/b/igb.ko", "4.19.309"), ("/b/ixgbe.ko", None)]


def test_put_driver_by_kernel_trees() -> None:
    """A driver for all trees replaces earlier entries of it for any tree; one for some
    trees takes them out of an earlier list and leaves the rest."""
    rec = r.Recipe()
    edits.put_driver(rec, r.Driver(Path("/a/igb.ko"), kernel="4.19.322+1"))  # alt only
    edits.put_driver(rec, r.Driver(Path("/a/igb.ko")))  # main
    edits.put_driver(rec, r.Driver(Path("/b/igb.ko"), kernels=["all"]))
    assert [(str(d.source), d.kernels) for d in rec.installer.drivers] == [
        ("/b/igb.ko", ["all"])]
    rec = r.Recipe()
    edits.put_driver(rec, r.Driver(Path("/a/igb.ko"), kernels=["main", "alt"]))
    edits.put_driver(rec, r.Driver(Path("/b/igb.ko"), kernels=["alt"]))
    assert [(str(d.source), d.kernels) for d in rec.installer.drivers] == [
        ("/a/igb.ko", ["main"]), ("/b/igb.ko", ["alt"])]


def test_undo_driver_takes_back_exactly_that_entry() -> None:
    rec = r.Recipe()
    a, b = r.Driver(Path("/x/igb.ko")), r.Driver(Path("/x/igb.ko"), kernel="alt")
    rec.installer.drivers = [a, b]
    edits.undo_driver(rec, b)
    assert rec.installer.drivers == [a] and rec.installer.drivers[0] is a


def test_require_replaces_a_requirement_on_the_same_name() -> None:
    rec = r.Recipe()
    rec.deps.drop = ["kernel"]
    assert edits.require(rec, "kernel   >= 4.19")
    assert rec.deps.drop == []  # requiring a name cancels its pending drop
    assert not edits.require(rec, "kernel >= 4.19")  # already required
    assert edits.require(rec, "kernel >= 4.20")
    assert edits.require(rec, "mytool")
    assert rec.deps.require == ["kernel >= 4.20", "mytool"]
    edits.unrequire(rec, edits.dep_name("kernel >= 4.20"))
    assert rec.deps.require == ["mytool"]


def test_dep_name() -> None:
    assert edits.dep_name("  kernel >= 4.19 ") == "kernel"
    assert edits.dep_name("   ") == ""


def test_add_and_unadd_package() -> None:
    rec = r.Recipe()
    edits.add_package(rec, Path("/a/mytool-1.0-1.x86_64.rpm"))
    edits.add_package(rec, Path("/b/mytool-1.0-1.x86_64.rpm"))  # same file name: replaced
    assert rec.packages.add == [Path("/b/mytool-1.0-1.x86_64.rpm")]
    edits.unadd_package(rec, Path("/a/mytool-1.0-1.x86_64.rpm"))  # not that one: kept
    assert rec.packages.add == [Path("/b/mytool-1.0-1.x86_64.rpm")]
    edits.unadd_package(rec, Path("/b/mytool-1.0-1.x86_64.rpm"))
    assert rec.packages.add == []


def test_toggle_remove_of_an_added_file_undoes_the_addition() -> None:
    rec = r.Recipe()
    edits.put_iso_file(rec, "EULA", Path("/host/EULA"))
    assert rec.iso.files[0].dest == "/EULA"
    assert edits.toggle_iso_remove(rec, "/EULA") is False
    assert rec.iso.files == [] and rec.iso.remove == []
    assert edits.toggle_iso_remove(rec, "/EULA") is True
    edits.put_iso_file(rec, "/EULA", Path("/host/EULA"))  # putting it back drops the removal
    assert rec.iso.remove == [] and len(rec.iso.files) == 1


def test_set_param_replaces_by_name() -> None:
    rec = r.Recipe()
    edits.set_param(rec, "console=tty0", True)
    edits.set_param(rec, "console=hvc0", True)
    assert rec.boot.append == ["console=hvc0"]
    assert edits.has_param(rec, "console") == "console=hvc0"
    edits.set_param(rec, "console", False)
    assert rec.boot.append == []


def test_undo_rejects_an_unknown_field() -> None:
    with pytest.raises(ValueError):
        edits.undo_identity(r.Recipe(), "path")
    with pytest.raises(ValueError):
        edits.undo_flag(r.Recipe(), "iso")


def _full_recipe() -> r.Recipe:
    rec = r.Recipe()
    edits.put_iso_file(rec, "/EULA", Path("/h/EULA"))
    edits.toggle_iso_remove(rec, "/README")
    edits.put_driver(rec, r.Driver(Path("/h/igb.ko")))
    edits.put_installer_file(rec, r.InstallerFile(Path("/h/x"), "etc/x", mode=0o600))
    edits.toggle_installer_remove(rec, "/etc/motd")
    edits.add_installer_rpm(rec, Path("/h/tool.rpm"))
    edits.add_package(rec, Path("/h/mytool-1.0-1.x86_64.rpm"))
    edits.toggle_package_remove(rec, "oldpkg")
    rec.packages.downgrade = True
    edits.require(rec, "mytool >= 1.0")
    edits.toggle_drop(rec, "legacy")
    edits.set_signing(rec, "unsigned")
    rec.iso.volume_id = "CUSTOM"
    edits.set_param(rec, "atexit=shell", True)
    rec.boot.remove = ["quiet"]
    rec.boot.default, rec.boot.timeout = "install", 5
    return rec


def test_every_change_undoes_to_an_empty_recipe_one_at_a_time() -> None:
    rec = _full_recipe()
    changes = pending.changes(rec, lambda p: None, lambda p: None)
    assert len(changes) == 17
    for c in changes:
        before = r.dumps(rec)
        c.undo(rec)
        assert r.dumps(rec) != before, c.text  # each undo takes back its own line
    assert rec.is_empty()


def test_undo_of_one_change_leaves_the_others() -> None:
    rec = _full_recipe()
    changes = pending.changes(rec, lambda p: None, lambda p: None)
    driver = next(c for c in changes if c.text.startswith("driver igb.ko"))
    driver.undo(rec)
    assert rec.installer.drivers == []
    left = pending.changes(rec, lambda p: None, lambda p: None)
    assert [c.text for c in left] == [c.text for c in changes if c is not driver]
