"""The verify check registry: ids/titles declared once, cheap flags, only=, findings."""

from __future__ import annotations

import importlib
import inspect
import shutil
from pathlib import Path

import pytest

from xcptui.engine.errors import InputError
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.verify import checks, registry

ORDER = ["eltorito-bios", "eltorito-uefi", "hybrid-mbr", "gpt", "boot-configs", "boot-files",
         "install-img", "repodata", "deps", "treeinfo", "signature"]
EXPENSIVE = {"install-img", "repodata", "deps"}


def test_every_check_registered_once_in_report_order() -> None:
    specs = registry.specs()
    assert [s.id for s in specs] == ORDER
    assert len({s.title for s in specs}) == len(specs)
    assert all(s.title for s in specs)
    registered = {s.run for s in specs}
    for fam in registry.FAMILIES:  # every check_* function of a family is in the registry
        mod = importlib.import_module(f"xcptui.engine.verify.{fam}")
        fns = {f for n, f in inspect.getmembers(mod, inspect.isfunction)
               if n.startswith("check_") and f.__module__ == mod.__name__}
        assert fns <= registered, fam


def test_cheap_flags() -> None:
    assert set(checks.cheap_ids()) == set(ORDER) - EXPENSIVE
    assert checks.all_ids() == ORDER


def test_registering_a_duplicate_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        registry.check("gpt", "Another GPT", cheap=True)(lambda ctx: None)  # type: ignore
    with pytest.raises(ValueError, match="twice"):
        registry.check("new-id", "GPT", cheap=True)(lambda ctx: None)  # type: ignore


def test_only_runs_just_those(demo_iso: Path) -> None:
    rep = checks.verify(demo_iso, only=checks.cheap_ids())
    assert [c.id for c in rep.checks] == [i for i in ORDER if i not in EXPENSIVE]
    assert rep.ok, "\n".join(rep.lines())
    assert all(c.findings == [] for c in rep.checks)
    rep = checks.verify(demo_iso, only={"signature"})  # reads repomd itself
    assert [c.id for c in rep.checks] == ["signature"] and rep.ok
    assert checks.verify(demo_iso, only=[]).checks == []


def test_only_unknown_id_is_an_input_error(demo_iso: Path) -> None:
    with pytest.raises(InputError, match="unknown check id nope"):
        checks.verify(demo_iso, only=["gpt", "nope"])


def _patch_file(iso: Path, path: str, old: bytes, new: bytes) -> None:
    with IsoSource.open(iso) as src:
        off, size = src.extent(path)
    with open(iso, "r+b") as f:
        f.seek(off)
        data = f.read(size)
        changed = data.replace(old, new)
        assert len(changed) == len(data) and changed != data
        f.seek(off)
        f.write(changed)


def test_findings_of_a_failing_check(demo_iso: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.iso"
    shutil.copyfile(demo_iso, bad)
    for path in ("/boot/isolinux/isolinux.cfg", "/EFI/xenserver/grub.cfg"):
        _patch_file(bad, path, b"/boot/alt/vmlinuz", b"/boot/alt/vmlinux")
    with open(bad, "r+b") as f:  # and no MBR
        f.write(b"\0" * 512)
    rep = checks.verify(bad, only=checks.cheap_ids())
    files = rep.get("boot-files")
    assert files is not None and files.status == "fail"
    assert files.findings and files.findings[0] == files.evidence
    assert all("/boot/alt/vmlinux" in f and "is not on the ISO" in f for f in files.findings)
    assert any("(named by boot/isolinux/isolinux.cfg '" in f for f in files.findings)
    mbr = rep.get("hybrid-mbr")
    assert mbr is not None and mbr.findings == [mbr.evidence] and mbr.details == []
    ok = rep.get("gpt")
    assert ok is not None and ok.findings == []
    j = rep.to_json()["checks"]
    assert next(c for c in j if c["id"] == "boot-files")["findings"] == files.findings
    text = "\n".join(rep.lines())
    assert "FAIL  Files named by boot entries" in text
