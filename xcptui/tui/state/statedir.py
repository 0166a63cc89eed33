"""Where the TUI keeps its own files: recent ISOs, autosaved recipes, edited copies.

Everything lives under ``$XDG_STATE_HOME/xcptui`` (default ``~/.local/state/xcptui``),
created 0700 with files 0600: it says which ISOs this user opened and what they changed.
Files not owned by this user (or writable by others) are ignored, so another account
cannot plant entries in Recent or autosaves. Autosaves are keyed by the ISO's content
fingerprint, not its path: the same path holding another ISO offers nothing.
Nothing here is needed to rebuild an ISO: a saved recipe is self-contained.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import time
from pathlib import Path

from xcptui.engine import XcptuiError
from xcptui.engine import recipe as recipe_mod

RECENT_MAX = 10


MIB = 1 << 20
DIR_MODE = 0o700
FILE_MODE = 0o600


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "xcptui"


def private_dir(d: Path) -> Path:
    """``d`` created 0700 (parents up to the state dir too); an existing one is tightened."""
    root = state_dir()
    chain = [d, *(p for p in d.parents if p == root or root in p.parents)]
    for p in reversed(chain):
        p.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        st = p.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            p.chmod(DIR_MODE)
    return d


def _owned(path: Path) -> bool:
    """True when ``path`` is a regular file of this user that nobody else may write."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return (stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid()
            and not st.st_mode & 0o022)


def fingerprint(iso: Path) -> str:
    """The ISO's content key: size + sha256 of the first and last MiB (cheap, path-free)."""
    st = os.stat(iso)
    return _fingerprint(str(iso), st.st_size, st.st_mtime_ns, st.st_ino)


@functools.lru_cache(maxsize=16)
def _fingerprint(iso: str, size: int, mtime_ns: int, ino: int) -> str:
    # cached per (path, size, mtime, inode): autosave runs after every edit
    h = hashlib.sha256()
    with open(iso, "rb") as f:
        h.update(str(size).encode() + b"\0")
        h.update(f.read(MIB))
        if size > MIB:
            f.seek(max(MIB, size - MIB))
            h.update(f.read(MIB))
    return f"{size}-{h.hexdigest()[:32]}"


def iso_key(iso: Path) -> str:
    """A file-name-safe key for an ISO's content: the same bytes under any name match."""
    resolved = Path(iso).expanduser().resolve()
    try:
        return fingerprint(resolved)
    except OSError:  # unreadable: fall back to the path (nothing will match later)
        return "path-" + hashlib.sha256(str(resolved).encode()).hexdigest()[:32]


# -- recent ISOs -----------------------------------------------------------------


def recent_file() -> Path:
    return state_dir() / "recent.json"


def load_recent() -> list[Path]:
    """Recently opened ISOs, most recent first; missing files are dropped."""
    if not _owned(recent_file()):
        return []
    try:
        data = json.loads(recent_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out: list[Path] = []
    if not isinstance(data, list):
        return []
    for item in data:
        path = item.get("path") if isinstance(item, dict) else None
        if isinstance(path, str) and Path(path).is_file():
            out.append(Path(path))
    return out


def add_recent(iso: Path) -> None:
    iso = Path(iso).expanduser().resolve()
    items = [p for p in load_recent() if p != iso]
    items.insert(0, iso)
    data = [{"path": str(p), "opened": int(time.time()) if p == iso else None}
            for p in items[:RECENT_MAX]]
    _write_atomic(recent_file(), json.dumps(data, indent=1) + "\n")


# -- autosave ------------------------------------------------------------------------


def autosave_path(iso: Path) -> Path:
    return state_dir() / "autosave" / f"{iso_key(iso)}.toml"


def autosave(iso: Path, recipe: recipe_mod.Recipe) -> Path | None:
    """Save pending changes for ``iso``; an empty recipe removes the autosave."""
    path = autosave_path(iso)
    if recipe.is_empty():
        path.unlink(missing_ok=True)
        return None
    text = recipe_mod.dumps(recipe, private_dir(path.parent).resolve(),
                            {"source": str(Path(iso).resolve()),
                             "note": "autosaved by the xcptui wizard"})
    _write_atomic(path, text)
    return path


def load_autosave(iso: Path) -> recipe_mod.Recipe | None:
    """The autosaved recipe for ``iso``, or None (also when it no longer loads)."""
    path = autosave_path(iso)
    if not _owned(path):  # another user's (or a planted) file is never offered
        return None
    try:
        r = recipe_mod.load(path)
    except XcptuiError:
        return None
    r.path = None
    return None if r.is_empty() else r


def drop_autosave(iso: Path) -> None:
    autosave_path(iso).unlink(missing_ok=True)


# -- edited copies -------------------------------------------------------------------


def edits_dir(iso: Path) -> Path:
    """Where files edited in $EDITOR are kept (they become recipe sources)."""
    return private_dir(state_dir() / "edits" / iso_key(iso))


def edit_copy_path(iso: Path, area: str, inner_path: str) -> Path:
    """A host path for the edited copy of ``inner_path`` (area: 'iso' or 'installer')."""
    rel = inner_path.strip("/") or "root"
    return edits_dir(iso) / area / rel


def log_file() -> Path:
    return state_dir() / "tui.log"


def _write_atomic(path: Path, text: str) -> None:
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(path)
