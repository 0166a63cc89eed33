"""The TUI's state dir belongs to the user: 0700/0600, owned files only, content keys."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from xcptui.engine import recipe as recipe_mod
from xcptui.tui.state import statedir


def _recipe() -> recipe_mod.Recipe:
    r = recipe_mod.Recipe()
    r.iso.volume_id = "CUSTOM"
    return r


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_state_dir_and_files_are_private(tmp_path: Path) -> None:
    iso = tmp_path / "a.iso"
    iso.write_bytes(b"x" * 5000)
    os.umask(0o022)
    statedir.add_recent(iso)
    saved = statedir.autosave(iso, _recipe())
    assert saved is not None
    assert _mode(statedir.state_dir()) == 0o700
    assert _mode(saved.parent) == 0o700
    assert _mode(statedir.recent_file()) == 0o600
    assert _mode(saved) == 0o600
    assert _mode(statedir.edits_dir(iso)) == 0o700


def test_autosave_follows_content_not_path(tmp_path: Path) -> None:
    iso = tmp_path / "a.iso"
    iso.write_bytes(b"A" * (3 << 20))
    statedir.autosave(iso, _recipe())
    moved = tmp_path / "renamed.iso"
    shutil.copy(iso, moved)
    assert statedir.load_autosave(moved) is not None  # same bytes, other name
    iso.write_bytes(b"B" * (3 << 20))  # same path, other ISO
    assert statedir.load_autosave(iso) is None


def test_planted_files_are_ignored(tmp_path: Path) -> None:
    iso = tmp_path / "a.iso"
    iso.write_bytes(b"x" * 100)
    saved = statedir.autosave(iso, _recipe())
    assert saved is not None
    saved.chmod(0o666)  # writable by others: not trusted
    assert statedir.load_autosave(iso) is None
    other = tmp_path / "other.iso"
    other.write_bytes(b"y")
    statedir.recent_file().write_text(json.dumps([{"path": str(other)}]))
    statedir.recent_file().chmod(0o646)
    assert statedir.load_recent() == []
    statedir.recent_file().chmod(0o600)
    assert statedir.load_recent() == [other]
