"""A host DirectoryTree that lists folders and *.iso files only."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.widgets import DirectoryTree


class IsoFileTree(DirectoryTree):
    """Folders (not hidden) and ISO images; ``suffixes`` can widen it (e.g. .toml)."""

    def __init__(self, path: str | Path, suffixes: tuple[str, ...] = (".iso",),
                 *, id: str | None = None) -> None:  # noqa: A002
        self.suffixes = suffixes
        super().__init__(path, id=id)

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        out = []
        for p in paths:
            if p.name.startswith("."):
                continue
            try:
                if p.is_dir() or p.suffix.lower() in self.suffixes:
                    out.append(p)
            except OSError:
                continue
        return out
