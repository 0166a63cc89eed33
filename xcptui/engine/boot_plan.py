"""Turning the recipe's [iso] identity and [boot]/[answerfile] settings into file changes.

The three boot configs (isolinux.cfg, the ISO-side grub.cfg, and the grub.cfg
inside boot/efiboot.img) are always edited together: a CD boot reads the ISO-side
grub.cfg, a USB boot reads the copy inside efiboot.img, so an edit that misses one
silently loses it on that boot path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xcptui.engine.isoread import IsoSource
from xcptui.engine.recipe import Recipe

if TYPE_CHECKING:
    from xcptui.engine.build import BuildPlan


def plan_identity(src: IsoSource, recipe: Recipe, plan: BuildPlan) -> None:
    """.treeinfo [build] number / product version."""
    iso = recipe.iso
    if iso.build_number is None and iso.product_version is None:
        return
    raise NotImplementedError("identity editing lands with engine/treeinfo.py")


def plan_boot(src: IsoSource, recipe: Recipe, plan: BuildPlan, workdir: Path) -> None:
    b = recipe.boot
    if not (b.append or b.remove or b.default is not None or b.timeout is not None
            or recipe.answerfile is not None):
        return
    raise NotImplementedError("boot editing lands with engine/bootcfg.py")
