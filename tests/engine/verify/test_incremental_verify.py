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


def _stream(path: Path, pieces: list[bytes]) -> None:
    with open(path, "wb") as f:
        w = bzb.StreamWriter(f.write, 1)
        for p in pieces:
            for b in bzb.compress_blocks(p, 1):
                w.add(b)
        w.close()


def _full(path: Path) -> list[tuple[object, ...]] | str:
    from xcptui.engine.errors import InputError

    try:
        with ii.InstallImage.open(path, cache=False) as img:
            return [_key(e) for e in img.all_headers()]
    except InputError as e:
        return str(e)


def _incremental(src: Path, out: Path) -> tuple[list[tuple[object, ...]] | str, int]:
    from xcptui.engine.errors import InputError
    from xcptui.engine.initrd import known_blocks

    with ii.InstallImage.open(src, cache=False) as s:
        kb = known_blocks.KnownBlocks()
        kb.add_source(s._scan)
        region = FileRegion(out)
        try:
            inc = known_blocks.incremental_scan(region, "install.img", kb, Progress(), None)
        except InputError as e:
            return str(e), -1
        finally:
            region.close()
    assert inc is not None
    return [_key(e) for e in inc.scan.raw], inc.reused


def _key(e: ii.Entry) -> tuple[object, ...]:
    return (e.name, e.offset, e.stored_size, e.type, e.mode, e.link_target, e.end)


def test_skeletons_list_exactly_what_a_decode_lists(tmp_path: Path) -> None:
    from tests.engine.initrd.test_index_cache import newc

    raw = newc(files=12, size=20000)
    p = tmp_path / "a.img"
    _stream(p, [raw[i:i + 50000] for i in range(0, len(raw), 50000)])
    got, reused = _incremental(p, p)  # every block known: the scan decodes none
    assert reused == sum(1 for _ in bzb.StreamScan(FileRegion(p), 0).blocks())
    assert got == _full(p)


def test_a_block_read_at_another_phase_is_decoded_for_real(tmp_path: Path) -> None:
    """Same bits, but the entry before them now claims fewer bytes: the scanner meets
    the block mid-data, where the skeleton has zeros (it would skip them and find the
    next header) and the real block random bytes. The verdict must be the decode's."""
    from tests.engine.initrd.test_index_cache import newc
    from xcptui.engine.initrd import known_blocks
    from xcptui.engine.initrd.scan import ImageScan

    raw = newc(files=12, size=20000)
    cut = 100000
    src, out = tmp_path / "src.img", tmp_path / "out.img"
    _stream(src, [raw[:cut], raw[cut:]])
    with ii.InstallImage.open(src, cache=False) as img:
        last = max((e for e in img.all_headers() if e.data_offset < cut < e.end),
                   key=lambda e: e.offset)
    shrink = ((last.data_offset + last.size - cut) // 2) & ~3
    assert shrink > 0
    at = last.offset + 6 + 6 * 8  # the filesize field
    changed = raw[:at] + b"%08X" % (last.size - shrink) + raw[at + 8:]
    _stream(out, [changed[:cut], changed[cut:]])
    with ii.InstallImage.open(src, cache=False) as s:
        kb = known_blocks.KnownBlocks()
        kb.add_source(s._scan)
        blind = ImageScan(FileRegion(out), "install.img", known=kb)
        blind.run(Progress(), None)  # skeletons taken at face value: a wrong pass
    assert blind.reused and isinstance(_full(out), str)
    got, reused = _incremental(src, out)
    assert got == _full(out)
