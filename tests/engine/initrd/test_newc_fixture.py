"""The fixture writer (xcptui/demoiso/newc.py) against GNU cpio itself: same names,
same order, hardlink data on the same member, for `find . | cpio -o -H newc`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from xcptui.demoiso.newc import S_IFDIR, S_IFLNK, S_IFREG, Node, write_newc


def _listing(archive: bytes) -> list[tuple[str, str, str, str]]:
    """(type+mode, nlink, size, name) per member, by GNU cpio."""
    out = subprocess.run(["cpio", "-itv", "--quiet", "-n"], input=archive,
                         capture_output=True, check=True).stdout.decode().splitlines()
    rows = []
    for ln in out:
        f = ln.split()
        rows.append((f[0], f[1], f[4], f[8]))
    return rows


def test_fixture_writer_matches_gnu_cpio(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "a").write_bytes(b"shared data\n")
    (root / "d" / "b").write_bytes(b"between\n")
    os.link(root / "d" / "a", root / "d" / "c")  # group a+c, b in between
    (root / "lnk").symlink_to("d")
    for p in (root, root / "d", root / "d" / "a", root / "d" / "b"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    order = [".", "./d", "./d/a", "./d/b", "./d/c", "./lnk"]  # what `find .` prints
    gnu = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root,
                         input="".join(p + "\n" for p in order).encode(),
                         capture_output=True, check=True).stdout
    nodes = [Node(".", S_IFDIR | 0o755, nlink=3, ino=1), Node("d", S_IFDIR | 0o755, ino=2),
             Node("d/a", S_IFREG | 0o644, b"shared data\n", ino=3, nlink=2),
             Node("d/b", S_IFREG | 0o644, b"between\n", ino=4),
             Node("d/c", S_IFREG | 0o644, b"shared data\n", ino=3, nlink=2),
             Node("lnk", S_IFLNK | 0o777, b"d", ino=5)]
    ours = write_newc(nodes)
    theirs, mine = _listing(gnu), _listing(ours)
    assert [r[3] for r in theirs] == [".", "d", "d/b", "d/a", "d/c", "lnk"]  # a held back
    assert [(r[0][0], r[2], r[3]) for r in mine] == [(r[0][0], r[2], r[3]) for r in theirs]
    assert [r[1] for r in mine if r[3].startswith("d/")] == \
        [r[1] for r in theirs if r[3].startswith("d/")]
    assert len(ours) % 512 == 0 and len(gnu) % 512 == 0
