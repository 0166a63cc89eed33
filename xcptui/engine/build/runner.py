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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from xcptui.engine.build.plan import BuildPlan, plan_build
from xcptui.engine.errors import BuildError, InputError, XcptuiError
from xcptui.engine.events import Progress, check
from xcptui.engine.iso import hybrid
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.iso.write import apply, master
from xcptui.engine.layout import (
    EFIBOOT_GRUB,
    EFIBOOT_IMG,
    INSTALL_IMG,
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
            if plan.image is not None and not plan.image.plan.empty:
                from xcptui.engine.initrd import image as ii

                new_img = workdir / "install.img"
                with open(new_img, "wb") as f:
                    ii.write(plan.image.image, plan.image.plan, f, progress=progress,
                             cancel=cancel)
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
        if plan is not None:
            plan.close()
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
