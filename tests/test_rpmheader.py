"""Reading RPMs and repodata: fields against `rpm -qp`, bad files, rpm's version ordering."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from xcptui.demoiso.rpms import RpmSpec, build_rpms
from xcptui.engine.errors import InputError
from xcptui.engine.rpm.header import (
    Dep,
    Evr,
    evrcmp,
    parse_dep,
    parse_evr,
    read_layout,
    read_rpm,
    rpmvercmp,
)
from xcptui.engine.rpm.metadata import load_repodata


@pytest.fixture(scope="module")
def rpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("rpms")
    specs = [
        RpmSpec("alpha", "1.2.3", "4.el7", "x86_64", summary="Alpha package",
                requires=["beta >= 2.0", "/bin/sh", "gamma"], provides=["alpha-api = 3"],
                conflicts=["oldalpha < 1.0"], obsoletes=["alpha-legacy"],
                files={"/usr/bin/alpha": (0o755, b"#!/bin/sh\n"), "/etc/alpha.conf":
                       (0o644, b"x=1\n"), "/usr/share/alpha": (0o755, None)}),
        RpmSpec("beta", "2.1", "1", "noarch", epoch=3),
    ]
    paths = build_rpms(specs[:1], out / "gz", "gzip") + build_rpms(specs[1:], out / "xz", "xz")
    return {"alpha": paths[0], "beta": paths[1]}


def _rpmq(path: Path, fmt: str) -> str:
    return subprocess.run(["rpm", "-qp", "--nosignature", "--qf", fmt, str(path)],
                          capture_output=True, text=True, check=True).stdout


def test_fields_match_rpm_itself(rpms: dict[str, Path]) -> None:
    a = read_rpm(rpms["alpha"])
    assert (a.name, a.epoch, a.version, a.release, a.arch) == ("alpha", 0, "1.2.3", "4.el7",
                                                               "x86_64")
    assert a.summary == _rpmq(rpms["alpha"], "%{SUMMARY}") == "Alpha package"
    assert a.size == rpms["alpha"].stat().st_size
    assert a.installed_size == int(_rpmq(rpms["alpha"], "%{SIZE}"))
    reqs = _rpmq(rpms["alpha"], "[%{REQUIRENEVRS}\n]").splitlines()
    # createrepo_c leaves rpmlib() requires out, as primary.xml does
    assert sorted(str(d) for d in a.requires) == sorted(r for r in reqs
                                                       if not r.startswith("rpmlib("))
    assert "alpha-api = 3" in [str(d) for d in a.provides]
    assert [str(d) for d in a.conflicts] == ["oldalpha < 1.0"]
    assert [str(d) for d in a.obsoletes] == ["alpha-legacy"]
    assert sorted(a.files) == sorted(_rpmq(rpms["alpha"], "[%{FILENAMES}\n]").splitlines())
    assert a.href == f"Packages/{rpms['alpha'].name}" and a.filename == rpms["alpha"].name
    import hashlib

    assert a.checksum == hashlib.sha256(rpms["alpha"].read_bytes()).hexdigest()
    b = read_rpm(rpms["beta"])
    assert b.epoch == 3 and b.nevra == "beta-3:2.1-1.noarch" and b.evr == "3:2.1-1"
    d = b.to_dict()
    assert d["nevra"] == "beta-3:2.1-1.noarch" and d["epoch"] == 3


@pytest.mark.parametrize("cut", [0, 3, 50, 96, 110, 400, -200, -1])
def test_truncated_rpm_is_a_clear_error(rpms: dict[str, Path], tmp_path: Path,
                                        cut: int) -> None:
    data = rpms["alpha"].read_bytes()
    bad = tmp_path / "x.rpm"
    bad.write_bytes(data[:cut] if cut >= 0 else data[:len(data) + cut])
    with pytest.raises(InputError) as ei:
        read_rpm(bad)
    msg = str(ei.value)
    assert msg.startswith("x.rpm: not a valid RPM (") and "\n" not in msg


def test_not_an_rpm_and_trailing_garbage(rpms: dict[str, Path], tmp_path: Path) -> None:
    txt = tmp_path / "readme.rpm"
    txt.write_text("hello world, not an rpm at all\n" * 10)
    with pytest.raises(InputError, match=r"readme.rpm: not a valid RPM \(no RPM lead magic\)"):
        read_rpm(txt)
    extra = tmp_path / "extra.rpm"
    extra.write_bytes(rpms["alpha"].read_bytes() + b"junk")
    with pytest.raises(InputError, match="4 unexpected bytes after the payload"):
        read_rpm(extra)
    with pytest.raises(InputError, match="no such file"):
        read_rpm(tmp_path / "missing.rpm")
    with pytest.raises(InputError, match="is a directory"):
        read_rpm(tmp_path)


def test_corrupt_header_index(rpms: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(rpms["alpha"].read_bytes())
    lay = read_layout(rpms["alpha"])
    # point the second header entry's offset far outside the data store
    pos = lay.header.offset + 16 + 16 + 8
    data[pos:pos + 4] = (0x7FFFFF00).to_bytes(4, "big")
    bad = tmp_path / "corrupt.rpm"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt.rpm: not a valid RPM"):
        read_rpm(bad)


def test_source_rpm_is_refused(rpms: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(rpms["alpha"].read_bytes())
    data[6:8] = b"\x00\x01"  # lead type: source
    src = tmp_path / "alpha.src.rpm"
    src.write_bytes(bytes(data))
    with pytest.raises(InputError, match="is a source RPM"):
        read_rpm(src)


VERSIONS = [
    ("1.0", "1.0"), ("1.0", "2.0"), ("2.0.1", "2.0"), ("1.0a", "1.0"), ("1.0", "1.0a"),
    ("1.01", "1.1"), ("1.001", "1.0001"), ("5.5p1", "5.5p2"), ("10", "9"), ("a", "b"),
    ("1.0~rc1", "1.0"), ("1.0~rc1", "1.0~rc2"), ("1.0~~", "1.0~"), ("1.0^", "1.0"),
    ("1.0^git1", "1.0.1"), ("1.0^git1", "1.0^git2"), ("1_0", "1.0"), ("1.0.", "1.0"),
    ("14", "14.1"), ("14.1", "14.2"), ("14.10", "14.9"), ("8.0.38.1.xcpng8.3", "8.0.38"),
    ("2.xcpng8.3", "2.xcpng8.2"), ("xyz10", "xyz10.1"), ("xyz.4", "8"), ("1b", "1.b"),
    ("1.2.3", "1.2.3+git"), ("abc", "ABC"), ("0001", "1"), ("1.0", "1.0~"), ("1.0~", "1.0^"),
]


def test_rpmvercmp_agrees_with_rpm() -> None:
    if shutil.which("rpm") is None:
        pytest.skip("rpm not installed")
    lua = "".join(f'print(rpm.vercmp("{a}", "{b}") .. ",") ' for a, b in VERSIONS)
    out = subprocess.run(["rpm", "--eval", f"%{{lua: {lua}}}"], capture_output=True,
                         text=True, check=True).stdout.strip().strip(",").split(",")
    ours = [rpmvercmp(a, b) for a, b in VERSIONS]
    assert ours == [int(x) for x in out]


def test_evr_ordering_and_parsing() -> None:
    assert evrcmp(parse_evr("1:1.0-1"), parse_evr("2.0-1")) == 1
    assert evrcmp(parse_evr("8.3-14.1"), parse_evr("8.3-14")) == 1
    assert evrcmp(Evr(0, "1.0", ""), Evr(0, "1.0", "5")) == 0  # no release: any matches
    assert str(parse_evr("2:1.0-3")) == "2:1.0-3"
    with pytest.raises(ValueError):
        parse_evr("x:1.0")


def test_parse_dep() -> None:
    assert parse_dep("kernel") == Dep("kernel")
    d = parse_dep("xapi-core >= 1:25.6-1.xcpng")
    assert (d.name, d.op, d.epoch, d.version, d.release) == ("xapi-core", ">=", "1", "25.6",
                                                             "1.xcpng")
    assert str(d) == "xapi-core >= 1:25.6-1.xcpng"
    assert parse_dep("a==2").op == "=" and parse_dep("  b <1.0 ").op == "<"
    for bad in ["", "a >=", "a b", ">= 1", "a >= 1 2", "a => 1", "rpmlib(X)", "a >= 1-2-3"]:
        with pytest.raises(InputError):
            parse_dep(bad, "deps.require[0]")


def test_repodata_agrees_with_headers(rpms: dict[str, Path], tmp_path: Path) -> None:
    pk = tmp_path / "Packages"
    pk.mkdir()
    for p in rpms.values():
        shutil.copy(p, pk / p.name)
    subprocess.run(["createrepo_c", "-q", "--general-compress-type=gz", str(tmp_path)],
                   check=True)
    from_md = {i.name: i for i in load_repodata(tmp_path)}
    for p in rpms.values():
        h = read_rpm(pk / p.name)
        m = from_md[h.name]
        assert (m.nevra, m.size, m.checksum, m.href, m.summary) == (
            h.nevra, h.size, h.checksum, h.href, h.summary)
        assert [str(d) for d in m.requires] == [str(d) for d in h.requires]
        assert sorted(m.files) == sorted(h.files)
    with pytest.raises(InputError, match="repomd.xml: missing"):
        load_repodata(tmp_path / "nothing")


def test_read_rpms_matches_read_rpm(rpms: dict[str, Path], tmp_path: Path) -> None:
    """Header-only reading + parallel hashing gives exactly createrepo_c's package data."""
    import createrepo_c as cr

    from xcptui.engine.rpm.header import read_rpms

    items = [(p, f"Packages/{p.name}") for p in rpms.values()]
    fast = read_rpms(items, workers=2)
    for (p, href), f in zip(items, fast, strict=True):
        slow = read_rpm(p, href)
        assert cr.xml_dump(f.package) == cr.xml_dump(slow.package)
        assert f.checksum == slow.checksum and f.package.time_file == slow.package.time_file
    bad = tmp_path / "bad.rpm"
    bad.write_bytes(rpms["alpha"].read_bytes()[:300])
    with pytest.raises(InputError, match=r"Packages/bad.rpm: not a valid RPM \(truncated"):
        read_rpms(items + [(bad, "Packages/bad.rpm")])
