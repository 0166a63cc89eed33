"""The one-line bar at the top: the app, the open ISO, pending changes, save state."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from xcptui.engine import printable


class TitleBar(Static):
    DEFAULT_CSS = """
    TitleBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def show(self, iso_name: str | None, product: str, pending: int, saved: str, *,
             built: bool = False) -> None:
        """``built``: the ``pending`` changes are in the last build and saved."""
        t = Text()
        t.append("xcptui", style="bold")
        if iso_name is None:
            t.append("  no ISO open", style="dim")
        else:
            t.append("  │ ", style="dim")
            t.append(printable(iso_name), style="bold")
            if product:  # from the ISO's .treeinfo
                t.append(f" ({printable(product)})")
            t.append("  │ ", style="dim")
            if pending and built:
                t.append(f"{pending} change{'s' if pending != 1 else ''}, built",
                         style="green")
            elif pending:
                t.append(f"{pending} pending change{'s' if pending != 1 else ''}",
                         style="bold yellow")
            else:
                t.append("no changes", style="dim")
            if saved:
                t.append("  │ ", style="dim")
                t.append(printable(saved), style="dim")
        self.update(t)
