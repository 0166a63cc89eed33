#!/usr/bin/env python3
"""End-to-end benchmark: xcptui vs the manual pipeline on an XCP-ng-sized ISO.

    .venv/bin/python bench/bench.py [--workdir DIR] [--small]

Generates (once, cached in the work dir) an ISO of about 600 MB: install.img about
110 MB bzip2 / 350 MB newc with ~11,600 entries of which ~2,600 kernel modules (so the
driver swap's depmod sees a realistic module tree), ~400 RPMs in Packages/. Then times,
in one run:

* driver swap + rebuild: ``xcptui build`` with one [[installer.drivers]] entry, versus
  the manual pipeline from the XCP-ng docs (extract ISO, bunzip2 | cpio -idm, cp the
  .ko, depmod, find | cpio -o -H newc | bzip2, genisoimage, isohybrid --uefi);
* no-change rebuild: ``xcptui build`` with an empty recipe, versus
  ``xorriso -indev A -outdev B -boot_image any replay`` (with Joliet kept);

and prints the ratios (targets: driver swap <= 0.45x manual, no-change <= 1.5x xorriso)
and xcptui's peak RSS (target <= 200 MB). CPU seconds are printed too, because wall
time on shared 2-core machines varies more than CPU time.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xcptui.demoiso.builder import MAIN_KVER, DemoOptions, KoSpec, build_demo_iso, build_ko  # noqa: E402


def sh(cmd: str, cwd: Path | None = None) -> None:
    subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed(fn: object) -> tuple[float, float, int]:
    """(wall seconds, child CPU seconds, child peak RSS KiB) of running fn()."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    fn()  # type: ignore[operator]
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, r1.ru_maxrss


def xcptui_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "xcptui", *args]


def manual_driver_swap(iso: Path, ko: Path, work: Path, out: Path) -> None:
    """The docs' procedure, minus mount/chroot (impossible without root in CI)."""
    iso, ko, work, out = iso.resolve(), ko.resolve(), work.resolve(), out.resolve()
    tree, root = work / "tree", work / "root"
    shutil.rmtree(work, ignore_errors=True)
    tree.mkdir(parents=True)
    root.mkdir()
    sh(f"xorriso -osirrox on -indev {iso} -extract / {tree}")
    sh(f"chmod -R u+w {tree}")
    sh(f"bunzip2 < {tree}/install.img | cpio -idm --quiet", cwd=root)
    kdir = root / "lib" / "modules" / MAIN_KVER
    sh(f"find {kdir} -name igc.ko -delete; mkdir -p {kdir}/updates; cp {ko} {kdir}/updates/")
    sh(f"depmod -b {root} {MAIN_KVER}")
    sh(f"find . | cpio -o -H newc --quiet | bzip2 > {tree}/install.img", cwd=root)
    sh(f"genisoimage -o {out} -quiet -r -J --joliet-long -V 'XCP-ng 8.3.0' -input-charset utf-8 "
       f"-c boot/isolinux/boot.cat -b boot/isolinux/isolinux.bin -no-emul-boot "
       f"-boot-load-size 4 -boot-info-table -eltorito-alt-boot -e boot/efiboot.img "
       f"-no-emul-boot {tree}")
    sh(f"isohybrid --uefi {out}")
    shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    ap.add_argument("--small", action="store_true", help="a 10x smaller ISO (smoke run)")
    args = ap.parse_args()
    wd: Path = args.workdir.resolve()
    wd.mkdir(parents=True, exist_ok=True)
    scale = 10 if args.small else 1
    iso = wd / ("bench2-small.iso" if args.small else "bench2.iso")
    if not iso.exists():
        print(f"generating {iso.name} (once; several minutes)...", flush=True)
        t0 = time.monotonic()
        build_demo_iso(iso, DemoOptions(filler_files=9000 // scale, filler_size=32000,
                                        filler_modules=2600 // scale,
                                        extra_rpms=400 // scale, rpm_payload_size=1_100_000,
                                        fast_compress=True))
        print(f"  {iso.stat().st_size / 1e6:.0f} MB in {time.monotonic() - t0:.0f}s")
    ko = wd / "igc.ko"
    build_ko(KoSpec("igc", "updates/igc.ko", "5.4.0-7",
                    aliases=["pci:v00008086d000015F3sv*sd*bc*sc*i*"]), MAIN_KVER, ko)
    recipe = wd / "swap.toml"
    recipe.write_text(f'[[installer.drivers]]\nsource = "{ko}"\n')
    empty = wd / "empty.toml"
    empty.write_text("")
    outs = {n: wd / f"{n}.iso" for n in ("manual", "engine-swap", "engine-swap-verified",
                                         "xorriso", "engine-nochange")}
    for p in outs.values():
        p.unlink(missing_ok=True)

    def run(cmd: list[str]) -> None:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    res: dict[str, tuple[float, float, int]] = {}
    res["manual"] = timed(lambda: manual_driver_swap(iso, ko, wd / "manual-work",
                                                     outs["manual"]))
    res["engine-swap"] = timed(lambda: run(xcptui_cmd(
        "build", str(iso), "--recipe", str(recipe), "-o", str(outs["engine-swap"]),
        "--no-verify", "-q")))
    res["engine-swap-verified"] = timed(lambda: run(xcptui_cmd(
        "build", str(iso), "--recipe", str(recipe), "-o", str(outs["engine-swap-verified"]),
        "-q")))
    res["xorriso"] = timed(lambda: run([
        "xorriso", "-indev", str(iso), "-outdev", str(outs["xorriso"]), "-joliet", "on",
        "-compliance", "joliet_long_names", "-boot_image", "any", "replay"]))
    res["engine-nochange"] = timed(lambda: run(xcptui_cmd(
        "build", str(iso), "--recipe", str(empty), "-o", str(outs["engine-nochange"]),
        "--no-verify", "-q")))
    # Peak RSS of the engine alone (a fresh child so other children don't count).
    rss_cmd = xcptui_cmd("build", str(iso), "--recipe", str(recipe), "-o", str(wd / "rss.iso"),
                         "--no-verify", "-q")
    rss = subprocess.run(
        [sys.executable, "-c",
         "import resource,subprocess,sys;"
         f"subprocess.run({rss_cmd!r},"
         "check=True,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL);"
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"],
        capture_output=True, text=True, check=True).stdout.strip()
    (wd / "rss.iso").unlink(missing_ok=True)

    print(f"\nISO: {iso} ({iso.stat().st_size / 1e6:.0f} MB)\n")
    print(f"{'scenario':<28}{'wall s':>9}{'cpu s':>9}")
    for k, (w, c, _) in res.items():
        print(f"{k:<28}{w:>9.2f}{c:>9.2f}")
    swap = res["engine-swap"][0] / res["manual"][0]
    noch = res["engine-nochange"][0] / res["xorriso"][0]
    print(f"\ndriver swap + rebuild: {swap:.2f}x the manual pipeline   (target <= 0.45)")
    print(f"no-change rebuild:     {noch:.2f}x xorriso replay        (target <= 1.50)")
    print(f"peak RSS (driver swap): {int(rss) / 1024:.0f} MB               (target <= 200)")
    for p in outs.values():
        p.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
