"""The virtual tree a plan edits: original entries (by index) plus new entries.

Nothing is decoded or written here: a ``VTree`` records which original headers are
removed, replaced or followed by new entries, so the writer can copy everything
else byte for byte.
"""

from __future__ import annotations

import posixpath
import stat
import threading
import time
from dataclasses import dataclass, field

from xcptui.engine.errors import InputError
from xcptui.engine.initrd import cpio
from xcptui.engine.initrd.edits import HostFile, data_bytes
from xcptui.engine.initrd.entry import TYPE_BITS
from xcptui.engine.initrd.image import InstallImage
from xcptui.engine.initrd.symlinks import resolve_links
from xcptui.engine.limits import human_binary

# A file of the image the plan reads whole to edit (a hardlink group's data moved to
# another member; etc/passwd): install.img's biggest files are a few tens of MB.
EDIT_READ_MAX = 256 << 20


@dataclass(eq=False)
class NewEntry:
    """An entry the rewrite emits: new, a replacement, or a regenerated header."""

    path: str
    header: cpio.Header
    data: bytes | HostFile = b""
    link: NewLink | None = None  # hardlink group of new entries (RPM payloads)

    @property
    def type(self) -> str:
        return cpio.entry_type(self.header.mode)

    def data_len(self) -> int:
        return self.data.size if isinstance(self.data, HostFile) else len(self.data)


@dataclass(eq=False)
class NewLink:
    ino: int
    data: bytes | HostFile = b""
    members: list[NewEntry] = field(default_factory=list)


Node = int | NewEntry  # int: index of an original entry


class VTree:
    """The image as edited so far. ``touch`` is told about every path that changes."""

    def __init__(self, img: InstallImage, cancel: threading.Event | None) -> None:
        self.img, self.cancel = img, cancel
        self.raw = img.all_headers()  # indexed by Entry.index
        self.live: dict[str, Node] = dict(img.winners())
        self.removed: set[int] = set()
        self.replaced: dict[int, NewEntry] = {}
        self.after: dict[int, list[NewEntry]] = {}
        self.before: set[int] = set()  # slots whose insertions go before them (trailers)
        self.where: dict[int, int] = {}  # id(NewEntry) -> slot holding it
        self.changes: list[str] = []
        self.now = int(time.time())
        self.next_ino = max((e.ino for e in self.raw), default=0) + 1
        self.prefix = self._name_style()
        self._subtree_end: dict[str, int] | None = None

    def touch(self, path: str) -> None:
        """Hook: ``path`` is being added, replaced or removed."""

    def _name_style(self) -> str:
        """"./" when the image's names have it (`find . | cpio` keeps "." itself but
        stores "bin", "usr/lib/..." without it), else ""."""
        for e in self.raw:
            if not e.is_trailer and e.name not in (".", "./", ""):
                return "./" if e.name.startswith("./") else ""
        return "./"

    def type_of(self, node: Node) -> str:
        return self.raw[node].type if isinstance(node, int) else node.type

    def link_of(self, p: str) -> str | None:
        node = self.live.get(p)
        if node is None or self.type_of(node) != "symlink":
            return None
        if isinstance(node, int):
            return self.raw[node].link_target
        return node.data.decode("utf-8", "surrogateescape") if isinstance(node.data, bytes) \
            else None

    def resolve(self, p: str, follow_last: bool = True) -> str:
        r = resolve_links(p, self.link_of, follow_last)
        if r is None:
            raise InputError(f"{self.img.name}: too many symlinks resolving {p}")
        return r

    def norm(self, path: str, what: str) -> str:
        p = cpio.image_path(path)
        if p is None or p == "":
            raise InputError(f"{what}: path '{path}' is not a file path inside "
                             f"{self.img.name}")
        return p

    def subtree_end(self) -> dict[str, int]:
        """Directory -> index of the last original entry at or below it."""
        if self._subtree_end is None:
            end: dict[str, int] = {}
            for e in self.raw:
                if e.is_trailer or e.unsafe:
                    continue
                end[""] = e.index
                parts = e.path.split("/") if e.path else []
                for k in range(1, len(parts) + 1):
                    end["/".join(parts[:k])] = e.index
            self._subtree_end = end
        return self._subtree_end

    def anchor(self, parent: str) -> tuple[int, bool]:
        """(slot, before) where new children of ``parent`` are inserted."""
        node = self.live.get(parent)
        if isinstance(node, NewEntry):
            return self.where[id(node)], False
        ends = self.subtree_end()
        if parent in ends:
            return ends[parent], False
        if "" in ends:
            return ends[""], False
        trailers = [e.index for e in self.raw if e.is_trailer]
        if not trailers:
            raise InputError(f"{self.img.name}: has no entries to add files next to")
        return trailers[-1], True

    def insert(self, new: NewEntry, parent: str, slot: int | None = None) -> None:
        before = False
        if slot is None:
            slot, before = self.anchor(parent)
        if before:
            self.before.add(slot)
        self.after.setdefault(slot, []).append(new)
        self.where[id(new)] = slot
        self.live[new.path] = new

    def header(self, path: str, st_mode: int, uid: int, gid: int, mtime: int,
               rdev: tuple[int, int] = (0, 0)) -> cpio.Header:
        ino = self.next_ino
        self.next_ino += 1
        name = (self.prefix + path).encode("utf-8", "surrogateescape")
        nlink = 2 if stat.S_ISDIR(st_mode) else 1
        return cpio.Header(ino, st_mode, uid, gid, nlink, mtime, 0, 0, 0, rdev[0], rdev[1],
                           name)

    def ensure_dir(self, d: str) -> str:
        """Make sure directory ``d`` exists (creating parents 0755 root:root); returns
        its resolved path."""
        if d == "":
            return ""
        parent = self.ensure_dir(posixpath.dirname(d))
        cand = posixpath.join(parent, posixpath.basename(d)) if parent else \
            posixpath.basename(d)
        node = self.live.get(cand)
        if node is None:
            new = NewEntry(cand, self.header(cand, stat.S_IFDIR | 0o755, 0, 0, self.now))
            self.insert(new, parent)
            self.changes.append(f"create directory {cand} (0755 root:root)")
            return cand
        if self.type_of(node) == "symlink":
            cand = self.resolve(cand)
            node = self.live.get(cand)
        if node is None or self.type_of(node) != "dir":
            raise InputError(f"{self.img.name}: cannot create {d}: {cand} is not a directory")
        return cand

    def place(self, path: str) -> str:
        """Final location of a new file: parents created, symlinked parents followed."""
        parent = self.ensure_dir(posixpath.dirname(path))
        base = posixpath.basename(path)
        return f"{parent}/{base}" if parent else base


    def put(self, path: str, kind: str, data: bytes | HostFile, *, mode: int | None,
            uid: int | None, gid: int | None, mtime: int, default_mode: int = 0o644,
            rdev: tuple[int, int] = (0, 0), link: NewLink | None = None) -> str:
        """Create or replace ``path`` (parents must exist). Returns "add" or "replace"."""
        node = self.live.get(path)
        tbits = TYPE_BITS[kind]
        if node is not None and self.type_of(node) == "dir" and kind != "dir":
            raise InputError(f"{self.img.name}: cannot replace directory {path} with a "
                             f"{kind}")
        self.touch(path)
        if node is None:
            h = self.header(path, tbits | (default_mode if mode is None else mode),
                            0 if uid is None else uid, 0 if gid is None else gid, mtime, rdev)
            new = NewEntry(path, h, data, link)
            self.insert(new, posixpath.dirname(path))
            return "add"
        same_type = self.type_of(node) == kind
        if isinstance(node, NewEntry):
            h = node.header
            slot: int | None = None
        else:
            src = self.raw[node]
            h = self.header(path, src.st_mode, src.uid, src.gid, mtime)
            h.name, h.ino, h.magic = src.name.encode("utf-8", "surrogateescape"), src.ino, \
                src.magic
            h.devmajor, h.devminor = src.dev
            if src.group >= 0:  # leaves its hardlink group: a fresh inode number
                h.ino = self.next_ino
                self.next_ino += 1
            slot = node
        keep_mode = h.mode & 0o7777 if same_type else default_mode
        h.mode = tbits | (keep_mode if mode is None else mode)
        h.uid = h.uid if uid is None and same_type else (uid or 0)
        h.gid = h.gid if gid is None and same_type else (gid or 0)
        h.mtime, h.nlink = mtime, (2 if kind == "dir" else 1)
        h.rdevmajor, h.rdevminor = rdev
        if isinstance(node, NewEntry):
            node.data, node.link = data, link
            return "replace"
        new = NewEntry(path, h, data, link)
        assert slot is not None
        self.replaced[slot] = new
        self.where[id(new)] = slot
        self.live[path] = new
        return "replace"

    def remove(self, path: str) -> int:
        """Remove ``path`` and everything below it; returns how many entries went."""
        prefix = path + "/"
        doomed = [p for p in self.live if p == path or p.startswith(prefix)]
        for p in doomed:
            node = self.live.pop(p)
            self.touch(p)
            if isinstance(node, NewEntry):
                slot = self.where.pop(id(node))
                if self.replaced.get(slot) is node:
                    del self.replaced[slot]
                    self.removed.add(slot)
                else:
                    self.after[slot].remove(node)
            for i in self.img.shadowed(p):  # shadowed copies in earlier segments too
                self.removed.add(i)
        return len(doomed)

    def current_data(self, node: Node, limit: int = EDIT_READ_MAX, path: str = "") -> bytes:
        """The whole data of ``node`` in memory: refused past ``limit``."""
        a, b = self.img.data_range(self.raw[node]) if isinstance(node, int) else \
            (0, node.data_len())
        if b - a > limit:
            what = path or (self.raw[node].path if isinstance(node, int) else node.path)
            raise InputError(f"{self.img.name}: {what} is {human_binary(b - a)}, too big "
                             f"to edit in memory (limit {human_binary(limit)})")
        if isinstance(node, int):
            return b"".join(self.img.iter_range(a, b, self.cancel))
        return data_bytes(node.data)

    # -- edits ---------------------------------------------------------------

    def set_data(self, path: str, data: bytes) -> None:
        """New data for the entry at ``path``; its header (owner, mode, mtime) is kept."""
        node = self.live[path]
        if isinstance(node, NewEntry):
            node.data = data
            return
        new = NewEntry(path, self.clone_header(node), data)
        self.replaced[node] = new
        self.where[id(new)] = node
        self.live[path] = new

    def clone_header(self, node: Node) -> cpio.Header:
        """The header of ``node`` as it will be emitted (size is set when serialising)."""
        if isinstance(node, NewEntry):
            h = node.header
            return cpio.Header(h.ino, h.mode, h.uid, h.gid, h.nlink, h.mtime, 0, h.devmajor,
                               h.devminor, h.rdevmajor, h.rdevminor, h.name, 0, h.magic)
        e = self.raw[node]
        return cpio.Header(e.ino, e.st_mode, e.uid, e.gid, e.nlink, e.mtime, 0, e.dev[0],
                           e.dev[1], e.rdev[0], e.rdev[1],
                           e.name.encode("utf-8", "surrogateescape"), 0, e.magic)

    def fix_hardlinks(self) -> None:
        """Original hardlink groups that lost or had a member replaced: the remaining
        members get the right link count and the last one carries the data."""
        for members in self.img.hardlink_groups():
            if not any(m in self.removed or m in self.replaced for m in members):
                continue
            keep = [m for m in members if m not in self.removed and m not in self.replaced]
            if not keep:
                continue
            data = self.current_data(keep[0])
            for k, m in enumerate(keep):
                h = self.clone_header(m)
                h.nlink = len(keep)
                last = k == len(keep) - 1
                new = NewEntry(self.raw[m].path, h, data if last else b"")
                self.replaced[m] = new
                self.where[id(new)] = m

    def emitted(self) -> list[tuple[int, list[NewEntry]]]:
        """(slot, new entries) in archive order, for hardlink data placement."""
        out = []
        for slot in sorted(set(self.replaced) | set(self.after)):
            items = []
            if slot in self.before:
                items += self.after.get(slot, [])
            if slot in self.replaced:
                items.append(self.replaced[slot])
            if slot not in self.before:
                items += self.after.get(slot, [])
            out.append((slot, items))
        return out

    def fix_new_links(self) -> None:
        """New hardlink groups: shared inode, link count, data on the last member."""
        order = [n for _, items in self.emitted() for n in items]
        groups: dict[int, list[NewEntry]] = {}
        for n in order:
            if n.link is not None and self.live.get(n.path) is n:
                groups.setdefault(id(n.link), []).append(n)
        for members in groups.values():
            link = members[0].link
            assert link is not None
            for k, n in enumerate(members):
                n.header.ino = link.ino
                n.header.nlink = len(members)
                n.data = link.data if k == len(members) - 1 else b""
