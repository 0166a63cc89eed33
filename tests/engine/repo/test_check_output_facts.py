"""The dependency check's typed facts about the OUTPUT: signing, rebuilt xcp-ng-deps, and
every package of the new repository the installer would skip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from xcptui.demoiso.rpms import RpmSpec, build_rpms
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.recipe import DepsSection, PackagesSection, Recipe, SigningSection
from xcptui.engine.repo import packages


@pytest.fixture
def iso(demo_iso: Path) -> Iterator[IsoSource]:
    with IsoSource.open(demo_iso) as src:
        yield src


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_rpms([RpmSpec("mytool", "1.0", "1", "x86_64")],
                      tmp_path_factory.mktemp("rpms"))[0]


def test_as_is_output_is_the_source(iso: IsoSource) -> None:
    rep = packages.check(iso)
    assert rep.output_signing is not None and rep.output_signing.signed
    assert not rep.output_signing.lost and rep.meta is None
    assert rep.skipped == ["htop would NOT be installed: nothing requires it",
                           "kernel-alt would be installed only when booted with kernel-alt"]


def test_changed_repo_without_signing_says_output_unsigned(iso: IsoSource, tool: Path) -> None:
    rep = packages.check(iso, Recipe(packages=PackagesSection(add=[tool])))
    out = rep.output_signing
    assert out is not None and out.source_signed and not out.signed and out.lost
    assert out.text.startswith("source signed; output will be UNSIGNED")
    assert "add [signing]" in out.text and "checks repodata/repomd.xml.asc" not in out.text
    assert rep.signing == out.text  # the CLI's "signing:" line says the same
    # htop (original) and mytool (added) are both skipped: the solve of the new set
    assert rep.skipped == ["htop would NOT be installed: nothing requires it",
                           "kernel-alt would be installed only when booted with kernel-alt",
                           "mytool would NOT be installed: nothing requires it"]
    assert rep.meta is None  # nothing requires a change to xcp-ng-deps


def test_explicit_unsigned_and_gpg(iso: IsoSource, tool: Path) -> None:
    rep = packages.check(iso, Recipe(packages=PackagesSection(add=[tool]),
                                     signing=SigningSection("unsigned")))
    assert rep.output_signing is not None and rep.output_signing.lost
    assert "add [signing]" not in rep.output_signing.text
    rep = packages.check(iso, Recipe(packages=PackagesSection(add=[tool]),
                                     signing=SigningSection("gpg", "ABCD1234")))
    out = rep.output_signing
    assert out is not None and out.signed and not out.lost
    assert "ABCD1234" in out.text and "RPM signatures NOT checked" in out.text


def test_rebuilt_meta_requires(iso: IsoSource, tool: Path) -> None:
    rec = Recipe(packages=PackagesSection(add=[tool]),
                 deps=DepsSection(require=["mytool"], drop=["xcp-ng-pv-tools"]))
    rep = packages.check(iso, rec)
    m = rep.meta
    assert m is not None
    assert (m.old_nevra, m.new_nevra) == ("xcp-ng-deps-8.3-14.noarch",
                                          "xcp-ng-deps-8.3-14.1.noarch")
    assert m.added == ["mytool"] and m.removed == ["xcp-ng-pv-tools"]
    assert "xcp-ng-pv-tools" in m.old_requires and "mytool" in m.new_requires
    assert not any(r.startswith("rpmlib(") for r in m.old_requires + m.new_requires)
    # dropped from xcp-ng-deps: now skipped by the installer, and said so
    assert "xcp-ng-pv-tools would NOT be installed: nothing requires it" in rep.skipped
    assert not any(s.startswith("mytool ") for s in rep.skipped)
    assert rep.to_json()["meta"]["new"] == "xcp-ng-deps-8.3-14.1.noarch"


def test_no_effective_change_keeps_source_signing(iso: IsoSource) -> None:
    same = Recipe(deps=DepsSection(require=["kernel"]))  # already required: no rebuild
    rep = packages.check(iso, same)
    assert rep.output_signing is not None and rep.output_signing.signed
    assert rep.output_signing.text.startswith("repository unchanged")
    assert any("already has exactly these Requires" in w for w in rep.warnings)
