"""Recipe ``kernels`` on [[installer.drivers]]: parsed, saved, built into each tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import iso_member
from tests.installimg_util import ALT_KVER, MAIN_KVER
from xcptui.demoiso.kmods import KoSpec, build_ko
from xcptui.engine.build.runner import build
from xcptui.engine.errors import RecipeError
from xcptui.engine.recipe import dumps, loads


def _ko(tmp: Path, kver: str) -> Path:
    return build_ko(KoSpec("igc", "unused", "7.7.7",
                           aliases=["pci:v00008086d0000ABCDsv*sd*bc*sc*i*"]), kver,
                    tmp / kver / "igc.ko")


def test_kernels_parse_save_and_refuse_both(tmp_path: Path) -> None:
    (tmp_path / "a.ko").write_bytes(b"x")
    r = loads('[[installer.drivers]]\nsource = "a.ko"\nkernels = ["main", "alt"]\n'
              '[[installer.drivers]]\nsource = "a.ko"\nkernels = "all"\n', tmp_path)
    assert [d.kernels for d in r.installer.drivers] == [["main", "alt"], ["all"]]
    again = loads(dumps(r, tmp_path), tmp_path)
    assert [d.kernels for d in again.installer.drivers] == [["main", "alt"], ["all"]]
    with pytest.raises(RecipeError, match="kernel or kernels, not both"):
        loads('[[installer.drivers]]\nsource = "a.ko"\nkernel = "4.19.0+1"\n'
              'kernels = ["alt"]\n', tmp_path)
    for bad in ('"some"', "[]", "3", '[""]'):
        with pytest.raises(RecipeError, match="kernels"):
            loads(f'[[installer.drivers]]\nsource = "a.ko"\nkernels = {bad}\n', tmp_path)


def test_build_puts_each_driver_into_its_tree(demo_iso: Path, tmp_path: Path) -> None:
    main, alt = _ko(tmp_path, MAIN_KVER), _ko(tmp_path, ALT_KVER)
    r = loads(f'[[installer.drivers]]\nsource = "{main}"\nkernels = ["main"]\n'
              f'[[installer.drivers]]\nsource = "{alt}"\nkernels = ["alt"]\n', tmp_path)
    out = tmp_path / "out.iso"
    res = build(demo_iso, r, out, verify=False)
    assert any(f"-> kernel {ALT_KVER} (alt)" in c for c in res.changes)
    img = iso_member(out, "install.img")
    for kver in (MAIN_KVER, ALT_KVER):
        dep = subprocess.run(["bsdtar", "-xOf", "-", f"usr/lib/modules/{kver}/modules.dep"],
                             input=img, capture_output=True, check=True).stdout.decode()
        assert "updates/igc.ko:" in dep
