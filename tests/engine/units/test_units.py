"""The engine's one binary-size formatter (verify evidence and the TUI use it)."""

from __future__ import annotations

from xcptui.engine import units
from xcptui.tui.widgets import fmt


def test_size() -> None:
    assert units.size(0) == "0 B" and units.size(1023) == "1023 B"
    assert units.size(1024) == "1.0 KiB" and units.size(986726) == "963.6 KiB"
    assert units.size(3 * 1024**3) == "3.0 GiB" and units.size(2 * 1024**4) == "2.0 TiB"
    assert fmt.size(None) == "" and fmt.size(986726) == "963.6 KiB"
