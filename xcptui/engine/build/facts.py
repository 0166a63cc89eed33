"""What an ISO is: the facts `xcptui inspect` prints and the TUI shows after opening.

Each part is gathered independently: a broken install.img or a missing boot
config becomes a problem line in the report, not a failure of the whole inspect.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from xcptui.engine.errors import XcptuiError
from xcptui.engine.events import Progress
from xcptui.engine.iso import hybrid
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.layout import GRUB_CFG, INSTALL_IMG, ISOLINUX_CFG, PACKAGES, REPOMD

if TYPE_CHECKING:
    from xcptui.engine.repo.treeinfo import TreeInfo


@dataclass
class IsoFacts:
    path: str
    size: int
    volume_id: str
    names: str  # rockridge | joliet | iso9660
    eltorito: list[dict[str, Any]] = field(default_factory=list)
    hybrid: dict[str, Any] = field(default_factory=dict)
    treeinfo: dict[str, dict[str, str]] = field(default_factory=dict)
    product: str = ""
    install_img: dict[str, Any] = field(default_factory=dict)
    boot: dict[str, Any] = field(default_factory=dict)
    repo: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def product_of(ti: TreeInfo | None) -> str:
    """'XCP-ng 8.3.0 (build 1)' from .treeinfo as the installer reads it (repo.treeinfo)."""
    if ti is None:
        return ""
    name, ver = ti.product
    build = ti.build_number or ""
    out = f"{name or ''} {ver or ''}".strip()
    return f"{out} (build {build})" if build else out


def gather(src: IsoSource, progress: Progress | None = None,
           cancel: threading.Event | None = None, *, deep: bool = True) -> IsoFacts:
    """Collect the ISO's facts; ``deep`` also scans install.img (seconds on a real ISO)."""
    progress = progress or Progress()
    f = IsoFacts(str(src.path), src.size, src.volume_id, src.name_source)
    f.eltorito = [asdict(b) for b in src.eltorito()]
    if not f.eltorito:
        f.problems.append("no El Torito boot catalog: the ISO does not boot from CD")
    h = hybrid.inspect(src.path)
    f.hybrid = h.to_dict()
    if not h.mbr_signature:
        f.problems.append("no hybrid MBR: the ISO does not boot from USB")
    f.hybrid["problems"] = list(h.gpt.problems)
    from xcptui.engine.repo import signing  # repo.treeinfo is the one .treeinfo parser

    ti: TreeInfo | None = None
    try:
        ti = signing.read_treeinfo(src)
    except XcptuiError as e:
        f.problems.append(str(e))
    f.treeinfo = ti.as_dict() if ti is not None else {}
    f.product = product_of(ti)
    f.boot = boot_facts(src)
    f.problems += f.boot.get("problems", [])
    f.repo = repo_facts(src, f.treeinfo)
    if deep and src.exists(INSTALL_IMG):
        f.install_img = install_img_facts(src, progress, cancel)
        if f.install_img.get("error"):
            f.problems.append(f.install_img["error"])
    elif not src.exists(INSTALL_IMG):
        f.problems.append("no /install.img: not an XCP-ng installation ISO")
    return f


def install_img_facts(src: IsoSource, progress: Progress | None = None,
                      cancel: threading.Event | None = None) -> dict[str, Any]:
    progress = progress or Progress()
    from xcptui.engine.initrd import image as installimg

    off, size = src.extent(INSTALL_IMG)
    out: dict[str, Any] = {"size": size}
    try:
        img = installimg.InstallImage.open(src.path, off, size, name="install.img",
                                           progress=progress, cancel=cancel)
    except XcptuiError as e:
        out["error"] = str(e)
        return out
    ents = img.entries()
    out.update(
        compression=img.compression,
        segments=img.segments,
        entries=len(ents),
        uncompressed=img.usize,
        kernels=img.kernels(),
    )
    return out


def boot_facts(src: IsoSource) -> dict[str, Any]:
    """Parse the boot configs (grub-usb.cfg too when present) and say whether they agree."""
    from xcptui.engine.boot import config as bootcfg
    from xcptui.engine.build.boot_stage import load_configs

    out: dict[str, Any] = {"configs": {}, "differences": [], "problems": []}
    try:
        cfgs = load_configs(src)
    except XcptuiError as e:
        out["problems"].append(str(e))
        return out
    for name, path in (("isolinux", ISOLINUX_CFG), ("grub", GRUB_CFG)):
        if getattr(cfgs, name) is None:
            out["problems"].append(f"{path}: missing")
    parsed = dict(cfgs.items())
    # pre-2023 8.2.x media: a fourth config, edited in step with the others
    out["grub_usb_cfg"] = cfgs.grub_usb is not None
    if cfgs.efiboot is not None:
        out["efiboot_grub_cfg"] = cfgs.efiboot_path
    for label, cfg in parsed.items():
        out["configs"][label] = cfg.summary()
    if len(parsed) > 1:
        out["differences"] = bootcfg.compare(parsed)
    return out


def repo_facts(src: IsoSource, ti: dict[str, dict[str, str]]) -> dict[str, Any]:
    from xcptui.engine.repo import signing

    st = signing.detect(src)
    out: dict[str, Any] = {
        "packages_dir": src.exists(PACKAGES),
        "repodata": src.exists(REPOMD),
        "signed_repomd": st.repomd_asc,
        "treeinfo_keys": list(st.keys),
        "key_files_present": [k for k in st.keys if src.exists("/" + k)],
        "signed": st.signed,
    }
    if out["packages_dir"]:
        out["rpm_count"] = sum(1 for e in src.listdir(PACKAGES) if e.name.endswith(".rpm"))
    out["signing"] = st.describe() if out["repodata"] else "no repository (netinstall ISO)"
    return out
