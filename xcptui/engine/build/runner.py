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
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from xcptui.engine import units
from xcptui.engine.build import atomic, judge, weights
from xcptui.engine.build.plan import BuildPlan, plan_build
from xcptui.engine.errors import BuildError, Cancelled, InputError, Interrupted, XcptuiError
from xcptui.engine.events import Progress, check
from xcptui.engine.iso import hybrid
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.iso.write import apply, master
from xcptui.engine.layout import (
    EFIBOOT_IMG,
    INSTALL_IMG,
)
from xcptui.engine.recipe import Recipe
from xcptui.engine.verify.report import Report as VerifyReport


@dataclass
class BuildResult:
    output: Path
    size: int
    seconds: float
    changes: list[str]
    warnings: list[str]
    verify: VerifyReport | None = None  # when verification ran
    command: str = ""


def check_output_path(source: Path, output: Path) -> None:
    """Refuse an output that would overwrite the source or cannot be written."""
    out = output.expanduser()
    if out.exists() and out.is_dir():
        raise InputError(f"{output}: is a directory; give the output ISO file name")
    from xcptui.engine.limits import special_kind  # a FIFO/device/socket is never replaced

    if out.exists() and (kind := special_kind(out.stat().st_mode)) is not None:
        raise InputError(f"{output}: is {kind}; give a regular file name")
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
# writing


def _write_text_files(plan: BuildPlan, workdir: Path) -> None:
    for i, (iso_path, data) in enumerate(sorted(plan.new_text.items())):
        host = workdir / f"text-{i}-{Path(iso_path).name}"
        host.write_bytes(data)
        plan.iso.put[iso_path] = host


def _sweep_line(folder: Path) -> str | None:
    gone = atomic.sweep(folder)
    if not gone:
        return None
    what = ", ".join(f"{g.path.name} ({units.size(g.size)})" for g in gone)
    return f"removed leftovers of an interrupted build in {folder}: {what}"


def build(source: Path, recipe: Recipe, output: Path, progress: Progress | None = None,
          cancel: threading.Event | None = None, *, verify: bool = True) -> BuildResult:
    """Build ``output`` from ``source`` with ``recipe``. Leaves nothing behind on failure.

    With ``verify`` the finished temp file is verified BEFORE it is renamed into place:
    a finding the source does not have fails the build (no output); one the source
    already has is a warning ("already in the source: ...").
    """
    progress = progress or Progress()
    t0 = time.monotonic()
    source, output = Path(source), Path(output).expanduser()
    check_output_path(source, output)
    output = output.resolve().parent / output.name
    warnings: list[str] = []
    swept = _sweep_line(output.parent)
    if swept:
        progress.log(swept)
        warnings.append(swept)
    slot = atomic.OutputSlot(output)
    plan: BuildPlan | None = None
    report: VerifyReport | None = None
    try:
        with slot:
            plan = _write(source, recipe, slot, progress, cancel, verify)
            if verify:
                progress.stage(weights.VERIFY)
                report, inherited = judge.judge_output(slot.part, source, output, plan,
                                                       progress, cancel)
                warnings += [f"already in the source: {f}" for f in inherited]
            check(cancel)
            slot.commit()
    except XcptuiError:
        raise
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Cancelled("interrupted; nothing was written") from None
    except OSError as e:
        raise _os_error(e, output) from None
    finally:
        if plan is not None:
            plan.close()
    progress.complete("build")
    return BuildResult(
        output=output, size=output.stat().st_size, seconds=time.monotonic() - t0,
        changes=plan.changes or ["no changes: the output is a faithful re-master of the source"],
        warnings=plan.warnings + progress.warnings + warnings, verify=report,
        command=equivalent_command(source, recipe.path, output),
    )


def _write(source: Path, recipe: Recipe, slot: atomic.OutputSlot, progress: Progress,
           cancel: threading.Event | None, verify: bool) -> BuildPlan:
    """Plan, then write the new ISO to ``slot.part`` (fsynced, GPT repaired)."""
    keepalive: list[BinaryIO] = []
    try:
        with IsoSource.open(source) as src:
            weights.declare(progress, src, recipe, verify)
            progress.stage(weights.PLAN)
            progress.step("check recipe against the ISO", unit="")
            plan = plan_build(src, recipe, slot.work, progress, cancel)
            progress.finish_step()
            try:
                check(cancel)
                weights.planned(progress, src, plan)
                progress.stage(weights.IMAGE)
                _stage_files(src, plan, slot.work, progress, cancel)
                weights.staged(progress, src, plan, verify)
                for line in apply(src, plan.iso, keepalive):
                    progress.log(line)
                progress.stage(weights.WRITE)
                with os.fdopen(slot.open_part(), "w+b") as out_f:
                    master(src, out_f, progress, cancel)
                    out_f.flush()
                    os.fsync(out_f.fileno())
            except BaseException:
                plan.close()
                raise
    finally:
        for fp in keepalive:
            fp.close()
    progress.stage(weights.GPT)
    progress.step("repair hybrid partition tables", unit="")
    if hybrid.repair_gpt(slot.part):
        progress.log("GPT: recomputed partition-array CRCs and the backup table")
    progress.finish_step()
    with open(slot.part, "rb") as f:
        os.fsync(f.fileno())
    return plan


def _stage_files(src: IsoSource, plan: BuildPlan, workdir: Path, progress: Progress,
                 cancel: threading.Event | None) -> None:
    """Write the new install.img, text files and efiboot.img into ``workdir``."""
    if plan.image is not None and not plan.image.plan.empty:
        from xcptui.engine.initrd import splice_write as ii

        new_img = workdir / "install.img"
        with open(new_img, "wb") as f:
            ii.write(plan.image.image, plan.image.plan, f, progress=progress, cancel=cancel)
        plan.iso.put[INSTALL_IMG] = new_img
    _write_text_files(plan, workdir)
    if plan.efiboot_grub is not None:
        from xcptui.engine.iso import efiboot

        new_efi = workdir / "efiboot.img"
        efi_src = workdir / "efiboot.orig.img"
        efi_src.write_bytes(src.read(EFIBOOT_IMG))  # 2.88 MB
        efiboot.replace_grub_cfg(efi_src, plan.efiboot_grub, new_efi)  # wherever it lives
        plan.iso.put[EFIBOOT_IMG] = new_efi
    check(cancel)


def _os_error(e: OSError, output: Path) -> BuildError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return BuildError(f"{output}: no space left on the device; nothing was written")
    if e.errno == errno.EFBIG:
        return BuildError(f"{output}: file size limit exceeded while writing; nothing was written")
    where = e.filename or output
    return BuildError(f"{where}: {e.strerror or e}; nothing was written")
