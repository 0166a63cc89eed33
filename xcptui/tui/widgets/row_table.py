"""A row-cursor DataTable where Home/End move the cursor (DataTable only scrolls)."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable


class RowTable(DataTable[Any]):
    """``Home`` / ``End`` select the first / last row, so ``End`` then ``Delete`` acts on it."""

    BINDINGS = [
        Binding("home", "first_row", "First", show=False, id="table.first-row"),
        Binding("end", "last_row", "Last", show=False, id="table.last-row"),
    ]

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
