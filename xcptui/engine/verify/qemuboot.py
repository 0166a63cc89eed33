"""Smoke-boot an ISO in QEMU: BIOS and UEFI, as a CD and as a USB stick.

Each mode starts one ``qemu-system-x86_64`` in its own process group with the
serial port written to a file, and watches that file for milestones until the
success milestone (or the caller's marker) appears, a fatal line appears, QEMU
exits, or the per-mode time limit runs out. The process group is then killed;
nothing is left running, also on cancel and Ctrl-C. The ISO is never written: the
CD is a read-only drive and the USB stick a ``snapshot=on`` drive (writes go to a
temporary overlay QEMU deletes).

What the serial console shows and what each milestone proves:

``firmware``   OVMF printed its boot line (UEFI only; SeaBIOS prints nothing on serial).
``bootloader`` isolinux (its ``SERIAL 0 115200`` line) or GRUB printed its banner: the
               firmware found the El Torito entry (CD) or the hybrid MBR / EFI partition
               (USB) and started the boot loader from it.
``images``     mboot.c32 printed ``Loading /install.img... ok``: isolinux read Xen, the
               dom0 kernel and install.img (GRUB prints nothing here; it loads every
               module before it starts Xen, so ``xen`` implies ``images`` there).
``xen``        Xen printed ``Xen version`` on com1: the boot loader loaded xen.gz and its
               modules and handed over correctly (multiboot / multiboot2).
``dom0``       Linux printed ``Linux version``: Xen found and started the dom0 kernel.
``init``       Linux printed ``Run /init as init process``: the kernel unpacked
               install.img (an unpacking error prints ``Initramfs unpacking failed``) and
               found /init in it.
``marker``     the caller's marker appeared (the test fixture prints ``XCPTUI-STAGE2
               start`` from install.img's /init, through /dev/kmsg so it reaches hvc0 and
               therefore com1).

The default success milestone is ``xen``: the boot loader of that path read the
images from the ISO and started the hypervisor. Real XCP-ng images take minutes
more under TCG to get further; pass ``marker`` to insist on a later line.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xcptui.engine.errors import Cancelled, InputError, Interrupted, ToolMissing
from xcptui.engine.events import Progress, check
from xcptui.engine.tools import require, which

MODES = ("bios-cd", "bios-usb", "uefi-cd", "uefi-usb")
PASS, FAIL, SKIP = "pass", "fail", "skip"

# milestone -> serial pattern, in boot order
MILESTONES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("firmware", re.compile(r"BdsDxe: (loading|starting) Boot")),
    ("bootloader", re.compile(r"ISOLINUX \d+\.\d+|Welcome to GRUB|GNU GRUB")),
    ("images", re.compile(r"Loading /install\.img\.\.\. ?ok")),
    ("xen", re.compile(r"Xen version \d")),
    ("dom0", re.compile(r"Linux version \d")),
    ("init", re.compile(r"Run /init as init process")),
)
LEVELS = ("none", *(m for m, _ in MILESTONES), "marker")
DEFAULT_SUCCESS = "xen"
KVM_FAILED = "kvm unusable: "
FATAL = re.compile(
    r"Kernel panic|\(XEN\) Panic on CPU|Hardware Dom0 crashed|Initramfs unpacking failed|"
    r"Could not find kernel image|Invalid or corrupt kernel image|"
    r"No bootable device|Boot failed: not a bootable disk|"
    r"error: file [`']/(boot|install)[^']*' not found|error: no multiboot header"
)
_ANSI = re.compile(r"\x1b\[[0-9;=?]*[A-Za-z]|\x1b[()][A-Z0-9]|[\x00-\x08\x0b-\x1f\x7f]")

OVMF_PAIRS = (
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
    ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
    ("/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd"),
    ("/usr/share/qemu/ovmf-x86_64-code.bin", "/usr/share/qemu/ovmf-x86_64-vars.bin"),
)
_POLL = 0.2
_KILL_GRACE = 3.0
# Under KVM the first serial line comes within a second or two; silence for this long,
# or one of these QEMU messages, means this host's KVM cannot run the guest: retry on TCG.
KVM_SILENCE = 20.0
_KVM_BROKEN = re.compile(r"KVM internal error|kvm_[a-z_]+: Assertion|"
                         r"failed to (initialize|init) kvm|Could not access KVM")


@dataclass
class ModeResult:
    mode: str
    status: str  # pass | fail | skip
    level: str  # the furthest milestone seen (LEVELS)
    evidence: str  # the serial line (or reason) that decides the status
    seconds: float = 0.0
    milestones: dict[str, float] = field(default_factory=dict)  # milestone -> seconds
    accel: str = ""
    tail: list[str] = field(default_factory=list)  # last serial lines (for failures)
    log: str | None = None  # kept serial log, when log_dir was given

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "status": self.status, "level": self.level,
                "evidence": self.evidence, "seconds": round(self.seconds, 2),
                "milestones": {k: round(v, 2) for k, v in self.milestones.items()},
                "accel": self.accel, "tail": list(self.tail), "log": self.log}


@dataclass
class BootReport:
    iso: str
    success: str  # the milestone (or "marker") each mode had to reach
    marker: str | None
    results: list[ModeResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.status != FAIL for r in self.results) and any(
            r.status == PASS for r in self.results)

    def get(self, mode: str) -> ModeResult | None:
        return next((r for r in self.results if r.mode == mode), None)

    def lines(self) -> list[str]:
        goal = f"marker {self.marker!r}" if self.marker else f"milestone '{self.success}'"
        out = [f"smoke boot {Path(self.iso).name} (success = {goal}):"]
        for r in self.results:
            how = f" [{r.accel}]" if r.accel else ""
            out.append(f"  {r.status.upper():4}  {r.mode:<9} {r.seconds:6.1f}s{how}  "
                       f"reached {r.level}: {r.evidence}")
            if r.status == FAIL:
                out += [f"        | {ln}" for ln in r.tail[-8:]]
        n = {s: sum(1 for r in self.results if r.status == s) for s in (PASS, FAIL, SKIP)}
        out.append(f"smoke boot: {'OK' if self.ok else 'FAILED'}: {n[PASS]} passed, "
                   f"{n[FAIL]} failed, {n[SKIP]} skipped")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"iso": self.iso, "ok": self.ok, "success": self.success,
                "marker": self.marker, "results": [r.to_json() for r in self.results]}


# ---------------------------------------------------------------------------
# environment


def find_ovmf() -> tuple[Path, Path] | None:
    """(OVMF code, OVMF vars template); $XCPTUI_OVMF_CODE / $XCPTUI_OVMF_VARS override."""
    code, vars_ = os.environ.get("XCPTUI_OVMF_CODE"), os.environ.get("XCPTUI_OVMF_VARS")
    if code and vars_:
        return (Path(code), Path(vars_)) if Path(code).is_file() and Path(vars_).is_file() \
            else None
    for c, v in OVMF_PAIRS:
        if Path(c).is_file() and Path(v).is_file():
            return Path(c), Path(v)
    return None


_kvm_failed: str | None = None  # why KVM did not work earlier in this process


def _remember_kvm_failure(why: str) -> None:
    global _kvm_failed
    _kvm_failed = why


def kvm_usable() -> bool:
    """True when /dev/kvm can be opened read-write and KVM has not failed here before."""
    if _kvm_failed is not None:
        return False
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def _esc(path: Path | str) -> str:
    """QEMU option values: a comma is written as two commas."""
    return str(path).replace(",", ",,")


def qemu_command(qemu: str, iso: Path, mode: str, serial: Path, *, memory_mb: int,
                 accel: str, ovmf: tuple[Path, Path] | None) -> list[str]:
    """The qemu-system-x86_64 command line for one boot mode (ISO never written)."""
    # QEMU's default CPU model: with "-cpu max" Debian's Xen 4.17 dom0 takes a page
    # fault in its first instructions under TCG; "-cpu host" trips some nested KVMs.
    cmd = [qemu, "-machine", f"q35,accel={accel}", "-m", str(memory_mb),
           "-nodefaults", "-display", "none", "-vga", "none", "-monitor", "none",
           "-no-reboot", "-serial", f"file:{_esc(serial)}", "-nic", "none"]
    if mode.startswith("uefi"):
        assert ovmf is not None
        code, vars_copy = ovmf
        cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={_esc(code)}",
                "-drive", f"if=pflash,format=raw,unit=1,file={_esc(vars_copy)}"]
    if mode.endswith("-cd"):
        cmd += ["-drive", f"if=none,id=cd,format=raw,media=cdrom,readonly=on,file={_esc(iso)}",
                "-device", "ide-cd,drive=cd,bus=ide.0,bootindex=0"]
    else:
        cmd += ["-drive", f"if=none,id=stick,format=raw,snapshot=on,file={_esc(iso)}",
                "-device", "qemu-xhci,id=xhci",
                "-device", "usb-storage,bus=xhci.0,drive=stick,removable=on,bootindex=0"]
    return cmd


# ---------------------------------------------------------------------------
# running one mode


def _clean(line: str) -> str:
    return " ".join(_ANSI.sub(" ", line).split())


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Terminate QEMU's whole process group and reap it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(_KILL_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _run_mode(qemu: str, iso: Path, mode: str, work: Path, *, timeout: float,
              marker: str | None, success: str, memory_mb: int, accel: str,
              ovmf: tuple[Path, Path] | None, progress: Progress,
              cancel: threading.Event | None, log_dir: Path | None) -> ModeResult:
    serial = work / f"{mode}.serial.log"
    qemu_err = work / f"{mode}.qemu.err"
    serial.write_bytes(b"")
    vars_copy = None
    if mode.startswith("uefi"):
        assert ovmf is not None
        vars_copy = work / f"{mode}.OVMF_VARS.fd"
        shutil.copyfile(ovmf[1], vars_copy)
    cmd = qemu_command(qemu, iso, mode, serial, memory_mb=memory_mb, accel=accel,
                       ovmf=(ovmf[0], vars_copy) if ovmf and vars_copy else None)
    result = ModeResult(mode, FAIL, "none", "", accel=accel)
    goal = "marker" if marker else success
    t0 = time.monotonic()
    buf = ""
    lines: list[str] = []
    pos = 0
    # setpriv --pdeathsig: the kernel kills QEMU if this process dies without cleaning up
    # (SIGKILL, crash); the normal paths kill the process group themselves.
    setpriv = which("setpriv")
    if setpriv:
        cmd = [setpriv, "--pdeathsig", "KILL", "--", *cmd]
    with open(qemu_err, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                start_new_session=True, cwd=work,
                                env=dict(os.environ, TMPDIR=str(work)))
    try:
        while True:
            exited = proc.poll() is not None
            with open(serial, "rb") as f:
                f.seek(pos)
                chunk = f.read()
            pos += len(chunk)
            buf += chunk.decode("utf-8", "replace")
            *complete, buf = re.split(r"\r?\n|\r", buf)
            if exited and buf:
                complete.append(buf)
                buf = ""
            now = time.monotonic() - t0
            for raw in complete:
                line = _clean(raw)
                if not line:
                    continue
                lines.append(line)
                for name, pat in MILESTONES:
                    if name not in result.milestones and pat.search(line):
                        result.milestones[name] = now
                        if LEVELS.index(name) > LEVELS.index(result.level):
                            result.level = name
                        progress.log(f"{mode}: {name} after {now:.1f}s: {line[:120]}")
                        if name == goal:
                            result.status, result.evidence = PASS, line
                if marker and marker in raw and "marker" not in result.milestones:
                    result.milestones["marker"] = now
                    result.level = "marker"
                    result.status, result.evidence = PASS, line
                    progress.log(f"{mode}: marker after {now:.1f}s")
                if result.status != PASS and FATAL.search(line):
                    result.evidence = f"fatal: {line}"
                    break
                if result.status == PASS:
                    break
            if result.status == PASS or result.evidence.startswith("fatal: "):
                break
            if exited:
                code = proc.returncode
                tail = _tail(qemu_err)
                if accel == "kvm" and not lines and code:
                    result.evidence = f"{KVM_FAILED}QEMU exited with status {code}: {tail}"
                    break
                result.evidence = (f"QEMU exited (status {code}) before reaching {goal}"
                                   + (f": {tail}" if tail and code else
                                      " (the guest powered off or rebooted)"))
                break
            if now > timeout:
                result.evidence = f"no {goal} within {timeout:g}s"
                break
            if accel == "kvm" and not lines:
                broken = _KVM_BROKEN.search(_text(qemu_err))
                if broken or now > KVM_SILENCE:
                    result.evidence = (f"{KVM_FAILED}{broken.group(0)}" if broken else
                                       f"{KVM_FAILED}no serial output in {KVM_SILENCE:g}s")
                    break
            if cancel is not None and cancel.is_set():
                raise Cancelled("smoke boot cancelled; QEMU stopped")
            progress.update(int(now), int(timeout))
            time.sleep(_POLL)
    finally:
        _kill_group(proc)
    result.seconds = time.monotonic() - t0
    if result.status != PASS and not result.evidence:
        result.evidence = f"no {goal}"
    result.tail = lines[-20:]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        kept = log_dir / f"{iso.stem}.{mode}.serial.log"
        shutil.copyfile(serial, kept)
        result.log = str(kept)
    return result


def _text(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")
    except OSError:
        return ""


def _tail(path: Path) -> str:
    text = _text(path)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# ---------------------------------------------------------------------------
# public entry point


def smoke_boot(iso: Path | str, marker: str | None = None, timeout: float = 120,
               modes: Sequence[str] = MODES, progress: Progress | None = None,
               cancel: threading.Event | None = None, *, success: str = DEFAULT_SUCCESS,
               memory_mb: int = 1024, accel: str | None = None,
               log_dir: Path | None = None) -> BootReport:
    """Boot ``iso`` in each of ``modes`` and report how far each got.

    ``marker``: serial text that must appear (instead of the ``success`` milestone).
    ``timeout``: seconds per mode. ``accel``: "kvm" or "tcg" (default: kvm when usable).
    ToolMissing when QEMU is not installed; UEFI modes are skipped (with the reason)
    when OVMF is missing.
    """
    progress = progress or Progress()
    path = Path(iso)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise InputError(f"boot modes {', '.join(unknown)} unknown (known: {', '.join(MODES)})")
    if success not in LEVELS[1:-1]:
        raise InputError(f"success milestone {success!r} unknown (known: "
                         f"{', '.join(LEVELS[1:-1])})")
    if timeout <= 0:
        raise InputError(f"smoke boot timeout {timeout!r} must be positive")
    qemu = require("qemu-system-x86_64", "smoke-boot the ISO")
    with open(path, "rb") as f:
        head = os.pread(f.fileno(), 6, 16 * 2048)
    if head[1:6] != b"CD001":
        raise InputError(f"{path}: not an ISO 9660 image (no CD001 volume descriptor)")
    forced = accel is not None or bool(os.environ.get("XCPTUI_QEMU_ACCEL"))
    if accel is None:
        env = os.environ.get("XCPTUI_QEMU_ACCEL", "").lower()
        accel = env if env in ("kvm", "tcg") else ("kvm" if kvm_usable() else "tcg")
    if accel not in ("kvm", "tcg"):
        raise InputError(f"QEMU accelerator {accel!r} must be kvm or tcg")
    ovmf = find_ovmf()
    report = BootReport(str(path), success, marker)
    work = Path(tempfile.mkdtemp(prefix="xcptui-qemu-"))
    try:
        for mode in modes:
            check(cancel)
            if mode.startswith("uefi") and ovmf is None:
                report.results.append(ModeResult(
                    mode, SKIP, "none", "OVMF firmware not found (install it: apt-get install "
                    "ovmf, or set XCPTUI_OVMF_CODE and XCPTUI_OVMF_VARS)"))
                continue
            progress.step(f"smoke boot {mode}", int(timeout), unit="s")
            res = _run_mode(qemu, path, mode, work, timeout=timeout, marker=marker,
                            success=success, memory_mb=memory_mb, accel=accel, ovmf=ovmf,
                            progress=progress, cancel=cancel, log_dir=log_dir)
            if res.evidence.startswith(KVM_FAILED) and not forced:
                # This host's KVM cannot run the guest (nested or emulated KVM): use TCG
                # for this mode and the rest.
                why = res.evidence[len(KVM_FAILED):]
                _remember_kvm_failure(why)
                progress.warn(f"smoke boot: KVM does not work here ({why}); using TCG")
                accel = "tcg"
                res = _run_mode(qemu, path, mode, work, timeout=timeout, marker=marker,
                                success=success, memory_mb=memory_mb, accel=accel, ovmf=ovmf,
                                progress=progress, cancel=cancel, log_dir=log_dir)
                res.accel = f"tcg; kvm failed: {why}"
            report.results.append(res)
            progress.finish_step()
    except Interrupted:
        raise  # a signal: the UI reports it (QEMU's group is already killed)
    except KeyboardInterrupt:
        raise Cancelled("smoke boot interrupted; QEMU stopped") from None
    except OSError as e:
        raise ToolMissing(f"qemu-system-x86_64: cannot run it: {e.strerror or e}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report
