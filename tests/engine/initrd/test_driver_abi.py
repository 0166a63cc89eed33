"""add_driver refuses a module that would not load: symbol CRCs after vermagic, per tree;
firmware it names must be in lib/firmware; kernels = main/alt/all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installimg_util import ALT_KVER, MAIN_KVER, bsdtar_read, demo_img, put
from xcptui.demoiso.kmods import KoSpec, build_ko, symbol_crc
from xcptui.engine.errors import InputError
from xcptui.engine.initrd import installimg as ii
from xcptui.engine.initrd.modversions import read_versions

KDIR = f"usr/lib/modules/{MAIN_KVER}"
ADIR = f"usr/lib/modules/{ALT_KVER}"


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return put(tmp_path_factory.mktemp("abi"), demo_img())


def ko(tmp: Path, name: str = "igc", kver: str = MAIN_KVER, abi: str | None = None,
       **kw: list[str]) -> Path:
    spec = KoSpec(name, "unused", "9.9.9", aliases=["pci:v00008086d0000ABCDsv*sd*bc*sc*i*"],
                  **kw)  # type: ignore[arg-type]
    return build_ko(spec, kver, tmp / f"{abi or kver}" / f"{name}.ko", abi=abi)


def plan(src: Path, tmp: Path, edits: list[ii.Edit]) -> ii.ImagePlan:
    with ii.InstallImage.open(src, spool=ii.depmod_input, spool_dir=tmp) as img:
        return ii.plan(img, edits)


def test_fixture_trees_disagree_on_module_layout(tmp_path: Path) -> None:
    main = read_versions(ko(tmp_path).read_bytes())
    alt = read_versions(ko(tmp_path, kver=ALT_KVER).read_bytes())
    assert main.imports["module_layout"] == symbol_crc(MAIN_KVER, "module_layout")
    assert main.imports["module_layout"] != alt.imports["module_layout"]


def test_wrong_abi_with_right_vermagic_is_refused(src: Path, tmp_path: Path) -> None:
    wrong = ko(tmp_path, abi=ALT_KVER)  # vermagic 4.19.0+1, CRCs of the other kernel
    with pytest.raises(InputError) as ei:
        plan(src, tmp_path, [ii.AddDriver(wrong)])
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith("igc.ko: built for another kernel")
    assert "disagrees about version of symbol module_layout" in msg
    assert f"0x{symbol_crc(ALT_KVER, 'module_layout'):08x}" in msg and MAIN_KVER in msg
    forced = plan(src, tmp_path, [ii.AddDriver(wrong, force=True)])
    assert any("module_layout" in w and "force = true" in w for w in forced.warnings)


def test_right_abi_passes_and_unknown_symbols_are_one_warning(src: Path,
                                                              tmp_path: Path) -> None:
    good = plan(src, tmp_path, [ii.AddDriver(ko(tmp_path, uses=["mdio45_probe"]))])
    assert not any("symbol" in w for w in good.warnings)
    odd = ko(tmp_path, "odd", uses=["rare_a", "rare_b"])
    p = plan(src, tmp_path, [ii.AddDriver(odd)])
    lines = [w for w in p.warnings if "not seen in any module" in w]
    assert lines == [f"odd.ko: 2 imported symbol(s) not seen in any module of kernel "
                     f"{MAIN_KVER}, CRC not checked: rare_a, rare_b"]


def test_a_driver_without_versions_is_refused(src: Path, tmp_path: Path) -> None:
    c = tmp_path / "nov.c"
    c.write_text('static const char m[] __attribute__((section(".modinfo"), used)) = '
                 f'"vermagic={MAIN_KVER} SMP mod_unload modversions \\0name=nov";\n')
    out = tmp_path / "nov.ko"
    subprocess.run(["gcc", "-c", "-o", str(out), str(c)], check=True)
    with pytest.raises(InputError, match="has no symbol versions"):
        plan(src, tmp_path, [ii.AddDriver(out)])


def test_missing_firmware_is_a_warning(src: Path, tmp_path: Path) -> None:
    fw = ko(tmp_path, "fwdrv", firmware=["intel/fwdrv-1.bin", "fwdrv-2.bin"])
    p = plan(src, tmp_path, [ii.AddDriver(fw)])
    warns = [w for w in p.warnings if "firmware" in w]
    assert len(warns) == 2 and "intel/fwdrv-1.bin is not in the image's lib/firmware" in \
        warns[0]
    # present (reached through lib -> usr/lib): no warning for it
    p = plan(src, tmp_path, [ii.AddFile("/lib/firmware/intel/fwdrv-1.bin", b"fw"),
                             ii.AddDriver(fw)])
    assert [w for w in p.warnings if "firmware" in w] == [
        w for w in warns if "fwdrv-2.bin" in w]


def test_kernels_all_checks_each_tree_on_its_own(src: Path, tmp_path: Path) -> None:
    main_ko = ko(tmp_path)
    with pytest.raises(InputError, match=re.escape(f"does not match kernel {ALT_KVER}")):
        plan(src, tmp_path, [ii.AddDriver(main_ko, kernels=("all",))])
    with pytest.raises(InputError, match="is not in install.img"):
        plan(src, tmp_path, [ii.AddDriver(main_ko, kernels=("9.9",))])
    p = plan(src, tmp_path, [ii.AddDriver(main_ko, kernels=("main",)),
                             ii.AddDriver(ko(tmp_path, kver=ALT_KVER), kernels=("alt",))])
    assert f"driver igc.ko -> kernel {MAIN_KVER} (main)" in p.changes
    assert f"driver igc.ko -> kernel {ALT_KVER} (alt)" in p.changes
    regen = [c for c in p.changes if c.startswith("regenerate module index")]
    assert len(regen) == 2


def test_kernels_all_into_both_trees(tmp_path: Path) -> None:
    # a module whose vermagic matches both: force is what lets one file into two trees
    src = put(tmp_path, demo_img())
    both = ko(tmp_path)
    p = plan(src, tmp_path, [ii.AddDriver(both, kernels=("all",), force=True)])
    with ii.InstallImage.open(src, spool=ii.depmod_input, spool_dir=tmp_path) as img, \
            open(tmp_path / "o.img", "wb") as fp:
        ii.write(img, ii.plan(img, [ii.AddDriver(both, kernels=("all",), force=True)]), fp)
    for d in (KDIR, ADIR):
        assert "updates/igc.ko:" in bsdtar_read(tmp_path / "o.img", f"{d}/modules.dep").decode()
    assert any(ALT_KVER in w and "module_layout" in w for w in p.warnings)


def test_cli_build_refuses_wrong_abi_in_one_line(demo_iso: Path, tmp_path: Path) -> None:
    wrong = ko(tmp_path, abi=ALT_KVER)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[[installer.drivers]]\nsource = "{wrong}"\n')
    out = tmp_path / "out.iso"
    p = subprocess.run([sys.executable, "-m", "xcptui", "build", str(demo_iso), "--recipe",
                        str(recipe), "-o", str(out)], capture_output=True, text=True)
    assert p.returncode == 1
    # progress goes to stderr as "» step" lines; the error is one line after them
    err = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith(("»", " "))]
    assert len(err) == 1 and "disagrees about version of symbol module_layout" in err[0], \
        p.stderr
    assert not out.exists()
