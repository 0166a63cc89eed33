"""Byte sizes as people read them: the one binary-size formatter of the engine (and TUI)."""

from __future__ import annotations


def size(n: int | float) -> str:
    """Humanized binary size: 512 -> '512 B', 986726 -> '963.6 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover
