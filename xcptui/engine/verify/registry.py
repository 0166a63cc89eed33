"""The check registry: each check's id, title and cost are declared once, by ``@check``.

Report order is FAMILIES order, then registration order inside a family module;
``specs()`` imports every family, so the registry is always complete.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xcptui.engine.events import Progress
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.layout import EFIBOOT_IMG
from xcptui.engine.verify.report import Outcome

CHUNK = 1 << 20
# the modules holding checks, in report order
FAMILIES = ("eltorito", "bootmenus", "installimg", "repository", "signing")


class Ctx:
    """What the checks share: the open ISO, a scratch dir, what one check parsed for others."""

    def __init__(self, src: IsoSource, work: Path, progress: Progress,
                 cancel: threading.Event | None) -> None:
        self.src, self.work, self.progress, self.cancel = src, work, progress, cancel
        #: "isolinux" | "grub" | "grub-usb" (old 8.2.x only) | "efiboot" -> BootConfig
        self.configs: dict[str, Any] = {}
        self.config_errors: dict[str, str] = {}
        self.configs_loaded = False
        self.efiboot_host: Path | None = None
        self.efiboot_files: list[str] | None = None
        self.efiboot_error: str | None = None
        self.repo: Any = None  # repository.RepoState, filled on first use
        self.full = False  # verify --full: decode everything, trust no index

    def host_copy(self, iso_path: str) -> Path:
        """Copy an ISO file to the scratch dir (for tools that need a host path)."""
        dest = self.work / iso_path.strip("/").replace("/", "__")
        if not dest.exists():
            off, size = self.src.extent(iso_path)
            with open(self.src.path, "rb") as f, open(dest, "wb") as out:
                pos = 0
                while pos < size:
                    chunk = os.pread(f.fileno(), min(CHUNK, size - pos), off + pos)
                    if not chunk:
                        break
                    out.write(chunk)
                    pos += len(chunk)
        return dest

    def load_efiboot(self) -> None:
        """List efiboot.img's FAT files once (the UEFI and boot-menu checks both need it)."""
        if self.efiboot_files is not None or self.efiboot_error is not None:
            return
        from xcptui.engine.errors import XcptuiError
        from xcptui.engine.iso import efiboot

        try:
            self.efiboot_host = self.host_copy(EFIBOOT_IMG)
            self.efiboot_files = efiboot.list_files(self.efiboot_host,
                                                    name=EFIBOOT_IMG.lstrip("/"))
        except XcptuiError as e:
            self.efiboot_error = str(e)


CheckFn = Callable[[Ctx], Outcome]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check. ``cheap`` checks read only small files (menus, tables,
    .treeinfo, repomd), so they can run on a source ISO in a moment."""

    id: str
    title: str
    cheap: bool
    run: CheckFn
    family: str


_REGISTRY: dict[str, CheckSpec] = {}


def check(check_id: str, title: str, *, cheap: bool) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the check ``check_id``."""

    def deco(fn: CheckFn) -> CheckFn:
        if check_id in _REGISTRY:
            raise ValueError(f"verify check {check_id!r} is registered twice")
        if any(s.title == title for s in _REGISTRY.values()):
            raise ValueError(f"verify check title {title!r} is used twice")
        family = fn.__module__.rsplit(".", 1)[-1]
        if family not in FAMILIES:
            raise ValueError(f"verify check {check_id!r} lives outside {FAMILIES}")
        _REGISTRY[check_id] = CheckSpec(check_id, title, cheap, fn, family)
        return fn

    return deco


def specs() -> list[CheckSpec]:
    """Every registered check, in report order."""
    for fam in FAMILIES:
        importlib.import_module(f"{__package__}.{fam}")
    order = {s.id: i for i, s in enumerate(_REGISTRY.values())}
    return sorted(_REGISTRY.values(), key=lambda s: (FAMILIES.index(s.family), order[s.id]))
