"""Rebuilding a kernel tree's module index offline: stage what depmod reads, run the
host's depmod on it, put its output back into the planned image.

Only modules, modules.order/builtin* and etc/depmod.d are staged (0644 whatever
their mode in the image); when the scan spooled them, the copies are linked instead
of decoding the image again.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO

from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.initrd import kmod
from xcptui.engine.initrd.edits import HostFile, data_bytes
from xcptui.engine.initrd.scan import open_0644
from xcptui.engine.initrd.vtree import NewEntry, Node, VTree
from xcptui.engine.layout import DEPMOD_D, MODULES_DIRS


def depmod_input(path: str) -> bool:
    """Spool predicate for a plan that may rebuild a module index: what depmod reads
    (modules, modules.order/builtin*, etc/depmod.d/*) and the index files it is
    compared with (modules.*).

    It runs during the scan, before the image's symlinks are all known, so it takes
    both spellings of the modules directory (real media: lib -> usr/lib).
    """
    if path.startswith(DEPMOD_D + "/"):
        return "/" not in path[len(DEPMOD_D) + 1:]
    if not any(path.startswith(d + "/") for d in MODULES_DIRS):
        return False
    name = posixpath.basename(path)
    return bool(kmod.module_stem(name)) or name.startswith("modules.")


class DepmodStage:
    """Regenerates the index of the kernel trees a plan touched."""

    def __init__(self, tree: VTree, kernel_dirs: dict[str, str], depmod_conf: str,
                 progress: Progress, cancel: threading.Event | None) -> None:
        self.tree, self.kernel_dirs, self.depmod_conf = tree, kernel_dirs, depmod_conf
        self.progress, self.cancel = progress, cancel
        self.warnings: list[str] = []

    def run(self, affected: set[str]) -> None:
        t = self.tree
        for kver in sorted(affected):
            kdir = self.kernel_dirs.get(kver)
            node = t.live.get(kdir) if kdir else None
            if kdir is None or node is None or t.type_of(node) != "dir":
                continue  # the whole tree was removed
            check(self.cancel)
            self.progress.log(f"depmod {kver}")
            with tempfile.TemporaryDirectory(prefix="xcptui-depmod-") as td:
                root = Path(td)
                self._stage(root, kver, kdir)
                for line in kmod.run_depmod(root, kver)[:5]:
                    self.warnings.append(f"depmod {kver}: {line}")
                out_dir = root / "lib" / "modules" / kver
                produced = {f.name: f.read_bytes() for f in sorted(out_dir.iterdir())
                            if f.is_file() and f.name.startswith("modules.")
                            and f.name not in kmod.DEPMOD_INPUTS}
            self._apply(kdir, kver, produced)

    def _stage(self, root: Path, kver: str, kdir: str) -> None:
        """Write only what depmod reads: the tree's modules, its order/builtin files and
        etc/depmod.d. Everything is written 0644 whatever its mode in the image."""
        t = self.tree
        wanted: list[tuple[Path, Node]] = []
        base = root / "lib" / "modules" / kver
        for p, node in t.live.items():
            if not p.startswith(kdir + "/"):
                continue
            name = posixpath.basename(p)
            if not (kmod.module_stem(name) or name in kmod.DEPMOD_INPUTS):
                continue
            if t.type_of(node) == "symlink":
                real = t.live.get(t.resolve(p))
                if real is None or t.type_of(real) != "file":
                    continue
                node = real
            if t.type_of(node) == "file":
                wanted.append((base / p[len(kdir) + 1:], node))
        image_conf = root / "image-depmod.d"  # as in the image; depmod gets a safe copy
        conf = self.depmod_conf
        for p, node in t.live.items():
            if p.startswith(conf + "/") and t.type_of(node) == "file" \
                    and "/" not in p[len(conf) + 1:]:
                wanted.append((image_conf / posixpath.basename(p), node))
        self._write_nodes(wanted, f"{t.img.name}: read the modules of {kver} for depmod")
        conf_dir = root / "etc" / "depmod.d"
        conf_dir.mkdir(parents=True)
        for f in sorted(image_conf.iterdir()) if image_conf.is_dir() else []:
            label = f"{t.img.name}: {conf}/{f.name}"
            text, dropped = sanitise_depmod_conf(f.read_text("utf-8", "surrogateescape"),
                                                 label)
            _write_0644(conf_dir / f.name, [text.encode("utf-8", "surrogateescape")])
            self.warnings += [w for w in dropped if w not in self.warnings]

    def _write_nodes(self, wanted: list[tuple[Path, Node]], label: str) -> None:
        """Write node data to host paths; original entries in one streaming pass."""
        t = self.tree
        spans: dict[tuple[int, int], list[Path]] = {}
        for host, node in wanted:
            host.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(node, int):
                a, b = t.img.data_range(t.raw[node])
                if b > a:
                    spans.setdefault((a, b), []).append(host)
                    continue
            if not isinstance(node, int) and isinstance(node.data, HostFile):
                _copy_0644(node.data.path, host)  # streamed, never whole in memory
                continue
            _write_0644(host, [b""] if isinstance(node, int) else [data_bytes(node.data)])
        for span in list(spans):
            copy = t.img.spooled_copy(span)
            if copy is not None:
                for host in spans.pop(span):
                    _link_or_copy(copy, host)
        order = sorted(spans)
        self.progress.step(label, sum(b - a for a, b in order))
        done, current = 0, -1
        fps: list[BinaryIO] = []
        try:
            for i, chunk in t.img.iter_ranges(order, self.cancel):
                if i != current:
                    for fp in fps:
                        fp.close()
                    fps = [open_0644(h) for h in spans[order[i]]]
                    current = i
                for fp in fps:
                    fp.write(chunk)
                done += len(chunk)
                self.progress.update(done)
        finally:
            for fp in fps:
                fp.close()

    def _apply(self, kdir: str, kver: str, produced: dict[str, bytes]) -> None:
        t = self.tree
        existing = {n: t.live[f"{kdir}/{n}"] for n in produced if f"{kdir}/{n}" in t.live}
        current = self._current_many(existing)
        template = t.live.get(f"{kdir}/modules.dep")
        anchor = max((node for p, node in t.live.items()
                      if isinstance(node, int) and posixpath.dirname(p) == kdir
                      and posixpath.basename(p).startswith("modules.")), default=None)
        changed: list[str] = []
        for name, data in produced.items():
            path = f"{kdir}/{name}"
            if name in existing:
                if current.get(name) == data:
                    continue
                t.set_data(path, data)
            else:
                self._add_index_file(path, data, template, anchor)
            changed.append(name)
        if changed:
            t.changes.append(f"regenerate module index of {kver} with depmod: "
                             f"{', '.join(changed)}")

    def _current_many(self, nodes: dict[str, Node]) -> dict[str, bytes]:
        """Current data of ``nodes``: spooled copies, else one decode pass for the rest."""
        t = self.tree
        out: dict[str, bytes] = {}
        originals = []
        for name, n in nodes.items():
            if not isinstance(n, int):
                out[name] = data_bytes(n.data)
                continue
            copy = t.img.spooled_copy(t.img.data_range(t.raw[n]))
            if copy is not None:
                out[name] = copy.read_bytes()
            else:
                originals.append(t.raw[n])
        got = t.img.read_many(originals, self.cancel) if originals else {}
        for name, n in nodes.items():
            if isinstance(n, int) and name not in out:
                out[name] = got[n]
        return out

    def _add_index_file(self, path: str, data: bytes, template: Node | None,
                        anchor: int | None) -> None:
        t = self.tree
        h = t.header(path, stat.S_IFREG | 0o644, 0, 0, t.now)
        if template is not None and t.type_of(template) == "file":
            c = t.clone_header(template)
            h.mode, h.uid, h.gid, h.mtime = c.mode, c.uid, c.gid, c.mtime
        t.insert(NewEntry(path, h, data), posixpath.dirname(path), anchor)


def sanitise_depmod_conf(text: str, label: str) -> tuple[str, list[str]]:
    """The depmod.d file ``text`` without the directives that would make the HOST's
    depmod read host directories, and one warning per dropped line.

    depmod runs on a staged copy of the kernel tree, but ``external`` names absolute
    directories it scans as they are (``external * /etc`` lists host modules), and a
    ``search``/``override`` path that is absolute or climbs out with ".." leaves the
    tree. Lines are kmod's: '#' starts a comment only first on a line, a trailing
    backslash continues it.
    """
    out: list[str] = []
    warnings: list[str] = []
    lines = text.splitlines(keepends=True)
    n = 0
    while n < len(lines):
        first = n
        logical = lines[n]
        while logical.rstrip("\n").endswith("\\") and n + 1 < len(lines):
            n += 1
            logical = logical.rstrip("\n")[:-1] + " " + lines[n]
        n += 1
        why = _outside_tree(logical)
        if why is None:
            out.extend(lines[first:n])
            continue
        shown = " ".join(logical.split())
        warnings.append(f"{label} line {first + 1}: '{shown[:80]}' {why}; "
                        "left out of the depmod run")
        out.extend("\n" for _ in range(first, n))  # keeps depmod's line numbers
    return "".join(out), warnings


def _outside_tree(line: str) -> str | None:
    words = line.split()
    if not words or words[0].startswith("#"):
        return None
    cmd, args = words[0], words[1:]
    if cmd == "external" and len(args) > 1:
        return "makes depmod scan directories of this computer"
    paths = args if cmd == "search" else args[2:3] if cmd == "override" else []
    for a in paths:
        if a.startswith("/") or ".." in a.split("/"):
            return "names a directory outside the kernel tree"
    return None


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
        os.chmod(dest, 0o644)


def _copy_0644(src: Path, dest: Path) -> None:
    """A copy (never a link: the source may be the user's file) that depmod reads."""
    try:
        with open(src, "rb") as fi, open_0644(dest) as fo:
            shutil.copyfileobj(fi, fo)
    except OSError as e:
        raise InputError(f"{src}: cannot read: {e.strerror}") from None


def _write_0644(path: Path, parts: list[bytes]) -> None:
    with open_0644(path) as fp:
        for p in parts:
            fp.write(p)
