"""The RPM writer, checked with rpm itself (rpm -K, rpm -qp --requires, rpm -qpi)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from xcptui.demoiso.builder import DEPS_REQUIRES
from xcptui.demoiso.rpms import RpmSpec, build_rpms
from xcptui.engine.errors import InputError
from xcptui.engine.rpm.header import parse_dep, read_layout, read_rpm
from xcptui.engine.rpm.writer import rebuild_package


def rpm(*args: str | Path) -> str:
    p = subprocess.run(["rpm", *[str(a) for a in args]], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("rw")
    meta = RpmSpec("xcp-ng-deps", "8.3", "14", requires=list(DEPS_REQUIRES) + ["sed"],
                   summary="A meta package pulling all needed dependencies for XCP-ng",
                   obsoletes=["xenserver-deps"], post="true")
    withfiles = RpmSpec("tool", "2.0", "3.el7", "x86_64", epoch=2, requires=["libc >= 2.17"],
                        files={"/usr/bin/tool": (0o755, os.urandom(3000))})
    gz = build_rpms([meta, withfiles], out / "gz", "gzip")
    xz = build_rpms([meta], out / "xz", "xz")
    return {"meta": gz[0], "tool": gz[1], "meta_xz": xz[0]}


def requires(path: Path) -> list[str]:
    return rpm("-qp", "--nosignature", "--requires", path).splitlines()


def digests_ok(path: Path) -> str:
    out = rpm("-Kv", "--nosignature", path)
    assert "BAD" not in out and "NOTFOUND" not in out, out
    for what in ("Header SHA256 digest: OK", "Header SHA1 digest: OK", "MD5 digest: OK",
                 "Payload SHA256 digest: OK"):
        assert what in out, out
    return out


@pytest.mark.parametrize("which", ["meta", "meta_xz", "tool"])
def test_identity_rebuild_is_byte_identical(built: dict[str, Path], tmp_path: Path,
                                            which: str) -> None:
    """Re-laying out an unchanged header reproduces rpmbuild's bytes exactly."""
    src = built[which]
    info = read_rpm(src)
    out = rebuild_package(src, tmp_path, release=info.release)
    assert out.path.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("which", ["meta", "meta_xz"])
def test_edit_requires_and_release(built: dict[str, Path], tmp_path: Path, which: str) -> None:
    src = built[which]
    before = requires(src)
    out = rebuild_package(src, tmp_path, release="14.1",
                          require=[parse_dep("intel-igc"), parse_dep("kernel >= 4.19.19"),
                                   parse_dep("zz-extra = 1:2.0-3")],
                          drop=["xapi-core"])
    assert out.path.name == "xcp-ng-deps-8.3-14.1.noarch.rpm"
    digests_ok(out.path)
    after = requires(out.path)
    expected = [r for r in before if r not in ("xapi-core", "kernel")]
    expected += ["intel-igc", "kernel >= 4.19.19", "zz-extra = 1:2.0-3"]
    assert sorted(after) == sorted(expected)
    assert after == out.requires  # what the writer reports is what rpm reads
    # the scriptlet's Requires(post) and the rpmlib() requirements survive
    post = rpm("-qp", "--nosignature", "--qf", "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]",
               out.path)
    assert "sed post" in post or "sed interp" in post or "sed" in post
    assert any(r.startswith("rpmlib(") for r in after)
    # everything else is the same header data
    fmt = ("%{NAME}|%{EPOCHNUM}|%{VERSION}|%{ARCH}|%{SUMMARY}|%{DESCRIPTION}|%{LICENSE}|"
           "%{BUILDTIME}|%{BUILDHOST}|%{SOURCERPM}|%{PAYLOADCOMPRESSOR}|[%{OBSOLETES} ]|"
           "%{POSTIN}")
    assert rpm("-qp", "--nosignature", "--qf", fmt, out.path) == rpm(
        "-qp", "--nosignature", "--qf", fmt, src)
    assert rpm("-qp", "--nosignature", "--qf", "%{RELEASE}", out.path) == "14.1"
    assert rpm("-qp", "--nosignature", "--provides", out.path).splitlines() == [
        "xcp-ng-deps = 8.3-14.1"]
    info = rpm("-qpi", "--nosignature", out.path)
    assert "Release     : 14.1" in info and "Signature   : (none)" in info
    # the payload is untouched
    old, new = read_layout(src), read_layout(out.path)
    assert (src.read_bytes()[old.payload_offset:] == out.path.read_bytes()[new.payload_offset:])
    # and createrepo_c reads it
    r = read_rpm(out.path)
    assert r.release == "14.1" and "intel-igc" in [str(d) for d in r.requires]
    # the lead names the new NVR
    assert out.path.read_bytes()[10:30].rstrip(b"\0") == b"xcp-ng-deps-8.3-14.1"


def test_epoch_self_provide_and_files(built: dict[str, Path], tmp_path: Path) -> None:
    out = rebuild_package(built["tool"], tmp_path, release="3.el7.1", drop=["libc"],
                          require=[parse_dep("libc >= 2.28")])
    digests_ok(out.path)
    assert "tool = 2:2.0-3.el7.1" in rpm("-qp", "--nosignature", "--provides", out.path)
    assert "libc >= 2.28" in requires(out.path)
    assert rpm("-qlp", "--nosignature", out.path).split() == ["/usr/bin/tool"]
    # the payload still extracts and matches the file digests (rpm -K checked the payload)
    listing = subprocess.run(["bsdtar", "-tvf", str(out.path)], capture_output=True,
                             text=True, check=True).stdout
    assert "usr/bin/tool" in listing


def test_signed_input_loses_its_signature(built: dict[str, Path], tmp_path: Path) -> None:
    gpg, rpmsign = shutil.which("gpg"), shutil.which("rpmsign")
    if not gpg or not rpmsign:
        pytest.skip("gpg or rpmsign missing")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(home))
    subprocess.run([gpg, "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
                    "--quick-gen-key", "rw test <rw@test.invalid>", "rsa2048", "sign", "never"],
                   check=True, capture_output=True, env=env)
    signed = tmp_path / built["meta"].name
    shutil.copy(built["meta"], signed)
    try:
        subprocess.run([rpmsign, "--define", "_gpg_name rw@test.invalid", "--define",
                        f"__gpg {gpg}", "--addsign", str(signed)], check=True,
                       capture_output=True, env=env, stdin=subprocess.DEVNULL)
    finally:
        gpgconf = shutil.which("gpgconf")
        if gpgconf:  # stop the gpg-agent this test started
            subprocess.run([gpgconf, "--kill", "gpg-agent"], capture_output=True, env=env)
    assert "RSA" in rpm("-qpi", "--nosignature", signed)
    out = rebuild_package(signed, tmp_path / "out", release="14.1",
                          require=[parse_dep("intel-igc")])
    digests_ok(out.path)
    assert "Signature   : (none)" in rpm("-qpi", "--nosignature", out.path)
    assert "RSA" not in rpm("-Kv", "--nosignature", out.path)
    sig_tags = [t for t, *_ in read_layout(out.path).sig.entries]
    assert 268 not in sig_tags and 267 not in sig_tags and 1002 not in sig_tags


def test_bad_edits_and_inputs(built: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="deps.drop: it does not require 'nothere'"):
        rebuild_package(built["meta"], tmp_path, release="14.1", drop=["nothere"])
    with pytest.raises(InputError, match="not a valid release"):
        rebuild_package(built["meta"], tmp_path, release="14-1")
    junk = tmp_path / "junk.rpm"
    junk.write_bytes(b"\xed\xab\xee\xdb" + b"\0" * 50)
    with pytest.raises(InputError, match="junk.rpm: not a valid RPM"):
        rebuild_package(junk, tmp_path, release="1")
    assert not list(tmp_path.glob("xcp-ng-deps*"))  # nothing written on error
