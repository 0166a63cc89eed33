"""Keep repository signing consistent when Packages/ or repodata/ change.

How the XCP-ng 8.3 installer checks signatures (docs/xcpng-iso-facts §5): only when
``.treeinfo`` lists a ``[keys]`` entry. Then it reads that key file from the ISO root and
sets ``repo_gpgcheck=1`` (repodata/repomd.xml.asc must verify) and ``gpgcheck=1`` (every
RPM must be signed by that key). A regenerated repomd.xml makes the old ``.asc`` stale, so
a changed repository is either

* ``mode = "unsigned"`` (the default): comment out the ``[keys]`` entries (what
  create-iso.sh does for unsigned builds; the installer then checks nothing) and remove
  ``repomd.xml.asc``; or
* ``mode = "gpg"`` with ``key = "KEYID"``: sign repomd.xml with the user's key
  (detached, armored, SHA-256 or stronger, checked after signing like create-iso.sh
  does), export the public key to the ISO root under the name ``[keys] key1`` gives and
  list it there. RPM signature checks still apply, so XCP-ng-signed RPMs and rebuilt or
  unsigned ones fail unless the installer is told ``no-gpgcheck`` (or ``gpgcheck="false"``
  in an answerfile): ``installer_gpgcheck`` (see :func:`installer_gpgcheck_off`).

The 8.x installer's userland is CentOS 7 (gnupg2 2.0.22): GnuPG before 2.1 has no ECC, so
a repository signed with an ed25519/ECDSA key fails late, after the disk is partitioned.
:func:`check_key` refuses such keys for 8.x targets before anything is signed.
"""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from xcptui.engine.errors import InputError, RecipeError, XcptuiError
from xcptui.engine.iso.read import IsoReader
from xcptui.engine.layout import REPOMD_ASC, TREEINFO
from xcptui.engine.repo.treeinfo import TreeInfo
from xcptui.engine.tools import require

DEFAULT_KEY_FILE = "RPM-GPG-KEY-xcpng"
KEY_FILE_PREFIX = "RPM-GPG-KEY"
STRONG_DIGESTS = {8: "SHA256", 9: "SHA384", 10: "SHA512", 11: "SHA224"}
DIGEST_NAMES = {1: "MD5", 2: "SHA1", 3: "RIPEMD160", **STRONG_DIGESTS}


@dataclass
class SigningState:
    """What signing the source ISO has."""

    treeinfo: bool  # the ISO has a .treeinfo
    keys: list[str]  # active [keys] entries (key files the installer opens)
    key_files: list[str]  # RPM-GPG-KEY* files at the ISO root
    repomd_asc: bool  # repodata/repomd.xml.asc exists
    product_version: str | None = None

    @property
    def signed(self) -> bool:
        """The installer would check signatures (it lists a key)."""
        return bool(self.keys)

    def describe(self) -> str:
        if self.keys and self.repomd_asc:
            return (f"signed: .treeinfo [keys] lists {', '.join(self.keys)}; the installer "
                    "checks repodata/repomd.xml.asc and every RPM signature")
        if self.keys:
            return (f".treeinfo [keys] lists {', '.join(self.keys)} but repomd.xml.asc is "
                    "missing: installs fail with 'No signature on repository metadata'")
        if self.repomd_asc:
            return ("repomd.xml.asc present but .treeinfo lists no key: the installer "
                    "checks nothing")
        return "unsigned: .treeinfo lists no key, the installer checks no signatures"

    def to_dict(self) -> dict[str, object]:
        return {"signed": self.signed, "keys": self.keys, "key_files": self.key_files,
                "repomd_asc": self.repomd_asc, "description": self.describe()}


@dataclass(frozen=True)
class SigningOutcome:
    """What the OUTPUT repository's signing will be (what its installer will check)."""

    signed: bool  # the output's .treeinfo lists a key: the installer checks signatures
    source_signed: bool
    text: str

    @property
    def lost(self) -> bool:
        """The source was signed and the output will not be."""
        return self.source_signed and not self.signed


def outcome(state: SigningState, *, changes_repo: bool, mode: str | None,
            key: str | None = None, installer_gpgcheck: str | None = None) -> SigningOutcome:
    """The output's signing when the build changes the repository or not (as :func:`plan`
    will make it, without signing anything)."""
    if not changes_repo:
        return SigningOutcome(state.signed, state.signed,
                              f"repository unchanged, output as the source: {state.describe()}")
    if (mode or "unsigned") == "gpg":
        off = installer_gpgcheck_off(mode, installer_gpgcheck, True)
        rpms = (f"; RPM signatures NOT checked (installer gpgcheck off: {off})" if off else
                "; every RPM must be signed by that key (installer_gpgcheck = \"keep\")")
        return SigningOutcome(True, state.signed, f"output signed with gpg key {key}: new "
                              f"repomd.xml.asc, .treeinfo [keys] lists the key{rpms}")
    hint = (' (add [signing] mode = "gpg" to sign it)' if mode is None
            else ' ([signing] mode = "unsigned")')
    if state.signed:
        return SigningOutcome(False, True,
                              "source signed; output will be UNSIGNED: .treeinfo [keys] "
                              f"commented out, repomd.xml.asc removed{hint}")
    stale = ", the stale repomd.xml.asc removed" if state.repomd_asc else ""
    return SigningOutcome(False, False, f"output unsigned like the source{stale}: the "
                          "installer checks no signatures")


def detect(iso: IsoReader) -> SigningState:
    ti = read_treeinfo(iso)
    files = []
    for e in iso.listdir("/"):
        name = getattr(e, "name", "")
        if name.startswith(KEY_FILE_PREFIX) and not getattr(e, "is_dir", False):
            files.append(name)
    return SigningState(
        treeinfo=ti is not None, keys=ti.keys if ti else [], key_files=sorted(files),
        repomd_asc=iso.exists(REPOMD_ASC),
        product_version=ti.product_version if ti else None,
    )


def read_treeinfo(iso: IsoReader, text: bytes | None = None) -> TreeInfo | None:
    if text is not None:
        return TreeInfo.from_bytes(text)
    if not iso.exists(TREEINFO):
        return None
    return TreeInfo.from_bytes(iso.read(TREEINFO))


# --- gpg ----------------------------------------------------------------------------------


def _gpg() -> str:
    return require("gpg", 'sign repomd.xml ([signing] mode = "gpg")')


def _run_gpg(args: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
    gpg = _gpg()
    try:
        return subprocess.run([gpg, "--batch", "--no-tty", *args], capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=120)
    except subprocess.TimeoutExpired:
        raise XcptuiError(f"gpg: timed out while trying to {what} (waiting for a "
                          "passphrase? unlock the key in gpg-agent first)") from None
    except OSError as e:
        raise XcptuiError(f"gpg: cannot run it to {what}: {e.strerror or e}") from None


def _last_line(err: bytes) -> str:
    lines = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def check_key(key: str, product_version: str | None = None) -> str:
    """Fail early (one line) when gpg is missing, has no secret key ``key``, or the key
    (or the subkey gpg would sign with) is not RSA while the target is XCP-ng 8.x.

    ``product_version`` is the ISO's (.treeinfo); None counts as 8.x. Returns the key's
    fingerprint.
    """
    if not key or key.startswith("-") or any(c.isspace() for c in key.strip()):
        raise InputError(f"signing.key: {key!r} is not a gpg key id, fingerprint or e-mail")
    p = _run_gpg(["--with-colons", "--list-secret-keys", "--", key], "look up the key")
    if p.returncode != 0:
        raise InputError(f"signing.key {key}: no such secret key in the gpg keyring "
                         f"(gpg --list-secret-keys {key}: {_last_line(p.stderr)})")
    fprs = [ln.split(":")[9] for ln in p.stdout.decode("utf-8", "replace").splitlines()
            if ln.startswith("fpr:")]
    sec = [ln for ln in p.stdout.decode("utf-8", "replace").splitlines()
           if ln.startswith("sec:")]
    if len(sec) > 1:
        raise InputError(f"signing.key {key}: matches {len(sec)} secret keys; give the "
                         "fingerprint")
    fpr = fprs[0] if fprs else key
    if _is_8x(product_version):
        check_key_algo(key, fpr)
    return fpr


def _is_8x(version: str | None) -> bool:
    """XCP-ng 8.x (CentOS 7 userland); "8.99" is XCP-ng 9 development (Alma 10)."""
    if not version:
        return True
    try:
        major, _, minor = version.partition(".")
        return int(major) < 8 or (int(major) == 8 and int(minor.split(".")[0] or 0) < 99)
    except ValueError:
        return True


#: RFC 4880 / RFC 6637 public key algorithm ids as gpg --with-colons field 4 gives them
KEY_ALGOS = {1: "RSA", 2: "RSA", 3: "RSA", 16: "Elgamal", 17: "DSA", 18: "ECDH",
             19: "ECDSA", 22: "EdDSA"}
RSA_ALGOS = {1, 2, 3}


def _algo_name(fields: list[str]) -> str:
    try:
        algo = int(fields[3])
    except (IndexError, ValueError):
        return "of an unknown algorithm"
    curve = fields[16] if len(fields) > 16 else ""
    if algo in (18, 19, 22) and curve:
        return curve  # "ed25519", "nistp256": what users typed to make the key
    return KEY_ALGOS.get(algo, f"algorithm {algo}")


def signing_keys(colons: str) -> list[list[str]]:
    """The key records (pub/sub) gpg may sign with, from ``--with-colons --list-keys``.

    gpg picks a valid signing-capable subkey when there is one, else the primary; since
    which subkey wins depends on dates, every valid signing-capable one is returned.
    """
    recs = [ln.split(":") for ln in colons.splitlines() if ln.startswith(("pub:", "sub:"))]
    usable = [r for r in recs if len(r) > 11 and "s" in r[11] and r[1] not in ("r", "e")]
    subs = [r for r in usable if r[0] == "sub"]
    return subs or [r for r in usable if r[0] == "pub"] or recs[:1]


def check_key_algo(key: str, fpr: str | None = None) -> None:
    """RecipeError unless every key gpg may sign with for ``key`` is RSA (8.x installer)."""
    p = _run_gpg(["--with-colons", "--list-keys", "--", fpr or key], "look up the key")
    if p.returncode != 0:
        raise InputError(f"signing.key {key}: no public key in the gpg keyring "
                         f"(gpg --list-keys {key}: {_last_line(p.stderr)})")
    for rec in signing_keys(p.stdout.decode("utf-8", "replace")):
        try:
            algo = int(rec[3])
        except (IndexError, ValueError):
            algo = 0
        if algo not in RSA_ALGOS:
            which = "" if rec[0] == "pub" else f" (signing subkey {rec[4][-8:]})"
            raise RecipeError(
                f"signing key {key}{which} is {_algo_name(rec)}: the XCP-ng 8.x installer "
                "(gnupg 2.0) cannot check it; use an RSA key, e.g. gpg --quick-gen-key NAME "
                "rsa3072")


def sign_detached(path: Path, key: str, out: Path) -> Path:
    """``gpg --armor --detach-sign`` with SHA-256, then check the signature's digest."""
    out.unlink(missing_ok=True)
    p = _run_gpg(["--yes", "--armor", "--detach-sign", "--digest-algo", "SHA256",
                  "--local-user", key, "--output", str(out), "--", str(path)],
                 f"sign {path.name}")
    if p.returncode != 0 or not out.is_file():
        raise XcptuiError(f"{path.name}: gpg could not sign it with key {key}: "
                          f"{_last_line(p.stderr)}")
    algo = signature_digest_algo(out.read_bytes(), out.name)
    if algo not in STRONG_DIGESTS:
        out.unlink(missing_ok=True)
        raise XcptuiError(f"{out.name}: signed with digest {DIGEST_NAMES.get(algo, algo)}; "
                          "the installer needs SHA-256 or stronger (use a newer key)")
    return out


#: leave out non-RSA subkeys (gpg adds an ECDH encryption subkey by default): the 8.x
#: installer's gnupg 2.0 and rpm 4.11 only need the signing key and cannot parse ECC
RSA_ONLY_FILTER = "drop-subkey=key_algo > 3"


def export_public_key(key: str, out: Path, *, rsa_only: bool = False) -> Path:
    """``gpg --export --armor`` (ASCII-armored, as the installer reads the key file)."""
    base = ["--armor", "--export"]
    p = _run_gpg([*base, *(["--export-filter", RSA_ONLY_FILTER] if rsa_only else []),
                  "--", key], "export the public key")
    if rsa_only and p.returncode != 0:  # a gpg without key_algo in export filters
        p = _run_gpg([*base, "--", key], "export the public key")
    if p.returncode != 0 or b"BEGIN PGP PUBLIC KEY BLOCK" not in p.stdout:
        raise XcptuiError(f"signing.key {key}: gpg could not export the public key: "
                          f"{_last_line(p.stderr)}")
    out.write_bytes(p.stdout)
    return out


def _dearmor(data: bytes, label: str) -> bytes:
    text = data.decode("ascii", "replace").splitlines()
    try:
        start = next(i for i, ln in enumerate(text) if ln.startswith("-----BEGIN PGP"))
        end = next(i for i, ln in enumerate(text) if ln.startswith("-----END PGP"))
    except StopIteration:
        raise InputError(f"{label}: not an armored OpenPGP block") from None
    body = text[start + 1:end]
    while body and ":" in body[0]:  # armor headers
        body = body[1:]
    b64 = "".join(ln.strip() for ln in body if ln.strip() and not ln.startswith("="))
    try:
        return base64.b64decode(b64, validate=True)
    except ValueError:
        raise InputError(f"{label}: bad base64 in the armored block") from None


def _packets(raw: bytes, label: str) -> list[tuple[int, bytes]]:
    """(tag, body) of each OpenPGP packet (RFC 4880 4.2; no partial lengths in keys)."""
    out, pos = [], 0
    while pos < len(raw):
        b = raw[pos]
        if not b & 0x80:
            raise InputError(f"{label}: not an OpenPGP packet at byte {pos}")
        if b & 0x40:
            tag, l0 = b & 0x3F, raw[pos + 1] if pos + 1 < len(raw) else 0
            if l0 < 192:
                hdr, n = 2, l0
            elif l0 < 224:
                hdr, n = 3, ((l0 - 192) << 8) + raw[pos + 2] + 192
            elif l0 == 255:
                hdr, n = 6, int.from_bytes(raw[pos + 2:pos + 6], "big")
            else:
                raise InputError(f"{label}: partial-length packet")
        else:
            tag, lt = (b >> 2) & 0x0F, b & 3
            size = {0: 1, 1: 2, 2: 4}.get(lt)
            if size is None:
                raise InputError(f"{label}: indeterminate-length packet")
            hdr, n = 1 + size, int.from_bytes(raw[pos + 1:pos + 1 + size], "big")
        out.append((tag, raw[pos + hdr:pos + hdr + n]))
        pos += hdr + n
    return out


def key_algos(data: bytes, label: str = "key") -> list[int]:
    """The public key algorithm of the primary key and each subkey in a key block."""
    raw = _dearmor(data, label) if data.lstrip().startswith(b"-----") else data
    algos = []
    for tag, body in _packets(raw, label):
        if tag in (6, 14) and len(body) > 7:  # public key, public subkey
            algos.append(body[7] if body[0] in (2, 3) else body[5])
    return algos


def signature_digest_algo(data: bytes, label: str = "signature") -> int:
    """The hash algorithm id (RFC 4880 9.4) of the first signature packet."""
    raw = _dearmor(data, label) if data.lstrip().startswith(b"-----") else data
    if not raw or not raw[0] & 0x80:
        raise InputError(f"{label}: not an OpenPGP packet")
    b = raw[0]
    if b & 0x40:  # new format
        tag = b & 0x3F
        l0 = raw[1]
        if l0 < 192:
            hdr = 2
        elif l0 < 224:
            hdr = 3
        elif l0 == 255:
            hdr = 6
        else:
            raise InputError(f"{label}: partial-length signature packet")
    else:
        tag = (b >> 2) & 0x0F
        hdr = 1 + {0: 1, 1: 2, 2: 4}.get(b & 3, 0)
    if tag != 2:
        raise InputError(f"{label}: first packet is not a signature (tag {tag})")
    body = raw[hdr:]
    if not body:
        raise InputError(f"{label}: empty signature packet")
    if body[0] == 3:
        return body[16]
    if body[0] in (4, 5, 6):
        return body[3]
    raise InputError(f"{label}: unknown signature version {body[0]}")


# --- planning -----------------------------------------------------------------------------


@dataclass
class SigningPlan:
    iso_changes: dict[str, Path | None] = field(default_factory=dict)
    treeinfo: bytes | None = None
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


NO_GPGCHECK_HINT = (
    "RPM signatures are still checked against that key: XCP-ng-signed RPMs and rebuilt or "
    "unsigned RPMs (such as the rebuilt xcp-ng-deps) fail that check unless the installer "
    "is told no-gpgcheck (boot parameter, 8.3) or, with an answerfile, gpgcheck=\"false\" "
    "on <installation> or <source>"
)


def installer_gpgcheck_off(mode: str | None, setting: str | None,
                           touches_repo: bool) -> str | None:
    """Why the installer's RPM signature check (gpgcheck) must be off, or None to keep it.

    ``setting`` is [signing] installer_gpgcheck: "keep", "off", or None (auto). Auto turns
    it off when the repository changes and stays signed (mode "gpg"): the installer
    checks every RPM against the one key .treeinfo names, the user's, which signs neither
    the XCP-ng RPMs nor a rebuilt xcp-ng-deps or RPMs added unsigned ("Missing key").
    With mode "unsigned" .treeinfo lists no key and nothing is checked.
    """
    if setting == "keep":
        return None
    if setting == "off":
        return '[signing] installer_gpgcheck = "off"'
    if mode == "gpg" and touches_repo:
        return ("the repository is re-signed with your key, which the RPMs (XCP-ng-signed, "
                "rebuilt or added unsigned) are not signed with")
    return None


def plan(state: SigningState, *, mode: str | None, key: str | None, repomd: Path,
         workdir: Path, treeinfo: bytes | None, iso: IsoReader | None = None,
         key_label: str | None = None) -> SigningPlan:
    """Make signing consistent with a regenerated ``repomd`` (host file).

    ``mode`` None means the recipe has no [signing]: behave as "unsigned" and say so.
    ``treeinfo`` is the .treeinfo content to edit (the source's, or one already edited).
    """
    out = SigningPlan()
    ti = TreeInfo.from_bytes(treeinfo) if treeinfo is not None else None
    effective = mode or "unsigned"
    if effective == "unsigned":
        if mode is None and (state.signed or state.repomd_asc):
            out.warnings.append(
                "the repository changed and the source ISO was signed; the recipe has no "
                "[signing], so the ISO is made unsigned (mode = \"unsigned\"); set [signing] "
                "mode = \"gpg\" and key = \"KEYID\" to sign it with your own key")
        if ti is not None and ti.keys:
            new = ti.comment_keys()
            out.treeinfo = new.to_bytes()
            out.changes.append(f".treeinfo: [keys] {', '.join(ti.keys)} commented out: the "
                               "installer will check no signatures (neither repomd.xml nor "
                               "the RPMs)")
        if state.repomd_asc:
            out.iso_changes[REPOMD_ASC] = None
            out.changes.append("remove /repodata/repomd.xml.asc (it signed the old "
                               "repomd.xml)")
        if state.product_version and state.product_version.startswith("8.2"):
            out.warnings.append(
                "XCP-ng 8.2: answerfile installs still check signatures with the key inside "
                "install.img unless <installation netinstall-gpg-check=\"false\">")
        return out
    if effective != "gpg":
        raise InputError(f"signing.mode: {mode!r} is not \"unsigned\" or \"gpg\"")
    if not key:
        raise InputError('signing.key: mode = "gpg" needs key = "KEYID"')
    if ti is None:
        raise InputError("signing: the ISO has no .treeinfo, so the installer cannot be "
                         "told which key to use")
    keyfile = ti.keys[0] if ti.keys else DEFAULT_KEY_FILE
    old_installer = _is_8x(state.product_version)
    if old_installer:
        check_key_algo(key_label or key, key)  # before anything is signed
    workdir.mkdir(parents=True, exist_ok=True)
    asc = sign_detached(repomd, key, workdir / "repomd.xml.asc")
    pub = export_public_key(key, workdir / os.path.basename(keyfile), rsa_only=old_installer)
    left = sorted({KEY_ALGOS.get(a, str(a)) for a in key_algos(pub.read_bytes(), keyfile)
                   if a not in RSA_ALGOS})
    if old_installer and left:
        out.warnings.append(f"/{keyfile}: the exported key still has {', '.join(left)} "
                            "subkeys (this gpg cannot filter them out); the XCP-ng 8.x "
                            "installer may fail to import it")
    out.iso_changes[REPOMD_ASC] = asc
    out.iso_changes["/" + keyfile] = pub
    new = ti.set_key(keyfile)
    if new.text != ti.text:
        out.treeinfo = new.to_bytes()
    who = f"{key_label} ({key})" if key_label and key_label != key else key
    out.changes.append(f"sign /repodata/repomd.xml with gpg key {who} (detached, armored, "
                       "SHA-256)")
    verb = "replace" if iso is not None and iso.exists("/" + keyfile) else "add"
    out.changes.append(f"{verb} /{keyfile}: the public key of {key_label or key}, named in "
                       ".treeinfo [keys] key1")
    out.warnings.append(NO_GPGCHECK_HINT)
    return out
