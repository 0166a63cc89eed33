"""The installer's `yum install xcp-ng-deps` with libsolv: closures, broken repos, speed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from xcptui.demoiso.builder import package_specs
from xcptui.demoiso.rpms import RpmSpec, build_rpms
from xcptui.engine.repo.solver import RepoSolver, check_installer
from xcptui.engine.rpm.header import Dep, RpmInfo
from xcptui.engine.rpm.metadata import load_repodata


def pkg(name: str, evr: str = "1.0-1", arch: str = "x86_64", *, requires: tuple[str, ...] = (),
        provides: tuple[str, ...] = (), conflicts: tuple[str, ...] = (),
        obsoletes: tuple[str, ...] = (), files: tuple[str, ...] = ()) -> RpmInfo:
    from xcptui.engine.rpm.header import parse_dep

    epoch, _, vr = evr.rpartition(":")
    v, _, r = vr.partition("-")
    return RpmInfo(name, int(epoch or 0), v, r, arch, 1000,
                   requires=[parse_dep(x) for x in requires],
                   provides=[parse_dep(x) for x in provides],
                   conflicts=[parse_dep(x) for x in conflicts],
                   obsoletes=[parse_dep(x) for x in obsoletes], files=list(files),
                   filename=f"{name}-{vr}.{arch}.rpm")


def demo_like() -> list[RpmInfo]:
    return [
        pkg("xcp-ng-deps", "8.3-14", "noarch",
            requires=("xcp-ng-release", "vendor-drivers", "kernel", "xapi-core")),
        pkg("xcp-ng-release", "8.3.0-29"),
        pkg("vendor-drivers", "1.0-1", "noarch", requires=("intel-igb",)),
        pkg("intel-igb", "5.17-1", requires=("kernel-uname-r = 4.19.0+1",)),
        pkg("kernel", "4.19.19-8", provides=("kernel-uname-r = 4.19.0+1",)),
        pkg("kernel-alt", "4.19.309-1", provides=("kernel-uname-r = 4.19.309",)),
        pkg("xapi-core", "25.6-1", requires=("xcp-ng-release", "/bin/sh")),
        pkg("bash", "4.2-1", files=("/bin/sh", "/bin/bash")),
        pkg("htop", "2.2-3"),
    ]


def test_demo_like_closure() -> None:
    res = check_installer(RepoSolver.from_packages(demo_like()))
    assert res.ok and res.main.ok and res.alt is not None and res.alt.ok
    assert res.main.names == {"xcp-ng-deps", "xcp-ng-release", "vendor-drivers", "intel-igb",
                              "kernel", "xapi-core", "bash"}
    assert res.alt.names == res.main.names | {"kernel-alt"}
    assert res.not_installed(["htop", "kernel-alt", "intel-igb"]) == [
        "htop would NOT be installed: nothing requires it",
        "kernel-alt would be installed only when booted with kernel-alt"]


def test_every_unresolved_requires_is_reported() -> None:
    pk = [p for p in demo_like() if p.name not in ("kernel", "xcp-ng-release")]
    res = check_installer(RepoSolver.from_packages(pk))
    assert not res.ok
    texts = [p.text for p in res.problems]
    assert ("xcp-ng-deps-8.3-14.noarch requires kernel, but nothing in the repository "
            "provides it") in texts
    assert any(t.startswith("xapi-core-25.6-1.x86_64 requires xcp-ng-release") for t in texts)
    assert any(t.startswith("intel-igb-5.17-1.x86_64 requires kernel-uname-r = 4.19.0+1")
               for t in texts)
    kinds = {(p.kind, p.package.split("-")[0]) for p in res.problems}
    assert ("unresolved", "intel") in kinds


def test_conflicts_obsoletes_and_missing_target() -> None:
    pk = demo_like() + [pkg("evil", requires=()), pkg("xcp-ng-deps-extra")]
    pk[0].requires.append(Dep("evil"))
    pk[-2].conflicts.append(Dep("xapi-core"))
    res = check_installer(RepoSolver.from_packages(pk))
    assert not res.ok
    assert any(p.kind == "conflict" and p.package == "evil-1.0-1.x86_64"
               and "xapi-core" in p.text for p in res.problems)
    ob = demo_like() + [pkg("newrel", obsoletes=("xcp-ng-release",))]
    ob[0].requires.append(Dep("newrel"))
    res = check_installer(RepoSolver.from_packages(ob))
    assert not res.ok and any(p.kind == "obsoletes" for p in res.problems)
    res = check_installer(RepoSolver.from_packages([pkg("htop")]))
    assert not res.ok and res.problems[0].kind == "missing-target"
    assert "yum install xcp-ng-deps" in res.problems[0].text


def test_highest_evr_wins_like_yum() -> None:
    """Two versions: yum takes the newer one, so its (broken) Requires decide."""
    pk = demo_like() + [pkg("intel-igb", "6.0-1", requires=("kernel-uname-r = 9.9",))]
    res = check_installer(RepoSolver.from_packages(pk))
    assert not res.ok
    assert any("intel-igb-6.0-1" in p.package for p in res.problems)
    pk = demo_like() + [pkg("intel-igb", "1:0.1-1")]  # epoch beats version
    res = check_installer(RepoSolver.from_packages(pk))
    assert res.ok and "intel-igb-1:0.1-1.x86_64" in res.main.install


def test_versioned_requires_and_arch() -> None:
    pk = demo_like()
    pk[0].requires.append(Dep("xapi-core", ">=", None, "26.0"))
    assert not check_installer(RepoSolver.from_packages(pk)).ok
    pk = demo_like()
    pk[0].requires.append(Dep("xapi-core", ">=", None, "25.0"))
    assert check_installer(RepoSolver.from_packages(pk)).ok
    pk = demo_like() + [pkg("armthing", arch="aarch64")]
    pk[0].requires.append(Dep("armthing"))
    res = check_installer(RepoSolver.from_packages(pk))
    assert not res.ok
    assert any("only packages of another architecture provide it" in p.text
               for p in res.problems)


@pytest.fixture(scope="module")
def real_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("solv")
    build_rpms(package_specs(), root / "Packages", "gzip")
    subprocess.run(["createrepo_c", "-q", "--general-compress-type=gz", str(root)], check=True)
    return root


def test_real_repodata_and_a_deliberately_broken_repo(real_repo: Path, tmp_path: Path) -> None:
    primary = next((real_repo / "repodata").glob("*-primary.xml.gz"))
    filelists = next((real_repo / "repodata").glob("*-filelists.xml.gz"))
    a = check_installer(RepoSolver.from_repodata(primary, filelists))
    b = check_installer(RepoSolver.from_packages(load_repodata(real_repo)))
    assert a.ok and b.ok and a.main.install == b.main.install and len(a.main.install) == 8
    # break it: drop the kernel RPM and regenerate with the createrepo_c CLI
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(real_repo / "Packages", broken / "Packages")
    for p in (broken / "Packages").glob("kernel-4*.rpm"):
        p.unlink()
    build_rpms([RpmSpec("blocker", "1", "1", conflicts=["xapi-core"])], broken / "Packages")
    subprocess.run(["createrepo_c", "-q", "--general-compress-type=gz", str(broken)], check=True)
    prim = next((broken / "repodata").glob("*-primary.xml.gz"))
    res = check_installer(RepoSolver.from_repodata(prim))
    assert not res.ok
    texts = [p.text for p in res.problems]
    assert any("xcp-ng-deps-8.3-14.noarch requires kernel" in t for t in texts)
    assert any("requires kernel-uname-r = 4.19.0+1" in t for t in texts)


def test_four_hundred_packages_under_a_second() -> None:
    pk = demo_like()
    deps = pk[0]
    for i in range(400):
        p = pkg(f"pkg{i:03d}", f"1.{i}-1", requires=(f"pkg{(i + 1) % 400:03d} >= 1.0",
                                                      "/bin/sh"),
                provides=(f"cap{i}",), files=tuple(f"/usr/share/p{i}/f{j}" for j in range(50)))
        pk.append(p)
        deps.requires.append(Dep(f"cap{i}"))
    res = check_installer(RepoSolver.from_packages(pk))  # speed: bench/repo_bench.py
    assert res.ok and len(res.main.install) == 407
