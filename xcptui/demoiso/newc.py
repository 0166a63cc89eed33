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
    path: str  # the stored name: "etc/shadow" (GNU cpio of `find .`) or "./etc/shadow"
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
    """Serialise nodes as GNU cpio -o -H newc does.

    Hardlinks the GNU way (copyout.c): a member of a group is held back until the
    group's last link (its ``nlink``-th member) comes; then the held-back members are
    written with no data, right before the last one, which carries the data. A group
    that never completes is written at the end the same way.
    """
    out = bytearray()
    held: dict[int, list[Node]] = {}

    def emit(n: Node, data: bytes) -> None:
        out.extend(_hdr(n, len(data)) + data + b"\0" * (-len(data) % 4))

    def emit_group(members: list[Node]) -> None:
        for m in members[:-1]:
            emit(m, b"")
        emit(members[-1], members[-1].data)

    for n in nodes:
        if n.nlink <= 1 or (n.mode & 0o170000) == S_IFDIR:
            emit(n, n.data)
            continue
        group = held.setdefault(n.ino, [])
        group.append(n)
        if len(group) == n.nlink:
            emit_group(held.pop(n.ino))
    for members in held.values():
        emit_group(members)
    emit(Node("TRAILER!!!", 0, ino=0, nlink=1, mtime=0), b"")
    out += b"\0" * (-len(out) % 512)
    return bytes(out)
