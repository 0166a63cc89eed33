"""Build a small XCP-ng-like installation ISO, the way XCP-ng's create-iso.sh does.

Used by ``xcptui demo`` and by the tests. The layout, boot configs and
``.treeinfo`` are the real 8.3 (or 8.2) templates; install.img is a bzip2 newc
cpio with mode-000 shadow files, device nodes, the ``/init`` symlink, a
hardlink pair and ``lib/modules/<kver>`` trees holding real ELF ``.ko`` files
indexed by depmod; Packages/ holds real RPMs with createrepo_c repodata. The ISO
is mastered with ``genisoimage ... -e boot/efiboot.img`` and ``isohybrid --uefi``.

Kernel, Xen and memtest are small placeholders unless real files are given
(the QEMU smoke tests pass a real kernel and Xen).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from xcptui.demoiso.newc import S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, Node, write_newc
from xcptui.demoiso.rpms import RpmSpec, build_rpms
from xcptui.engine.tools import require, which

MAIN_KVER = "4.19.0+1"
ALT_KVER = "4.19.322+1"  # kernel-alt on 8.3 (create-install-image configs/8.3)
ISOLINUX_DIR = Path("/usr/lib/ISOLINUX")
SYSLINUX_BIOS = Path("/usr/lib/syslinux/modules/bios")
MTIME = 1700000000


def vermagic(kver: str) -> str:
    return f"{kver} SMP mod_unload modversions "


@dataclass
class KoSpec:
    name: str
    relpath: str  # under lib/modules/<kver>/
    version: str = "1.0"
    aliases: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)
    depends: list[str] = field(default_factory=list)


def build_ko(spec: KoSpec, kver: str, out: Path, magic: str | None = None) -> Path:
    """Compile a real relocatable ELF object that looks like a kernel module to kmod."""
    gcc = require("gcc", "compile the demo ISO's kernel modules")
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = [
        "license=GPL",
        f"vermagic={magic if magic is not None else vermagic(kver)}",
        f"name={spec.name}",
        f"version={spec.version}",
        f"description=xcptui demo driver {spec.name}",
        *[f"alias={a}" for a in spec.aliases],
        f"depends={','.join(spec.depends)}",
        "retpoline=Y",
    ]
    modinfo = "".join(f + "\\0" for f in fields)
    src = ["struct kernel_symbol { unsigned long value; const char *name; };"]
    for sym in spec.exports:
        src += [
            f"int {sym}(void) {{ return 1; }}",
            f'static const char __kstrtab_{sym}[] __attribute__((section("__ksymtab_strings"),'
            f' used)) = "{sym}";',
            f"const struct kernel_symbol __ksymtab_{sym} __attribute__((section("
            f'"___ksymtab+{sym}"), used)) = {{ (unsigned long){sym}, __kstrtab_{sym} }};',
        ]
    for sym in spec.uses:
        src.append(f"extern int {sym}(void);")
    body = " + ".join(f"{s}()" for s in spec.uses) or "0"
    src.append(f"int {spec.name}_init_module(void) {{ return {body}; }}")
    src.append(
        'static const char __modinfo[] __attribute__((section(".modinfo"), used, aligned(1)))'
        f' = "{modinfo}";'
    )
    with tempfile.TemporaryDirectory() as td:
        c = Path(td) / f"{spec.name}.c"
        c.write_text("\n".join(src) + "\n")
        subprocess.run([gcc, "-c", "-O2", "-fno-pic", "-o", str(out), str(c)], check=True)
    return out


MAIN_MODULES = [
    KoSpec("mdio", "kernel/drivers/net/mdio.ko", exports=["mdio45_probe", "mdio_mii_ioctl"]),
    KoSpec("igb", "kernel/drivers/net/ethernet/intel/igb/igb.ko", "5.4.0-k",
           aliases=["pci:v00008086d00001533sv*sd*bc*sc*i*",
                    "pci:v00008086d00001521sv*sd*bc*sc*i*"]),
    KoSpec("e1000e", "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko", "3.2.6-k",
           aliases=["pci:v00008086d000010D3sv*sd*bc*sc*i*"]),
    KoSpec("igc", "kernel/drivers/net/ethernet/intel/igc/igc.ko", "0.0.1-k",
           aliases=["pci:v00008086d000015F2sv*sd*bc*sc*i*"]),
    KoSpec("ixgbe", "updates/ixgbe.ko", "5.9.4", aliases=["pci:v00008086d000010FBsv*sd*bc*sc*i*"],
           uses=["mdio45_probe"], depends=["mdio"]),
    KoSpec("megaraid_sas", "kernel/drivers/scsi/megaraid/megaraid_sas.ko", "07.706.03.00-rc1",
           aliases=["pci:v00001000d0000005Bsv*sd*bc*sc*i*"]),
]
ALT_MODULES = [
    KoSpec("igb", "kernel/drivers/net/ethernet/intel/igb/igb.ko", "5.6.0-k",
           aliases=["pci:v00008086d00001533sv*sd*bc*sc*i*"]),
    KoSpec("igc", "kernel/drivers/net/ethernet/intel/igc/igc.ko", "0.0.1-k",
           aliases=["pci:v00008086d000015F2sv*sd*bc*sc*i*"]),
]

STAGE2_MARKER = "XCPTUI-STAGE2"

# /sbin/init of the demo image: when booted for real (QEMU tests) it proves stage 2
# started and shows what the booted install.img contains.
INIT_SCRIPT = f"""#!/bin/busybox sh
# Each line also goes to /dev/kmsg: with XCP-ng's "console=hvc0 console=tty0" the console
# is tty0, and kmsg reaches every kernel console, hvc0 (Xen's serial port) included.
say() {{ echo "$*"; echo "$*" > /dev/kmsg 2>/dev/null; }}
/bin/busybox mount -t proc proc /proc 2>/dev/null
# /dev/console as unpacked from install.img, before devtmpfs hides it
console="$(/bin/busybox ls -ln /dev/console 2>&1)"
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
say "{STAGE2_MARKER} start"
say "{STAGE2_MARKER} cmdline: $(/bin/busybox cat /proc/cmdline)"
say "{STAGE2_MARKER} ls: $console"
for f in /etc/shadow /answerfile.xml; do
  say "{STAGE2_MARKER} ls: $(/bin/busybox ls -ln $f 2>&1)"
done
for d in /lib/modules/*/updates; do
  say "{STAGE2_MARKER} updates: $d $(/bin/busybox ls $d 2>&1 | /bin/busybox tr '\\n' ' ')"
done
say "{STAGE2_MARKER} end"
/bin/busybox poweroff -f
"""

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


@dataclass
class DemoOptions:
    version: str = "8.3"  # "8.3" or "8.2"
    volume_id: str = "XCP-ng 8.3.0"
    compression: str = "bzip2"  # bzip2 | gzip | xz | zstd
    signed: bool = True
    with_packages: bool = True
    with_alt_kernel: bool = True
    xen: Path | None = None
    vmlinuz: Path | None = None
    rpm_payload: str = "gzip"
    extra_rpms: int = 0
    filler_files: int = 0  # bench: adds this many random files to install.img
    filler_size: int = 30000
    filler_modules: int = 0  # bench: extra .ko files in the main kernel tree
    uefi: bool = True
    rpm_payload_size: int = 64  # bench: bytes of random payload per extra RPM
    fast_compress: bool = False  # bench: compress install.img with lbzip2 (same format)
    layout: str = "el7"  # "el7": the real CentOS 7 root; "flat": no usr/ symlinks, "./" names


# The real install.img is a CentOS 7 root made with `yum --installroot`: these are
# symlinks into usr/ (xcp-ng/create-install-image).
EL7_SYMLINKS = (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"),
                ("sbin", "usr/sbin"))


def _rootfs_nodes(modules: dict[str, bytes], opts: DemoOptions) -> list[Node]:
    """Nodes of install.img in `find .` style order (directories before contents).

    ``el7`` (default): the real layout, names as GNU cpio stores `find .` output
    ("." then "bin", "usr/lib/modules/..."); ``flat``: real bin/, lib/... directories
    and "./" names (the fixture this project started with).
    """
    el7 = opts.layout == "el7"
    nodes: dict[str, Node] = {}
    groups: dict[str, int] = {}

    def add(path: str, mode: int, data: bytes = b"", link: str | None = None,
            **kw: object) -> Node:
        parts = path.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in nodes:
                nodes[d] = Node(d, S_IFDIR | 0o755, mtime=MTIME)
        n = Node(path, mode, data, mtime=MTIME, **kw)  # type: ignore[arg-type]
        if link is not None:
            n.ino = groups.setdefault(link, len(groups) + 1)  # a group id until numbered
            n.nlink = 2
        nodes[path] = n
        return n

    nodes[""] = Node("", S_IFDIR | 0o755, mtime=MTIME)
    usr = "usr/" if el7 else ""
    if el7:
        for name, target in EL7_SYMLINKS:
            add(name, S_IFLNK | 0o777, target.encode())
        add("usr/lib64", S_IFDIR | 0o755)
    busybox = which("busybox")
    bb_data = Path(busybox).read_bytes() if busybox else b"#!/bin/sh\necho busybox\n"
    add(f"{usr}bin/busybox", S_IFREG | 0o755, bb_data)
    add(f"{usr}bin/sh", S_IFLNK | 0o777, b"busybox")
    add(f"{usr}bin/bash", S_IFLNK | 0o777, b"busybox")
    add(f"{usr}sbin/init", S_IFREG | 0o755, INIT_SCRIPT.encode())
    if el7:  # e2fsprogs' hardlinks, not next to each other in `find` order
        mke2fs = b"\x7fELF mke2fs placeholder\n" * 8
        add("usr/sbin/mke2fs", S_IFREG | 0o755, mke2fs, link="mke2fs")
        add("usr/sbin/mkfs", S_IFREG | 0o755, b"#!/bin/sh\necho mkfs\n")
        add("usr/sbin/mkfs.ext4", S_IFREG | 0o755, mke2fs, link="mke2fs")
    add("init", S_IFLNK | 0o777, b"/sbin/init")
    add("dev", S_IFDIR | 0o755)
    add("dev/console", S_IFCHR | 0o600, rdev=(5, 1))
    add("dev/null", S_IFCHR | 0o666, rdev=(1, 3))
    add("proc", S_IFDIR | 0o555)
    add("sys", S_IFDIR | 0o555)
    add("tmp", S_IFDIR | 0o1777)
    add("root", S_IFDIR | 0o550)
    add("etc/passwd", S_IFREG | 0o644, b"root:x:0:0:root:/root:/bin/bash\n")
    add("etc/group", S_IFREG | 0o644, b"root:x:0:\ntty:x:5:\n")
    for name in ("shadow", "gshadow", "shadow-", "gshadow-"):
        add(f"etc/{name}", S_IFREG | 0o000, b"root:$6$demo$hash:19000:0:99999:7:::\n")
    add("etc/sysconfig/network", S_IFREG | 0o644, b"NETWORKING=yes\n")
    for name, text in depmod_conf(opts.version).items():
        add(f"etc/depmod.d/{name}", S_IFREG | 0o644, text)
    add("etc/modprobe.d/installer-blacklist.conf", S_IFREG | 0o644,
        b"blacklist eth1394\nblacklist ipmi_si\nblacklist igbvf\n")
    add("etc/xensource-inventory", S_IFREG | 0o644, b"PRODUCT_BRAND='XCP-ng'\n")
    add("etc/systemd/system/installer.service", S_IFREG | 0o644,
        b"[Service]\nExecStart=/opt/xensource/installer/preinit --\n")
    inst = "opt/xensource/installer"
    add(f"{inst}/preinit", S_IFREG | 0o755,
        b"#!/bin/sh\nexec /opt/xensource/installer/init \"$@\"\n")
    add(f"{inst}/init", S_IFREG | 0o755, b"#!/usr/bin/python\nimport install\n")
    add(f"{inst}/install.py", S_IFREG | 0o644, b"def go():\n    print('installing XCP-ng')\n")
    add(f"{inst}/constants.py", S_IFREG | 0o644, b"TIMEOUT = 30\nTIMEZONE = 'UTC'\n")
    add(f"{inst}/EULA", S_IFLNK | 0o777, b"../../../EULA")
    add("EULA", S_IFREG | 0o644, b"XCP-ng demo EULA\n")
    py = b"\x7fELF python interpreter placeholder\n" * 20
    add("usr/bin/python2.7", S_IFREG | 0o755, py, link="python")
    add("usr/bin/python2", S_IFREG | 0o755, py, link="python")
    add("usr/bin/python", S_IFLNK | 0o777, b"python2")
    add("usr/share/doc/bash/README", S_IFREG | 0o644, b"bash docs\n" * 50)
    add("usr/share/doc/bash/COPYING", S_IFREG | 0o644, b"GPL\n" * 100)
    # the rpmdb `yum --installroot` leaves behind (Berkeley DB files)
    add("var/lib/rpm/Packages", S_IFREG | 0o644, b"\x00\x06\x15\x61" + b"\0" * 4092)
    if el7:
        for name in ("Name", "Providename", "Basenames"):
            add(f"var/lib/rpm/{name}", S_IFREG | 0o644, b"\x00\x06\x15\x61" + b"\0" * 1020)
    for rel, data in sorted(modules.items()):
        add(f"{usr}lib/modules/{rel}", S_IFREG | 0o644, data)
    for i in range(opts.filler_files):
        size = opts.filler_size
        # half random (incompressible), half text: roughly real-image compressibility
        blob = os.urandom(size // 3) + (b"filler text line %d\n" % i) * (size // 40)
        add(f"usr/lib/filler/d{i // 200:03d}/f{i:05d}.bin", S_IFREG | 0o644, blob)
    return _number(nodes, "" if el7 else "./")


def _number(nodes: dict[str, Node], prefix: str) -> list[Node]:
    """`find .` order (parents first, siblings by name), stored names, inode numbers."""
    out = [nodes[p] for p in sorted(nodes, key=lambda p: p.split("/") if p else [])]
    ino = 700
    group_ino: dict[int, int] = {}
    for n in out:
        n.path = prefix + n.path if n.path else "."
        if n.nlink > 1:
            if n.ino not in group_ino:
                ino += 1
                group_ino[n.ino] = ino
            n.ino = group_ino[n.ino]
        else:
            ino += 1
            n.ino = ino
        if (n.mode & 0o170000) == S_IFDIR:
            n.nlink = 2
    return out


def depmod_conf(version: str) -> dict[str, bytes]:
    """etc/depmod.d of the image: CentOS 7's dist.conf, plus XCP-ng's override on 8.2."""
    conf = {"dist.conf": b"#\n# depmod.conf\n#\n\n# override default search ordering for "
                         b"kmod packaging\nsearch updates extra built-in weak-updates\n"}
    if version == "8.2":
        conf["00-xcpng-override.conf"] = b"search override\n"
    return conf


def _filler_modules(base: Path, kver: str, count: int, work: Path) -> list[str]:
    """Many distinct modules (bench: a realistic kernel tree) from one compiled template.

    The template's name is a fixed-width placeholder patched per copy, which keeps every
    copy a valid ELF object with its own .modinfo; a data array gives it a real size.
    """
    gcc = require("gcc", "compile the demo ISO's kernel modules")
    src = work / "filler.c"
    words = " ".join(f"w{i * 7919 % 100003}" for i in range(6000))
    src.write_text(
        f'const char filler_text[] = "{words}";\n'
        'static const char __modinfo[] __attribute__((section(".modinfo"), used, aligned(1)))'
        f' = "license=GPL\\0vermagic={vermagic(kver)}\\0name=fm000000\\0'
        'alias=pci:v0000FFFFd0000EEEEsv*sd*bc*sc*i*\\0";\n')
    tmpl = work / "filler.ko"
    subprocess.run([gcc, "-c", "-O2", "-fno-pic", "-o", str(tmpl), str(src)], check=True)
    data = tmpl.read_bytes()
    out = []
    for i in range(count):
        rel = f"kernel/drivers/misc/d{i // 100:03d}/fm{i:06d}.ko"
        dest = base / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data.replace(b"name=fm000000", b"name=fm%06d" % i)
                         .replace(b"d0000EEEE", b"d0000%04X" % (i % 0x10000)))
        out.append(rel)
    return out


def _module_trees(opts: DemoOptions, work: Path) -> dict[str, bytes]:
    """Compile modules for each kernel tree, run depmod, return relpath -> bytes."""
    depmod = require("depmod", "index the demo ISO's kernel modules")
    root = work / "modroot"
    trees = [(MAIN_KVER, MAIN_MODULES)]
    if opts.with_alt_kernel:
        trees.append((ALT_KVER, ALT_MODULES))
    out: dict[str, bytes] = {}
    conf = root / "etc" / "depmod.d"
    conf.mkdir(parents=True)
    for name, text in depmod_conf(opts.version).items():  # depmod --config etc/depmod.d
        (conf / name).write_bytes(text)
    for kver, mods in trees:
        base = root / "lib" / "modules" / kver
        for m in mods:
            build_ko(m, kver, base / m.relpath)
        order = [m.relpath for m in mods]
        if kver == MAIN_KVER and opts.filler_modules:
            order += _filler_modules(base, kver, opts.filler_modules, work)
        (base / "modules.order").write_text("".join(r + "\n" for r in order))
        (base / "modules.builtin").write_text("kernel/drivers/net/loopback.ko\n")
        (base / "modules.builtin.modinfo").write_bytes(b"loopback.license=GPL\0")
        subprocess.run([depmod, "-b", str(root), "-C", str(conf), kver], check=True,
                       capture_output=True)
        for p in sorted(base.rglob("*")):
            if p.is_file():
                out[f"{kver}/{p.relative_to(base)}"] = p.read_bytes()
    return out


def _compress(data: bytes, how: str, fast: bool = False) -> bytes:
    if how == "bzip2" and fast and which("lbzip2"):
        return subprocess.run(["lbzip2", "-9", "-c"], input=data, capture_output=True,
                              check=True).stdout
    if how == "bzip2":
        return bz2.compress(data, 9)
    if how == "gzip":
        return gzip.compress(data, 9, mtime=0)
    if how == "xz":
        return lzma.compress(data, check=lzma.CHECK_CRC32)
    if how == "zstd":
        proc = subprocess.run([require("zstd", "make a zstd demo image"), "-q", "-c"],
                              input=data, capture_output=True, check=True)
        return proc.stdout
    raise ValueError(how)


def build_install_img(opts: DemoOptions, work: Path) -> bytes:
    modules = _module_trees(opts, work)
    raw = write_newc(_rootfs_nodes(modules, opts))
    return _compress(raw, opts.compression, opts.fast_compress)


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
