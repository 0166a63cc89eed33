"""RPM payloads into install.img with bounded memory: big files spool to a private
directory (gone after the plan, the build, an error or a cancel), caps stay in force.

Outputs are checked with bsdtar; memory is measured in a fresh interpreter.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tests.installimg_util import bsdtar_list, compressed, demo_img, make_ko, put
from xcptui.engine import limits, recipe
from xcptui.engine.build import runner as build
from xcptui.engine.errors import Cancelled, InputError
from xcptui.engine.events import Progress, ProgressEvent
from xcptui.engine.initrd import installimg as ii
from xcptui.engine.initrd import planner
from xcptui.engine.rpm import payload as rpmpayload

ROOT = Path(__file__).resolve().parents[3]
BIG = 56 << 20  # zeros: under RATIO_GRACE, so the real ratio cap lets it through

SPEC = """\
Name: {name}
Version: 1
Release: 1
Summary: big files
License: GPLv2
BuildArch: noarch
%description
test
%install
mkdir -p %{{buildroot}}/opt/big
truncate -s {size} %{{buildroot}}/opt/big/zeros
head -c 3000000 /dev/urandom > %{{buildroot}}/opt/big/a
ln %{{buildroot}}/opt/big/a %{{buildroot}}/opt/big/b
echo hi > %{{buildroot}}/opt/big/small
%files
/opt/big
"""


def _rpm(top: Path, name: str, size: int) -> Path:
    (top / "SPECS").mkdir(parents=True)
    spec = top / "SPECS" / f"{name}.spec"
    spec.write_text(SPEC.format(name=name, size=size))
    subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}",
                    "--define", "_binary_payload w2.xzdio", "--define", "_build_id_links none",
                    str(spec)], check=True, capture_output=True)
    return next((top / "RPMS").rglob("*.rpm"))


@pytest.fixture(scope="module")
def big_rpm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _rpm(tmp_path_factory.mktemp("rpmbuild"), "bigzeros", BIG)


@pytest.fixture(scope="module")
def small_rpm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _rpm(tmp_path_factory.mktemp("rpmbuild"), "bigish", 4 << 20)


def _sha256_member(img: Path, member: str) -> str:
    """sha256 of a member as bsdtar extracts it (streamed: never whole in this process)."""
    proc = subprocess.Popen(["bsdtar", "-xOf", str(img), member], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    h = hashlib.sha256()
    while chunk := proc.stdout.read(1 << 20):
        h.update(chunk)
    assert proc.wait() == 0
    return h.hexdigest()


MEASURE = """
import sys
from pathlib import Path
from xcptui.engine.initrd import installimg as ii

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])  # KiB

src, warmup, rpm, out = map(Path, sys.argv[1:5])
with ii.InstallImage.open(src, cache=False) as img:
    # loads libarchive, createrepo_c and their libraries (mapped, they count in the RSS)
    # and starts the encoder's threads
    with open(out, "wb") as fp:
        ii.write(img, ii.plan(img, [ii.AddRpmPayload(warmup)]), fp)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM) to the current size
    base = status("VmRSS")
    plan = ii.plan(img, [ii.AddRpmPayload(rpm)])
    with open(out, "wb") as fp:
        ii.write(img, plan, fp)
    peak = status("VmHWM")
print(base, peak)
"""


def test_a_big_payload_file_is_streamed_with_bounded_memory(big_rpm: Path, small_rpm: Path,
                                                            tmp_path: Path) -> None:
    src = put(tmp_path, compressed("gzip"), "src.img")
    out = tmp_path / "out.img"
    env = {**os.environ, "XCPTUI_INDEX_DIR": str(tmp_path / "idx")}
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(src), str(small_rpm),
                           str(big_rpm), str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=True)
    base, peak = map(int, proc.stdout.split())
    growth = (peak - base) * 1024
    assert growth < 24 << 20, f"peak memory grew by {growth >> 20} MiB for a " \
        f"{BIG >> 20} MiB file"
    rows = {r.name: r for r in bsdtar_list(out)}
    assert rows["opt/big/zeros"].size == str(BIG)
    assert _sha256_member(out, "opt/big/zeros") == \
        hashlib.sha256(b"\0" * BIG).hexdigest()


def test_spooled_hardlinks_share_one_inode_and_the_data(small_rpm: Path,
                                                        tmp_path: Path) -> None:
    src = put(tmp_path, demo_img(), "src.img")
    out = tmp_path / "out.img"
    with ii.InstallImage.open(src) as img:
        plan = ii.plan(img, [ii.AddRpmPayload(small_rpm)])
        with open(out, "wb") as fp:
            ii.write(img, plan, fp)
    x = tmp_path / "x"
    x.mkdir()
    subprocess.run(["bsdtar", "-xf", str(out), "-C", str(x), "opt/big"], check=True)
    a, b = x / "opt/big/a", x / "opt/big/b"
    assert a.stat().st_ino == b.stat().st_ino and a.stat().st_nlink == 2
    assert a.stat().st_size == 3000000 and (x / "opt/big/zeros").stat().st_size == 4 << 20
    assert (x / "opt/big/small").read_bytes() == b"hi\n"


def test_the_spool_is_private_kept_for_the_plan_and_removed_after(small_rpm: Path,
                                                                  tmp_path: Path) -> None:
    src = put(tmp_path, demo_img(), "src.img")
    work = tmp_path / "work"
    work.mkdir()
    with ii.InstallImage.open(src, spool_dir=work) as img:
        plan = ii.plan(img, [ii.AddRpmPayload(small_rpm)])
        [where] = plan.scratch
        assert work in where.parents  # under the build's work dir when it has one
        assert stat.S_IMODE(where.stat().st_mode) == 0o700
        assert sorted(f.stat().st_size for f in where.iterdir()) == [3000000, 4 << 20]
        plan.close()
        assert not where.exists()
        plan = ii.plan(img, [ii.AddRpmPayload(small_rpm)])
        [where] = plan.scratch
        del plan  # a dropped plan (a preview) gives its disk space back
        assert not where.exists()
        plan = ii.plan(img, [ii.AddRpmPayload(small_rpm)])
        [where] = plan.scratch
    assert not where.exists()  # closing the image removes what a plan still holds
    assert list(work.iterdir()) == []


def test_a_failed_or_cancelled_plan_removes_its_spool(small_rpm: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    src = put(tmp_path, demo_img(), "src.img")
    work = tmp_path / "work"
    work.mkdir()
    seen: list[Path] = []
    real = rpmpayload.read_payload

    def spy(path: Path, spool_dir: Path | None = None,
            cancel: threading.Event | None = None) -> rpmpayload.RpmPayload:
        assert spool_dir is not None
        seen.append(spool_dir)
        return real(path, spool_dir, cancel)

    monkeypatch.setattr(rpmpayload, "read_payload", spy)
    with ii.InstallImage.open(src, spool_dir=work) as img:
        with pytest.raises(InputError, match="no such file or directory in the image"):
            ii.plan(img, [ii.AddRpmPayload(small_rpm), ii.RemovePath("/no/such/thing")])
        assert seen and not seen[-1].exists()
        cancel = threading.Event()

        def cancelling(path: Path, spool_dir: Path | None = None,
                       c: threading.Event | None = None) -> rpmpayload.RpmPayload:
            p = spy(path, spool_dir, c)
            cancel.set()  # after the big files were spooled
            return p

        monkeypatch.setattr(rpmpayload, "read_payload", cancelling)
        with pytest.raises(Cancelled):
            ii.plan(img, [ii.AddRpmPayload(small_rpm)], cancel=cancel)
        assert len(seen) == 2 and not seen[-1].exists()
        cancel.clear()
        monkeypatch.setattr(rpmpayload, "read_payload", spy)
        monkeypatch.setattr(limits, "MAX_RPM_PAYLOAD", 2 << 20)
        with pytest.raises(InputError, match=rf"^{small_rpm.name}: payload decompresses "
                           r"past 2 MiB \(a compression bomb\?\)$"):
            ii.plan(img, [ii.AddRpmPayload(small_rpm)])
        assert len(seen) == 3 and not seen[-1].exists()
    assert list(work.iterdir()) == []


def _recipe(tmp_path: Path, rpm: Path) -> recipe.Recipe:
    return recipe.loads(f'[[installer.rpms]]\nsource = "{rpm}"\n', tmp_path)


def _watch(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = rpmpayload.read_payload

    def spy(path: Path, spool_dir: Path | None = None,
            cancel: threading.Event | None = None) -> rpmpayload.RpmPayload:
        assert spool_dir is not None
        seen.append(spool_dir)
        return real(path, spool_dir, cancel)

    monkeypatch.setattr(rpmpayload, "read_payload", spy)
    return seen


def test_a_build_spools_under_its_work_dir_and_leaves_nothing(
        demo_iso: Path, small_rpm: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _watch(monkeypatch)
    sysroot = tmp_path / "systmp"  # nothing may land in the system temp dir either
    sysroot.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(sysroot))
    outdir = tmp_path / "out"
    outdir.mkdir()
    build.build(demo_iso, _recipe(tmp_path, small_rpm), outdir / "o.iso", verify=False)
    [where] = seen
    assert where.parent.parent.name.endswith(".work")  # .o.iso.xcptui-PID-TOKEN.work
    assert where.parent.parent.parent == outdir
    assert not where.exists()
    assert [p.name for p in outdir.iterdir()] == ["o.iso"]
    assert list(sysroot.iterdir()) == []
    img = subprocess.run(["bsdtar", "-xOf", str(outdir / "o.iso"), "install.img"],
                         capture_output=True, check=True).stdout
    listing = subprocess.run(["bsdtar", "-tvf", "-"], input=img, capture_output=True,
                             check=True).stdout.decode()
    assert any(line.split()[4] == str(4 << 20) and line.endswith("opt/big/zeros")
               for line in listing.splitlines())


def test_a_cancelled_build_removes_the_spool(demo_iso: Path, small_rpm: Path,
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _watch(monkeypatch)
    cancel = threading.Event()
    alive: list[bool] = []

    def cb(ev: ProgressEvent) -> None:
        if ev.kind == "step" and ev.step == "install.img: writing":
            alive.append(all(p.exists() for p in seen))
            cancel.set()

    out = tmp_path / "o.iso"
    with pytest.raises(Cancelled):
        build.build(demo_iso, _recipe(tmp_path, small_rpm), out, Progress(cb), cancel,
                    verify=False)
    assert alive == [True]  # the spool was there for the writer
    assert seen and not any(p.exists() for p in seen)
    assert list(tmp_path.iterdir()) == []


def test_without_a_spool_dir_the_payload_stays_in_memory(small_rpm: Path) -> None:
    p = rpmpayload.read_payload(small_rpm)
    zeros = next(e for e in p.entries if e.path == "opt/big/zeros")
    assert zeros.spool is None and len(zeros.data) == zeros.size == 4 << 20


def test_plain_cpio_segments_count_against_the_segment_cap(tmp_path: Path) -> None:
    trailer = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=b"",
                             capture_output=True, check=True).stdout
    one = trailer[:124]  # the 110-byte header, "TRAILER!!!\0", padding to 4
    img = put(tmp_path, one * (limits.MAX_SEGMENTS + 1), "many.img")
    with pytest.raises(InputError, match=rf"^install.img: more than {limits.MAX_SEGMENTS} "
                       r"segments \(a bomb\?\)$"):
        ii.InstallImage.open(img, cache=False)


def test_whole_file_reads_of_the_plan_are_capped(small_rpm: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = put(tmp_path, demo_img(), "src.img")
    ko = make_ko(tmp_path / "igc.ko")
    with ii.InstallImage.open(src) as img:
        monkeypatch.setattr(planner, "ID_MAP_MAX", 8)
        with pytest.raises(InputError, match=r"^install.img: etc/passwd is \d+ bytes, too "
                           r"big to edit in memory \(limit 8 bytes\)$"):
            ii.plan(img, [ii.AddRpmPayload(small_rpm)])
        monkeypatch.setattr(planner, "MODULE_MAX", 100)
        with pytest.raises(InputError, match=rf"^{ko}: .* is too big for a kernel module "
                           r"\(limit 100 bytes\)$"):
            ii.plan(img, [ii.AddDriver(ko)])
        monkeypatch.setattr(limits, "MAX_DECODED", img.usize + 100)
        with pytest.raises(InputError, match=r"^install.img: the edited image would be .* "
                           r"uncompressed, past the .* limit$"):
            ii.plan(img, [ii.AddFile("opt/blob", b"x" * 4096)])


def test_many_small_new_entries_are_joined_in_linear_time() -> None:
    """A payload of thousands of small files: their serialised bytes are joined once
    (pairwise concatenation was quadratic: ~20 s for these 10 000)."""
    from xcptui.engine.initrd.units import Copy, merge_pieces

    pieces: list[object] = [Copy(0, 4), Copy(4, 8)]
    pieces += [bytes([i % 251]) * 1024 for i in range(10_000)]
    pieces += [Copy(9, 9), b"tail", Copy(20, 30)]
    out = merge_pieces(pieces)  # type: ignore[arg-type]
    assert out == [Copy(0, 8), b"".join(p for p in pieces if isinstance(p, bytes)),
                   Copy(20, 30)]
