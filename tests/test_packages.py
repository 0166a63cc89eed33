"""The packages facade on demo ISOs: list, check, plan (+ bad input), verified independently."""

from __future__ import annotations

import difflib
import hashlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_repo import verify_repo
from xcptui.demoiso.builder import DEPS_REQUIRES
from xcptui.demoiso.rpms import RpmSpec, build_rpms
from xcptui.engine.errors import InputError, ToolMissing
from xcptui.engine.iso.read import IsoEntry, IsoSource
from xcptui.engine.recipe import DepsSection, PackagesSection, Recipe, SigningSection
from xcptui.engine.repo import packages
from xcptui.engine.repo.solver import RepoSolver, check_installer
from xcptui.engine.rpm.header import RpmInfo

DEPS = "xcp-ng-deps-8.3-14.noarch.rpm"


@pytest.fixture(scope="module")
def rpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("add")
    specs = [
        RpmSpec("intel-igc", "5.9.1", "1.xcpng8.3", "x86_64",
                requires=["kernel-uname-r = 4.19.0+1"],
                files={"/lib/modules/4.19.0+1/updates/igc.ko": (0o644, b"\x7fELF igc")}),
        RpmSpec("intel-igb", "5.18.0", "1.xcpng8.3", "x86_64",
                requires=["kernel-uname-r = 4.19.0+1"]),
        RpmSpec("htop", "1.0", "1", "x86_64"),  # older than the ISO's 2.2.0
        RpmSpec("needs-missing", "1", "1", requires=["no-such-thing"]),
    ]
    out = build_rpms(specs, d, "xz")
    trunc = d / "truncated.rpm"
    trunc.write_bytes(out[0].read_bytes()[:-100])
    notrpm = d / "notes.rpm"
    notrpm.write_text("just some text\n")
    return {"igc": out[0], "igb": out[1], "htop_old": out[2], "broken": out[3],
            "truncated": trunc, "notrpm": notrpm}


def recipe(add: list[Path] | None = None, remove: list[str] | None = None,
           require: list[str] | None = None, drop: list[str] | None = None,
           signing: SigningSection | None = None, **kw: Any) -> Recipe:
    return Recipe(packages=PackagesSection(add=add or [], remove=remove or [], **kw),
                  deps=DepsSection(require=require or [], drop=drop or []), signing=signing)


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def extract_tree(iso: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    subprocess.run(["bsdtar", "-xf", str(iso), "-C", str(dest)], check=True,
                   capture_output=True)
    for p in dest.rglob("*"):
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def apply_plan(tree: Path, plan: packages.PackagesPlan) -> None:
    for iso_path, host in plan.iso_changes.items():
        target = tree / iso_path.lstrip("/")
        if host is None:
            assert target.exists(), f"plan removes {iso_path}, which does not exist"
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(host, target)
    if plan.treeinfo is not None:
        (tree / ".treeinfo").write_bytes(plan.treeinfo)


def rpm_requires(path: Path) -> list[str]:
    return subprocess.run(["rpm", "-qp", "--nosignature", "--requires", str(path)],
                          capture_output=True, text=True, check=True).stdout.splitlines()


@pytest.fixture
def iso(demo_iso: Path) -> Iterator[IsoSource]:
    with IsoSource.open(demo_iso) as src:
        yield src


def test_list_packages(iso: IsoSource, demo_iso: Path) -> None:
    pk = packages.list_packages(iso)
    names = [p.name for p in pk]
    assert names == sorted(names) and len(pk) == 10
    on_iso = {e.name: e.size for e in iso.listdir("/Packages")}
    assert {p.filename: p.size for p in pk} == on_iso
    deps = next(p for p in pk if p.name == "xcp-ng-deps")
    assert sorted(str(d) for d in deps.requires) == sorted(DEPS_REQUIRES)
    assert deps.nevra == "xcp-ng-deps-8.3-14.noarch"
    igb = next(p for p in pk if p.name == "intel-igb")
    assert igb.files == ["/lib/modules/4.19.0+1/updates/igb.ko"]
    assert all(p.checksum and len(p.checksum) == 64 for p in pk)
    d = pk[0].to_dict()
    assert {"name", "epoch", "version", "release", "arch", "size", "summary", "requires",
            "provides", "files"} <= set(d)


def test_check_iso_as_it_is(iso: IsoSource) -> None:
    rep = packages.check(iso)
    assert rep.ok and not rep.problems and rep.packages == 10 and len(rep.install) == 8
    assert rep.alt_install is not None and len(rep.alt_install) == 9
    assert "htop would NOT be installed: nothing requires it" in rep.not_installed
    lines = rep.lines()
    assert lines[-1] == "dependency check: OK"
    assert any(ln.startswith("signing: signed") for ln in lines)
    j = rep.to_json()
    assert j["ok"] is True and j["with_recipe"] is False


def test_check_with_recipe_reports_not_installed_and_problems(
        iso: IsoSource, rpms: dict[str, Path]) -> None:
    rep = packages.check(iso, recipe(add=[rpms["igc"]]))
    assert rep.ok and rep.with_recipe
    assert rep.not_installed == ["intel-igc would NOT be installed: nothing requires it"]
    rep = packages.check(iso, recipe(add=[rpms["broken"]], require=["needs-missing"]))
    assert not rep.ok
    assert any("needs-missing-1-1.noarch requires no-such-thing" in p for p in rep.problems)
    assert rep.lines()[-1].startswith("dependency check: FAILED")


def test_plan_full_flow_verified_independently(demo_iso: Path, iso: IsoSource,
                                               rpms: dict[str, Path], tmp_path: Path) -> None:
    before = sha256(demo_iso)
    r = recipe(add=[rpms["igc"], rpms["igb"]], remove=["htop"], require=["xapi-core >= 25"],
               drop=["xcp-ng-pv-tools"], auto_require=True, force=True)
    # dropping xcp-ng-pv-tools leaves it unrequired: fine (it is only not installed)
    plan = packages.plan(iso, r, tmp_path / "work")
    assert not plan.empty
    ch = plan.iso_changes
    assert ch["/Packages/htop-2.2.0-3.el7.x86_64.rpm"] is None
    assert ch["/Packages/intel-igb-5.17.5-1.xcpng8.3.x86_64.rpm"] is None
    assert ch[f"/Packages/{DEPS}"] is None
    new_deps = ch["/Packages/xcp-ng-deps-8.3-14.1.noarch.rpm"]
    assert new_deps is not None
    assert ch["/repodata/repomd.xml.asc"] is None
    assert all(str(h).startswith(str(tmp_path / "work")) for h in ch.values() if h is not None
               and h.name.endswith((".gz", ".xml")))
    text = "\n".join(plan.changes)
    assert "Packages: replace intel-igb-5.17.5-1.xcpng8.3.x86_64 with intel-igb-5.18.0" in text
    assert "xcp-ng-deps: rebuilt as xcp-ng-deps-8.3-14.1.noarch" in text
    assert "auto_require: intel-igc" in text
    assert any("no [signing]" in w for w in plan.warnings)

    # the new xcp-ng-deps, checked by rpm itself
    out = subprocess.run(["rpm", "-Kv", "--nosignature", str(new_deps)], capture_output=True,
                         text=True, check=True).stdout
    assert "BAD" not in out and "Header SHA256 digest: OK" in out and "MD5 digest: OK" in out
    want = {"xcp-ng-release", "vendor-drivers", "kernel", "xapi-core >= 25", "intel-igc"}
    got = {r for r in rpm_requires(new_deps) if not r.startswith("rpmlib(")}
    assert got == want

    # apply to an extracted copy and verify the repository without xcptui's code
    tree = extract_tree(demo_iso, tmp_path / "tree")
    ti_before = (tree / ".treeinfo").read_bytes()
    apply_plan(tree, plan)
    hrefs = verify_repo(tree, tree / "Packages")
    assert "Packages/xcp-ng-deps-8.3-14.1.noarch.rpm" in hrefs
    assert not (tree / "repodata" / "repomd.xml.asc").exists()
    diff = [ln for ln in difflib.ndiff(ti_before.decode().splitlines(),
                                       (tree / ".treeinfo").read_text().splitlines())
            if ln[:1] in "+-"]
    assert diff == ["- key1 = RPM-GPG-KEY-xcpng", "+ #key1 = RPM-GPG-KEY-xcpng"]
    prim = next((tree / "repodata").glob("*-primary.xml.gz"))
    fl = next((tree / "repodata").glob("*-filelists.xml.gz"))
    res = check_installer(RepoSolver.from_repodata(prim, fl))
    assert res.ok and "intel-igc" in res.main.names and "htop" not in res.main.names
    assert any(n.startswith("xcp-ng-deps-8.3-14.1") for n in res.main.install)
    assert plan.report is not None and plan.report.ok
    assert sha256(demo_iso) == before  # the source is never touched


def test_no_repo_changes_means_empty_plan(iso: IsoSource, tmp_path: Path) -> None:
    r = Recipe(signing=SigningSection("unsigned"))
    plan = packages.plan(iso, r, tmp_path / "w")
    assert plan.empty and plan.changes == [] and plan.iso_changes == {}


def test_not_installed_warning_without_auto_require(iso: IsoSource, rpms: dict[str, Path],
                                                    tmp_path: Path) -> None:
    plan = packages.plan(iso, recipe(add=[rpms["igc"]]), tmp_path / "w")
    assert "intel-igc would NOT be installed: nothing requires it" in plan.warnings
    assert "/Packages/xcp-ng-deps-8.3-14.1.noarch.rpm" not in plan.iso_changes
    assert plan.iso_changes["/Packages/" + rpms["igc"].name] == rpms["igc"]
    assert any("repodata: regenerated for 11 packages (10 reused" in c for c in plan.changes)


def test_downgrade(iso: IsoSource, rpms: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"htop 1.0-1 is older than Packages/htop-2.2.0"):
        packages.plan(iso, recipe(add=[rpms["htop_old"]]), tmp_path / "w")
    assert not any((tmp_path / "w").iterdir())  # nothing left behind
    plan = packages.plan(iso, recipe(add=[rpms["htop_old"]], downgrade=True), tmp_path / "w2")
    assert plan.iso_changes["/Packages/htop-2.2.0-3.el7.x86_64.rpm"] is None
    assert any("(downgrade)" in c for c in plan.changes)


@pytest.mark.parametrize("case,match", [
    ("notrpm", r"notes.rpm: not a valid RPM \(no RPM lead magic\)"),
    ("truncated", r"truncated.rpm: not a valid RPM \(truncated"),
    ("remove-missing", r"packages.remove\[0\]: no package 'nothere' in Packages/"),
    ("remove-deps", r"xcp-ng-deps-8.3-14.noarch is what the installer installs"),
    ("remove-required", r"cannot remove kernel-4.19.19.*xcp-ng-deps-8.3-14.noarch requires "
                        r"kernel"),
    ("bad-require", r"deps.require\[0\]: 'kernel >=' is not 'name' or 'name OP version'"),
    ("drop-missing", r"deps.drop: xcp-ng-deps-8.3-14.noarch does not require 'htop'"),
    ("broken-closure", r"dependency closure would be broken: .*requires no-such-thing"),
    ("unknown-key", r"signing.key 0xDEADBEEF: no such secret key"),
])
def test_bad_input(iso: IsoSource, demo_iso: Path, rpms: dict[str, Path], tmp_path: Path,
                   case: str, match: str, monkeypatch: pytest.MonkeyPatch) -> None:
    r = {
        "notrpm": lambda: recipe(add=[rpms["notrpm"]]),
        "truncated": lambda: recipe(add=[rpms["truncated"]]),
        "remove-missing": lambda: recipe(remove=["nothere"]),
        "remove-deps": lambda: recipe(remove=["xcp-ng-deps"]),
        "remove-required": lambda: recipe(remove=["kernel"]),
        "bad-require": lambda: recipe(require=["kernel >="]),
        "drop-missing": lambda: recipe(drop=["htop"]),
        "broken-closure": lambda: recipe(add=[rpms["broken"]], require=["needs-missing"]),
        "unknown-key": lambda: recipe(add=[rpms["igc"]],
                                      signing=SigningSection("gpg", "0xDEADBEEF")),
    }[case]()
    if case == "unknown-key":
        home = tmp_path / "g"
        home.mkdir(mode=0o700)
        monkeypatch.setenv("GNUPGHOME", str(home))
    before = sha256(demo_iso)
    work = tmp_path / "work"
    with pytest.raises(InputError, match=match) as ei:
        packages.plan(iso, r, work)
    assert "\n" not in str(ei.value)
    assert not work.exists() or not any(work.iterdir())
    assert sha256(demo_iso) == before


def test_force_allows_breaking_and_says_so(iso: IsoSource, rpms: dict[str, Path],
                                           tmp_path: Path) -> None:
    plan = packages.plan(iso, recipe(remove=["kernel"], force=True), tmp_path / "w")
    assert any(w.startswith("forced despite: xcp-ng-deps-8.3-14.noarch requires kernel")
               for w in plan.warnings)
    assert plan.report is not None and not plan.report.ok
    plan = packages.plan(iso, recipe(remove=["xcp-ng-deps"], force=True), tmp_path / "w2")
    assert plan.iso_changes[f"/Packages/{DEPS}"] is None


def test_netinstall_iso(iso_factory: Callable[..., Path], rpms: dict[str, Path],
                        tmp_path: Path) -> None:
    with IsoSource.open(iso_factory(with_packages=False)) as src:
        with pytest.raises(InputError, match=r"has no /Packages directory \(a netinstall ISO"):
            packages.plan(src, recipe(add=[rpms["igc"]]), tmp_path)
        with pytest.raises(InputError, match="netinstall"):
            packages.list_packages(src)
        # a recipe without repository changes is fine on a netinstall ISO
        assert packages.plan(src, Recipe(), tmp_path).empty


def test_gpg_missing(iso: IsoSource, rpms: dict[str, Path], tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissing, match="gpg not found"):
        packages.plan(iso, recipe(add=[rpms["igc"]], signing=SigningSection("gpg", "ABCD")),
                      tmp_path)


def test_xz_unsigned_iso_deps_edit(iso_factory: Callable[..., Path], tmp_path: Path) -> None:
    path = iso_factory(signed=False, rpm_payload="xz")
    with IsoSource.open(path) as src:
        plan = packages.plan(src, recipe(require=["htop"]), tmp_path / "w")
    assert plan.treeinfo is None and "/repodata/repomd.xml.asc" not in plan.iso_changes
    assert not any("no [signing]" in w for w in plan.warnings)  # nothing was signed
    new = plan.iso_changes["/Packages/xcp-ng-deps-8.3-14.1.noarch.rpm"]
    assert new is not None
    assert "htop" in rpm_requires(new)
    assert "rpmlib(PayloadIsXz) <= 5.2-1" in rpm_requires(new)
    out = subprocess.run(["rpm", "-K", "--nosignature", str(new)], capture_output=True,
                         text=True)
    assert out.returncode == 0 and "digests OK" in out.stdout


def test_next_release() -> None:
    base = RpmInfo("xcp-ng-deps", 0, "8.3", "14", "noarch", 1)
    taken = [base]
    assert packages.next_release(base, taken) == "14.1"
    taken.append(RpmInfo("xcp-ng-deps", 0, "8.3", "14.1", "noarch", 1))
    assert packages.next_release(base, taken) == "14.2"
    taken.append(RpmInfo("xcp-ng-deps", 0, "8.3", "14.10", "noarch", 1))
    assert packages.next_release(base, taken) == "14.11"


class HostTree:
    """A directory that quacks like IsoSource (for layouts the demo builder does not make)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "host.iso"

    def _p(self, p: str) -> Path:
        return self.root / p.lstrip("/")

    def exists(self, p: str) -> bool:
        return self._p(p).exists()

    def is_dir(self, p: str) -> bool:
        return self._p(p).is_dir()

    def listdir(self, p: str = "/") -> list[IsoEntry]:
        out = []
        for c in sorted(self._p(p).iterdir()):
            ip = "/" + str(c.relative_to(self.root))
            out.append(IsoEntry(ip, c.name, c.is_dir(), 0 if c.is_dir() else c.stat().st_size,
                                0))
        return out

    def read(self, p: str, limit: int | None = None) -> bytes:
        return self._p(p).read_bytes()[:limit]

    def open_file(self, p: str) -> Any:
        return open(self._p(p), "rb")  # noqa: SIM115

    def extract(self, p: str, dest: Path, progress: Any = None, cancel: Any = None) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy(self._p(p), dest))]


def test_without_repodata_headers_are_read(demo_iso: Path, tmp_path: Path) -> None:
    tree = extract_tree(demo_iso, tmp_path / "t")
    shutil.rmtree(tree / "repodata")
    host = HostTree(tree)
    pk = packages.list_packages(host)
    assert len(pk) == 10 and all(p.path is None for p in pk)
    rep = packages.check(host)
    assert not rep.ok and any("no repodata/repomd.xml" in p for p in rep.problems)
    assert rep.install  # the packages themselves still resolve


def test_check_finds_inconsistent_repodata(demo_iso: Path, tmp_path: Path,
                                           rpms: dict[str, Path]) -> None:
    tree = extract_tree(demo_iso, tmp_path / "t")
    (tree / "Packages" / "htop-2.2.0-3.el7.x86_64.rpm").unlink()
    shutil.copy(rpms["igc"], tree / "Packages" / rpms["igc"].name)
    rep = packages.check(HostTree(tree))
    assert not rep.ok
    text = "\n".join(rep.problems)
    assert "the repodata lists Packages/htop-2.2.0-3.el7.x86_64.rpm, which is not on the ISO" \
        in text
    assert f"Packages/{rpms['igc'].name} is not in the repodata" in text


def test_build_end_to_end(demo_iso: Path, rpms: dict[str, Path], tmp_path: Path) -> None:
    """The build applies the plan; the output ISO's repository checks out."""
    from xcptui.engine.build import runner as build

    r = recipe(add=[rpms["igc"]], auto_require=True)
    out = tmp_path / "out.iso"
    res = build.build(demo_iso, r, out, verify=False)
    assert any("xcp-ng-deps: rebuilt" in c for c in res.changes)
    tree = extract_tree(out, tmp_path / "x")
    verify_repo(tree, tree / "Packages")
    assert not (tree / "repodata" / "repomd.xml.asc").exists()
    assert "#key1 = RPM-GPG-KEY-xcpng" in (tree / ".treeinfo").read_text()
    new = tree / "Packages" / "xcp-ng-deps-8.3-14.1.noarch.rpm"
    assert "intel-igc" in rpm_requires(new)
    assert not (tree / "Packages" / DEPS).exists()


def test_no_effective_change_leaves_the_repo_alone(iso: IsoSource, tmp_path: Path) -> None:
    same = tmp_path / "htop-2.2.0-3.el7.x86_64.rpm"
    same.write_bytes(iso.read("/Packages/htop-2.2.0-3.el7.x86_64.rpm"))
    plan = packages.plan(iso, recipe(add=[same]), tmp_path / "w")
    assert plan.empty and any("identical to Packages/htop" in w for w in plan.warnings)
    plan = packages.plan(iso, recipe(require=["kernel"]), tmp_path / "w2")
    assert plan.empty and any("already has exactly these Requires" in w for w in plan.warnings)


def test_remove_by_nevra_and_filename(iso: IsoSource, tmp_path: Path) -> None:
    for spec in ("htop-2.2.0-3.el7.x86_64", "htop-2.2.0-3.el7.x86_64.rpm",
                 "/Packages/htop-2.2.0-3.el7.x86_64.rpm", "htop-2.2.0-3.el7"):
        plan = packages.plan(iso, recipe(remove=[spec]), tmp_path / spec.replace("/", "_"))
        assert plan.iso_changes["/Packages/htop-2.2.0-3.el7.x86_64.rpm"] is None


def test_check_with_recipe_notes(iso: IsoSource, rpms: dict[str, Path]) -> None:
    rep = packages.check(iso, recipe(add=[rpms["igc"]], auto_require=True))
    assert rep.ok and rep.not_installed == []
    text = "\n".join(rep.lines())
    assert "auto_require adds intel-igc to xcp-ng-deps" in text
    assert "would be rebuilt as xcp-ng-deps-8.3-14.1.noarch" in text
    assert "output will be UNSIGNED" in text
    assert sum("signing" in ln for ln in text.splitlines()) == 1  # said once


def test_check_finds_missing_key_file(demo_iso: Path, tmp_path: Path) -> None:
    tree = extract_tree(demo_iso, tmp_path / "t")
    (tree / "RPM-GPG-KEY-xcpng").unlink()
    rep = packages.check(HostTree(tree))
    assert not rep.ok
    assert any("lists RPM-GPG-KEY-xcpng, but /RPM-GPG-KEY-xcpng is not on the ISO" in p
               for p in rep.problems)


def test_plan_without_source_repodata_reads_headers(demo_iso: Path, tmp_path: Path,
                                                    rpms: dict[str, Path]) -> None:
    tree = extract_tree(demo_iso, tmp_path / "t")
    shutil.rmtree(tree / "repodata")
    plan = packages.plan(HostTree(tree), recipe(add=[rpms["igc"]]), tmp_path / "w")
    new = [k for k, v in plan.iso_changes.items() if k.startswith("/repodata/") and v]
    assert any(k.endswith("-primary.xml.gz") for k in new)
    assert any(k.endswith("-primary.sqlite.bz2") for k in new)
    assert any("(0 reused from the old repodata, 11 read" in c for c in plan.changes)
    apply_plan(tree, plan)
    verify_repo(tree, tree / "Packages")


def test_cancel_leaves_nothing(iso: IsoSource, rpms: dict[str, Path], tmp_path: Path) -> None:
    import threading

    from xcptui.engine.errors import Cancelled

    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        packages.plan(iso, recipe(add=[rpms["igc"]]), tmp_path / "w", cancel=ev)
    assert not any((tmp_path / "w").iterdir())


def test_progress_events(iso: IsoSource, rpms: dict[str, Path], tmp_path: Path) -> None:
    from xcptui.engine.events import Progress, ProgressEvent

    seen: list[ProgressEvent] = []
    packages.plan(iso, recipe(add=[rpms["igc"]], auto_require=True), tmp_path / "w",
                  Progress(seen.append))
    steps = [e.step for e in seen if e.kind == "step"]
    for want in ("load repository metadata", "rebuild xcp-ng-deps", "write repodata",
                 "check dependencies"):
        assert want in steps


def test_corrupt_rpm_on_the_source_is_reported(demo_iso: Path, tmp_path: Path) -> None:
    tree = extract_tree(demo_iso, tmp_path / "t")
    bad = tree / "Packages" / "htop-2.2.0-3.el7.x86_64.rpm"
    bad.write_bytes(bad.read_bytes()[:500])
    rep = packages.check(HostTree(tree))
    assert not rep.ok
    assert any(p.startswith("Packages/htop-2.2.0-3.el7.x86_64.rpm: not a valid RPM (truncated")
               for p in rep.problems)
    assert len(packages.list_packages(HostTree(tree))) == 9
