"""Benchmark install.img handling on a big synthetic image.

    python bench/installimg_bench.py [--files 11000] [--size 32000] [--manual] [--verify]

Builds (once, cached) a demo install.img with filler files -- about 120 MB bzip2 /
315 MB newc with the defaults, close to a real XCP-ng 8.3 image -- then runs each
phase in a fresh child process so its peak RSS is its own:

* decode: ``InstallImage.open`` (parallel bzip2 block decode + header scan);
* splice: replace one .ko with ``AddDriver`` (open + plan + depmod + write);
* full:   the same edit with every block re-encoded (``reuse_blocks=False``);
* manual (``--manual``): the documented shell pipeline, ``bunzip2 | cpio -idm``,
  copy the .ko, ``depmod``, ``find | cpio -o -H newc | bzip2``, for a same-run ratio.

Wall seconds vary a lot on shared machines; CPU seconds and same-run ratios are
the stable numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "xcptui" / "bench"


def build_image(path: Path, files: int, size: int) -> None:
    from xcptui.demoiso.builder import DemoOptions, build_install_img

    with tempfile.TemporaryDirectory(prefix="xcptui-bench-build-") as td:
        data = build_install_img(DemoOptions(filler_files=files, filler_size=size), Path(td))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def phase_decode(img_path: Path) -> dict[str, float]:
    from xcptui.engine.initrd.image import InstallImage

    t0, c0 = time.perf_counter(), _cpu()
    with InstallImage.open(img_path, cache=False) as img:  # time the decode, not the index
        n = len(img.entries())
        usize = img.usize
    return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "entries": n,
            "uncompressed": usize}


def phase_rewrite(img_path: Path, ko: Path, out: Path, reuse: bool) -> dict[str, float]:
    from xcptui.engine.initrd import installimg as ii

    t0, c0 = time.perf_counter(), _cpu()
    img = ii.InstallImage.open(img_path)
    t1 = time.perf_counter()
    plan = ii.plan(img, [ii.AddDriver(ko)])
    t2 = time.perf_counter()
    with open(out, "wb") as fp:
        st = ii.write(img, plan, fp, reuse_blocks=reuse)
    t3 = time.perf_counter()
    img.close()
    return {"seconds": t3 - t0, "cpu": _cpu() - c0, "open": t1 - t0, "plan": t2 - t1,
            "write": t3 - t2, "size": st.size, "blocks_reused": st.blocks_reused,
            "blocks_written": st.blocks_written, "bytes_compressed": st.bytes_compressed}


def phase_manual(img_path: Path, ko: Path, out: Path) -> dict[str, float]:
    """The docs' pipeline (needs root for cpio -idm of device nodes and mode 000)."""
    from xcptui.demoiso.builder import MAIN_KVER

    t0, c0 = time.perf_counter(), _cpu()
    with tempfile.TemporaryDirectory(prefix="xcptui-bench-manual-") as td:
        root = Path(td) / "root"
        root.mkdir()
        subprocess.run(f"bunzip2 < {img_path} | cpio -idm --quiet", shell=True, cwd=root,
                       check=True)
        t1 = time.perf_counter()
        kdir = root / "lib" / "modules" / MAIN_KVER
        (kdir / "kernel/drivers/net/ethernet/intel/igc/igc.ko").unlink()
        (kdir / "updates").mkdir(exist_ok=True)
        shutil.copy(ko, kdir / "updates" / "igc.ko")
        depmod = shutil.which("depmod") or "/usr/sbin/depmod"
        subprocess.run([depmod, "-a", "-b", str(root), "-C", str(root / "etc/depmod.d"),
                        MAIN_KVER], check=True)
        subprocess.run(f"find . | cpio -o -H newc --quiet | bzip2 > {out}", shell=True,
                       cwd=root, check=True)
    t2 = time.perf_counter()
    cpu_children = os.times().children_user + os.times().children_system
    return {"seconds": t2 - t0, "cpu": _cpu() - c0 + cpu_children, "extract": t1 - t0,
            "repack": t2 - t1}


def run_child(args: list[str]) -> tuple[dict[str, float], float]:
    """Run one phase in a fresh interpreter; returns (its JSON result, peak RSS in MB)."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                            cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, rusage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"phase {args[1]} failed")
    return json.loads(out), rusage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=11000)
    ap.add_argument("--size", type=int, default=32000)
    ap.add_argument("--manual", action="store_true", help="also time the shell pipeline")
    ap.add_argument("--verify", action="store_true", help="bzip2 -t and compare outputs")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--img", help=argparse.SUPPRESS)
    ap.add_argument("--ko", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if a.phase:
        img, ko, out = Path(a.img), Path(a.ko or "."), Path(a.out or "/dev/null")
        res = {"decode": lambda: phase_decode(img),
               "splice": lambda: phase_rewrite(img, ko, out, True),
               "full": lambda: phase_rewrite(img, ko, out, False),
               "manual": lambda: phase_manual(img, ko, out)}[a.phase]()
        print(json.dumps(res))
        return

    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    img = cache / f"install-{a.files}x{a.size}.img"
    if not img.exists():
        print(f"building {img} (once; a few minutes)...", flush=True)
        t = time.perf_counter()
        build_image(img, a.files, a.size)
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
    from xcptui.demoiso.builder import MAIN_KVER, KoSpec, build_ko

    with tempfile.TemporaryDirectory(prefix="xcptui-bench-") as td:
        work = Path(td)
        ko = build_ko(KoSpec("igc", "x", "9.9.9",
                             aliases=["pci:v00008086d0000ABCDsv*sd*bc*sc*i*"]),
                      MAIN_KVER, work / "igc.ko")
        print(f"image: {img.stat().st_size / 1e6:.1f} MB bzip2, {os.cpu_count()} CPUs")
        phases = ["decode", "splice", "full"] + (["manual"] if a.manual else [])
        results = {}
        for ph in phases:
            out = work / f"{ph}.img"
            res, rss = run_child(["--phase", ph, "--img", str(img), "--ko", str(ko),
                                  "--out", str(out)])
            results[ph] = res
            extra = ""
            if ph == "decode":
                extra = f" {res['entries']:.0f} entries, {res['uncompressed'] / 1e6:.0f} MB newc"
            elif ph in ("splice", "full"):
                extra = (f" (open {res['open']:.2f} s, plan {res['plan']:.2f} s, write "
                         f"{res['write']:.2f} s; blocks reused {res['blocks_reused']:.0f}, "
                         f"re-encoded {res['blocks_written']:.0f})")
            print(f"{ph:7s} {res['seconds']:6.2f} s wall {res['cpu']:6.2f} s CPU "
                  f"peak RSS {rss:5.0f} MB{extra}", flush=True)
        if "manual" in results:
            ratio = results["splice"]["seconds"] / results["manual"]["seconds"]
            print(f"splice / manual = {ratio:.2f} (wall, same run)")
        if a.verify:
            for ph in ("splice", "full"):
                subprocess.run(["bzip2", "-t", str(work / f"{ph}.img")], check=True)
            same = subprocess.run(f"cmp <(bzip2 -dc {work}/splice.img) "
                                  f"<(bzip2 -dc {work}/full.img)", shell=True,
                                  executable="/bin/bash").returncode == 0
            print(f"verify: bzip2 -t ok; splice == full after decompression: {same}")


if __name__ == "__main__":
    main()
