"""install.img of the demo ISO: the root tree as newc cpio, compressed."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import subprocess
from pathlib import Path

from xcptui.demoiso.kmods import depmod_conf, module_trees
from xcptui.demoiso.newc import S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, Node, write_newc
from xcptui.demoiso.options import MTIME, DemoOptions
from xcptui.engine.tools import require, which

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


# The real install.img is a CentOS 7 root made with `yum --installroot`: these are
# symlinks into usr/ (CentOS 7's filesystem RPM, UsrMove).
EL7_SYMLINKS = (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"),
                ("sbin", "usr/sbin"))


class _Tree:
    """Nodes by path ("" is the root); parents are created as 0755 directories."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {"": Node("", S_IFDIR | 0o755, mtime=MTIME)}
        self.groups: dict[str, int] = {}

    def add(self, path: str, mode: int, data: bytes = b"", link: str | None = None,
            **kw: object) -> Node:
        parts = path.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in self.nodes:
                self.nodes[d] = Node(d, S_IFDIR | 0o755, mtime=MTIME)
        n = Node(path, mode, data, mtime=MTIME, **kw)  # type: ignore[arg-type]
        if link is not None:  # a hardlink group id until _number gives inode numbers
            n.ino = self.groups.setdefault(link, len(self.groups) + 1)
            n.nlink = 2
        self.nodes[path] = n
        return n


def _rootfs_nodes(modules: dict[str, bytes], opts: DemoOptions) -> list[Node]:
    """Nodes of install.img in `find .` style order (directories before contents).

    ``el7`` (default): the real layout, names as GNU cpio stores `find .` output
    ("." then "bin", "usr/lib/modules/..."); ``flat``: real bin/, lib/... directories
    and "./" names (the fixture this project started with).
    """
    el7 = opts.layout == "el7"
    t = _Tree()
    usr = "usr/" if el7 else ""
    _system(t, el7)
    _etc(t, opts.version)
    _installer(t)
    for rel, data in sorted(modules.items()):
        t.add(f"{usr}lib/modules/{rel}", S_IFREG | 0o644, data)
    for i in range(opts.filler_files):
        size = opts.filler_size
        # half random (incompressible), half text: roughly real-image compressibility
        blob = os.urandom(size // 3) + (b"filler text line %d\n" % i) * (size // 40)
        t.add(f"usr/lib/filler/d{i // 200:03d}/f{i:05d}.bin", S_IFREG | 0o644, blob)
    return _number(t.nodes, "" if el7 else "./")


def _system(t: _Tree, el7: bool) -> None:
    """The /usr merge symlinks, busybox, init, device nodes, the rpmdb."""
    usr = "usr/" if el7 else ""
    if el7:
        for name, target in EL7_SYMLINKS:
            t.add(name, S_IFLNK | 0o777, target.encode())
        t.add("usr/lib64", S_IFDIR | 0o755)
    busybox = which("busybox")
    bb_data = Path(busybox).read_bytes() if busybox else b"#!/bin/sh\necho busybox\n"
    t.add(f"{usr}bin/busybox", S_IFREG | 0o755, bb_data)
    t.add(f"{usr}bin/sh", S_IFLNK | 0o777, b"busybox")
    t.add(f"{usr}bin/bash", S_IFLNK | 0o777, b"busybox")
    t.add(f"{usr}sbin/init", S_IFREG | 0o755, INIT_SCRIPT.encode())
    if el7:  # e2fsprogs' hardlinks, not next to each other in `find` order
        mke2fs = b"\x7fELF mke2fs placeholder\n" * 8
        t.add("usr/sbin/mke2fs", S_IFREG | 0o755, mke2fs, link="mke2fs")
        t.add("usr/sbin/mkfs", S_IFREG | 0o755, b"#!/bin/sh\necho mkfs\n")
        t.add("usr/sbin/mkfs.ext4", S_IFREG | 0o755, mke2fs, link="mke2fs")
    t.add("init", S_IFLNK | 0o777, b"/sbin/init")
    t.add("dev", S_IFDIR | 0o755)
    t.add("dev/console", S_IFCHR | 0o600, rdev=(5, 1))
    t.add("dev/null", S_IFCHR | 0o666, rdev=(1, 3))
    t.add("proc", S_IFDIR | 0o555)
    t.add("sys", S_IFDIR | 0o555)
    t.add("tmp", S_IFDIR | 0o1777)
    t.add("root", S_IFDIR | 0o550)
    py = b"\x7fELF python interpreter placeholder\n" * 20
    t.add("usr/bin/python2.7", S_IFREG | 0o755, py, link="python")
    t.add("usr/bin/python2", S_IFREG | 0o755, py, link="python")
    t.add("usr/bin/python", S_IFLNK | 0o777, b"python2")
    t.add("usr/share/doc/bash/README", S_IFREG | 0o644, b"bash docs\n" * 50)
    t.add("usr/share/doc/bash/COPYING", S_IFREG | 0o644, b"GPL\n" * 100)
    # the rpmdb `yum --installroot` leaves behind (Berkeley DB files)
    t.add("var/lib/rpm/Packages", S_IFREG | 0o644, b"\x00\x06\x15\x61" + b"\0" * 4092)
    if el7:
        for name in ("Name", "Providename", "Basenames"):
            t.add(f"var/lib/rpm/{name}", S_IFREG | 0o644, b"\x00\x06\x15\x61" + b"\0" * 1020)


def _etc(t: _Tree, version: str) -> None:
    t.add("etc/passwd", S_IFREG | 0o644, b"root:x:0:0:root:/root:/bin/bash\n")
    t.add("etc/group", S_IFREG | 0o644, b"root:x:0:\ntty:x:5:\n")
    for name in ("shadow", "gshadow", "shadow-", "gshadow-"):
        t.add(f"etc/{name}", S_IFREG | 0o000, b"root:$6$demo$hash:19000:0:99999:7:::\n")
    t.add("etc/sysconfig/network", S_IFREG | 0o644, b"NETWORKING=yes\n")
    for name, text in depmod_conf(version).items():
        t.add(f"etc/depmod.d/{name}", S_IFREG | 0o644, text)
    t.add("etc/modprobe.d/installer-blacklist.conf", S_IFREG | 0o644,
          b"blacklist eth1394\nblacklist ipmi_si\nblacklist igbvf\n")
    t.add("etc/xensource-inventory", S_IFREG | 0o644, b"PRODUCT_BRAND='XCP-ng'\n")
    t.add("etc/systemd/system/installer.service", S_IFREG | 0o644,
          b"[Service]\nExecStart=/opt/xensource/installer/preinit --\n")


def _installer(t: _Tree) -> None:
    inst = "opt/xensource/installer"
    t.add(f"{inst}/preinit", S_IFREG | 0o755,
          b"#!/bin/sh\nexec /opt/xensource/installer/init \"$@\"\n")
    t.add(f"{inst}/init", S_IFREG | 0o755, b"#!/usr/bin/python\nimport install\n")
    t.add(f"{inst}/install.py", S_IFREG | 0o644, b"def go():\n    print('installing XCP-ng')\n")
    t.add(f"{inst}/constants.py", S_IFREG | 0o644, b"TIMEOUT = 30\nTIMEZONE = 'UTC'\n")
    t.add(f"{inst}/EULA", S_IFLNK | 0o777, b"../../../EULA")
    t.add("EULA", S_IFREG | 0o644, b"XCP-ng demo EULA\n")


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
    modules = module_trees(opts, work)
    raw = write_newc(_rootfs_nodes(modules, opts))
    return _compress(raw, opts.compression, opts.fast_compress)

