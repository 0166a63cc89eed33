"""Independent checkers used by the tests (never the engine under test)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path


def run(*cmd: str | Path, stdin: bytes | None = None) -> str:
    p = subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True, check=True)
    return p.stdout.decode("utf-8", "replace")


def bsdtar_files(iso: Path) -> dict[str, str]:
    """path -> sha256 of every regular file, as read by libarchive's ISO reader."""
    import tempfile

    with tempfile.TemporaryDirectory() as td:
        subprocess.run(["bsdtar", "-xf", str(iso), "-C", td], check=True, capture_output=True)
        out = {}
        for p in sorted(Path(td).rglob("*")):
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(td))] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out


def iso_member(iso: Path, member: str) -> bytes:
    p = subprocess.run(["bsdtar", "-xOf", str(iso), member], capture_output=True, check=True)
    return p.stdout


def cpio_listing(img: bytes) -> list[str]:
    """`bsdtar -tvf` lines of a (compressed) cpio archive."""
    p = subprocess.run(["bsdtar", "-tvf", "-"], input=img, capture_output=True, check=True)
    return p.stdout.decode().splitlines()


def eltorito(iso: Path) -> str:
    p = subprocess.run(["xorriso", "-indev", str(iso), "-report_el_torito", "plain"],
                       capture_output=True, check=True)
    return p.stdout.decode() + p.stderr.decode()


def sfdisk_json(iso: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(run("sfdisk", "--json", iso))  # type: ignore[no-any-return]
