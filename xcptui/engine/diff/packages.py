"""Packages/ by NEVRA: added, removed, upgraded, downgraded; xcp-ng-deps Requires.

A name.arch that lost exactly one version and gained exactly one is an upgrade or a
downgrade (rpm's EVR order); anything else (several versions of one name, e.g.
kernels side by side) stays as plain added/removed NEVRAs, which is what it is. A
NEVRA in both whose file checksum differs was rebuilt (or re-signed).
"""

from __future__ import annotations

import threading
from collections import defaultdict

from xcptui.engine.diff.model import PackageDiff, Upgrade
from xcptui.engine.events import Progress
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.layout import PACKAGES
from xcptui.engine.repo.packages import list_packages
from xcptui.engine.rpm.header import RpmInfo, evrcmp

DEPS_PACKAGE = "xcp-ng-deps"


def _packages(src: IsoSource, progress: Progress | None,
              cancel: threading.Event | None) -> dict[str, RpmInfo]:
    if not src.is_dir(PACKAGES):
        return {}
    return {p.nevra: p for p in list_packages(src, progress, cancel)}


def _deps(pk: dict[str, RpmInfo]) -> set[str]:
    return {str(d) for p in pk.values() if p.name == DEPS_PACKAGE for d in p.requires
            if not d.name.startswith("rpmlib(")}


def compare(a: IsoSource, b: IsoSource, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> PackageDiff:
    pa, pb = _packages(a, progress, cancel), _packages(b, progress, cancel)
    gone = [pa[n] for n in pa.keys() - pb.keys()]
    new = [pb[n] for n in pb.keys() - pa.keys()]
    by_gone: dict[tuple[str, str], list[RpmInfo]] = defaultdict(list)
    by_new: dict[tuple[str, str], list[RpmInfo]] = defaultdict(list)
    for p in gone:
        by_gone[(p.name, p.arch)].append(p)
    for p in new:
        by_new[(p.name, p.arch)].append(p)
    out = PackageDiff()
    paired: set[str] = set()
    for key in sorted(by_gone.keys() & by_new.keys()):
        olds, news = by_gone[key], by_new[key]
        if len(olds) != 1 or len(news) != 1:
            continue
        old, nw = olds[0], news[0]
        c = evrcmp(nw.evr_obj, old.evr_obj)
        if c == 0:
            continue  # same EVR, other NEVRA spelling: leave as added/removed
        u = Upgrade(key[0], key[1], old.evr, nw.evr)
        (out.upgraded if c > 0 else out.downgraded).append(u)
        paired |= {old.nevra, nw.nevra}
    out.added = sorted(p.nevra for p in new if p.nevra not in paired)
    out.removed = sorted(p.nevra for p in gone if p.nevra not in paired)
    out.rebuilt = sorted(n for n in pa.keys() & pb.keys()
                         if pa[n].checksum and pb[n].checksum and pa[n].checksum != pb[n].checksum)
    da, db = _deps(pa), _deps(pb)
    out.deps_added, out.deps_removed = sorted(db - da), sorted(da - db)
    return out
