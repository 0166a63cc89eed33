"""[answerfile] entries: by default the answerfile skips the shell (bash-shell rescue) and
safe entries, so they stay interactive; ``["all"]`` puts it everywhere.

Checked on the real 8.2/8.3 isolinux.cfg and grub.cfg (the demo ISO carries them) in all
three boot configs, read back with a small block reader independent of the engine's parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from xcptui.engine import InputError, IsoSource, plan_boot_effects, recipe
from xcptui.engine.layout import GRUB_CFG, ISOLINUX_CFG

URL = "http://srv/a.xml"
AF = f'[answerfile]\nurl = "{URL}"\n'
INSTALL = ("install", "no-serial", "multipath", "install-alt")


def _isolinux_blocks(text: str) -> dict[str, str]:
    """LABEL -> its APPEND line."""
    out: dict[str, str] = {}
    label = None
    for line in text.splitlines():
        w = line.strip().split(None, 1)
        if w and w[0].upper() == "LABEL":
            label = w[1].strip()
        elif w and w[0].upper() == "APPEND" and label is not None:
            out[label] = line
    return out


def _grub_blocks(text: str) -> dict[str, str]:
    """menuentry title -> the module line that loads vmlinuz."""
    out: dict[str, str] = {}
    for m in re.finditer(r'menuentry\s+"([^"]*)"[^{]*\{(.*?)\n\s*\}', text, re.S):
        out[m.group(1)] = next((ln for ln in m.group(2).splitlines() if "vmlinuz" in ln), "")
    return out


def _dom0(line: str) -> list[str]:
    """The words after vmlinuz up to the next '---' (isolinux) or the end (grub)."""
    words = line.split()
    i = next(n for n, w in enumerate(words) if "vmlinuz" in w)
    rest = words[i + 1:]
    return rest[:rest.index("---")] if "---" in rest else rest


def _role_of(title: str) -> str:
    return "install-alt" if "kernel-alt" in title else title


def _effects(iso: Path, text: str, tmp: Path
             ) -> tuple[dict[str, dict[str, str]], tuple[str, ...]]:
    with IsoSource.open(iso) as src:
        eff = plan_boot_effects(src, recipe.loads(text, tmp))
        old_iso, old_grub = src.read(ISOLINUX_CFG), src.read(GRUB_CFG)
    assert eff.efiboot_grub is not None
    iso_t = eff.new_text.get(ISOLINUX_CFG, old_iso).decode()
    grub_t = eff.new_text.get(GRUB_CFG, old_grub).decode()
    return {"isolinux": _isolinux_blocks(iso_t),
            "grub": {_role_of(k): v for k, v in _grub_blocks(grub_t).items()},
            "efiboot": {_role_of(k): v for k, v in
                        _grub_blocks(eff.efiboot_grub.decode()).items()}}, eff.changes


@pytest.fixture(params=["8.2", "8.3"])
def iso(request: pytest.FixtureRequest, iso_factory: Callable[..., Path]) -> Path:
    return iso_factory(version=request.param)


def test_default_leaves_shell_and_safe_interactive(iso: Path, tmp_path: Path) -> None:
    configs, changes = _effects(iso, AF, tmp_path)
    for name, blocks in configs.items():
        for role in ("shell", "safe"):
            assert "answerfile" not in blocks[role], (name, role)
            assert "install" not in _dom0(blocks[role]), (name, role)
        assert "bash-shell" in blocks["shell"], name
        for role in INSTALL:
            assert f"answerfile={URL}" in blocks[role], (name, role)
    msg = next(c for c in changes if c.startswith("answerfile on"))
    assert msg.endswith("left interactive: safe, shell"), msg
    assert "install, " in msg and "install-alt" in msg


def test_all_puts_it_on_every_installer_entry(iso: Path, tmp_path: Path) -> None:
    configs, changes = _effects(iso, AF + 'entries = ["all"]\n', tmp_path)
    for name, blocks in configs.items():
        for role in (*INSTALL, "shell", "safe"):
            assert f"answerfile={URL}" in blocks[role], (name, role)
        if "memtest" in blocks:
            assert "answerfile" not in blocks["memtest"]
    assert any(c.startswith("answerfile on every installer entry (") for c in changes)


def test_explicit_labels_as_named(iso: Path, tmp_path: Path) -> None:
    configs, changes = _effects(iso, AF + 'entries = ["shell", "multipath"]\n', tmp_path)
    for name, blocks in configs.items():
        for role, has in (("shell", True), ("multipath", True), ("install", False),
                          ("safe", False), ("no-serial", False)):
            assert (f"answerfile={URL}" in blocks[role]) is has, (name, role)
    msg = next(c for c in changes if c.startswith("answerfile on"))
    # menu order, whatever order the recipe names them in
    assert msg.startswith("answerfile on boot entries multipath, shell; left interactive: "
                          "install, "), msg


def test_all_with_labels_is_one_line_error(demo_iso: Path, tmp_path: Path) -> None:
    with IsoSource.open(demo_iso) as src, pytest.raises(InputError) as e:
        plan_boot_effects(src, recipe.loads(AF + 'entries = ["all", "install"]\n', tmp_path))
    assert '"all"' in str(e.value) and "\n" not in str(e.value)
