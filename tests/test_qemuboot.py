"""QEMU smoke boot of a fixture ISO with a REAL boot chain (Debian's Xen + kernel).

The boot kit comes from scripts/fetch-bootkit.sh (``apt-get download`` +
``dpkg-deb -x``, nothing installed system-wide) into ~/.cache/xcptui/bootkit or
$XCPTUI_BOOTKIT. install.img is the demo busybox image whose /init prints
"XCPTUI-STAGE2 ..." lines; seeing "XCPTUI-STAGE2 start" on the serial console proves
firmware -> boot loader -> Xen -> dom0 kernel -> install.img unpacked -> /init ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xcptui import cli
from xcptui.demoiso import builder
from xcptui.engine import tools
from xcptui.engine.errors import Cancelled, InputError, ToolMissing
from xcptui.engine.events import Progress, ProgressEvent
from xcptui.engine.verify import qemuboot

MARKER = "XCPTUI-STAGE2 start"


def bootkit_dir() -> Path:
    env = os.environ.get("XCPTUI_BOOTKIT")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "xcptui" / "bootkit"


def _skip_reason() -> str | None:
    if tools.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
    kit = bootkit_dir()
    if not (kit / "xen.gz").is_file() or not (kit / "vmlinuz").is_file():
        return f"no boot kit in {kit} (run scripts/fetch-bootkit.sh)"
    return None


needs_qemu = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
pytestmark = [pytest.mark.qemu, pytest.mark.slow]

@pytest.fixture(scope="session")
def boot_iso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    kit = bootkit_dir()
    out = tmp_path_factory.mktemp("bootiso") / "boot-demo.iso"
    # the demo /init copies its lines to /dev/kmsg, so they reach Xen's serial console
    assert "/dev/kmsg" in builder.INIT_SCRIPT
    builder.build_demo_iso(out, builder.DemoOptions(xen=kit / "xen.gz", vmlinuz=kit / "vmlinuz"))
    yield out


def _qemu_pids(needle: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and b"qemu-system" in cmd[0] and any(needle.encode() in a for a in cmd):
            pids.append(int(d.name))
    return pids


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@needs_qemu
def test_all_four_modes_reach_stage2(boot_iso: Path, capsys: pytest.CaptureFixture[str],
                                     record_property: Any) -> None:
    before = _sha(boot_iso)
    code = cli.main(["verify", "--json", "--boot", "--marker", MARKER, "--timeout", "240",
                     str(boot_iso)])
    data = json.loads(capsys.readouterr().out)
    boot = data["boot"]
    summary = {r["mode"]: (r["status"], r["level"], r["seconds"], r["accel"])
               for r in boot["results"]}
    record_property("qemu_modes", summary)
    with capsys.disabled():
        for r in boot["results"]:
            print(f"\n  {r['mode']:<9} {r['status']} {r['seconds']:6.1f}s [{r['accel']}] "
                  f"milestones {r['milestones']}")
    assert code == 0, summary
    assert data["ok"] is True and boot["ok"] is True
    assert [r["mode"] for r in boot["results"]] == list(qemuboot.MODES)
    for r in boot["results"]:
        assert r["status"] == "pass" and r["level"] == "marker", r
        ms = r["milestones"]
        # the boot loader, Xen, dom0 and /init were all seen, in that order
        order = [ms["bootloader"], ms["xen"], ms["dom0"], ms["init"], ms["marker"]]
        assert order == sorted(order), ms
        assert MARKER in r["evidence"]
    bios = {r["mode"]: r for r in boot["results"]}["bios-cd"]
    assert "images" in bios["milestones"]  # mboot.c32: "Loading /install.img... ok"
    assert _sha(boot_iso) == before  # the ISO was never written (USB = snapshot drive)
    assert _qemu_pids(str(boot_iso)) == []


@needs_qemu
def test_default_success_is_xen_started(boot_iso: Path) -> None:
    rep = qemuboot.smoke_boot(boot_iso, modes=("bios-cd",), timeout=120)
    r = rep.results[0]
    assert rep.ok and r.status == "pass" and r.level == "xen", rep.lines()
    assert "Xen version" in r.evidence
    assert "marker" not in r.milestones and "dom0" not in r.milestones  # stopped right there
    assert _qemu_pids(str(boot_iso)) == []


@needs_qemu
def test_timeout_kills_qemu(boot_iso: Path) -> None:
    t0 = time.monotonic()
    rep = qemuboot.smoke_boot(boot_iso, marker="THIS NEVER APPEARS", modes=("bios-usb",),
                              timeout=4)
    assert time.monotonic() - t0 < 30
    r = rep.results[0]
    assert not rep.ok and r.status == "fail"
    assert "no marker within 4s" in r.evidence or "kvm" in r.accel
    assert _qemu_pids(str(boot_iso)) == []
    assert "FAIL  bios-usb" in "\n".join(rep.lines())


@needs_qemu
def test_cancel_stops_qemu_and_leaves_nothing(boot_iso: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*a: Any, **kw: Any) -> str:
        d = real_mkdtemp(*a, **kw)
        made.append(d)
        return d

    monkeypatch.setattr(qemuboot.tempfile, "mkdtemp", mkdtemp)
    cancel = threading.Event()
    seen: list[str] = []

    def cb(ev: ProgressEvent) -> None:
        if ev.kind == "log":
            seen.append(ev.message)
            if "bootloader" in ev.message:
                cancel.set()

    result: dict[str, BaseException | None] = {"exc": None}

    def run() -> None:
        try:
            qemuboot.smoke_boot(boot_iso, marker=MARKER, modes=("uefi-cd",), timeout=120,
                                progress=Progress(cb), cancel=cancel)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            result["exc"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(150)
    assert not t.is_alive()
    assert isinstance(result["exc"], Cancelled), (result, seen)
    assert _qemu_pids(str(boot_iso)) == []
    assert made and not any(Path(d).exists() for d in made)  # serial logs, OVMF vars copy


def test_qemu_missing_is_one_clear_line(demo_iso: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    monkeypatch.setattr(tools, "which", lambda tool: None)
    with pytest.raises(ToolMissing) as ei:
        qemuboot.smoke_boot(demo_iso)
    msg = str(ei.value)
    assert "qemu-system-x86_64 not found" in msg and "apt-get install qemu-system-x86" in msg
    assert "\n" not in msg


def test_ovmf_missing_skips_uefi_modes(demo_iso: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    if tools.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 not installed")
    monkeypatch.setattr(qemuboot, "find_ovmf", lambda: None)
    rep = qemuboot.smoke_boot(demo_iso, modes=("uefi-cd", "uefi-usb"))
    assert [r.status for r in rep.results] == ["skip", "skip"]
    assert "apt-get install ovmf" in rep.results[0].evidence
    assert not rep.ok  # nothing was actually booted


def test_bad_input(tmp_path: Path, demo_iso: Path) -> None:
    if tools.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 not installed")
    txt = tmp_path / "x.iso"
    txt.write_bytes(b"not an iso" * 5000)
    with pytest.raises(InputError, match="not an ISO 9660 image"):
        qemuboot.smoke_boot(txt)
    with pytest.raises(InputError, match="no such file"):
        qemuboot.smoke_boot(tmp_path / "missing.iso")
    with pytest.raises(InputError, match="unknown"):
        qemuboot.smoke_boot(demo_iso, modes=("floppy",))
    with pytest.raises(InputError, match="must be positive"):
        qemuboot.smoke_boot(demo_iso, timeout=0)


def test_qemu_command_never_writes_the_iso(tmp_path: Path) -> None:
    iso = tmp_path / "a,b.iso"
    ovmf = (Path("/code.fd"), tmp_path / "vars.fd")
    for mode in qemuboot.MODES:
        cmd = qemuboot.qemu_command("qemu", iso, mode, tmp_path / "s.log", memory_mb=1024,
                                    accel="tcg", ovmf=ovmf if mode.startswith("uefi") else None)
        drive = next(a for a in cmd if "id=cd" in a or "id=stick" in a)
        assert "file=" + str(iso).replace(",", ",,") in drive  # commas escaped
        assert ("readonly=on" in drive) if mode.endswith("-cd") else ("snapshot=on" in drive)
        assert "-no-reboot" in cmd and "-display" in cmd
        if mode.startswith("uefi"):
            assert any("readonly=on" in a and "/code.fd" in a for a in cmd)


@needs_qemu
def test_built_answerfile_iso_boots_with_answerfile_in_stage2(boot_iso: Path, tmp_path: Path
                                                              ) -> None:
    """End to end: the installer's kernel command line and root fs carry the answerfile."""
    from xcptui.engine import recipe
    from xcptui.engine.build import runner as build

    (tmp_path / "answerfile.xml").write_bytes(
        b'<installation mode="fresh"><primary-disk>sda</primary-disk><keymap>us</keymap>'
        b'<root-password type="hash">!!</root-password><source type="local"/>'
        b'<admin-interface name="eth0" proto="dhcp"/><timezone>UTC</timezone>'
        b"</installation>\n")
    r = recipe.loads('[answerfile]\nsource = "answerfile.xml"\n', tmp_path)
    out = tmp_path / "auto.iso"
    res = build.build(boot_iso, r, out)
    assert res.verify is not None and res.verify.ok
    rep = qemuboot.smoke_boot(out, marker="XCPTUI-STAGE2 end", modes=("bios-cd", "uefi-usb"),
                              timeout=240)
    assert rep.ok, rep.lines()
    for res_mode in rep.results:
        text = "\n".join(res_mode.tail)
        assert "install answerfile=file:///answerfile.xml" in text, (res_mode.mode, text)
        # /init sees the embedded file, root-owned, mode 0644
        assert any("ls: -rw-r--r--" in ln and " 0 " in ln and "/answerfile.xml" in ln
                   for ln in res_mode.tail), (res_mode.mode, text)
        assert any("ls: ----------" in ln and "/etc/shadow" in ln for ln in res_mode.tail)
    assert _qemu_pids(str(out)) == []
