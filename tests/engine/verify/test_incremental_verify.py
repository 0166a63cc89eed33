"""verify's install.img check, incremental but sound: identical images reuse the indexed
verdict, spliced ones decode only their new blocks, and a damaged reused block fails."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.engine.initrd.test_index_cache import Decodes, image
from xcptui.engine.events import Progress
from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd import installimg as ii
from xcptui.engine.initrd.compression import FileRegion
from xcptui.engine.layout import CheckStatus
from xcptui.engine.verify.installimg import check_install_img


class _Src:
    """The part of IsoSource the check uses, over a bare install.img file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self, p: str) -> bool:
        return True

    def extent(self, p: str) -> tuple[int, int]:
        return 0, self.path.stat().st_size


def run_check(path: Path, full: bool = False) -> tuple[str, str]:
    ctx = SimpleNamespace(src=_Src(path), progress=Progress(), cancel=threading.Event(),
                          full=full)
    o = check_install_img(ctx)  # type: ignore[arg-type]
    return o.status, o.evidence


def spliced(tmp: Path) -> tuple[Path, Path]:
    src = image(tmp)
    out = tmp / "out.img"
    with ii.InstallImage.open(src) as img:  # indexes the source
        plan = ii.plan(img, [ii.AddFile("usr/lib/f020.bin", b"replaced in the middle\n")])
        with open(out, "wb") as f:
            stats = ii.write(img, plan, f)
    assert stats.blocks_reused > 3 and stats.blocks_written >= 1
    return src, out


def test_spliced_output_decodes_only_the_new_blocks(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, out = spliced(tmp_path)
    dec = Decodes(monkeypatch)
    status, evidence = run_check(out)
    assert status == CheckStatus.PASS, evidence
    total = sum(1 for _ in bzb.StreamScan(FileRegion(out), 0).blocks())
    assert f"spliced: {dec.n} of {total} blocks decoded" in evidence
    assert 0 < dec.n < total // 2
    assert "1 device nodes (/dev/console)" in evidence and "/etc/shadow" in evidence
    # the verify indexed the output: checking it again is the identical-image shortcut
    dec.n = 0
    status, evidence = run_check(out)
    assert status == CheckStatus.PASS and "identical to the install.img" in evidence
    assert dec.n == 0


def test_damaged_reused_block_fails(tmp_path: Path) -> None:
    _, out = spliced(tmp_path)
    region = FileRegion(out)
    blocks = list(bzb.StreamScan(region, 0).blocks())
    region.close()
    victim = blocks[-2]  # far from the change in the middle: a reused block
    pos = (victim.start + victim.end) // 16
    data = bytearray(out.read_bytes())
    data[pos] ^= 0x10
    out.write_bytes(bytes(data))
    status, evidence = run_check(out)
    assert status == CheckStatus.FAIL, evidence


def test_identical_image_reuses_the_verdict(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    src = image(tmp_path)
    ii.InstallImage.open(src).close()
    dec = Decodes(monkeypatch)
    status, evidence = run_check(src)
    assert status == CheckStatus.PASS and dec.n == 0
    assert "identical to the install.img of install.img decoded earlier (sha256" in evidence


def test_no_index_decodes_everything_and_indexes(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = image(tmp_path)
    status, evidence = run_check(src)
    assert status == CheckStatus.PASS and "decoded by xcptui, full decode" in evidence
    dec = Decodes(monkeypatch)
    assert "identical" in run_check(src)[1] and dec.n == 0


def test_full_ignores_the_index(tmp_path: Path) -> None:
    _, out = spliced(tmp_path)
    status, evidence = run_check(out, full=True)
    assert status == CheckStatus.PASS
    assert "decoded by lbzip2" in evidence or "decoded by xcptui, full decode" in evidence
