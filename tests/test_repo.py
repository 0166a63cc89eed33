"""Regenerated repodata, checked without createrepo_c: defusedxml + hashlib + gzip + sqlite."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from defusedxml import ElementTree

from xcptui.demoiso.builder import package_specs
from xcptui.demoiso.rpms import RpmSpec, build_rpms
from xcptui.engine.errors import InputError
from xcptui.engine.repo.repodata import RepoEntry, load_old, write_repodata
from xcptui.engine.rpm.header import read_rpm

NS = {"repo": "http://linux.duke.edu/metadata/repo",
      "common": "http://linux.duke.edu/metadata/common"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ISO-like tree: Packages/ + repodata made by the createrepo_c CLI (with sqlite)."""
    root = tmp_path_factory.mktemp("tree")
    build_rpms(package_specs(), root / "Packages", "gzip")
    subprocess.run(["createrepo_c", "-q", "--general-compress-type=gz", "--database",
                    "--checksum", "sha256", str(root)], check=True)
    return root


@pytest.fixture(scope="module")
def extra_rpms(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("extra")
    return build_rpms([RpmSpec("intel-igc", "5.9.1", "1", "x86_64",
                               files={"/lib/modules/igc.ko": (0o644, b"igc")}),
                       RpmSpec("htop", "3.0", "1", "x86_64")], d, "xz")


def _open(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(data)
    raise AssertionError(f"{path.name}: unknown compression {data[:6]!r}")


def verify_repo(root: Path, packages_dir: Path) -> dict[str, dict[str, str]]:
    """Independent check of root/repodata; returns href -> {name, checksum} from primary."""
    repomd = ElementTree.parse(root / "repodata" / "repomd.xml").getroot()
    records = {}
    for data in repomd.findall("repo:data", NS):
        kind = data.get("type")
        href = data.find("repo:location", NS).get("href")
        assert href.startswith("repodata/") and "/" not in href[len("repodata/"):]
        f = root / href
        raw = f.read_bytes()
        cs = data.find("repo:checksum", NS)
        assert cs.get("type") == "sha256"
        assert hashlib.sha256(raw).hexdigest() == cs.text, f"{kind}: checksum"
        assert f.name.startswith(cs.text + "-"), "unique (checksum-prefixed) file names"
        assert int(data.find("repo:size", NS).text) == len(raw)
        opened = _open(f)
        ocs = data.find("repo:open-checksum", NS)
        assert hashlib.sha256(opened).hexdigest() == ocs.text, f"{kind}: open-checksum"
        assert int(data.find("repo:open-size", NS).text) == len(opened)
        records[kind] = (f, opened, data)
    # the installer gunzips primary: it must be gzip, never zstd
    pf, primary_xml, _ = records["primary"]
    assert pf.read_bytes()[:2] == b"\x1f\x8b" and pf.name.endswith("-primary.xml.gz")
    for k in ("filelists", "other"):
        assert records[k][0].read_bytes()[:2] == b"\x1f\x8b"
    root_el = ElementTree.fromstring(primary_xml)
    pkgs = root_el.findall("common:package", NS)
    assert int(root_el.get("packages")) == len(pkgs)
    out: dict[str, dict[str, str]] = {}
    for p in pkgs:
        href = p.find("common:location", NS).get("href")
        cs = p.find("common:checksum", NS)
        assert cs.get("type") == "sha256" and cs.get("pkgid") == "YES"
        assert href.startswith("Packages/")
        rpm = packages_dir / href.split("/", 1)[1]
        assert hashlib.sha256(rpm.read_bytes()).hexdigest() == cs.text, href
        assert int(p.find("common:size", NS).get("package")) == rpm.stat().st_size
        out[href] = {"name": p.find("common:name", NS).text, "checksum": cs.text}
    assert set(out) == {f"Packages/{f.name}" for f in packages_dir.glob("*.rpm")}
    # every file in repodata/ is referenced (no stale files)
    listed = {r[0].name for r in records.values()} | {"repomd.xml"}
    assert {f.name for f in (root / "repodata").iterdir()} == listed
    if "primary_db" in records:
        dbf, opened, data = records["primary_db"]
        assert data.find("repo:database_version", NS).text == "10"
        tmp = dbf.with_suffix(".check.sqlite")
        tmp.write_bytes(opened)
        con = sqlite3.connect(tmp)
        n = con.execute("select count(*) from packages").fetchone()[0]
        con.close()
        tmp.unlink()
        assert n == len(pkgs)
    return out


def _entries(root: Path) -> list[RepoEntry]:
    return [RepoEntry(f"Packages/{p.name}", p, p.stat().st_size)
            for p in sorted((root / "Packages").glob("*.rpm"))]


def test_full_regeneration_matches_createrepo_c(tree: Path, tmp_path: Path) -> None:
    res = write_repodata(_entries(tree), tmp_path, database=True, db_compression="bz2")
    shutil.copytree(tree / "Packages", tmp_path / "Packages")
    ours = verify_repo(tmp_path, tmp_path / "Packages")
    theirs = verify_repo(tree, tree / "Packages")
    assert ours == theirs
    assert res.read == 10 and res.reused == 0
    assert set(res.files) == {f"repodata/{f.name}" for f in (tmp_path / "repodata").iterdir()}
    # the XML itself is what createrepo_c's CLI writes
    def primary(root: Path) -> bytes:
        return gzip.decompress(next((root / "repodata").glob("*-primary.xml.gz")).read_bytes())
    assert primary(tmp_path) == primary(tree)
    assert next((tmp_path / "repodata").glob("*-primary.sqlite.bz2"))


def test_update_mode_reuses_old_data(tree: Path, tmp_path: Path,
                                     extra_rpms: list[Path]) -> None:
    new = tmp_path / "iso"
    shutil.copytree(tree, new)
    old = load_old(new)
    assert old.database and old.db_compression == "gz" and len(old.packages) == 10
    (new / "Packages" / "htop-2.2.0-3.el7.x86_64.rpm").unlink()
    for p in extra_rpms:
        shutil.copy(p, new / "Packages" / p.name)
    entries = _entries(new)
    res = write_repodata(entries, tmp_path / "out", old=old)
    assert res.reused == 9 and res.read == 2
    shutil.copytree(new / "Packages", tmp_path / "out" / "Packages")
    ours = verify_repo(tmp_path / "out", tmp_path / "out" / "Packages")
    # same as a full regeneration of the same Packages/ (filelists and other included)
    full = write_repodata(entries, tmp_path / "full", database=True, db_compression="gz")
    for kind in ("primary", "filelists", "other"):
        a = next((tmp_path / "out" / "repodata").glob(f"*-{kind}.xml.gz")).read_bytes()
        b = next((tmp_path / "full" / "repodata").glob(f"*-{kind}.xml.gz")).read_bytes()
        assert gzip.decompress(a) == gzip.decompress(b), kind
    assert full.read == 11
    assert "Packages/htop-3.0-1.x86_64.rpm" in ours
    # stale: the old files whose names are gone (sqlite DBs always change)
    old_names = {f"repodata/{f.name}" for f in (tree / "repodata").iterdir()}
    assert set(res.stale) == old_names - set(res.files)
    assert "repodata/repomd.xml" not in res.stale
    assert any("primary.xml.gz" in s for s in res.stale)


def test_update_mode_rereads_a_changed_file(tree: Path, tmp_path: Path,
                                            extra_rpms: list[Path]) -> None:
    """A file whose size differs from its repodata entry is read again, never trusted."""
    old = load_old(tree)
    entries = _entries(tree)
    igc = extra_rpms[0]
    # pretend the file named like htop now holds other bytes
    fake = tmp_path / "htop-2.2.0-3.el7.x86_64.rpm"
    shutil.copy(igc, fake)
    entries = [e if not e.href.endswith(fake.name) else RepoEntry(e.href, fake,
                                                                   fake.stat().st_size)
               for e in entries]
    res = write_repodata(entries, tmp_path / "o", old=old)
    assert res.read == 1
    names = {i.name for i in res.packages}
    assert "intel-igc" in names and "htop" not in names


def test_extra_records_are_carried(tmp_path: Path, tree: Path) -> None:
    root = tmp_path / "g"
    shutil.copytree(tree / "Packages", root / "Packages")
    comps = tmp_path / "comps.xml"
    comps.write_text('<?xml version="1.0"?>\n<comps><group><id>drivers</id><name>Drivers'
                     '</name><packagelist><packagereq>htop</packagereq></packagelist></group>'
                     '</comps>\n')
    subprocess.run(["createrepo_c", "-q", "--no-database", "--general-compress-type=gz", "-g",
                    str(comps), str(root)], check=True)
    old = load_old(root)
    assert {k for k, _h, _p in old.extra} >= {"group"}
    res = write_repodata(_entries(root), tmp_path / "out", old=old)
    repomd = ElementTree.parse(res.repodata / "repomd.xml").getroot()
    kinds = {d.get("type") for d in repomd.findall("repo:data", NS)}
    assert "group" in kinds and not old.database and "primary_db" not in kinds
    group = next(d for d in repomd.findall("repo:data", NS) if d.get("type") == "group")
    href = group.find("repo:location", NS).get("href")
    assert b"<id>drivers</id>" in (tmp_path / "out" / href).read_bytes()


def test_bad_inputs(tree: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.rpm"
    bad.write_text("nope")
    with pytest.raises(InputError, match="bad.rpm: not a valid RPM"):
        write_repodata([RepoEntry("Packages/bad.rpm", bad)], tmp_path / "o")
    with pytest.raises(InputError, match="duplicate package locations"):
        e = _entries(tree)[0]
        write_repodata([e, e], tmp_path / "o")
    with pytest.raises(InputError, match="no data for Packages/x.rpm"):
        write_repodata([RepoEntry("Packages/x.rpm")], tmp_path / "o")
    broken = tmp_path / "broken"
    (broken / "repodata").mkdir(parents=True)
    (broken / "repodata" / "repomd.xml").write_text("<repomd>garbage")
    with pytest.raises(InputError, match="repomd.xml"):
        load_old(broken)


def test_info_entries_use_given_package(tree: Path, tmp_path: Path) -> None:
    p = sorted((tree / "Packages").glob("*.rpm"))[0]
    info = read_rpm(p, "Packages/elsewhere.rpm")
    res = write_repodata([RepoEntry(f"Packages/{p.name}", info=info)], tmp_path)
    assert res.packages[0].href == f"Packages/{p.name}" and res.read == 1
