"""install.img records: one archive member (``Entry``) and one compressed segment."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from typing import Any

from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd import cpio
from xcptui.engine.layout import EntryKind


@dataclass(slots=True)
class Entry:
    """One archive member as listed (the merged view shows the winning one per path)."""

    path: str  # normalised, "" for the root; the raw name when ``unsafe``
    name: str  # as stored, e.g. "./etc/shadow"
    type: str  # file | dir | symlink | chardev | blockdev | fifo | socket | unknown
    mode: int  # permission bits incl. setuid/setgid/sticky (0 for "----------")
    uid: int
    gid: int
    size: int  # bytes read() returns (for hardlinks: the data of the group)
    stored_size: int  # the header's size field (0 on hardlinks that do not carry data)
    mtime: int
    nlink: int
    ino: int
    dev: tuple[int, int]
    rdev: tuple[int, int]  # device numbers of chardev/blockdev entries
    link_target: str | None
    segment: int
    offset: int  # of the header, in the merged uncompressed stream
    data_offset: int
    end: int  # after the padded data
    unsafe: bool = False  # absolute name or a ".." component: never extracted
    index: int = 0  # position among all headers (archive order)
    group: int = -1  # hardlink group id, -1 when not hardlinked
    archive: int = 0
    is_trailer: bool = False
    magic: bytes = cpio.MAGIC_NEWC

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"

    @property
    def is_symlink(self) -> bool:
        return self.type == "symlink"

    @property
    def st_mode(self) -> int:
        return TYPE_BITS.get(self.type, 0) | self.mode

    @property
    def mode_string(self) -> str:
        """`ls -l` style, e.g. "----------" for /etc/shadow, "crw-------" for /dev/console."""
        return stat.filemode(self.st_mode)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "name": self.name, "type": self.type,
            "mode": f"{self.mode:04o}", "uid": self.uid, "gid": self.gid, "size": self.size,
            "mtime": self.mtime, "nlink": self.nlink, "ino": self.ino,
            "rdev": list(self.rdev) if self.type in ("chardev", "blockdev") else None,
            "link_target": self.link_target, "segment": self.segment, "unsafe": self.unsafe,
        }


TYPE_BITS: dict[str, int] = {EntryKind.FILE: stat.S_IFREG, EntryKind.DIR: stat.S_IFDIR,
                             EntryKind.SYMLINK: stat.S_IFLNK, EntryKind.CHARDEV: stat.S_IFCHR,
                             EntryKind.BLOCKDEV: stat.S_IFBLK, EntryKind.FIFO: stat.S_IFIFO,
                             EntryKind.SOCKET: stat.S_IFSOCK}


@dataclass
class Segment:
    """One compressed (or plain) cpio segment of the image."""

    index: int
    codec: str  # bzip2 | gzip | xz | lzma | zstd | cpio
    offset: int  # first byte in the image
    end: int  # byte after it (zero padding up to the next segment is not included)
    uoffset: int  # where its data starts in the merged uncompressed stream
    usize: int = 0
    level: int = 9  # bzip2 block-size level; gzip re-encode level
    head: bytes = b""
    blocks: list[bzb.Block] = field(default_factory=list)  # bzip2 only
    block_starts: list[int] = field(default_factory=list)  # uoff of each block, for bisect

    @property
    def uend(self) -> int:
        return self.uoffset + self.usize

