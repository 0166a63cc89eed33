"""Time `xcptui diff A.iso B.iso` against `diffoscope A.iso B.iso` on the same pair.

    python bench/diff_bench.py [A.iso B.iso | --from BASE.iso] [--runs 1]
                               [--diffoscope-timeout 1800]

``--from`` compares BASE.iso with a copy built from it by the recipe below (issue 10's
600 MB pair: ``--from bench/out/bench2.iso``). With no ISOs it compares the demo ISO
with a copy built from it (a driver and a file in install.img, a package removed, a
boot parameter, a build number), cached under ~/.cache/xcptui/bench. Each tool runs
in a child process; wall and child CPU seconds are printed, and how many lines each
printed. diffoscope is optional: without it the line says "diffoscope: not
installed" and our time is still printed. Wall seconds vary a lot on shared machines;
CPU seconds are the steadier number.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RECIPE = """
[iso]
build_number = "bench1"
[boot]
append = ["sshpassword=secret"]
[[installer.drivers]]
source = "benchdrv.ko"
[[installer.files]]
source = "hello"
dest = "/opt/hello"
[packages]
remove = ["htop"]
"""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "xcptui" / "bench"


def demo_pair() -> tuple[Path, Path]:
    """The demo ISO and a changed copy of it (built once)."""
    sys.path.insert(0, str(ROOT))
    from xcptui.demoiso.builder import ensure_demo_iso

    a = ensure_demo_iso()
    return a, changed_copy(a, _cache_dir() / "diff-bench-b.iso")


def changed_copy(a: Path, b: Path) -> Path:
    """``a`` with RECIPE applied, at ``b`` (built once: kept while newer than ``a``)."""
    sys.path.insert(0, str(ROOT))
    if b.exists() and b.stat().st_mtime >= a.stat().st_mtime:
        return b
    from tests.installimg_util import make_ko
    from xcptui.engine import build_iso, recipe

    b.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xcptui-diffbench-") as td:
        d = Path(td)
        make_ko(d / "benchdrv.ko", name="benchdrv")
        (d / "hello").write_text("hello\n")
        build_iso(a, recipe.loads(RECIPE, d), b, verify=False)
    return b


def _run(cmd: list[str], timeout: float) -> tuple[float, float, int, int | None]:
    """(wall s, child CPU s, output lines, exit code or None on timeout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        try:
            p = subprocess.run(cmd, stdout=out, stderr=subprocess.DEVNULL, timeout=timeout,
                               cwd=ROOT)
            code: int | None = p.returncode
        except subprocess.TimeoutExpired:
            code = None
        wall = time.perf_counter() - t0
        out.seek(0)
        lines = sum(1 for _ in out)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, lines, code


def _report(name: str, res: tuple[float, float, int, int | None]) -> str:
    wall, cpu, lines, code = res
    state = "timed out" if code is None else f"exit {code}"
    return f"{name:<12} {wall:8.2f} s wall {cpu:8.2f} s CPU  {lines:6d} lines  ({state})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("isos", nargs="*", help="A.iso B.iso (default: the demo pair)")
    ap.add_argument("--from", dest="base", type=Path,
                    help="compare BASE.iso with a changed copy built from it (e.g. the "
                         "600 MB bench2.iso of bench/bench.py)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--diffoscope-timeout", type=float, default=1800)
    args = ap.parse_args()
    if len(args.isos) not in (0, 2):
        ap.error("give two ISOs, or none for the demo pair")
    if args.base is not None:
        a = args.base
        b = changed_copy(a, a.with_name(a.stem + "-changed.iso"))
    elif args.isos:
        a, b = Path(args.isos[0]), Path(args.isos[1])
    else:
        a, b = demo_pair()
    print(f"A: {a} ({a.stat().st_size} bytes)\nB: {b} ({b.stat().st_size} bytes)")
    ours = [sys.executable, "-m", "xcptui", "diff", str(a), str(b)]
    for i in range(args.runs):
        print(_report("xcptui diff", _run(ours, args.diffoscope_timeout))
              + (f"  run {i + 1}" if args.runs > 1 else ""))
    tool = shutil.which("diffoscope")
    if tool is None:
        print("diffoscope: not installed")
        return 0
    for i in range(args.runs):
        res = _run([tool, "--text", "-", str(a), str(b)], args.diffoscope_timeout)
        print(_report("diffoscope", res) + (f"  run {i + 1}" if args.runs > 1 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
