"""A minimal newc cpio writer used only to make demo/test images.

It is deliberately separate from the engine's cpio code so fixtures are not
built by the code they test.
"""

from __future__ import annotations

from dataclasses import dataclass

S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000
S_IFCHR = 0o020000
S_IFBLK = 0o060000


@dataclass
class Node:
    path: str  # "./etc/shadow"
    mode: int  # full st_mode incl. type bits
    data: bytes = b""
    uid: int = 0
    gid: int = 0
    mtime: int = 1700000000
    rdev: tuple[int, int] = (0, 0)
    ino: int = 0
    nlink: int = 1


def _hdr(n: Node, size: int) -> bytes:
    name = n.path.encode() + b"\0"
    fields = (
        n.ino, n.mode, n.uid, n.gid, n.nlink, n.mtime, size,
        0, 0, n.rdev[0], n.rdev[1], len(name), 0,
    )
    h = b"070701" + b"".join(b"%08X" % f for f in fields) + name
    return h + b"\0" * (-len(h) % 4)


def write_newc(nodes: list[Node]) -> bytes:
    """Serialise nodes as GNU cpio -H newc would: hardlink data on the last link."""
    out = bytearray()
    last_of_ino: dict[int, int] = {}
    for i, n in enumerate(nodes):
        if n.nlink > 1:
            last_of_ino[n.ino] = i
    for i, n in enumerate(nodes):
        carries = n.nlink <= 1 or last_of_ino.get(n.ino) == i
        data = n.data if carries else b""
        out += _hdr(n, len(data)) + data + b"\0" * (-len(data) % 4)
    out += _hdr(Node("TRAILER!!!", 0, ino=0, nlink=1, mtime=0), 0)
    out += b"\0" * (-len(out) % 512)
    return bytes(out)
