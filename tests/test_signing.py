"""Signing: detection, unsigned mode (.treeinfo [keys] only), gpg mode checked with gpg --verify."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xcptui.engine.errors import InputError, RecipeError, ToolMissing
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.repo import signing

GPG = shutil.which("gpg")
pytestmark = pytest.mark.skipif(GPG is None, reason="gpg not installed")


def _gpg(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert GPG is not None
    return subprocess.run([GPG, "--batch", *args], capture_output=True, text=True, check=check,
                          env=dict(os.environ, GNUPGHOME=str(home)))


def _kill_agent(home: Path) -> None:
    gpgconf = shutil.which("gpgconf")
    if gpgconf:
        subprocess.run([gpgconf, "--kill", "gpg-agent"], capture_output=True,
                       env=dict(os.environ, GNUPGHOME=str(home)))


@pytest.fixture(scope="module")
def gnupg() -> Iterator[tuple[Path, str]]:
    """A throwaway keyring (short path: gpg-agent's socket name is length-limited)."""
    home = Path(tempfile.mkdtemp(prefix="xg", dir="/tmp"))
    os.chmod(home, 0o700)
    _gpg(home, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
         "xcptui test <sign@xcptui.invalid>", "rsa2048", "sign", "never")
    out = _gpg(home, "--with-colons", "--list-secret-keys").stdout
    fpr = next(ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:"))
    yield home, fpr
    _kill_agent(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def use_gnupg(gnupg: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GNUPGHOME", str(gnupg[0]))
    return gnupg[1]


def _changed_lines(a: bytes, b: bytes) -> list[str]:
    return [ln for ln in difflib.ndiff(a.decode().splitlines(), b.decode().splitlines())
            if ln[:1] in "+-"]


def test_detect(demo_iso: Path, iso_factory: Callable[..., Path]) -> None:
    with IsoSource.open(demo_iso) as iso:
        st = signing.detect(iso)
    assert st.signed and st.keys == ["RPM-GPG-KEY-xcpng"] and st.repomd_asc
    assert st.key_files == ["RPM-GPG-KEY-xcpng"] and "signed" in st.describe()
    with IsoSource.open(iso_factory(signed=False, rpm_payload="xz")) as iso:
        st = signing.detect(iso)
    assert not st.signed and not st.repomd_asc and st.keys == []
    assert st.describe().startswith("unsigned")


def test_unsigned_mode_comments_keys_and_drops_asc(demo_iso: Path, tmp_path: Path) -> None:
    with IsoSource.open(demo_iso) as iso:
        st = signing.detect(iso)
        ti = iso.read("/.treeinfo")
    for mode in (None, "unsigned"):
        p = signing.plan(st, mode=mode, key=None, repomd=tmp_path / "repomd.xml",
                         workdir=tmp_path, treeinfo=ti)
        assert p.iso_changes == {"/repodata/repomd.xml.asc": None}
        assert p.treeinfo is not None
        assert _changed_lines(ti, p.treeinfo) == ["- key1 = RPM-GPG-KEY-xcpng",
                                                  "+ #key1 = RPM-GPG-KEY-xcpng"]
        assert any("check no signatures" in c for c in p.changes)
        implicit = [w for w in p.warnings if "no [signing]" in w]
        assert bool(implicit) == (mode is None)


def test_unsigned_mode_on_unsigned_source_changes_nothing(
        iso_factory: Callable[..., Path], tmp_path: Path) -> None:
    with IsoSource.open(iso_factory(signed=False, rpm_payload="xz")) as iso:
        st = signing.detect(iso)
        ti = iso.read("/.treeinfo")
    p = signing.plan(st, mode=None, key=None, repomd=tmp_path / "r", workdir=tmp_path,
                     treeinfo=ti)
    assert p.iso_changes == {} and p.treeinfo is None and p.warnings == []


def test_gpg_mode_signs_and_verifies(demo_iso: Path, tmp_path: Path, use_gnupg: str,
                                     iso_factory: Callable[..., Path]) -> None:
    with IsoSource.open(demo_iso) as iso:
        st = signing.detect(iso)
        ti = iso.read("/.treeinfo")
        repomd = tmp_path / "repomd.xml"
        repomd.write_bytes(iso.read("/repodata/repomd.xml") + b"<!-- changed -->\n")
        fpr = signing.check_key(use_gnupg[-16:])
        assert fpr == use_gnupg
        p = signing.plan(st, mode="gpg", key=fpr, repomd=repomd, workdir=tmp_path / "w",
                         treeinfo=ti, iso=iso)
    asc = p.iso_changes["/repodata/repomd.xml.asc"]
    pub = p.iso_changes["/RPM-GPG-KEY-xcpng"]
    assert asc is not None and pub is not None
    assert asc.read_bytes().startswith(b"-----BEGIN PGP SIGNATURE-----")
    assert pub.read_bytes().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")  # armored
    # independent check: a fresh keyring that only knows the exported key file
    fresh = Path(tempfile.mkdtemp(prefix="xv", dir="/tmp"))
    os.chmod(fresh, 0o700)
    try:
        _gpg(fresh, "--import", str(pub))
        v = _gpg(fresh, "--verify", str(asc), str(repomd), check=False)
        assert v.returncode == 0, v.stderr
        assert "Good signature" in v.stderr
        pk = _gpg(fresh, "--list-packets", str(asc)).stdout
        assert "digest algo 8" in pk  # SHA256
        bad = tmp_path / "tampered.xml"
        bad.write_bytes(repomd.read_bytes() + b" ")
        assert _gpg(fresh, "--verify", str(asc), str(bad), check=False).returncode != 0
    finally:
        _kill_agent(fresh)
        shutil.rmtree(fresh, ignore_errors=True)
    assert p.treeinfo is None  # key1 already names RPM-GPG-KEY-xcpng
    assert any("no-gpgcheck" in w and 'gpgcheck="false"' in w for w in p.warnings)
    assert any("replace /RPM-GPG-KEY-xcpng" in c for c in p.changes)
    # an unsigned source: key1 is uncommented, nothing else changes
    with IsoSource.open(iso_factory(signed=False, rpm_payload="xz")) as iso:
        st2 = signing.detect(iso)
        ti2 = iso.read("/.treeinfo")
        p2 = signing.plan(st2, mode="gpg", key=fpr, repomd=repomd, workdir=tmp_path / "w2",
                          treeinfo=ti2, iso=iso)
    assert p2.treeinfo is not None
    assert _changed_lines(ti2, p2.treeinfo) == ["- #key1 = RPM-GPG-KEY-xcpng",
                                                "+ key1 = RPM-GPG-KEY-xcpng"]
    assert any("add /RPM-GPG-KEY-xcpng" in c for c in p2.changes)


def test_unknown_key_and_missing_gpg(use_gnupg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match=r"signing.key 0xDEADBEEF: no such secret key"):
        signing.check_key("0xDEADBEEF")
    with pytest.raises(InputError, match="is not a gpg key id"):
        signing.check_key("--armor")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissing, match="gpg not found: needed to sign repomd.xml"):
        signing.check_key(use_gnupg)


def test_digest_algo_parser(gnupg: tuple[Path, str], tmp_path: Path) -> None:
    home, _ = gnupg
    f = tmp_path / "data"
    f.write_bytes(b"hello")
    for algo, want in (("SHA1", 2), ("SHA256", 8), ("SHA512", 10)):
        for armor in (True, False):
            out = tmp_path / f"sig-{algo}-{armor}"
            _gpg(home, "--yes", "--digest-algo", algo, *(["--armor"] if armor else []),
                 "--detach-sign", "-o", str(out), str(f))
            assert signing.signature_digest_algo(out.read_bytes()) == want
    with pytest.raises(InputError):
        signing.signature_digest_algo(b"-----BEGIN PGP SIGNATURE-----\n\n!!!!\n-----END PGP")
    with pytest.raises(InputError):
        signing.signature_digest_algo(b"\x00\x01")


def test_gpg_mode_needs_treeinfo_and_key(tmp_path: Path) -> None:
    st = signing.SigningState(False, [], [], False)
    with pytest.raises(InputError, match="needs key"):
        signing.plan(st, mode="gpg", key=None, repomd=tmp_path, workdir=tmp_path,
                     treeinfo=b"")
    with pytest.raises(InputError, match="no .treeinfo"):
        signing.plan(st, mode="gpg", key="ABC", repomd=tmp_path, workdir=tmp_path,
                     treeinfo=None)


@pytest.fixture(scope="module")
def ecc_gnupg() -> Iterator[tuple[Path, str, str]]:
    """A keyring with an ed25519 key and an RSA primary whose signing subkey is ed25519."""
    home = Path(tempfile.mkdtemp(prefix="xe", dir="/tmp"))
    os.chmod(home, 0o700)
    nopass = ("--pinentry-mode", "loopback", "--passphrase", "")
    _gpg(home, *nopass, "--quick-gen-key", "ecc <ecc@xcptui.invalid>", "ed25519", "sign",
         "never")
    _gpg(home, *nopass, "--quick-gen-key", "mixed <mixed@xcptui.invalid>", "rsa2048", "cert",
         "never")
    out = _gpg(home, "--with-colons", "--list-secret-keys").stdout
    fprs = [ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:")]
    ecc, mixed = fprs[0], fprs[1]
    _gpg(home, *nopass, "--quick-add-key", mixed, "ed25519", "sign", "never")
    yield home, ecc, mixed
    _kill_agent(home)
    shutil.rmtree(home, ignore_errors=True)


def test_ecc_keys_refused_for_8x(ecc_gnupg: tuple[Path, str, str], use_gnupg: str,
                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home, ecc, mixed = ecc_gnupg
    # the RSA test key passes for 8.x (checked in its own keyring)
    assert signing.check_key(use_gnupg, "8.3.0") == use_gnupg
    monkeypatch.setenv("GNUPGHOME", str(home))
    short = ecc[-8:]
    with pytest.raises(RecipeError) as ei:
        signing.check_key(short, "8.3.0")
    msg = str(ei.value)
    assert msg == (f"signing key {short} is ed25519: the XCP-ng 8.x installer (gnupg 2.0) "
                   "cannot check it; use an RSA key, e.g. gpg --quick-gen-key NAME rsa3072")
    with pytest.raises(RecipeError, match=r"is ed25519"):
        signing.check_key(ecc)  # no .treeinfo version: assume 8.x
    # an RSA primary key signs with its ed25519 subkey: refused, naming the subkey
    with pytest.raises(RecipeError, match=r"\(signing subkey [0-9A-F]{8}\) is ed25519"):
        signing.check_key(mixed, "8.2.1")
    # XCP-ng 9 (8.99 development, Alma 10) has a modern gnupg
    assert signing.check_key(ecc, "8.99.0") == ecc
    assert signing.check_key(ecc, "9.0") == ecc
    # plan() checks too, before anything is signed
    st = signing.SigningState(True, ["RPM-GPG-KEY-xcpng"], [], True, "8.3.0")
    repomd = tmp_path / "repomd.xml"
    repomd.write_bytes(b"<repomd/>")
    with pytest.raises(RecipeError, match="is ed25519"):
        signing.plan(st, mode="gpg", key=ecc, repomd=repomd, workdir=tmp_path / "w",
                     treeinfo=b"[keys]\nkey1 = RPM-GPG-KEY-xcpng\n")
    assert not (tmp_path / "w" / "repomd.xml.asc").exists()


def test_signing_keys_colons_parser() -> None:
    colons = "\n".join([
        "pub:u:3072:1:AAAA1111AAAA1111:1:::u:::scSC::::::23::0:",
        "fpr:::::::::AAAA:",
        "sub:r:256:22:BBBB2222BBBB2222:1:::::s::::::ed25519:",  # revoked: not used
        "sub:u:256:18:CCCC3333CCCC3333:1:::::e::::::cv25519:",  # encryption only
    ])
    recs = signing.signing_keys(colons)
    assert [r[4] for r in recs] == ["AAAA1111AAAA1111"]


def test_exported_key_drops_ecc_subkeys(demo_iso: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An RSA signing key with a cv25519 encryption subkey (gpg's default layout): the key
    file on an 8.x ISO holds only the RSA keys, as gnupg 2.0 / rpm 4.11 can read them."""
    home = Path(tempfile.mkdtemp(prefix="xs", dir="/tmp"))
    os.chmod(home, 0o700)
    nopass = ("--pinentry-mode", "loopback", "--passphrase", "")
    try:
        _gpg(home, *nopass, "--quick-gen-key", "sub <sub@xcptui.invalid>", "rsa2048", "sign",
             "never")
        out = _gpg(home, "--with-colons", "--list-secret-keys").stdout
        fpr = next(ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:"))
        _gpg(home, *nopass, "--quick-add-key", fpr, "cv25519", "encr", "never")
        monkeypatch.setenv("GNUPGHOME", str(home))
        full = tmp_path / "full.asc"
        signing.export_public_key(fpr, full)
        assert 18 in signing.key_algos(full.read_bytes())  # our reader sees the ECDH subkey
        with IsoSource.open(demo_iso) as iso:
            st = signing.detect(iso)
            ti = iso.read("/.treeinfo")
        repomd = tmp_path / "repomd.xml"
        repomd.write_bytes(b"<repomd/>\n")
        p = signing.plan(st, mode="gpg", key=fpr, repomd=repomd, workdir=tmp_path / "w",
                         treeinfo=ti)
        pub = p.iso_changes["/RPM-GPG-KEY-xcpng"]
        assert pub is not None
        assert pub.read_bytes().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
        packets = _gpg(home, "--list-packets", str(pub)).stdout
        assert "algo 18" not in packets and ":public key packet:" in packets
        assert signing.key_algos(pub.read_bytes()) == [1]
        assert not any("still has" in w for w in p.warnings)
    finally:
        _kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)
