"""Where the TUI keeps its own files: recent ISOs, autosaved recipes, edited copies.

Everything lives under ``$XDG_STATE_HOME/xcptui`` (default ``~/.local/state/xcptui``).
Nothing here is needed to rebuild an ISO: a saved recipe is self-contained.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from xcptui.engine import XcptuiError
from xcptui.engine import recipe as recipe_mod

RECENT_MAX = 10


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "xcptui"


def iso_key(iso: Path) -> str:
    """A stable file-name-safe key for an ISO path."""
    resolved = str(Path(iso).expanduser().resolve())
    stem = Path(resolved).stem[:40] or "iso"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    return f"{safe}-{hashlib.sha256(resolved.encode()).hexdigest()[:12]}"


# -- recent ISOs -----------------------------------------------------------------


def recent_file() -> Path:
    return state_dir() / "recent.json"


def load_recent() -> list[Path]:
    """Recently opened ISOs, most recent first; missing files are dropped."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    recipe_mod.save(recipe, path, meta={"source": str(Path(iso).resolve()),
                                        "note": "autosaved by the xcptui wizard"})
    return path


def load_autosave(iso: Path) -> recipe_mod.Recipe | None:
    """The autosaved recipe for ``iso``, or None (also when it no longer loads)."""
    path = autosave_path(iso)
    if not path.is_file():
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
    d = state_dir() / "edits" / iso_key(iso)
    d.mkdir(parents=True, exist_ok=True)
    return d


def edit_copy_path(iso: Path, area: str, inner_path: str) -> Path:
    """A host path for the edited copy of ``inner_path`` (area: 'iso' or 'installer')."""
    rel = inner_path.strip("/") or "root"
    return edits_dir(iso) / area / rel


def log_file() -> Path:
    return state_dir() / "tui.log"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
