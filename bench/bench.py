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

all at the DEFAULT settings users run (verify on), cold (empty index cache) and warm
(second run), plus ``--no-verify``, ``inspect --quick`` and the first and second
``xcptui ls ISO install.img:/etc``; prints the ratios against the manual pipeline,
xorriso replay and ``inspect --quick``, and each command's peak RSS. CPU seconds are
printed too, because wall time on shared 2-core machines varies more than CPU time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xcptui.demoiso.builder import MAIN_KVER, DemoOptions, KoSpec, build_demo_iso, build_ko  # noqa: E402

_PEAK = [0]  # the largest peak RSS (KiB) of a step started by sh() since the last reset


def sh(cmd: str, cwd: Path | None = None) -> None:
    p = subprocess.Popen(["bash", "-euo", "pipefail", "-c", cmd], cwd=cwd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)  # ru_maxrss: the largest process of that pipeline
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {cmd}")
    _PEAK[0] = max(_PEAK[0], ru.ru_maxrss)


def timed(fn: object) -> tuple[float, float, int]:
    """(wall seconds, children's CPU seconds, largest step's peak RSS KiB) of fn(), whose
    commands run through sh()."""
    _PEAK[0] = 0
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    fn()  # type: ignore[operator]
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, _PEAK[0]


def timed_cmd(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """The same for one command, with ITS peak RSS (os.wait4 reports that child alone)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert p.stderr is not None
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err.decode()[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


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


def generate(iso: Path, scale: int) -> None:
    build_demo_iso(iso, DemoOptions(filler_files=9000 // scale, filler_size=32000,
                                    filler_modules=2600 // scale,
                                    extra_rpms=400 // scale, rpm_payload_size=1_100_000,
                                    fast_compress=True))


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--generate":
        generate(Path(sys.argv[2]), int(sys.argv[3]))
        return 0
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
        # in a child: this process stays small, and every command it starts reports its
        # own peak RSS (Linux counts the parent's memory at fork into a child's maxrss)
        subprocess.run([sys.executable, __file__, "--generate", str(iso), str(scale)],
                       check=True)
        print(f"  {iso.stat().st_size / 1e6:.0f} MB in {time.monotonic() - t0:.0f}s")
    ko = wd / "igc.ko"
    build_ko(KoSpec("igc", "updates/igc.ko", "5.4.0-7",
                    aliases=["pci:v00008086d000015F3sv*sd*bc*sc*i*"]), MAIN_KVER, ko)
    recipe = wd / "swap.toml"
    recipe.write_text(f'[[installer.drivers]]\nsource = "{ko}"\n')
    empty = wd / "empty.toml"
    empty.write_text("")
    cache = wd / "cache"  # the index cache: emptied for "cold", kept for "warm"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = wd / "out.iso"
    res: dict[str, tuple[float, float, int]] = {}

    def xc(name: str, *args: str, cold: bool = False) -> None:
        if cold:
            shutil.rmtree(cache, ignore_errors=True)
        out.unlink(missing_ok=True)
        res[name] = timed_cmd(xcptui_cmd(*args), env)

    res["manual driver swap"] = timed(lambda: manual_driver_swap(iso, ko, wd / "manual-work",
                                                                 wd / "manual.iso"))
    (wd / "manual.iso").unlink(missing_ok=True)
    xc("driver swap, default, cold", "build", str(iso), "--recipe", str(recipe), "-o", str(out),
       "-q", cold=True)
    xc("driver swap, default, warm", "build", str(iso), "--recipe", str(recipe), "-o", str(out),
       "-q")
    xc("driver swap, --no-verify", "build", str(iso), "--recipe", str(recipe), "-o", str(out),
       "-q", "--no-verify")
    res["xorriso replay"] = timed_cmd(
        ["xorriso", "-indev", str(iso), "-outdev", str(wd / "xorriso.iso"), "-joliet", "on",
         "-compliance", "joliet_long_names", "-boot_image", "any", "replay"])
    (wd / "xorriso.iso").unlink(missing_ok=True)
    xc("no-change build, default", "build", str(iso), "--recipe", str(empty), "-o", str(out),
       "-q")
    xc("inspect --quick", "inspect", str(iso), "--quick")
    xc("ls install.img:/etc, first", "ls", str(iso), "install.img:/etc", cold=True)
    xc("ls install.img:/etc, second", "ls", str(iso), "install.img:/etc")
    out.unlink(missing_ok=True)

    print(f"\nISO: {iso} ({iso.stat().st_size / 1e6:.0f} MB)\n")
    print(f"{'scenario':<30}{'wall s':>9}{'cpu s':>9}{'peak RSS MB':>13}")
    for k, (w, c, rss) in res.items():
        print(f"{k:<30}{w:>9.2f}{c:>9.2f}{rss / 1024:>13.0f}")
    manual, xor = res["manual driver swap"][0], res["xorriso replay"][0]
    print()
    for k in ("driver swap, default, cold", "driver swap, default, warm",
              "driver swap, --no-verify"):
        print(f"{k:<30} {res[k][0] / manual:5.2f}x the manual pipeline")
    print(f"{'no-change build, default':<30} {res['no-change build, default'][0] / xor:5.2f}x "
          "xorriso replay")
    quick = res["inspect --quick"][0]
    print(f"{'ls install.img:/etc, second':<30} "
          f"{res['ls install.img:/etc, second'][0] / quick:5.2f}x inspect --quick")
    print(f"\n(peak RSS of each command; the manual pipeline's is its largest step's; "
          f"this launcher itself: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
          " MB, which Linux counts into a child's figure as a floor)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
