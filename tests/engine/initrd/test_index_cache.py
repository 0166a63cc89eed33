"""The persistent install.img index: keyed by content, validated, bounded, and used."""

from __future__ import annotations

import bz2
import os
import random
import shutil
from pathlib import Path

import pytest

from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd import cpio, index_cache
from xcptui.engine.initrd.compression import FileRegion
from xcptui.engine.initrd.image import InstallImage
from xcptui.engine.initrd.index_cache import IndexCache


def newc(files: int = 40, size: int = 30000, seed: int = 1) -> bytes:
    """A newc archive with random (incompressible) files, a mode-000 shadow, a device,
    a symlink and a hardlink pair."""
    rnd = random.Random(seed)
    out = bytearray()
    ino = 1

    def add(name: str, mode: int, data: bytes = b"", nlink: int = 1, rdev: int = 0,
            i: int | None = None) -> None:
        nonlocal ino
        h = cpio.Header(i if i is not None else ino, mode, 0, 0, nlink, 1700000000,
                        len(data), 0, 0, rdev, 3, name.encode())
        out.extend(cpio.encode_entry(h, data))
        ino += 1

    add("etc", 0o40755)
    add("etc/shadow", 0o100000, b"root:*:1::::::\n")
    add("dev", 0o40755)
    add("dev/console", 0o20600, rdev=5)
    add("usr", 0o40755)
    add("usr/lib", 0o40755)
    add("lib", 0o120777, b"usr/lib")
    for k in range(files):
        add(f"usr/lib/f{k:03d}.bin", 0o100644, rnd.randbytes(size))
    add("usr/lib/hard1", 0o100644, b"", nlink=2, i=9999)
    add("usr/lib/hard2", 0o100644, b"shared data", nlink=2, i=9999)
    out.extend(cpio.trailer())
    return bytes(out)


def image(tmp: Path, name: str = "install.img", **kw: int) -> Path:
    p = tmp / name
    p.write_bytes(bz2.compress(newc(**kw), 1))  # level 1: 100 kB blocks, several of them
    return p


class Decodes:
    """Counts bzip2 block decodes (every decode path goes through decode_block)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        real = bzb.decode_block

        def counting(*a: object, **k: object) -> bytes:
            self.n += 1
            return real(*a, **k)  # type: ignore[arg-type]

        monkeypatch.setattr(bzb, "decode_block", counting)


def listing(img: InstallImage) -> list[dict[str, object]]:
    return [e.to_dict() for e in img.entries()]


def index_files() -> list[Path]:
    return sorted(Path(os.environ["XCPTUI_INDEX_DIR"]).glob("*.xidx"))


def test_second_open_decodes_nothing_and_lists_the_same(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    p = image(tmp_path)
    dec = Decodes(monkeypatch)
    with InstallImage.open(p) as a:
        first = listing(a)
        groups = a.hardlink_groups()
        problems = list(a.problems)
        blocks = len(a.segment_info[0].blocks)
    assert dec.n >= blocks > 3 and len(index_files()) == 1
    dec.n = 0
    with InstallImage.open(p) as b:
        assert listing(b) == first and b.hardlink_groups() == groups
        assert b.problems == problems
        assert [e.path for e in b.listdir("/usr/lib")][:2] == ["usr/lib/f000.bin",
                                                              "usr/lib/f001.bin"]
        assert b.get("lib/f003.bin", follow=True) is not None
        assert dec.n == 0  # listing and metadata: no decode at all
        data = b.read("usr/lib/f020.bin")
        assert data == a_file(20)
        assert 1 <= dec.n <= 2  # one file: only the blocks holding it
        assert b.read("usr/lib/hard1") == b"shared data"


def a_file(k: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    return [rnd.randbytes(30000) for _ in range(k + 1)][k]


def test_same_content_elsewhere_hits_one_changed_byte_misses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = image(tmp_path)
    InstallImage.open(p).close()
    other = tmp_path / "sub"
    other.mkdir()
    q = other / "copy.img"
    shutil.copy(p, q)
    dec = Decodes(monkeypatch)
    InstallImage.open(q).close()
    assert dec.n == 0
    # a plain (uncompressed) image > 1 MiB: a byte changed between the fingerprint's
    # samples keeps the fingerprint, so only the full sha256 can tell
    raw = newc(files=60)
    r = tmp_path / "plain.img"
    r.write_bytes(raw)
    with InstallImage.open(r) as img:
        e = img.get("usr/lib/f030.bin")
        assert e is not None
        pos = e.data_offset + 5000
    fp = index_cache.fingerprint(FileRegion(r))
    changed = bytearray(raw)
    changed[pos] ^= 0xFF
    r2 = tmp_path / "plain2.img"
    r2.write_bytes(bytes(changed))
    assert index_cache.fingerprint(FileRegion(r2)) == fp  # same candidate...
    with InstallImage.open(r2) as img:  # ...rejected by the digest: a fresh scan
        assert img.read("usr/lib/f030.bin")[5000] == changed[pos]


def test_memo_skips_the_digest_until_the_file_changes(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_cache, "RACY_SECONDS", -60.0)  # files here are brand new
    p = image(tmp_path)
    InstallImage.open(p).close()
    hashed: list[int] = []
    real = index_cache.extent_sha256

    def counting(*a: object, **k: object) -> str:
        hashed.append(1)
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(index_cache, "extent_sha256", counting)
    InstallImage.open(p).close()
    assert hashed == []  # same inode, size, mtime, ctime: known to be unchanged
    data = p.read_bytes()
    p.write_bytes(data)  # rewritten in place: ctime moves
    InstallImage.open(p).close()
    assert hashed == [1]


def test_corrupt_or_other_version_is_ignored_and_rewritten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = image(tmp_path)
    InstallImage.open(p).close()
    (f,) = index_files()
    good = f.read_bytes()
    dec = Decodes(monkeypatch)
    for bad in (b"garbage", good[:len(good) // 2],
                good[:8] + (index_cache.FORMAT + 1).to_bytes(4, "big") + good[12:],
                good[:-10] + bytes(10)):
        f.write_bytes(bad)
        dec.n = 0
        with InstallImage.open(p) as img:
            assert img.get("etc/shadow") is not None
        assert dec.n > 0  # decoded again...
        index_cache.read_file(f)  # ...and the entry is valid again


def test_semantically_corrupt_body_is_rejected(tmp_path: Path) -> None:
    from xcptui.engine.initrd import index_codec

    p = image(tmp_path)
    with InstallImage.open(p) as img:
        region = img.region
        body = index_codec.encode(img._scan)
        for mutate in (lambda b: b["entries"]["offset"].reverse(),
                       lambda b: b["entries"]["size"].__setitem__(10, 1 << 40),
                       lambda b: b["segments"][0].__setitem__("codec", "rar"),
                       lambda b: b["segments"][0]["blocks"].__setitem__(3, -1),
                       lambda b: b["entries"].__setitem__("name", "x")):
            import copy

            bad = copy.deepcopy(body)
            mutate(bad)
            with pytest.raises(index_cache.IndexCorrupt):
                index_codec.restore(bad, region, "install.img")


def test_size_bound_keeps_the_newest(tmp_path: Path) -> None:
    from xcptui.engine.initrd import index_codec

    cache = IndexCache(tmp_path / "idx", bound=1 << 30)
    paths = []
    for k in range(4):
        p = image(tmp_path, f"i{k}.img", files=10, seed=k)
        with InstallImage.open(p, cache=False) as img:
            index_codec.save(cache, img._scan, p.name)
        paths.append(p)
        newest = cache.path_for(index_cache.fingerprint(FileRegion(p)))
        os.utime(newest, (1000 + k, 1000 + k))
    sizes = [f.stat().st_size for f in (tmp_path / "idx").glob("*.xidx")]
    assert len(sizes) == 4
    cache.bound = sum(sizes) - 1
    cache.enforce_bound()
    left = list((tmp_path / "idx").glob("*.xidx"))
    assert len(left) == 3 and newest in left
    assert sum(f.stat().st_size for f in left) <= cache.bound


def test_spool_from_the_index_decodes_only_the_spooled_files_blocks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = image(tmp_path)
    with InstallImage.open(p) as img:
        total = len(img.segment_info[0].blocks)
    dec = Decodes(monkeypatch)
    want = {"usr/lib/f005.bin", "usr/lib/hard2", "etc/shadow"}
    with InstallImage.open(p, spool=lambda path: path in want, spool_dir=tmp_path) as img:
        assert 0 < dec.n < total
        for path in want:
            e = img.get(path)
            assert e is not None
            host = img.spooled_copy(img.data_range(e))
            assert host is not None and host.read_bytes() == img.read(path)
        assert img.spooled_copy(img.data_range(img.get("usr/lib/f006.bin"))) is None  # type: ignore[arg-type]


def test_disabled_cache_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XCPTUI_INDEX_CACHE", "off")
    InstallImage.open(image(tmp_path)).close()
    assert not Path(os.environ["XCPTUI_INDEX_DIR"]).exists()
