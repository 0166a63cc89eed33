"""What the Browse tree shows, without any widget code: nodes, children, search.

Three areas share one tree: the ISO itself ("iso"), the merged view of install.img
("img") and the payload file list of an RPM ("rpm"). Paths are absolute within
their area ("/boot/isolinux", "/etc/shadow", "/usr/bin/htop").
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from xcptui.engine import ImageEntry, InstallImage
from xcptui.tui.state.session import INSTALL_IMG, Session

ISO, IMG, RPM = "iso", "img", "rpm"


@dataclass
class NodeInfo:
    area: str  # iso | img | rpm
    path: str  # absolute within the area
    name: str
    is_dir: bool = False
    size: int | None = None
    kind: str = "file"  # file | dir | symlink | chardev | blockdev | fifo | socket
    link_target: str | None = None
    container: str | None = None  # rpm area: ISO path of the .rpm
    virtual: bool = False  # exists only as a pending addition
    loaded: bool = False
    entry: Any = field(default=None, repr=False)

    @property
    def expandable(self) -> bool:
        return self.is_dir or self.is_image or self.is_rpm

    @property
    def is_image(self) -> bool:
        return self.area == ISO and self.path == INSTALL_IMG

    @property
    def is_rpm(self) -> bool:
        return self.area == ISO and not self.is_dir and self.path.endswith(".rpm") \
            and not self.virtual

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.area, self.path, self.container)


def iso_root() -> NodeInfo:
    return NodeInfo(ISO, "/", "/", is_dir=True, kind="dir")


def img_root() -> NodeInfo:
    return NodeInfo(IMG, "/", "install.img", is_dir=True, kind="dir")


def _virtual_children(parent: str, existing: set[str], added: Iterable[str],
                      area: str) -> list[NodeInfo]:
    """Pending additions directly under ``parent`` (and dirs leading to deeper ones)."""
    out: dict[str, NodeInfo] = {}
    prefix = parent.rstrip("/") + "/"
    for path in added:
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix):]
        first = rest.split("/", 1)[0]
        child = prefix + first
        if not first or first in existing or child in out:
            continue
        is_dir = "/" in rest
        out[child] = NodeInfo(area, child, first, is_dir=is_dir,
                              kind="dir" if is_dir else "file", virtual=True)
    return sorted(out.values(), key=lambda n: n.name)


def iso_children(s: Session, path: str) -> list[NodeInfo]:
    out = []
    for e in s.iso.listdir(path):
        out.append(NodeInfo(ISO, e.path, e.name, is_dir=e.is_dir,
                            size=None if e.is_dir else e.size,
                            kind="dir" if e.is_dir else ("symlink" if e.is_symlink else "file"),
                            link_target=e.link_target, entry=e))
    added = [p for p, m in s.iso_marks().items() if m == "added"]
    out += _virtual_children(path, {n.name for n in out}, added, ISO)
    return sorted(out, key=lambda n: (not n.is_dir, n.name))


def _links_to_dir(img: InstallImage, e: ImageEntry) -> bool:
    """A symlink to a directory of the image (the real image has lib -> usr/lib)."""
    real = img.resolve(e.path)
    target = img.get(real) if real is not None else None
    return target is not None and target.is_dir


def img_node(e: ImageEntry, img: InstallImage | None = None) -> NodeInfo:
    """A tree node for an image entry; with ``img``, a symlinked directory expands."""
    path = "/" + e.path
    is_dir = e.type == "dir" or (img is not None and e.type == "symlink"
                                 and _links_to_dir(img, e))
    return NodeInfo(IMG, path, path.rsplit("/", 1)[-1], is_dir=is_dir,
                    size=e.size if e.type == "file" else None, kind=e.type,
                    link_target=e.link_target, entry=e)


def img_children(s: Session, path: str) -> list[NodeInfo]:
    img = s.image()
    inner = path.strip("/")
    entries = img.listdir(inner) if inner else img.listdir("")
    out = [img_node(e, img) for e in entries if not getattr(e, "unsafe", False)]
    added = [p for p, m in s.image_marks().items() if m == "added"]
    out += _virtual_children(path if path != "/" else "", {n.name for n in out}, added, IMG)
    return sorted(out, key=lambda n: (not n.is_dir, n.name))


def rpm_tree(files: list[str]) -> dict[str, list[tuple[str, bool]]]:
    """Directory -> [(name, is_dir)] from an RPM's flat file list."""
    tree: dict[str, dict[str, bool]] = {}
    for f in files:
        parts = [p for p in f.split("/") if p]
        for i, part in enumerate(parts):
            d = "/" + "/".join(parts[:i])
            is_dir = i < len(parts) - 1
            kids = tree.setdefault(d, {})
            kids[part] = kids.get(part, False) or is_dir
    return {d: sorted(k.items(), key=lambda kv: (not kv[1], kv[0])) for d, k in tree.items()}


def rpm_children(info: Any, container: str, path: str) -> list[NodeInfo]:
    tree = rpm_tree(list(getattr(info, "files", []) or []))
    out = []
    for name, is_dir in tree.get(path if path != "/" else "/", []):
        child = posixpath.join(path, name)
        out.append(NodeInfo(RPM, child, name, is_dir=is_dir, kind="dir" if is_dir else "file",
                            container=container))
    return out


def matcher(pattern: str) -> Any:
    """Case-insensitive substring, or a glob when the pattern has * ? or [."""
    pat = pattern.strip().lower()
    if any(c in pat for c in "*?["):
        return lambda name: fnmatch.fnmatchcase(name.lower(), pat)
    return lambda name: pat in name.lower()


MAX_MATCHES = 50_000  # held in memory; the tree shows them a page at a time


def search(s: Session, pattern: str, limit: int = MAX_MATCHES) -> tuple[list[NodeInfo], bool]:
    """Entries whose name matches, across the ISO, install.img (if read) and read RPMs,
    then the recipe's pending additions (files that do not exist yet)."""
    match = matcher(pattern)
    found: list[NodeInfo] = []
    seen: set[tuple[str, str]] = set()

    def take(items: Iterator[NodeInfo]) -> bool:
        for n in items:
            if match(n.name) and (n.area, n.path) not in seen:
                found.append(n)
                seen.add((n.area, n.path))
                if len(found) >= limit:
                    return False
        return True

    def iso_items() -> Iterator[NodeInfo]:
        for e in s.iso.walk("/"):
            if e.path == "/":
                continue
            yield NodeInfo(ISO, e.path, e.name, is_dir=e.is_dir,
                           size=None if e.is_dir else e.size,
                           kind="dir" if e.is_dir else "file", entry=e)

    def img_items() -> Iterator[NodeInfo]:
        if s.image_loaded:
            for e in s.image().entries():
                if e.path and not getattr(e, "unsafe", False):
                    yield img_node(e)

    def pending_items() -> Iterator[NodeInfo]:
        for area, marks in ((ISO, s.iso_marks()), (IMG, s.image_marks())):
            for path, mark in sorted(marks.items()):
                if mark == "added":
                    full = path if path.startswith("/") else "/" + path
                    yield NodeInfo(area, full, posixpath.basename(full.rstrip("/")),
                                   kind="file", virtual=True)

    truncated = not (take(iso_items()) and take(img_items()) and take(pending_items()))
    return found, truncated
