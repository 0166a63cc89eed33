"""A build's overall progress: monotonic, complete exactly once; counts carry their unit;
the ETA smoother does not swing when a stage runs at another speed."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from tests.helpers import bsdtar_files
from xcptui import cli
from xcptui.demoiso.rpms import RpmSpec, build_rpms
from xcptui.engine import recipe
from xcptui.engine.build import runner as build
from xcptui.engine.events import EtaSmoother, Progress, ProgressEvent
from xcptui.engine.layout import EventKind


def _recipe(tmp_path: Path) -> recipe.Recipe:
    rpm = build_rpms([RpmSpec("overall-probe", "1.0", "1", "x86_64")], tmp_path / "rpms",
                     "xz")[0]
    hello = tmp_path / "hello.txt"
    hello.write_text("hello\n")
    return recipe.loads(f'[packages]\nadd = ["{rpm}"]\n'
                        f'[[installer.files]]\nsource = "{hello}"\ndest = "/etc/hello"\n',
                        tmp_path)


def test_overall_progress_is_monotonic_and_completes_once(demo_iso: Path,
                                                          tmp_path: Path) -> None:
    seen: list[ProgressEvent] = []
    out = tmp_path / "out.iso"
    build.build(demo_iso, _recipe(tmp_path), out, Progress(seen.append), verify=True)
    staged = [e for e in seen if e.overall_total]
    assert staged and staged[0] is seen[0]  # the stages are declared before the first step
    fractions = [e.overall_done / e.overall_total for e in staged]
    assert fractions == sorted(fractions)
    assert fractions[0] < 0.01 and fractions[-1] == 1.0
    complete = [e for e in staged if e.overall_done >= e.overall_total]
    assert complete == [seen[-1]]
    assert seen[-1].kind == EventKind.DONE and seen[-1].step == "build"
    stages = [e.stage for e in staged]
    assert [s for i, s in enumerate(stages) if s and s not in stages[:i]] == \
        ["plan", "install.img", "write", "gpt", "verify"]
    # the ISO write and install.img write each move the bar
    for step in ("write ISO", "install.img: writing"):
        mine = [e.overall_done for e in seen if e.step == step and e.kind == "bytes"]
        assert mine[-1] > mine[0], step


def test_repodata_step_counts_packages_not_bytes(demo_iso: Path, tmp_path: Path) -> None:
    seen: list[ProgressEvent] = []
    out = tmp_path / "out.iso"
    build.build(demo_iso, _recipe(tmp_path), out, Progress(seen.append), verify=False)
    done = [e for e in seen if e.step == "write repodata" and e.kind == "done"]
    assert len(done) == 1 and done[0].unit == "packages"
    on_iso = [p for p in bsdtar_files(out) if p.startswith("Packages/") and p.endswith(".rpm")]
    assert done[0].total == done[0].done == len(on_iso)
    # the CLI says so: "(10 packages)", never a byte size such as "(11 Bytes)"
    err = io.StringIO()
    cli.StderrProgress(err)(done[0])
    assert err.getvalue().startswith(f"  done: write repodata ({len(on_iso)} packages) in ")


def test_reweighing_never_moves_the_fraction_back() -> None:
    seen: list[ProgressEvent] = []
    p = Progress(seen.append, min_interval=0)
    p.stages([("a", 100, 1.0), ("b", 100, 1.0)])
    p.stage("a")
    p.step("read", 100)
    p.update(80)
    before = seen[-1].fraction
    p.weigh("b", 1000)  # the plan says stage b is ten times bigger
    p.update(90)
    assert seen[-1].fraction is not None and before is not None
    assert seen[-1].fraction >= before
    p.stage("b")
    p.step("write", 1000)
    for n in range(0, 1001, 100):
        p.update(n)
    assert seen[-1].overall_done < seen[-1].overall_total  # only complete() reaches it
    p.complete("job")
    fr = [e.fraction for e in seen]
    assert fr == sorted(fr) and fr[-1] == 1.0 and fr.count(1.0) == 1


def test_a_job_without_stages_reports_no_overall() -> None:
    seen: list[ProgressEvent] = []
    p = Progress(seen.append)
    p.step("extract", 10, unit="files")
    p.update(10)
    assert all(e.fraction is None for e in seen)
    assert seen[-1].unit == "files"


def _simulate(speeds: list[tuple[int, float]], dt: float = 0.1) -> list[tuple[float, float,
                                                                             float | None]]:
    """(time, true remaining seconds, smoothed ETA) for stages of (units, units/s)."""
    total = sum(n for n, _v in speeds)
    true_total = sum(n / v for n, v in speeds)
    eta = EtaSmoother()
    out, t, done = [], 0.0, 0.0
    for n, v in speeds:
        left = float(n)
        while left > 0:
            step = min(left, v * dt)
            left -= step
            done += step
            t += step / v
            out.append((t, true_total - t, eta.update(t, int(done), total)))
    return out


def _glides(shown: list[tuple[float, float]], per_second: float) -> None:
    """Apart from counting down, the ETA moves by at most ``per_second`` of itself/s."""
    for (t0, e0), (t1, e1) in zip(shown, shown[1:], strict=False):
        counted = max(0.0, e0 - (t1 - t0))
        assert abs(e1 - counted) <= per_second * (t1 - t0) * max(e0, 1.0), (t1, e0, e1)


def test_eta_is_steady_when_a_stage_is_slower() -> None:
    # 50 s at the expected speed, then a stage four times slower (its weight was off)
    runs = _simulate([(50_000, 1000.0), (50_000, 250.0)], dt=0.5)
    shown = [(t, e) for t, _true, e in runs if e is not None]
    assert shown and shown[0][0] <= 1.5  # an ETA within ~1 s of the start
    _glides(shown, 0.15)  # no "31 s -> 4 min" swing
    # and it catches up: in the last two thirds it is within 25 % of the truth
    late = [(true, e) for t, true, e in runs if e is not None and t > runs[-1][0] / 3]
    assert late and all(abs(e - true) <= 0.25 * true + 1.0 for true, e in late)


def test_eta_is_steady_when_a_stage_is_faster() -> None:
    runs = _simulate([(50_000, 250.0), (50_000, 1000.0)], dt=0.5)
    _glides([(t, e) for t, _true, e in runs if e is not None], 0.15)
    assert runs[-1][2] == 0.0


def test_eta_counts_down_at_constant_speed() -> None:
    runs = _simulate([(100_000, 5_000.0)])
    shown = [e for _t, _true, e in runs if e is not None]
    assert shown == sorted(shown, reverse=True)
    assert abs(shown[0] - 19.0) < 1.5 and shown[-1] == 0.0


def test_cli_live_line_shows_overall_percentage_and_eta(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    sp = cli.StderrProgress(err)
    clock = iter([0.0, 2.0, 4.0])
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(clock))
    for done in (0, 1000, 2000):
        sp(ProgressEvent(EventKind.BYTES, "write ISO", done, 10_000, elapsed=1.0,
                         overall_done=done, overall_total=10_000, stage="write"))
    line = err.getvalue().rsplit("\r", 1)[-1]
    assert "20% overall, ETA 16s" in line and "write ISO:  20.0%" in line


def test_eta_is_not_zero_while_the_job_stalls() -> None:
    eta = EtaSmoother()
    t, done, shown = 0.0, 0, []
    for _ in range(100):  # 50 s at 1000 units/s: ETA about 50 s
        t, done = t + 0.5, done + 500
        eta.update(t, done, 100_000)
    for _ in range(120):  # a 60 s step that reports no bytes
        t += 0.5
        e = eta.update(t, done, 100_000)
        assert e is not None
        shown.append(e)
    assert min(shown) >= 20  # never "ETA 0.0s" at 50 %
    assert shown[-1] > shown[0]  # the longer it stalls, the later the end


def test_swept_leftovers_are_sized_in_binary_units(demo_iso: Path, tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f".o.iso.xcptui-{dead.pid}-0123abcd.part").write_bytes(b"x" * 11)
    seen: list[ProgressEvent] = []
    res = build.build(demo_iso, recipe.Recipe(), tmp_path / "o.iso", Progress(seen.append),
                      verify=False)
    line = next(w for w in res.warnings if "removed leftovers" in w)
    assert line.endswith(f".o.iso.xcptui-{dead.pid}-0123abcd.part (11 B)")  # not "11 Bytes"
