""".treeinfo and the repository signature: what the installer checks before it trusts
the ISO's repository."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from xcptui.engine.errors import XcptuiError
from xcptui.engine.layout import REPOMD, REPOMD_ASC, TREEINFO
from xcptui.engine.tools import which
from xcptui.engine.verify import repository
from xcptui.engine.verify.registry import Ctx, check
from xcptui.engine.verify.report import Outcome, failed, passed, skipped

_GPG_TIMEOUT = 60


@check("treeinfo", ".treeinfo and signing", cheap=True)
def check_treeinfo(ctx: Ctx) -> Outcome:
    src = ctx.src
    has_repo = src.exists(REPOMD)
    if not src.exists(TREEINFO):
        if has_repo:
            return failed(f"{TREEINFO} is missing: the installer does not recognise the ISO as "
                          "its main repository")
        return skipped("no .treeinfo and no repository (netinstall ISO)")
    from xcptui.engine.repo import treeinfo

    try:
        ti = treeinfo.TreeInfo.from_bytes(src.read(TREEINFO))
    except XcptuiError as e:
        return failed(str(e))
    problems = list(ti.problems())
    keys = ti.keys
    for k in keys:
        if not src.exists("/" + k.lstrip("/")):
            problems.append(f".treeinfo [keys] lists {k}, which is not at the ISO root: the "
                            "installer fails on it")
    asc = src.exists(REPOMD_ASC)
    if keys and not asc and has_repo:
        problems.append(f".treeinfo lists a key but {REPOMD_ASC} is missing: installs fail "
                        "with 'No signature on repository metadata'")
    name, version = ti.product
    if problems:
        return failed(problems)
    if keys:
        state_txt = f"signed: [keys] {', '.join(keys)} present, repomd.xml.asc present"
    elif asc:
        state_txt = "unsigned ([keys] empty; the leftover repomd.xml.asc is ignored)"
    else:
        state_txt = "unsigned ([keys] empty: the installer checks no signatures)"
    return passed(f"{name or '?'} {version or '?'}; {state_txt}")


def _sig_creation_time(data: bytes) -> int | None:
    """Creation time of the first OpenPGP signature packet (v3 or v4 subpacket 2)."""
    from xcptui.engine.repo import signing

    try:
        raw = signing._dearmor(data, "repomd.xml.asc") if data.lstrip().startswith(b"-----") \
            else data
    except XcptuiError:
        return None
    if len(raw) < 3 or not raw[0] & 0x80:
        return None
    b = raw[0]
    if b & 0x40:
        l0 = raw[1]
        hdr = 2 if l0 < 192 else 3 if l0 < 224 else 6
    else:
        hdr = 1 + {0: 1, 1: 2, 2: 4}.get(b & 3, 0)
    body = raw[hdr:]
    if not body:
        return None
    if body[0] == 3 and len(body) >= 7:
        return int(struct.unpack_from(">I", body, 3)[0])
    if body[0] in (4, 5) and len(body) >= 6:
        hlen = struct.unpack_from(">H", body, 4)[0]
        sub = body[6:6 + hlen]
        i = 0
        while i < len(sub):
            ln = sub[i]
            if ln < 192:
                n, i = ln, i + 1
            elif ln < 255:
                n, i = ((ln - 192) << 8) + sub[i + 1] + 192, i + 2
            else:
                n, i = struct.unpack_from(">I", sub, i + 1)[0], i + 5
            if n and sub[i] & 0x7F == 2 and n >= 5:
                return int(struct.unpack_from(">I", sub, i + 1)[0])
            i += n
    return None


@check("signature", "repomd.xml signature", cheap=True)
def check_signature(ctx: Ctx) -> Outcome:
    src = ctx.src
    if not src.exists(REPOMD_ASC):
        return skipped("repomd.xml is not signed")
    if not src.exists(REPOMD):
        return failed(f"{REPOMD_ASC} exists but {REPOMD} does not")
    from xcptui.engine.repo import treeinfo

    keys: list[str] = []
    if src.exists(TREEINFO):
        try:
            keys = treeinfo.TreeInfo.from_bytes(src.read(TREEINFO)).keys
        except XcptuiError:
            keys = []
    if not keys:
        return skipped(".treeinfo lists no key: the installer ignores repomd.xml.asc")
    keyfile = "/" + keys[0].lstrip("/")
    if not src.exists(keyfile):
        return failed(f"key file {keyfile} named in .treeinfo is "
                      "missing")
    asc, repomd, key = src.read(REPOMD_ASC), src.read(REPOMD), src.read(keyfile)
    gpg = which("gpg")
    if gpg is not None:
        return _gpg_verify(ctx, gpg, asc, repomd, key, keyfile)
    # No gpg: the signature cannot be checked cryptographically. A signature made
    # before repomd.xml was (re)generated is certainly stale.
    created = _sig_creation_time(asc)
    state = repository.repo_state(ctx)
    stamps = [r.timestamp for r in state.records if r.timestamp] + (
        [int(state.revision)] if state.revision.isdigit() else [])
    if created is None or not stamps:
        return skipped("gpg is not installed and the signature/repomd timestamps are unreadable "
                       "(install gnupg to check it)")
    newest = max(stamps)
    if created + 2 < newest:
        return failed(f"{REPOMD_ASC} was made {newest - created} s before repomd.xml's newest "
                      "timestamp: it signs an older repomd.xml (stale signature)")
    return passed("signature is not older than repomd.xml (weak check: gpg is not installed, "
                  "install gnupg to verify it cryptographically)")


def _gpg_verify(ctx: Ctx, gpg: str, asc: bytes, repomd: bytes, key: bytes,
                keyfile: str) -> Outcome:
    home = Path(tempfile.mkdtemp(prefix="xcptui-gpg-"))
    try:
        os.chmod(home, 0o700)
        (home / "key").write_bytes(key)
        (home / "repomd.xml").write_bytes(repomd)
        (home / "repomd.xml.asc").write_bytes(asc)
        env = dict(os.environ, GNUPGHOME=str(home), LC_ALL="C")
        base = [gpg, "--batch", "--no-tty", "--no-autostart", "--homedir", str(home)]
        imp = subprocess.run([*base, "--import", str(home / "key")], env=env,
                             capture_output=True, stdin=subprocess.DEVNULL,
                             timeout=_GPG_TIMEOUT, check=False)
        if imp.returncode != 0:
            return failed(f"{keyfile}: gpg cannot import it as a public key "
                          f"({_last_line(imp.stderr)})")
        ver = subprocess.run([*base, "--status-fd", "1", "--verify",
                              str(home / "repomd.xml.asc"), str(home / "repomd.xml")],
                             env=env, capture_output=True, stdin=subprocess.DEVNULL,
                             timeout=_GPG_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return skipped(f"gpg did not answer in {_GPG_TIMEOUT} s")
    except OSError as e:
        return skipped(f"gpg cannot run: {e.strerror or e}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    status = ver.stdout.decode("utf-8", "replace")
    if ver.returncode == 0 and "[GNUPG:] GOODSIG" in status:
        who = re.search(r"\[GNUPG:\] GOODSIG \S+ (.*)", status)
        return passed(f"gpg: good signature by {who.group(1) if who else 'the key'} from "
                      f"{keyfile}")
    if "[GNUPG:] BADSIG" in status:
        return failed(f"{REPOMD_ASC} does not match repomd.xml (stale signature: repodata was "
                      "regenerated after signing); installs fail with 'Repository signature "
                      "verification failure'")
    if "[GNUPG:] NO_PUBKEY" in status or "[GNUPG:] ERRSIG" in status:
        return failed(f"{REPOMD_ASC} was not made by the key in {keyfile}")
    return failed(f"gpg --verify failed: {_last_line(ver.stderr)}")


def _last_line(err: bytes) -> str:
    lines = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


