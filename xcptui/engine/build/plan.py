"""A build's plan: the recipe checked against the source ISO, turned into typed parts.

Every stage returns its part (``ImagePart``, ``BootPart``, ``PackagesPart``...) and
``plan_build`` composes them; nothing mutates a shared plan. Everything that can be
checked is checked here, before any byte of the output is written. The TUI shows
these parts (``plan_boot_effects`` for the Identity & boot step, ``plan_build`` for
Review); it never re-derives what a build will do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from xcptui.engine.boot.answerfile import AnswerfilePlan
from xcptui.engine.build import boot_stage
from xcptui.engine.build.boot_stage import BootPart
from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress
from xcptui.engine.initrd import installimg as ii
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.iso.write import IsoChanges
from xcptui.engine.layout import (
    DEPMOD_D,
    GRUB_CFG,
    INSTALL_IMG,
    ISOLINUX_CFG,
    MODULES_DIRS,
    TREEINFO,
)
from xcptui.engine.recipe import Recipe


@dataclass
class ImagePart:
    """install.img: the opened source image and the engine's plan of its edits.

    The image stays open (the writer splices from it); ``BuildPlan.close`` closes it.
    """

    image: ii.InstallImage
    plan: ii.ImagePlan


@dataclass
class BuildPlan:
    """Everything a build will do, computed before anything is written."""

    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    iso: IsoChanges = field(default_factory=IsoChanges)  # volume id, ISO files put/removed
    image: ImagePart | None = None
    new_text: dict[str, bytes] = field(default_factory=dict)  # ISO path -> new content
    efiboot_grub: bytes | None = None  # new grub.cfg for inside boot/efiboot.img
    answerfile: AnswerfilePlan | None = None

    @property
    def image_changed(self) -> bool:
        return self.image is not None and not self.image.plan.empty

    def close(self) -> None:
        if self.image is not None:
            self.image.image.close()

    def _take(self, part: BootPart) -> None:
        self.new_text.update(part.new_text)
        if part.efiboot_grub is not None:
            self.efiboot_grub = part.efiboot_grub
        self.changes += part.changes
        self.warnings += part.warnings


@dataclass(frozen=True)
class BootEffects:
    """What the identity/boot/answerfile settings do, for the Identity & boot step."""

    changes: tuple[str, ...]
    warnings: tuple[str, ...]
    new_text: dict[str, bytes]  # ISO path -> new content (boot configs, .treeinfo)
    efiboot_grub: bytes | None
    #: (config name, summary lines) per boot config: "+param  on install, safe", "unchanged"
    per_config: tuple[tuple[str, tuple[str, ...]], ...] = ()


def installimg_edits(recipe: Recipe, afp: AnswerfilePlan | None) -> list[ii.Edit]:
    """The install.img edits a recipe (and its embedded answerfile) asks for, in order."""
    edits: list[ii.Edit] = []
    inst = recipe.installer
    for rm in inst.remove:
        edits.append(ii.RemovePath(rm.path))
    for f in inst.files:
        edits.append(ii.AddFile(f.dest, f.source, mode=f.mode, uid=f.uid, gid=f.gid))
    for r in inst.rpms:
        edits.append(ii.AddRpmPayload(r.source))
    for d in inst.drivers:
        edits.append(ii.AddDriver(d.source, kernel=d.kernel, dest=d.dest, force=d.force,
                                  kernels=tuple(d.kernels)))
    if afp is not None:
        for emb in afp.embedded:
            edits.append(ii.AddFile(emb.dest, emb.data, mode=emb.mode, uid=0, gid=0,
                                    origin="the recipe's [answerfile]"))
    return edits


def _touches_modules(edits: list[ii.Edit]) -> bool:
    """Edits that can change a kernel tree need depmod, which reads every module."""
    prefixes = tuple(f"{d}/" for d in MODULES_DIRS) + (DEPMOD_D,)
    for e in edits:
        if isinstance(e, ii.AddDriver | ii.AddDriverSet | ii.AddRpmPayload):
            return True
        where = e.dest if isinstance(e, ii.AddFile) else e.path
        if str(where).lstrip("/").startswith(prefixes):
            return True
    return False


def plan_image(src: IsoSource, edits: list[ii.Edit], workdir: Path, progress: Progress,
               cancel: threading.Event | None) -> ImagePart:
    if not src.exists(INSTALL_IMG):
        raise InputError(f"{src.path.name}: has no /install.img; the recipe's installer "
                         "changes need it")
    off, size = src.extent(INSTALL_IMG)
    # copy module files out during the one decode rather than decoding the image twice
    spool = ii.depmod_input if _touches_modules(edits) else None
    img = ii.InstallImage.open(src.path, off, size, name="install.img", progress=progress,
                               cancel=cancel, spool=spool, spool_dir=workdir)
    try:
        return ImagePart(img, ii.plan(img, edits, progress=progress, cancel=cancel))
    except BaseException:
        img.close()
        raise


def plan_volume_id(src: IsoSource, recipe: Recipe) -> tuple[str | None, list[str]]:
    from xcptui.engine.iso import identity

    vid = recipe.iso.volume_id
    if vid is None or vid == src.volume_id:
        return None, []
    identity.validate_volume_id(vid)
    return vid, [f"volume id: {src.volume_id!r} -> {vid!r}"]


def plan_boot_effects(src: IsoSource, recipe: Recipe) -> BootEffects:
    """The identity, answerfile and boot-config part of a build, cheap enough for a form.

    The same stages ``plan_build`` runs, in the same order, without install.img or
    Packages/ (so a signing edit to .treeinfo is not included).
    """
    _, changes = plan_volume_id(src, recipe)
    warnings: list[str] = []
    afp = boot_stage.plan_answerfile(src, recipe)
    if afp is not None:
        changes += afp.messages
        warnings += afp.warnings
    boot = boot_stage.plan_boot(src, recipe, afp)
    ident = boot_stage.plan_identity(src, recipe)
    return BootEffects(
        changes=tuple(changes) + boot.changes + ident.changes,
        warnings=tuple(warnings) + boot.warnings + ident.warnings,
        new_text={**boot.new_text, **ident.new_text}, efiboot_grub=boot.efiboot_grub,
        per_config=boot_stage.per_config_effects(src, boot.new_text, boot.efiboot_grub))


def plan_build(src: IsoSource, recipe: Recipe, workdir: Path, progress: Progress | None,
               cancel: threading.Event | None) -> BuildPlan:
    """Validate the recipe against the ISO and compute every change; writes only to workdir.

    The caller calls ``plan.close()`` when done with the plan.
    """
    progress = progress or Progress()
    plan = BuildPlan()
    try:
        _compose(plan, src, recipe, workdir, progress, cancel)
    except BaseException:
        plan.close()
        raise
    return plan


_SECRET_DIRS = (Path("/etc"), Path("/root"), Path.home() / ".ssh", Path.home() / ".gnupg")


def host_sources(recipe: Recipe) -> list[Path]:
    """Every host file the recipe copies into the ISO."""
    out: list[Path] = [f.source for f in recipe.iso.files]
    inst = recipe.installer
    out += [f.source for f in inst.files if isinstance(f.source, Path)]
    out += [r.source for r in inst.rpms] + [d.source for d in inst.drivers]
    out += [d.source for d in recipe.drivers.disk]
    out += [Path(p) for p in recipe.packages.add]
    af = recipe.answerfile
    if af is not None and af.source is not None:
        out.append(Path(af.source))
        out += [Path(s.source) for s in af.scripts]
    return out


def secret_warnings(recipe: Recipe) -> list[str]:
    """A host secret (anything under /etc, /root, ~/.ssh, ~/.gnupg) is embedded only
    with a warning naming it: whoever gets the ISO can read it."""
    out = []
    for p in host_sources(recipe):
        try:
            real = p.expanduser().resolve()
        except (OSError, RuntimeError):
            continue
        for d in _SECRET_DIRS:
            if real == d or d in real.parents:
                out.append(f"embeds the host file {p} (under {d}): anyone with the ISO can "
                           "read it")
                break
    return out


def _compose(plan: BuildPlan, src: IsoSource, recipe: Recipe, workdir: Path,
             progress: Progress, cancel: threading.Event | None) -> None:
    name = src.path.name
    plan.warnings += secret_warnings(recipe)
    if not src.eltorito():
        raise InputError(f"{name}: has no El Torito boot catalog; xcptui only rebuilds "
                         "bootable installation ISOs (inspect and extract still work)")
    plan.iso.volume_id, lines = plan_volume_id(src, recipe)
    plan.changes += lines

    # answerfile: validated first, it feeds both install.img and the boot configs
    plan.answerfile = boot_stage.plan_answerfile(src, recipe)
    if plan.answerfile is not None:
        plan.changes += plan.answerfile.messages
        plan.warnings += plan.answerfile.warnings

    disk_edits: list[ii.Edit] = []
    if recipe.drivers.disk:  # both halves: modules into install.img, RPMs into Packages/
        from xcptui.engine.build import driverdisk

        exp = driverdisk.expand(recipe, workdir, cancel)
        recipe, disk_edits = exp.recipe, exp.edits
        plan.changes += exp.changes
        plan.warnings += exp.warnings
    edits = installimg_edits(recipe, plan.answerfile) + disk_edits
    if edits:
        plan.image = plan_image(src, edits, workdir, progress, cancel)
        plan.changes += [f"install.img: {c}" for c in plan.image.plan.changes]
        plan.warnings += plan.image.plan.warnings

    plan._take(boot_stage.plan_boot(src, recipe, plan.answerfile))

    if recipe.touches_repo():
        from xcptui.engine.repo import packages

        pplan = packages.plan(src, recipe, workdir, progress, cancel)
        for path, host in pplan.iso_changes.items():
            if host is None:
                plan.iso.remove.add(path)
            else:
                plan.iso.put[path] = host
        if pplan.treeinfo is not None:
            plan.new_text[TREEINFO] = pplan.treeinfo
        plan.changes += pplan.changes
        plan.warnings += pplan.warnings
    elif recipe.signing is not None:
        plan.warnings.append("[signing] has no effect: the recipe does not change Packages/ "
                             "or repodata, so the ISO keeps its signing as it is")

    # .treeinfo identity, on top of any signing edit
    plan._take(boot_stage.plan_identity(src, recipe, plan.new_text.get(TREEINFO)))

    for f in recipe.iso.files:
        plan.iso.put[f.dest] = f.source
        plan.changes.append(f"{'replace' if src.exists(f.dest) else 'add'} {f.dest} "
                            f"from {f.source}")
    for rm in recipe.iso.remove:
        if not src.exists(rm.path):
            raise InputError(f"{name}: cannot remove {rm.path}: not on the ISO")
        plan.iso.remove.add(rm.path)
        plan.changes.append(f"remove {rm.path}")
    if plan.iso.remove:
        _check_boot_files_kept(src, plan)


def _removed(plan: BuildPlan, path: str) -> bool:
    if path in plan.iso.put:
        return False
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in plan.iso.remove)


def _check_boot_files_kept(src: IsoSource, plan: BuildPlan) -> None:
    """Refuse, before any write, a removal that takes away a file a boot entry loads."""
    from xcptui.engine.boot import config as bootcfg

    cfgs = boot_stage.load_configs(src)
    for cname, cfg in cfgs.items():
        iso_path = {"isolinux.cfg": ISOLINUX_CFG, "grub.cfg": GRUB_CFG}.get(cname)
        if iso_path is not None and iso_path in plan.new_text:
            cfg = bootcfg.BootConfig.from_bytes(plan.new_text[iso_path], cfg.kind, cfg.name)
        for e in cfg.entries:
            for f in (e.hypervisor, e.kernel_path, e.initrd):
                if f and f.startswith("/") and src.exists(f) and _removed(plan, f):
                    raise InputError(
                        f"{src.path.name}: the recipe removes {f}, which boot entry "
                        f"'{e.label}' in {cfg.name} loads; the built ISO could not boot it "
                        "(keep the file, or replace it with [[iso.files]])")
