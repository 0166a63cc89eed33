"""Will an added module really load into the kernel tree it goes to?

After vermagic (kmod.check_vermagic), the symbol CRCs: XCP-ng 8.2 and 8.3 share the
uname and vermagic ``4.19.0+1``, so only ``__versions`` tells their modules apart
(modversions). A tree's CRCs are learned once per kernel and plan from the tree's own
modules (spooled during the scan, else read in one decode pass). ``firmware=`` names
files the kernel asks for at probe time: a missing one is only a warning (many drivers
list optional firmware).
"""

from __future__ import annotations

import posixpath

from xcptui.engine.errors import InputError
from xcptui.engine.initrd import kmod, modversions
from xcptui.engine.initrd.edits import data_bytes
from xcptui.engine.initrd.vtree import Node, VTree
from xcptui.engine.layout import FIRMWARE_DIRS

_SHOWN = 5  # unknown symbols named in the warning


class DriverChecks:
    """Per-plan cache of each kernel tree's symbol CRCs, and the checks using it."""

    def __init__(self, tree: VTree, kernel_dirs: dict[str, str]) -> None:
        self.tree, self.kernel_dirs = tree, kernel_dirs
        self._symbols: dict[str, modversions.TreeSymbols] = {}

    def tree_symbols(self, kver: str) -> modversions.TreeSymbols:
        if kver not in self._symbols:
            self._symbols[kver] = modversions.TreeSymbols.learn(
                self._module_data(self.kernel_dirs[kver]))
        return self._symbols[kver]

    def _module_data(self, kdir: str) -> list[bytes]:
        t = self.tree
        out: list[bytes] = []
        originals = []
        for p, node in t.live.items():
            if not p.startswith(kdir + "/") or not kmod.module_stem(p):
                continue
            if t.type_of(node) != "file":
                continue
            if not isinstance(node, int):
                out.append(data_bytes(node.data))
                continue
            copy = t.img.spooled_copy(t.img.data_range(t.raw[node]))
            if copy is not None:
                out.append(copy.read_bytes())
            else:
                originals.append(t.raw[node])
        if originals:  # not spooled (a plan opened without the spool): one decode pass
            out += t.img.read_many(originals, t.cancel).values()
        return out

    def check_symbols(self, mine: modversions.Versions, kver: str, label: str,
                      force: bool) -> list[str]:
        """Refuse (InputError) a module whose imported CRCs disagree with the tree's, or
        return warnings (forced mismatch, unknown symbols, nothing to check against)."""
        tree = self.tree_symbols(kver)
        if not tree.crcs:
            return [] if not mine.imports else [
                f"{label}: kernel {kver}'s modules carry no symbol versions; the module's "
                f"{len(mine.imports)} symbol CRCs were not checked"]
        if not mine.imports:
            msg = (f"{label}: has no symbol versions (__versions) but kernel {kver} is built "
                   "with CONFIG_MODVERSIONS and refuses it")
            if not force:
                raise InputError(f"{msg} (set force = true to override)")
            return [f"{msg}; added anyway (force = true)"]
        verdict = modversions.check_symbols(mine, tree)
        out: list[str] = []
        if not verdict.ok:
            msg = modversions.describe(verdict, label, kver)
            if not force:
                raise InputError(f"{msg} (set force = true to override)")
            out.append(f"{msg}; added anyway (force = true)")
        if verdict.unknown:
            names = ", ".join(verdict.unknown[:_SHOWN])
            more = ", ..." if len(verdict.unknown) > _SHOWN else ""
            out.append(f"{label}: {len(verdict.unknown)} imported symbol(s) not seen in any "
                       f"module of kernel {kver}, CRC not checked: {names}{more}")
        return out

    def added(self, kver: str, mine: modversions.Versions) -> None:
        """A module that went into the tree vouches for what it exports (a driver disk's
        second module may import the first one's symbols)."""
        self.tree_symbols(kver).crcs.update(mine.exports)

    def missing_firmware(self, info: kmod.ModInfo, label: str) -> list[str]:
        """One warning per ``firmware=`` file that is not under lib/firmware."""
        out = []
        for fw in info.fields.get("firmware", []):
            rel = fw.strip().lstrip("/")
            if not rel or ".." in rel.split("/"):
                continue
            if not any(self._is_file(posixpath.join(d, rel)) for d in FIRMWARE_DIRS):
                out.append(f"{label}: firmware {rel} is not in the image's lib/firmware; the "
                           "driver may fail to probe its device")
        return out

    def _is_file(self, path: str) -> bool:
        t = self.tree
        try:
            real = t.resolve(path)
        except InputError:
            return False
        node: Node | None = t.live.get(real)
        return node is not None and t.type_of(node) == "file"
