"""The TUI's door into the engine: optional modules and graceful partial facts.

Some engine modules land later than others. ``optional("installimg")`` returns the
module or None, so a screen can show "not available yet" instead of crashing.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import asdict
from types import ModuleType

from xcptui.engine.build import facts as facts_mod
from xcptui.engine.errors import XcptuiError
from xcptui.engine.events import Progress
from xcptui.engine.iso import hybrid
from xcptui.engine.iso.read import IsoSource

_missing: dict[str, str] = {}
_WHERE = {
    "build": "xcptui.engine.build.runner", "boot_plan": "xcptui.engine.build.boot_stage",
    "bootcfg": "xcptui.engine.boot.config", "identity": "xcptui.engine.iso.identity",
    "rpmheader": "xcptui.engine.rpm.header", "kmod": "xcptui.engine.initrd.kmod",
    "packages": "xcptui.engine.repo.packages", "installimg": "xcptui.engine.initrd.image",
    "treeinfo": "xcptui.engine.repo.treeinfo",
}


class NotAvailable(XcptuiError):
    """A feature whose engine module is not installed (yet)."""


def optional(name: str) -> ModuleType | None:
    """``xcptui.engine.<name>`` or None when that module does not exist."""
    full = _WHERE.get(name, f"xcptui.engine.{name}")
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as e:
        if e.name != full:
            _missing[name] = f"needs {e.name}"
        else:
            _missing[name] = "not available yet"
        return None
    except ImportError as e:  # a module that imports a sibling that has not landed
        _missing[name] = f"not available yet ({e})"
        return None


def require(name: str, feature: str) -> ModuleType:
    mod = optional(name)
    if mod is None:
        why = _missing.get(name, "not available yet")
        raise NotAvailable(f"{feature}: {why} (engine module xcptui.engine.{name})")
    return mod


def has(*names: str) -> bool:
    return all(optional(n) is not None for n in names)


def gather_facts(src: IsoSource, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> facts_mod.IsoFacts:
    """``facts.gather`` (deep), or as many facts as the engine modules present allow."""
    progress = progress or Progress()
    try:
        return facts_mod.gather(src, progress, cancel, deep=True)
    except (ImportError, NotImplementedError):
        pass
    f = facts_mod.IsoFacts(str(src.path), src.size, src.volume_id, src.name_source)
    f.eltorito = [asdict(b) for b in src.eltorito()]
    h = hybrid.inspect(src.path)
    f.hybrid = h.to_dict()
    try:
        f.treeinfo = facts_mod.read_treeinfo(src)
    except (ValueError, UnicodeDecodeError) as e:
        f.problems.append(f".treeinfo: unreadable ({e})")
    f.product = facts_mod.product_of(f.treeinfo)
    try:
        f.boot = facts_mod.boot_facts(src)
    except (ImportError, NotImplementedError):
        f.boot = {"configs": {}, "differences": [], "problems": [],
                  "unavailable": "boot config reading is not available yet"}
    f.problems += f.boot.get("problems", [])
    f.repo = facts_mod.repo_facts(src, f.treeinfo)
    if src.exists(facts_mod.INSTALL_IMG):
        try:
            f.install_img = facts_mod.install_img_facts(src, progress, cancel)
        except (ImportError, NotImplementedError):
            f.install_img = {"size": src.entry(facts_mod.INSTALL_IMG).size,
                             "unavailable": "install.img reading is not available yet"}
        if f.install_img.get("error"):
            f.problems.append(f.install_img["error"])
    else:
        f.problems.append("no /install.img: not an XCP-ng installation ISO")
    return f
