"""Apply a recipe to a source ISO and write a new, bootable ISO.

Order matters for safety: everything that can be checked is checked before any
byte is written; the new ISO is written to a temporary file next to the output,
fsynced and renamed into place only when complete; on any failure (including
Cancel and Ctrl-C) the temporary files are removed. The source is opened
read-only and never modified.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from xcptui.engine.errors import BuildError, InputError, XcptuiError
from xcptui.engine.events import Progress, check
from xcptui.engine.iso import hybrid
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.iso.write import IsoChanges, apply, master
from xcptui.engine.layout import (
    EFIBOOT_GRUB,
    EFIBOOT_IMG,
    INSTALL_IMG,
    TREEINFO,
)
from xcptui.engine.recipe import Recipe


@dataclass
class BuildResult:
    output: Path
    size: int
    seconds: float
    changes: list[str]
    warnings: list[str]
    verify: Any = None  # verify.Report when verification ran
    command: str = ""


@dataclass
class BuildPlan:
    """Everything a build will do, computed before anything is written."""

    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    iso: IsoChanges = field(default_factory=IsoChanges)
    image_plan: Any = None  # installimg.ImagePlan
    image: Any = None  # installimg.InstallImage
    new_text: dict[str, bytes] = field(default_factory=dict)  # ISO path -> new content
    efiboot_grub: bytes | None = None  # new grub.cfg for inside boot/efiboot.img
    answerfile: Any = None  # answerfile.AnswerfilePlan


def check_output_path(source: Path, output: Path) -> None:
    """Refuse an output that would overwrite the source or cannot be written."""
    out = output.expanduser()
    if out.exists() and out.is_dir():
        raise InputError(f"{output}: is a directory; give the output ISO file name")
    try:
        if out.exists() and os.path.samefile(out, source):
            raise InputError(f"{output}: is the source ISO; xcptui never writes over its source")
    except OSError:
        pass
    if out.resolve() == source.resolve():
        raise InputError(f"{output}: is the source ISO; xcptui never writes over its source")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise InputError(f"{output}: output directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{output}: output directory {parent} is not writable")


def default_output(source: Path) -> Path:
    stem = source.name[:-4] if source.name.lower().endswith(".iso") else source.name
    return source.with_name(f"{stem}-custom.iso")


def equivalent_command(source: Path, recipe_path: Path | None, output: Path) -> str:
    parts = ["xcptui", "build", str(source)]
    if recipe_path is not None:
        parts += ["--recipe", str(recipe_path)]
    parts += ["-o", str(output)]
    return " ".join(shlex.quote(p) for p in parts)


# ---------------------------------------------------------------------------
# planning


def _installimg_edits(recipe: Recipe, afp: Any) -> list[Any]:
    from xcptui.engine.initrd import image as ii

    edits: list[Any] = []
    inst = recipe.installer
    for rm in inst.remove:
        edits.append(ii.RemovePath(rm.path))
    for f in inst.files:
        edits.append(ii.AddFile(f.dest, f.source, mode=f.mode, uid=f.uid, gid=f.gid))
    for r in inst.rpms:
        edits.append(ii.AddRpmPayload(r.source))
    for d in inst.drivers:
        edits.append(ii.AddDriver(d.source, kernel=d.kernel, dest=d.dest, force=d.force))
    if afp is not None:
        for emb in afp.embedded:
            edits.append(ii.AddFile(emb.dest, emb.data, mode=emb.mode, uid=0, gid=0))
    return edits


def plan_build(src: IsoSource, recipe: Recipe, workdir: Path, progress: Progress,
               cancel: threading.Event | None) -> BuildPlan:
    """Validate the recipe against the ISO and compute every change; writes only to workdir.

    The caller closes ``plan.image`` (if any) when done with the plan.
    """
    plan = BuildPlan()
    try:
        _plan_into(plan, src, recipe, workdir, progress, cancel)
    except BaseException:
        if plan.image is not None:
            plan.image.close()
        raise
    return plan


def _plan_into(plan: BuildPlan, src: IsoSource, recipe: Recipe, workdir: Path,
               progress: Progress, cancel: threading.Event | None) -> None:
    from xcptui.engine.build import boot_stage as boot_plan

    name = src.path.name
    if not src.eltorito():
        raise InputError(f"{name}: has no El Torito boot catalog; xcptui only rebuilds "
                         "bootable installation ISOs (inspect and extract still work)")

    # identity
    if recipe.iso.volume_id is not None and recipe.iso.volume_id != src.volume_id:
        from xcptui.engine.iso import identity

        identity.validate_volume_id(recipe.iso.volume_id)
        plan.iso.volume_id = recipe.iso.volume_id
        plan.changes.append(f"volume id: {src.volume_id!r} -> {recipe.iso.volume_id!r}")

    # answerfile: validated first, it feeds both install.img and the boot configs
    plan.answerfile = boot_plan.plan_answerfile(src, recipe)
    if plan.answerfile is not None:
        plan.changes += list(plan.answerfile.messages)
        plan.warnings += list(plan.answerfile.warnings)

    # install.img
    edits = _installimg_edits(recipe, plan.answerfile) if (
        recipe.touches_install_img() or plan.answerfile is not None) else []
    if edits:
        if not src.exists(INSTALL_IMG):
            raise InputError(f"{name}: has no /install.img; the recipe's installer changes "
                             "need it")
        from xcptui.engine.initrd import image as ii

        off, size = src.extent(INSTALL_IMG)
        # Edits that can change a kernel tree need depmod, which reads every module:
        # copy them out during the one decode rather than decoding the image twice.
        touches_modules = any(
            isinstance(e, ii.AddDriver | ii.AddRpmPayload)
            or str(getattr(e, "dest", None) or getattr(e, "path", "")).lstrip("/").startswith(
                ("lib/modules/", "etc/depmod.d"))
            for e in edits)
        img = ii.InstallImage.open(src.path, off, size, name="install.img", progress=progress,
                                   cancel=cancel,
                                   spool=ii.depmod_input if touches_modules else None,
                                   spool_dir=workdir)
        plan.image = img
        iplan = ii.plan(img, edits, progress=progress, cancel=cancel)
        plan.image_plan = iplan
        plan.changes += [f"install.img: {c}" for c in iplan.changes]
        plan.warnings += list(iplan.warnings)

    # boot configs (all three copies), answerfile parameters
    boot_plan.plan_boot(src, recipe, plan)

    # Packages/, repodata, xcp-ng-deps, signing
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
        plan.changes += list(pplan.changes)
        plan.warnings += list(pplan.warnings)

    elif recipe.signing is not None:
        plan.warnings.append("[signing] has no effect: the recipe does not change Packages/ "
                             "or repodata, so the ISO keeps its signing as it is")

    # .treeinfo identity, on top of any signing edit
    boot_plan.plan_identity(src, recipe, plan)

    # plain ISO files
    for f in recipe.iso.files:
        plan.iso.put[f.dest] = f.source
        plan.changes.append(f"{'replace' if src.exists(f.dest) else 'add'} {f.dest} "
                            f"from {f.source}")
    for rm in recipe.iso.remove:
        if not src.exists(rm.path):
            raise InputError(f"{name}: cannot remove {rm.path}: not on the ISO")
        plan.iso.remove.add(rm.path)
        plan.changes.append(f"remove {rm.path}")


# ---------------------------------------------------------------------------
# writing


def _tmp_sibling(output: Path, suffix: str) -> tuple[BinaryIO, Path]:
    fd, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=suffix, dir=output.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # like any new file, not mkstemp's 0600
    return os.fdopen(fd, "w+b"), Path(name)


def _write_text_files(plan: BuildPlan, workdir: Path) -> None:
    for i, (iso_path, data) in enumerate(sorted(plan.new_text.items())):
        host = workdir / f"text-{i}-{Path(iso_path).name}"
        host.write_bytes(data)
        plan.iso.put[iso_path] = host


def build(source: Path, recipe: Recipe, output: Path, progress: Progress | None = None,
          cancel: threading.Event | None = None, *, verify: bool = True) -> BuildResult:
    """Build ``output`` from ``source`` with ``recipe``. Leaves nothing behind on failure."""
    progress = progress or Progress()
    t0 = time.monotonic()
    source, output = Path(source), Path(output).expanduser()
    check_output_path(source, output)
    keepalive: list[BinaryIO] = []
    tmp_out: Path | None = None
    plan: BuildPlan | None = None
    workdir = Path(tempfile.mkdtemp(prefix=f".{output.name}.work-", dir=output.resolve().parent))
    try:
        with IsoSource.open(source) as src:
            progress.step("check recipe against the ISO")
            plan = plan_build(src, recipe, workdir, progress, cancel)
            progress.finish_step()
            check(cancel)
            if plan.image_plan is not None and not plan.image_plan.empty:
                from xcptui.engine.initrd import image as ii

                new_img = workdir / "install.img"
                with open(new_img, "wb") as f:
                    ii.write(plan.image, plan.image_plan, f, progress=progress, cancel=cancel)
                plan.iso.put[INSTALL_IMG] = new_img
            _write_text_files(plan, workdir)
            if plan.efiboot_grub is not None:
                from xcptui.engine.iso import efiboot

                new_efi = workdir / "efiboot.img"
                efi_src = workdir / "efiboot.orig.img"
                efi_src.write_bytes(src.read(EFIBOOT_IMG))  # 2.88 MB
                efiboot.replace_file(efi_src, EFIBOOT_GRUB, plan.efiboot_grub, new_efi)
                plan.iso.put[EFIBOOT_IMG] = new_efi
            check(cancel)
            for line in apply(src, plan.iso, keepalive):
                progress.log(line)
            out_f, tmp_out = _tmp_sibling(output, ".part")
            with out_f:
                master(src, out_f, progress, cancel)
                out_f.flush()
                os.fsync(out_f.fileno())
        progress.step("repair hybrid partition tables")
        if hybrid.repair_gpt(tmp_out):
            progress.log("GPT: recomputed partition-array CRCs and the backup table")
        progress.finish_step()
        with open(tmp_out, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_out, output)
        tmp_out = None
        _fsync_dir(output.resolve().parent)
    except XcptuiError:
        raise
    except KeyboardInterrupt:
        from xcptui.engine.errors import Cancelled

        raise Cancelled("interrupted; nothing was written") from None
    except OSError as e:
        raise _os_error(e, output) from None
    finally:
        for fp in keepalive:
            fp.close()
        if plan is not None and plan.image is not None:
            plan.image.close()
        if tmp_out is not None:
            tmp_out.unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    result = BuildResult(
        output=output, size=output.stat().st_size, seconds=time.monotonic() - t0,
        changes=plan.changes or ["no changes: the output is a faithful re-master of the source"],
        warnings=plan.warnings + progress.warnings,
        command=equivalent_command(source, recipe.path, output),
    )
    if verify:
        from xcptui.engine.verify import checks as verify_mod

        result.verify = verify_mod.verify(output, progress=progress, cancel=cancel)
    return result


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _os_error(e: OSError, output: Path) -> BuildError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return BuildError(f"{output}: no space left on the device; nothing was written")
    if e.errno == errno.EFBIG:
        return BuildError(f"{output}: file size limit exceeded while writing; nothing was written")
    where = e.filename or output
    return BuildError(f"{where}: {e.strerror or e}; nothing was written")
