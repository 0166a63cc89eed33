"""Planning guards: host secrets are named before they are embedded; huge boot lines fail fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from xcptui.engine import InputError, build_iso, recipe
from xcptui.engine.build.plan import secret_warnings


def test_host_secret_sources_are_named(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("ok")
    r = recipe.loads('[[installer.files]]\nsource = "/etc/hostname"\ndest = "/etc/h"\n'
                     '[[iso.files]]\nsource = "ok.txt"\ndest = "/ok.txt"\n', tmp_path)
    ws = secret_warnings(r)
    assert len(ws) == 1 and "/etc/hostname" in ws[0] and "under /etc" in ws[0]


def test_secret_warning_reaches_the_build_result(demo_iso: Path, tmp_path: Path) -> None:
    r = recipe.loads('[[iso.files]]\nsource = "/etc/hostname"\ndest = "/hostname"\n', tmp_path)
    res = build_iso(demo_iso, r, tmp_path / "o.iso", verify=False)
    assert any("embeds the host file /etc/hostname" in w for w in res.warnings)


def test_thousands_of_boot_params_fail_fast_and_write_nothing(demo_iso: Path,
                                                              tmp_path: Path) -> None:
    params = ", ".join(f'"p{i}=1"' for i in range(5000))
    r = recipe.loads(f"[boot]\nappend = [{params}]\n", tmp_path)
    with pytest.raises(InputError, match="more than the 1023 bytes Xen passes to dom0"):
        build_iso(demo_iso, r, tmp_path / "o.iso")
    assert list(tmp_path.iterdir()) == []
