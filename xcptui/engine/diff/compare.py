"""``diff_isos``: open two ISOs read-only and compare them section by section."""

from __future__ import annotations

import threading
from pathlib import Path

from xcptui.engine.diff import boot, image, iso_files, packages, treeinfo
from xcptui.engine.diff.model import DiffReport
from xcptui.engine.events import Progress, check
from xcptui.engine.iso.read import IsoSource


def diff_isos(a: Path | str, b: Path | str, progress: Progress | None = None,
              cancel: threading.Event | None = None) -> DiffReport:
    """What differs from ISO ``a`` to ISO ``b`` (InputError when either cannot be read)."""
    progress = progress or Progress()
    with IsoSource.open(Path(a)) as sa, IsoSource.open(Path(b)) as sb:
        rep = DiffReport(str(a), str(b))
        if sa.volume_id != sb.volume_id:
            rep.volume_id = (sa.volume_id, sb.volume_id)
        rep.files = iso_files.compare(sa, sb, progress, cancel)
        check(cancel)
        rep.treeinfo = treeinfo.compare(sa, sb)
        rep.boot = boot.compare_configs(boot.load(sa, rep.notes), boot.load(sb, rep.notes))
        check(cancel)
        rep.packages = packages.compare(sa, sb, progress, cancel)
        check(cancel)
        rep.image = image.compare(sa, sb, progress, cancel)
    return rep
