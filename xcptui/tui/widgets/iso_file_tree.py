"""A host DirectoryTree that lists folders and *.iso files only, with type-to-search."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from rich.text import Text, TextType
from textual import events
from textual.widgets import DirectoryTree

from xcptui.tui.widgets import fmt

SEARCH_RESET_S = 1.0  # a pause this long starts a new search prefix


class IsoFileTree(DirectoryTree):
    """Folders (not hidden) and ISO images; ``suffixes`` can widen it (e.g. .toml).

    Typed letters jump to the next entry starting with them (like a file manager), so
    they never reach the step's one-letter bindings while the tree has focus. Digits,
    ``?`` and ``/`` are left alone: they jump between steps, show help, filter.
    """

    def __init__(self, path: str | Path, suffixes: tuple[str, ...] = (".iso",),
                 *, id: str | None = None) -> None:  # noqa: A002
        self.suffixes = suffixes
        self._typed = ""
        self._typed_at = 0.0
        super().__init__(path, id=id)

    def process_label(self, label: TextType) -> Text:
        # a host file name is not markup ("[/].iso" would raise) and may hold controls
        return super().process_label(fmt.plain(label) if isinstance(label, str) else label)

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

    def on_key(self, event: events.Key) -> None:
        ch = event.character
        if ch is None or len(ch) != 1 or not (ch.isalpha() or ch in "._-~ "):
            return
        event.stop()
        event.prevent_default()
        now = time.monotonic()
        if now - self._typed_at > SEARCH_RESET_S:
            self._typed = ""
        self._typed_at = now
        self._typed += ch.lower()
        self._jump(self._typed)

    def _jump(self, prefix: str) -> None:
        count = self.last_line + 1
        if count <= 0:
            return
        start = max(self.cursor_line, 0)
        # the current entry still matches a longer prefix; a new letter looks further on
        first = 0 if len(prefix) > 1 else 1
        for i in range(first, count + first):
            node = self.get_node_at_line((start + i) % count)
            if node is not None and str(node.label).lower().startswith(prefix):
                self.move_cursor(node)
                return
