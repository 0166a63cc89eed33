"""textual-fspicker dialogs that open with focus on the path Input, so typed paths go there.

(The library focuses its directory list, where letters do nothing and Enter on a
folder only descends.) Same names and arguments as textual_fspicker's.

The library draws host names raw: its current-folder line is parsed as markup (a
path reading "d[/]b" raises) and entry names keep their controls. Files extracted
from a hostile ISO land on the host, so both go through ``printable`` here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import Input, Label
from textual_fspicker import FileOpen as _FileOpen
from textual_fspicker import FileSave as _FileSave
from textual_fspicker import Filters, SelectDirectory
from textual_fspicker.parts.current_directory import CurrentDirectory
from textual_fspicker.parts.directory_navigation import DirectoryEntry

from xcptui.tui.widgets import fmt

_entry_name = DirectoryEntry._name


def _safe_entry_name(cls: type[DirectoryEntry], location: Path) -> Text:
    name = _entry_name.__func__(cls, location)  # type: ignore[attr-defined]
    return fmt.plain(name.plain)


def _safe_current_update(self: CurrentDirectory, content: Any = "", *,
                         layout: bool = True) -> None:
    Label.update(self, fmt.plain(str(content)), layout=layout)


DirectoryEntry._name = classmethod(_safe_entry_name)  # type: ignore[method-assign,assignment]
CurrentDirectory.update = _safe_current_update  # type: ignore[method-assign,assignment]

__all__ = ["FileOpen", "FileSave", "Filters", "SelectDirectory"]


def _focus_input(screen: _FileOpen | _FileSave) -> None:
    inputs = screen.query(Input)
    if inputs:
        inputs.first().focus()


class FileOpen(_FileOpen):
    def on_mount(self) -> None:
        # after the library's own on_mount (which focuses the directory list)
        self.call_after_refresh(_focus_input, self)


class FileSave(_FileSave):
    def on_mount(self) -> None:
        self.call_after_refresh(_focus_input, self)
