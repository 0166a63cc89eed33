"""Build a small XCP-ng-like installation ISO, the way XCP-ng's create-iso.sh does.

Used by ``xcptui demo`` and by the tests. The layout, boot configs and
``.treeinfo`` are the real 8.3 (or 8.2) templates; install.img (``rootfs``) is the
real media's CentOS 7 root as a bzip2 newc cpio: lib -> usr/lib and friends,
mode-000 shadow files, device nodes, the ``/init`` symlink, hardlink groups and
both kernels' ``usr/lib/modules/<kver>`` trees holding real ELF ``.ko`` files
indexed by depmod (``kmods``); Packages/ holds real RPMs with createrepo_c
repodata. The ISO is mastered with ``genisoimage ... -e boot/efiboot.img`` and
``isohybrid --uefi``.

Kernel, Xen and memtest are small placeholders unless real files are given
(the QEMU smoke tests pass a real kernel and Xen).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path

from xcptui.demoiso.kmods import KoSpec, build_ko, vermagic
from xcptui.demoiso.options import ALT_KVER, MAIN_KVER, MTIME, DemoOptions
from xcptui.demoiso.rootfs import INIT_SCRIPT, STAGE2_MARKER, build_install_img
from xcptui.demoiso.rpms import RpmSpec, build_rpms
from xcptui.engine.tools import require, which

# the names callers import from here
__all__ = ["ALT_KVER", "DEPS_REQUIRES", "INIT_SCRIPT", "MAIN_KVER", "MTIME", "STAGE2_MARKER",
           "DemoOptions", "KoSpec", "build_demo_iso", "build_install_img", "build_ko",
           "cache_dir", "demo_iso_path", "ensure_demo_iso", "package_specs", "vermagic"]

ISOLINUX_DIR = Path("/usr/lib/ISOLINUX")
SYSLINUX_BIOS = Path("/usr/lib/syslinux/modules/bios")


DEPS_REQUIRES = ["xcp-ng-release", "vendor-drivers", "kernel", "xapi-core", "xcp-ng-pv-tools"]


def package_specs(extra: int = 0, payload_size: int = 64) -> list[RpmSpec]:
    """The demo repository: xcp-ng-deps, its closure, kernel-alt and one unrequired package."""
    ko = "/lib/modules/" + MAIN_KVER + "/updates/"
    specs = [
        RpmSpec("xcp-ng-deps", "8.3", "14", requires=list(DEPS_REQUIRES),
                summary="A meta package pulling all needed dependencies for XCP-ng",
                obsoletes=["xenserver-deps"]),
        RpmSpec("xcp-ng-release", "8.3.0", "29", "x86_64", provides=["system-release"],
                files={"/etc/xcp-ng-release": (0o644, b"XCP-ng release 8.3.0 (xenenterprise)\n")}),
        RpmSpec("vendor-drivers", "1.0.2", "1.3.xcpng8.3", requires=["intel-igb", "intel-e1000e"]),
        RpmSpec("intel-igb", "5.17.5", "1.xcpng8.3", "x86_64",
                requires=[f"kernel-uname-r = {MAIN_KVER}"],
                files={ko + "igb.ko": (0o644, b"\x7fELF placeholder igb\n")}),
        RpmSpec("intel-e1000e", "3.8.7", "1.xcpng8.3", "x86_64",
                requires=[f"kernel-uname-r = {MAIN_KVER}"],
                files={ko + "e1000e.ko": (0o644, b"\x7fELF placeholder e1000e\n")}),
        RpmSpec("kernel", "4.19.19", "8.0.38.1.xcpng8.3", "x86_64",
                provides=[f"kernel-uname-r = {MAIN_KVER}"],
                files={f"/boot/vmlinuz-{MAIN_KVER}": (0o644, b"kernel placeholder\n")}),
        RpmSpec("kernel-alt", "4.19.309", "1.xcpng8.3", "x86_64",
                provides=[f"kernel-uname-r = {ALT_KVER}"],
                files={f"/boot/vmlinuz-{ALT_KVER}": (0o644, b"kernel-alt placeholder\n")}),
        RpmSpec("xapi-core", "25.6.0", "1.3.xcpng8.3", "x86_64", requires=["xcp-ng-release"],
                files={"/opt/xensource/bin/xapi": (0o755, b"#!/bin/sh\necho xapi\n")}),
        RpmSpec("xcp-ng-pv-tools", "8.3", "12.xcpng8.3.with.an.exceptionally.long.release.tag",
                summary="Guest tools ISO (its file name is longer than Joliet's 64 characters)",
                files={"/opt/xensource/packages/iso/guest-tools.iso": (0o644, b"tools\n")}),
        RpmSpec("htop", "2.2.0", "3.el7", "x86_64", summary="Interactive process viewer",
                files={"/usr/bin/htop": (0o755, b"#!/bin/sh\necho htop\n")}),
    ]
    for i in range(extra):
        specs.append(RpmSpec(f"filler-package-{i:03d}", "1.0", "1", "x86_64",
                             files={f"/usr/share/filler/{i:03d}": (0o644,
                                                                    os.urandom(payload_size))}))
    return specs



def _efiboot(dest: Path, grub_cfg: bytes, work: Path) -> None:
    """2.88 MB FAT image with EFI/BOOT/BOOTX64.EFI and EFI/xenserver/grub.cfg (mtools)."""
    mformat = require("mformat", "build the demo efiboot.img")
    mmd, mcopy = require("mmd", "build efiboot.img"), require("mcopy", "build efiboot.img")
    loader = work / "BOOTX64.EFI"
    mkimage = which("grub-mkimage")
    if mkimage and Path("/usr/lib/grub/x86_64-efi").is_dir():
        subprocess.run(
            [mkimage, "-O", "x86_64-efi", "-p", "/EFI/xenserver", "-o", str(loader),
             "part_gpt", "part_msdos", "iso9660", "fat", "normal", "configfile", "search",
             "search_fs_file", "multiboot2", "echo", "linux", "chain", "gzio", "efi_gop",
             "all_video", "test", "ls", "cat", "serial", "terminal", "sleep", "boot", "halt"],
            check=True,
        )
    else:
        loader.write_bytes(b"MZ placeholder EFI loader (grub-mkimage not installed)\n")
    cfg = work / "efiboot-grub.cfg"
    cfg.write_bytes(grub_cfg)
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    run = lambda *a: subprocess.run(a, check=True, env=env, capture_output=True)  # noqa: E731
    run(mformat, "-i", str(dest), "-N", "0", "-C", "-f", "2880", "-L", "16", "::.")
    run(mmd, "-i", str(dest), "::/EFI", "::/EFI/BOOT", "::/EFI/xenserver")
    run(mcopy, "-i", str(dest), str(loader), "::/EFI/BOOT/BOOTX64.EFI")
    run(mcopy, "-i", str(dest), str(cfg), "::/EFI/xenserver/grub.cfg")
    shutil.copy(loader, dest.parent.parent / "EFI" / "xenserver" / "grubx64.efi")


def _treeinfo(template: str, version: str, signed: bool) -> str:
    if version == "8.2":
        vals = {"PLATFORM_NAME": "XCP", "PLATFORM_VERSION": "3.2.1",
                "PRODUCT_BRAND": "XCP-ng", "PRODUCT_VERSION": "8.2.1"}
    else:
        vals = {"PLATFORM_NAME": "XCP", "PLATFORM_VERSION": "3.3.0",
                "PRODUCT_BRAND": "XCP-ng", "PRODUCT_VERSION": "8.3.0"}
    vals["TIMESTAMP"] = "1700000000.00"
    text = template
    for k, v in vals.items():
        text = text.replace(f"@@{k}@@", v)
    if not signed:
        text = "\n".join("#" + ln if ln.startswith("key") else ln for ln in text.split("\n"))
    return text


def _sign_repo(tree: Path, work: Path, keyname: str) -> None:
    gpg = require("gpg", "sign the demo repository")
    home = work / "gnupg"
    home.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(home))
    run = lambda *a: subprocess.run(a, check=True, env=env, capture_output=True)  # noqa: E731
    run(gpg, "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
        "--quick-gen-key", "xcptui demo signing key <demo@xcptui.invalid>", "ed25519", "sign",
        "never")
    run(gpg, "--batch", "--armor", "--digest-algo", "SHA256", "--detach-sign",
        "-o", str(tree / "repodata" / "repomd.xml.asc"), str(tree / "repodata" / "repomd.xml"))
    key = subprocess.run([gpg, "--armor", "--export"], check=True, env=env,
                         capture_output=True).stdout
    (tree / keyname).write_bytes(key)


def build_demo_iso(out: Path, opts: DemoOptions | None = None) -> Path:
    """Build a demo/test ISO at ``out`` (written atomically)."""
    opts = opts or DemoOptions()
    data = resources.files("xcptui.demoiso") / "data" / opts.version
    genisoimage = require("genisoimage", "master the demo ISO")
    isohybrid = require("isohybrid", "make the demo ISO hybrid")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xcptui-demo-") as td:
        work = Path(td)
        tree = work / "iso"
        (tree / "boot" / "isolinux").mkdir(parents=True)
        (tree / "boot" / "alt").mkdir()
        (tree / "EFI" / "xenserver").mkdir(parents=True)
        iso_dir = tree / "boot" / "isolinux"
        shutil.copy(ISOLINUX_DIR / "isolinux.bin", iso_dir / "isolinux.bin")
        os.chmod(iso_dir / "isolinux.bin", 0o644)
        for mod in ("ldlinux.c32", "libcom32.c32", "libutil.c32", "mboot.c32", "menu.c32"):
            shutil.copy(SYSLINUX_BIOS / mod, iso_dir / mod)
        for name in ("isolinux.cfg", "pg_main", "pg_help"):
            (iso_dir / name).write_bytes((data / name).read_bytes())
        (tree / "EFI" / "xenserver" / "grub.cfg").write_bytes((data / "grub.cfg").read_bytes())
        boot = tree / "boot"
        if opts.xen:
            shutil.copy(opts.xen, boot / "xen.gz")
        else:
            (boot / "xen.gz").write_bytes(gzip.compress(b"Xen hypervisor placeholder\n", mtime=0))
        if opts.vmlinuz:
            shutil.copy(opts.vmlinuz, boot / "vmlinuz")
            shutil.copy(opts.vmlinuz, boot / "alt" / "vmlinuz")
        else:
            (boot / "vmlinuz").write_bytes(b"dom0 kernel placeholder\n" * 64)
            (boot / "alt" / "vmlinuz").write_bytes(b"alt dom0 kernel placeholder\n" * 64)
        (boot / "memtest.bin").write_bytes(b"memtest placeholder\n")
        (boot / "memtest.efi").write_bytes(b"MZ memtest placeholder\n")
        (tree / "install.img").write_bytes(build_install_img(opts, work))
        (tree / "EULA").write_text("XCP-ng demo EULA: this ISO was generated by xcptui.\n")
        (tree / "LICENSES").write_text("GPLv2\n")
        keyname = "RPM-GPG-KEY-xcpng" if opts.version == "8.3" else "RPM-GPG-KEY-CH-8"
        if opts.with_packages:
            pk = tree / "Packages"
            build_rpms(package_specs(opts.extra_rpms, opts.rpm_payload_size), pk, opts.rpm_payload)
            createrepo = require("createrepo_c", "index the demo repository")
            subprocess.run([createrepo, "--general-compress-type=gz", "--database",
                            "--checksum", "sha256", "-q", str(tree)], check=True)
            text = (data / "treeinfo.template").read_text()
            (tree / ".treeinfo").write_text(_treeinfo(text, opts.version, opts.signed))
            if opts.signed:
                _sign_repo(tree, work, keyname)
        if opts.uefi:
            efi_cfg = (data / "efiboot-grub.cfg") if opts.version == "8.3" else None
            efi_text = (efi_cfg.read_bytes() if efi_cfg else (data / "grub.cfg").read_bytes()
                        .replace(b"set timeout=5\n",
                                 b"set timeout=5\nsearch --file --set /install.img\n"))
            _efiboot(boot / "efiboot.img", efi_text, work)
        tmp_iso = out.with_name(f".{out.name}.tmp")
        cmd = [genisoimage, "-o", str(tmp_iso), "-quiet", "-r", "-J", "--joliet-long",
               "-V", opts.volume_id, "-input-charset", "utf-8",
               "-c", "boot/isolinux/boot.cat", "-b", "boot/isolinux/isolinux.bin",
               "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"]
        if opts.uefi:
            cmd += ["-eltorito-alt-boot", "-e", "boot/efiboot.img", "-no-emul-boot"]
        subprocess.run([*cmd, str(tree)], check=True, capture_output=True)
        subprocess.run([isohybrid, *(["--uefi"] if opts.uefi else []), str(tmp_iso)],
                       check=True, capture_output=True)
        os.replace(tmp_iso, out)
    return out


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "xcptui"


def demo_iso_path() -> Path:
    return cache_dir() / "demo" / "xcp-ng-8.3-demo.iso"


def ensure_demo_iso() -> Path:
    """Return the cached demo ISO, generating it on first use (no download)."""
    path = demo_iso_path()
    if not path.exists():
        build_demo_iso(path)
    return path


def main() -> None:  # pragma: no cover - manual helper
    import sys

    t0 = time.time()
    p = build_demo_iso(Path(sys.argv[1]) if len(sys.argv) > 1 else demo_iso_path())
    print(f"{p} ({p.stat().st_size} bytes) in {time.time() - t0:.1f}s")


if __name__ == "__main__":  # pragma: no cover
    main()
