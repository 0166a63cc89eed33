"""Real ELF kernel modules (gcc) for the demo image, indexed by the host's depmod the
way create-install-image does: ``depmod --config etc/depmod.d --basedir ROOT``."""

from __future__ import annotations

import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from xcptui.demoiso.options import ALT_KVER, MAIN_KVER, DemoOptions
from xcptui.engine.tools import require


def vermagic(kver: str) -> str:
    return f"{kver} SMP mod_unload modversions "


# vmlinux symbols every demo module imports, like real ones do (module_layout always)
VMLINUX_IMPORTS = ("module_layout", "printk")


def symbol_crc(abi: str, symbol: str) -> int:
    """The CRC genksyms would give ``symbol`` in kernel build ``abi`` (demo: a hash of
    both, so the main and alt kernels - and any "other ABI" - disagree on every symbol)."""
    return zlib.crc32(f"{abi}:{symbol}".encode())


def _versions_c(symbols: list[str], abi: str) -> list[str]:
    """C for a ``__versions`` table (struct modversion_info) and nothing else."""
    rows = ", ".join(f'{{ 0x{symbol_crc(abi, s):08x}UL, "{s}" }}' for s in symbols)
    return ["struct modversion_info { unsigned long crc; char name[56]; };",
            "static const struct modversion_info ____versions[] "
            f'__attribute__((used, section("__versions"), aligned(8))) = {{ {rows} }};']


@dataclass
class KoSpec:
    name: str
    relpath: str  # under lib/modules/<kver>/
    version: str = "1.0"
    aliases: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)
    depends: list[str] = field(default_factory=list)
    firmware: list[str] = field(default_factory=list)  # modinfo firmware= (lib/firmware/...)


def build_ko(spec: KoSpec, kver: str, out: Path, magic: str | None = None,
             abi: str | None = None) -> Path:
    """Compile a real relocatable ELF object that looks like a kernel module to kmod.

    Its ``__versions`` imports and ``__crc_`` exports carry the CRCs of kernel build
    ``abi`` (default ``kver``): ``abi=ALT_KVER`` with ``kver=MAIN_KVER`` is a module
    with the right vermagic built against the wrong kernel.
    """
    abi = abi or kver
    gcc = require("gcc", "compile the demo ISO's kernel modules")
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = [
        "license=GPL",
        f"vermagic={magic if magic is not None else vermagic(kver)}",
        f"name={spec.name}",
        f"version={spec.version}",
        f"description=xcptui demo driver {spec.name}",
        *[f"alias={a}" for a in spec.aliases],
        *[f"firmware={f}" for f in spec.firmware],
        f"depends={','.join(spec.depends)}",
        "retpoline=Y",
    ]
    modinfo = "".join(f + "\\0" for f in fields)
    src = ["struct kernel_symbol { unsigned long value; const char *name; };"]
    src += _versions_c([*VMLINUX_IMPORTS, *spec.uses], abi)
    for sym in spec.exports:
        src += [
            f'asm(".globl __crc_{sym}\\n.set __crc_{sym}, 0x{symbol_crc(abi, sym):08x}");',
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


def module_trees(opts: DemoOptions, work: Path) -> dict[str, bytes]:
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

