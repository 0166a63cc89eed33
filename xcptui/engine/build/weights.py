"""How much work each build stage is, so a build reports one overall fraction and ETA.

A stage's weight is the bytes it works through times a cost per byte relative to
copying ISO bytes. install.img work (decoding, re-encoding) is far slower per byte
than copying or hashing; the factors are rough (measured on the demo fixtures and a
real 8.3 ISO's install.img) and the UI's ETA smoother absorbs what they miss.
Estimates made before planning are refined with ``Progress.weigh`` from the plan.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from xcptui.engine.build.plan import BuildPlan
from xcptui.engine.events import Progress
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.layout import INSTALL_IMG, PACKAGES
from xcptui.engine.recipe import Recipe

COPY = 1.0  # master the ISO, hash packages
IMG_READ = 16.0  # per compressed byte of install.img decoded
IMG_WRITE = 16.0  # per uncompressed byte of install.img written (spliced or re-encoded)
RATIO = 3  # install.img's usual uncompressed / compressed size, until the plan knows

PLAN, IMAGE, WRITE, GPT, VERIFY = "plan", "install.img", "write", "gpt", "verify"


def _edits_image(recipe: Recipe) -> bool:
    inst = recipe.installer
    return bool(inst.remove or inst.files or inst.rpms or inst.drivers or recipe.drivers.disk
                or recipe.answerfile is not None)


def _file_size(p: object) -> int:
    if not isinstance(p, Path | str):
        return 0
    try:
        return Path(p).expanduser().stat().st_size
    except OSError:
        return 0


def _image_size(src: IsoSource) -> int:
    return src.extent(INSTALL_IMG)[1] if src.exists(INSTALL_IMG) else 0


def _packages_size(src: IsoSource) -> int:
    if not src.is_dir(PACKAGES):
        return 0
    return sum(e.size for e in src.walk(PACKAGES) if not e.is_dir)


def _mixed(img: int, other: int) -> tuple[int, float]:
    """Bytes and mean cost of a stage that decodes ``img`` and copies/hashes ``other``
    (a stage's steps report plain bytes, so the stage gets one cost per byte)."""
    n = img + other
    return n, (img * IMG_READ + other * COPY) / n if n else COPY


def declare(progress: Progress, src: IsoSource, recipe: Recipe, verify: bool) -> None:
    """Declare the build's stages with what is known before planning."""
    img = _image_size(src) if _edits_image(recipe) else 0
    added = sum(_file_size(p) for p in recipe.packages.add)
    progress.stages([
        (PLAN, *_mixed(img, added)),  # the headers of added RPMs are read
        (IMAGE, img * RATIO, IMG_WRITE),
        (WRITE, src.path.stat().st_size + added, COPY),
        (GPT, 0, COPY),
        (VERIFY, *(_mixed(_image_size(src), _packages_size(src)) if verify else (0, COPY))),
    ])


def planned(progress: Progress, src: IsoSource, plan: BuildPlan) -> None:
    """The install.img stage as the plan has it (``new_usize`` bytes written)."""
    progress.weigh(IMAGE, plan.image.plan.new_usize if plan.image_changed and
                   plan.image is not None else 0)


def staged(progress: Progress, src: IsoSource, plan: BuildPlan, verify: bool) -> None:
    """The ISO write and verify stages once the new files are on disk."""
    delta = 0
    for iso_path, host in plan.iso.put.items():
        delta += _file_size(host)
        if src.exists(iso_path) and not src.is_dir(iso_path):
            delta -= src.entry(iso_path).size
    for gone in plan.iso.remove:
        with contextlib.suppress(Exception):
            if src.exists(gone) and not src.is_dir(gone):
                delta -= src.entry(gone).size
    progress.weigh(WRITE, max(0, src.path.stat().st_size + delta))
    if verify and plan.image_changed:  # the new image's size, at the same mean cost
        progress.weigh(VERIFY, _file_size(plan.iso.put.get(INSTALL_IMG))
                       + _packages_size(src))
