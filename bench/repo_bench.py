#!/usr/bin/env python3
"""Repository benchmark: xcptui's repodata + dependency check vs the createrepo_c CLI.

    /work/venv/bin/python bench/repo_bench.py [--workdir DIR] [--count 400] [--size BYTES]

Generates (once, cached in the work dir) a Packages/ directory of ``--count`` real RPMs
(rpmbuild, gzip payloads of ``--size`` random bytes each: 400 x 1.1 MB ~ 450 MB, like an
XCP-ng ISO) with an xcp-ng-deps meta package requiring 127 of them and a dependency web
between the others, plus 5 extra RPMs. Then times, page cache warm, median of
``--repeat`` runs:

* full regeneration: ``createrepo_c --general-compress-type=gz --database`` versus
  ``repo.write_repodata`` (sqlite, gzip, sha256) reading every RPM;
* after adding 5 RPMs: ``createrepo_c --update`` versus ``repo.load_old`` +
  ``repo.write_repodata`` in update mode (only the 5 new RPMs are read);
* the installer's dependency check (``yum install xcp-ng-deps`` + kernel-alt) with
  libsolv, loading the package data from the repodata.

Targets: full <= 1.5x createrepo_c, incremental <= 1.5x createrepo_c --update, check < 1 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xcptui.demoiso.rpms import RpmSpec, build_rpms  # noqa: E402
from xcptui.engine import repo  # noqa: E402
from xcptui.engine.repo.solver import RepoSolver, check_installer  # noqa: E402
from xcptui.engine.rpm.metadata import load_repodata  # noqa: E402

CLI_ARGS = ["--general-compress-type=gz", "--database", "--checksum", "sha256", "-q"]


def specs(count: int, size: int) -> list[RpmSpec]:
    out = [RpmSpec("xcp-ng-deps", "8.3", "14",
                   requires=[f"pkg-{i:03d}" for i in range(0, count - 2, 3)][:127]
                   + ["kernel"], summary="meta package")]
    out.append(RpmSpec("kernel", "4.19.19", "8.0.38.1", "x86_64",
                       provides=["kernel-uname-r = 4.19.0+1"],
                       files={"/boot/vmlinuz-4.19.0+1": (0o644, os.urandom(size))}))
    out.append(RpmSpec("kernel-alt", "4.19.309", "1", "x86_64",
                       provides=["kernel-uname-r = 4.19.309"],
                       files={"/boot/vmlinuz-4.19.309": (0o644, os.urandom(size))}))
    for i in range(count - 3):
        files: dict[str, tuple[int, bytes | None]] = {
            f"/usr/share/pkg-{i:03d}/data.bin": (0o644, os.urandom(size))}
        for j in range(20):
            files[f"/usr/share/pkg-{i:03d}/doc/file{j:02d}.txt"] = (0o644, b"doc %d\n" % j)
        files[f"/usr/bin/pkg-{i:03d}"] = (0o755, b"#!/bin/sh\n")
        req = [f"pkg-{(i * 7 + 1) % (count - 3):03d}", "kernel-uname-r = 4.19.0+1"]
        out.append(RpmSpec(f"pkg-{i:03d}", f"1.{i}", "1.xcpng8.3", "x86_64", requires=req,
                           provides=[f"capability-{i}"], files=files,
                           summary=f"benchmark package {i}"))
    return out


def prepare(work: Path, count: int, size: int) -> tuple[Path, list[Path]]:
    base = work / f"src-{count}-{size}"
    marker = base / ".done"
    if not marker.exists():
        shutil.rmtree(base, ignore_errors=True)
        print(f"building {count} RPMs into {base}/Packages (once; cached)...", flush=True)
        t0 = time.monotonic()
        build_rpms(specs(count, size), base / "Packages", "gzip")
        extra = [RpmSpec(f"extra-{i}", "1.0", "1", "x86_64", requires=["pkg-000"],
                         files={f"/usr/share/extra-{i}/x.bin": (0o644, os.urandom(size))})
                 for i in range(5)]
        build_rpms(extra, base / "extra", "gzip")
        marker.write_text("ok\n")
        print(f"  built in {time.monotonic() - t0:.0f}s", flush=True)
    return base, sorted((base / "extra").glob("*.rpm"))


def warm(paths: list[Path]) -> None:
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass


def clock() -> tuple[float, float]:
    """(wall, CPU seconds of this process and its finished children)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic(), r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def compare(a: Callable[[], object], b: Callable[[], object], repeat: int,
            setup_a: Callable[[], object] | None = None,
            setup_b: Callable[[], object] | None = None
            ) -> tuple[tuple[float, float], tuple[float, float]]:
    """Median (wall, cpu) of a and of b, run alternately (a, b, a, b...) so that load from
    other processes on a shared machine hits both alike."""
    res: dict[str, list[tuple[float, float]]] = {"a": [], "b": []}
    for _ in range(repeat):
        for key, fn, setup in (("a", a, setup_a), ("b", b, setup_b)):
            if setup is not None:
                setup()
            w0, c0 = clock()
            fn()
            w1, c1 = clock()
            res[key].append((w1 - w0, c1 - c0))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in res.items()}
    return med["a"], med["b"]


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.monotonic()
        fn()
        times.append(time.monotonic() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out" / "repo")
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--size", type=int, default=1_100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cli = shutil.which("createrepo_c")
    if cli is None:
        sys.exit("createrepo_c CLI not found (apt-get install createrepo-c)")
    base, extra = prepare(args.workdir, args.count, args.size)
    pk = base / "Packages"
    rpms = sorted(pk.glob("*.rpm"))
    total = sum(p.stat().st_size for p in rpms)
    warm(rpms + extra)
    version = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout.split()
    print(f"Packages/: {len(rpms)} RPMs, {total / 1e6:.0f} MB; createrepo_c CLI {cli} "
          f"({version[1] if len(version) > 1 else '?'})")

    # trees: A = Packages/ (hardlinks) for full runs; B = A + 5 extra for updates
    a = args.workdir / "a"
    b = args.workdir / "b"
    for t in (a, b):
        shutil.rmtree(t, ignore_errors=True)
        (t / "Packages").mkdir(parents=True)
        for p in rpms:
            os.link(p, t / "Packages" / p.name)
    out = args.workdir / "ours"

    def rm_repodata(t: Path) -> Callable[[], None]:
        return lambda: shutil.rmtree(t / "repodata", ignore_errors=True)

    def entries(t: Path) -> list[repo.RepoEntry]:
        return [repo.RepoEntry(f"Packages/{p.name}", p, p.stat().st_size)
                for p in sorted((t / "Packages").glob("*.rpm"))]

    ents = entries(a)
    cli_full, ours_full = compare(
        lambda: subprocess.run([cli, *CLI_ARGS, str(a)], check=True),
        lambda: repo.write_repodata(ents, out, database=True, db_compression="gz"),
        args.repeat, setup_a=rm_repodata(a))

    # updates: start from a full repodata of the 400, add 5 RPMs, update
    def reset_b() -> None:
        for p in extra:
            (b / "Packages" / p.name).unlink(missing_ok=True)
        shutil.rmtree(b / "repodata", ignore_errors=True)
        subprocess.run([cli, *CLI_ARGS, str(b)], check=True)
        for p in extra:
            os.link(p, b / "Packages" / p.name)

    reset_b()
    ents_b = entries(b)

    def ours_update() -> None:
        old = repo.load_old(b)
        res = repo.write_repodata(ents_b, out, old=old)
        assert res.read == len(extra), res.read

    cli_upd, ours_upd = compare(
        lambda: subprocess.run([cli, *CLI_ARGS, "--update", str(b)], check=True),
        ours_update, args.repeat, setup_a=reset_b, setup_b=reset_b)

    def dep_check() -> None:
        infos = load_repodata(b)
        res = check_installer(RepoSolver.from_packages(infos))
        assert res.ok, [p.text for p in res.problems][:3]

    def dep_check_xml() -> None:
        prim = next((b / "repodata").glob("*-primary.xml.gz"))
        fl = next((b / "repodata").glob("*-filelists.xml.gz"))
        assert check_installer(RepoSolver.from_repodata(prim, fl)).ok

    chk = median_time(dep_check, args.repeat)
    chk_xml = median_time(dep_check_xml, args.repeat)

    print(f"{'wall seconds (CPU seconds)':34}{'createrepo_c':>16}{'xcptui':>16}{'ratio':>7}"
          f"{'target':>9}")
    for label, c, o in (("full regeneration (sqlite, gz)", cli_full, ours_full),
                        ("update after adding 5 RPMs", cli_upd, ours_upd)):
        print(f"{label:34}{c[0]:>7.3f} ({c[1]:.3f}){o[0]:>8.3f} ({o[1]:.3f})"
              f"{o[0] / c[0]:>6.2f}x{'<= 1.5x':>9}")
    print(f"{'dependency check (repodata)':34}{'':>16}{chk:>8.3f}{'':>15}{'< 1 s':>9}")
    print(f"{'dependency check (libsolv rpmmd)':34}{'':>16}{chk_xml:>8.3f}{'':>15}{'< 1 s':>9}")
    ok = ours_full[0] <= 1.5 * cli_full[0] and ours_upd[0] <= 1.5 * cli_upd[0] and chk < 1.0
    print("targets met" if ok else "TARGETS MISSED (on a loaded machine, compare CPU seconds)")

if __name__ == "__main__":
    main()
