"""Kernel modules: .modinfo (pyelftools), the vermagic check, kernel ordering, depmod.

XCP-ng kernels are built with CONFIG_MODVERSIONS and without module signing or
compression, so a ``.ko`` is a plain relocatable ELF whose ``.modinfo`` section holds
NUL-separated ``key=value`` strings (name, vermagic, alias, depends...). A module is
only loadable by the kernel whose version is the first word of its vermagic.

After modules change, the index files (modules.dep, modules.alias, ... and their .bin
twins) must be rebuilt offline: the 8.x installer never runs depmod at boot.
``run_depmod`` does it with the host's ``depmod -b`` on a temporary tree.
"""

from __future__ import annotations

import io
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from xcptui.engine.errors import BuildError, InputError
from xcptui.engine.tools import require

MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.gz", ".ko.zst")
# Inputs depmod reads besides the modules; everything else named modules.* it writes.
DEPMOD_INPUTS = ("modules.order", "modules.builtin", "modules.builtin.modinfo")


@dataclass
class ModInfo:
    """What ``modinfo`` would print for a module file."""

    name: str  # module name (from name=, else the file stem), as written
    vermagic: str
    fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kernel(self) -> str:
        """The kernel version the module was built for (vermagic's first word)."""
        return self.vermagic.split()[0] if self.vermagic.split() else ""

    def first(self, key: str) -> str:
        vals = self.fields.get(key)
        return vals[0] if vals else ""


def module_stem(filename: str) -> str | None:
    """"igc.ko" -> "igc"; None when the file is not a module."""
    base = filename.rsplit("/", 1)[-1]
    for suf in MODULE_SUFFIXES:
        if base.endswith(suf) and len(base) > len(suf):
            return base[: -len(suf)]
    return None


def normalise(name: str) -> str:
    """Module names compare with '-' and '_' equal, as the kernel and modprobe do."""
    return name.replace("-", "_")


def read_modinfo(data: bytes, label: str) -> ModInfo:
    """Parse a .ko's .modinfo; InputError (naming ``label``) if it is not a module."""
    if not data.startswith(b"\x7fELF"):
        raise InputError(f"{label}: not an ELF kernel module")
    try:
        elf = ELFFile(io.BytesIO(data))
        sec = elf.get_section_by_name(".modinfo")
        raw = sec.data() if sec is not None else None
    except (ELFError, ValueError, KeyError, OSError, AssertionError) as e:
        raise InputError(f"{label}: not a valid ELF kernel module ({e})") from None
    if raw is None:
        raise InputError(f"{label}: has no .modinfo section (not a kernel module)")
    fields: dict[str, list[str]] = {}
    for item in raw.split(b"\0"):
        if b"=" not in item:
            continue
        k, v = item.decode("utf-8", "replace").split("=", 1)
        fields.setdefault(k, []).append(v)
    stem = module_stem(label) or label.rsplit("/", 1)[-1].split(".", 1)[0]
    name = (fields.get("name") or [stem])[0] or stem
    return ModInfo(name=name, vermagic=(fields.get("vermagic") or [""])[0], fields=fields)


def check_vermagic(info: ModInfo, kver: str, label: str, image: str, force: bool
                   ) -> str | None:
    """Refuse a module built for another kernel; with ``force`` return a warning instead."""
    if info.kernel == kver:
        return None
    what = f"vermagic {info.vermagic.strip()}" if info.vermagic.strip() else "no vermagic"
    msg = f"{label}: {what} does not match kernel {kver} of {image}"
    if not force:
        raise InputError(f"{msg} (set force = true to override)")
    return f"{msg}; added anyway (force = true)"


def _version_key(v: str) -> list[tuple[int, int | str]]:
    """Natural sort key: "4.19.309" > "4.19.19", numbers compared as numbers."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", v) if p]


_MAIN_UNAME = re.compile(r"^\d+\.\d+\.0\+")


def order_kernels(versions: list[str]) -> list[str]:
    """Main kernel first, then the others ascending.

    Heuristic (documented): XCP-ng's main kernel is "4.19.0+1" (sublevel 0, on 8.2
    and 8.3) while kernel-alt carries the real sublevel ("4.19.322+1" on 8.3). So a
    "<x>.<y>.0+<n>" version is main; else the lowest one containing "+"; else the
    lowest version.
    """
    vs = sorted(set(versions), key=_version_key)
    zero = [v for v in vs if _MAIN_UNAME.match(v)]
    plus = [v for v in vs if "+" in v]
    if not vs:
        return []
    main = (zero or plus or vs)[0]
    return [main] + [v for v in vs if v != main]


# Optional inputs: older kernels (4.19) ship no modules.builtin.modinfo, and a tree
# without modules.order is simply unordered.
_HARMLESS = re.compile(r"could not open (modules\.order|modules\.builtin(\.modinfo)?) ")


def run_depmod(root: Path, kver: str) -> list[str]:
    """Run ``depmod -b root -C root/etc/depmod.d kver``; returns its warning lines."""
    exe = require("depmod", "regenerate the kernel module index (modules.dep) in install.img")
    conf = root / "etc" / "depmod.d"
    conf.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([exe, "-b", str(root), "-C", str(conf), kver],
                          capture_output=True, text=True, errors="replace")
    lines = [ln.strip() for ln in (proc.stderr or "").splitlines()
             if ln.strip() and not _HARMLESS.search(ln)]
    if proc.returncode != 0:
        first = lines[0] if lines else f"exit status {proc.returncode}"
        raise BuildError(f"depmod failed for kernel {kver}: {first}")
    return lines
