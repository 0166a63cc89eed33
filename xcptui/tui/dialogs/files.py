"""textual-fspicker dialogs that open with focus on the path Input, so typed paths go there.

(The library focuses its directory list, where letters do nothing and Enter on a
folder only descends.) Same names and arguments as textual_fspicker's.
"""

from __future__ import annotations

from textual.widgets import Input
from textual_fspicker import FileOpen as _FileOpen
from textual_fspicker import FileSave as _FileSave
from textual_fspicker import Filters, SelectDirectory

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
