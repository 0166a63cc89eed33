"""A table of pending changes (from pending.changes) with undo on Delete."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from xcptui.engine import PendingChange as Change
from xcptui.tui.widgets import fmt

KIND_STYLE = {"added": ("+", "bold green"), "replaced": ("~", "bold yellow"),
              "removed": ("−", "bold red"), "changed": ("~", "bold yellow")}


class ChangeTable(DataTable[Text]):
    DEFAULT_CSS = """
    ChangeTable { height: 1fr; }
    """

    def __init__(self, *, show_area: bool = True, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.show_area = show_area
        self.changes: list[Change] = []
        self.empty_text = "no pending changes"

    def on_mount(self) -> None:
        self.add_column(" ", key="kind", width=1)
        if self.show_area:
            self.add_column("area", key="area")
        self.add_column("change", key="text")

    def show(self, changes: list[Change]) -> None:
        row = self.cursor_row
        self.changes = list(changes)
        self.clear()
        for i, c in enumerate(self.changes):
            sign, style = KIND_STYLE.get(c.kind, ("?", ""))
            cells = [Text(sign, style=style)]
            if self.show_area:
                cells.append(fmt.plain(c.area, style="bold"))
            # a change names ISO paths and RPM files: escaped, never markup
            cells.append(fmt.plain(c.text, style="strike" if c.kind == "removed" else ""))
            self.add_row(*cells, key=str(i))
        if not self.changes:
            cells = [Text("")]
            if self.show_area:
                cells.append(Text(""))
            cells.append(Text(self.empty_text, style="dim italic"))
            self.add_row(*cells, key="empty")
        if self.row_count:
            self.move_cursor(row=min(row, self.row_count - 1))

    def selected_change(self) -> Change | None:
        if not self.changes or self.cursor_row < 0 or self.cursor_row >= len(self.changes):
            return None
        return self.changes[self.cursor_row]
