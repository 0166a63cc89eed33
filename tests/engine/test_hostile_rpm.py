"""RPM payload bombs: refused in one line after bounded work, not decompressed whole."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from xcptui.engine import limits
from xcptui.engine.errors import InputError
from xcptui.engine.rpm import payload

SPEC = """\
Name: bomb
Version: 1
Release: 1
Summary: a payload of zeros
License: GPLv2
BuildArch: noarch
%description
test
%install
mkdir -p %{buildroot}/opt
truncate -s 48M %{buildroot}/opt/zeros
echo hi > %{buildroot}/opt/small
for i in $(seq 1 200); do echo $i > %{buildroot}/opt/f$i; done
%files
/opt/small
/opt/zeros
/opt/f*
"""


@pytest.fixture(scope="module")
def bomb_rpm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("rpmbuild")
    (top / "SPECS").mkdir()
    spec = top / "SPECS" / "bomb.spec"
    spec.write_text(SPEC)
    subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}",
                    "--define", "_binary_payload w2.xzdio", "--define", "_build_id_links none",
                    str(spec)], check=True, capture_output=True)
    return next((top / "RPMS").rglob("*.rpm"))


def test_the_payload_reads_under_the_real_limits(bomb_rpm: Path) -> None:
    p = payload.read_payload(bomb_rpm)
    sizes = {e.path: len(e.data) for e in p.entries if e.type == "file"}
    assert len(sizes) == 202 and sizes["opt/small"] == 3 and sizes["opt/zeros"] == 48 << 20


def test_ratio_bomb_is_refused(bomb_rpm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 200 small files must not each count the RPM's size as compressed input again.
    monkeypatch.setattr(limits, "RATIO_GRACE", 4 << 20)
    with pytest.raises(InputError, match=rf"^{bomb_rpm.name}: payload decompresses more than "
                       r"1000 times its compressed size .*a compression bomb\?\)$"):
        payload.read_payload(bomb_rpm)


def test_total_cap(bomb_rpm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_RPM_PAYLOAD", 8 << 20)
    with pytest.raises(InputError, match=rf"^{bomb_rpm.name}: payload decompresses past 8 MiB "
                       r"\(a compression bomb\?\)$"):
        payload.read_payload(bomb_rpm)


def test_entry_cap(bomb_rpm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_CPIO_ENTRIES", 1)
    with pytest.raises(InputError, match="payload has more than 1 entries"):
        payload.read_payload(bomb_rpm)
