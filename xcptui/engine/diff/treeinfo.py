""".treeinfo: every option that differs, as "section.key: old -> new"."""

from __future__ import annotations

from xcptui.engine.diff.model import KeyChange
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.layout import TREEINFO
from xcptui.engine.repo.treeinfo import TreeInfo


def load(src: IsoSource) -> dict[str, str]:
    """"section.key" -> value as the installer reads it ({} when there is no .treeinfo)."""
    if not src.exists(TREEINFO):
        return {}
    ti = TreeInfo.from_bytes(src.read(TREEINFO), f"{src.path.name}: .treeinfo")
    return {f"{sec}.{k}": v for sec, vals in ti.as_dict().items() for k, v in vals.items()}


def compare(a: IsoSource, b: IsoSource) -> list[KeyChange]:
    ka, kb = load(a), load(b)
    return [KeyChange(k, ka.get(k), kb.get(k)) for k in sorted(ka.keys() | kb.keys())
            if ka.get(k) != kb.get(k)]
