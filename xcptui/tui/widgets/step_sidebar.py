"""The step list on the left: where the user is, which steps hold pending changes."""

from __future__ import annotations

from collections.abc import Set

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class StepSidebar(OptionList):
    """One option per wizard step; selecting one jumps there."""

    DEFAULT_CSS = """
    StepSidebar { width: 22; height: auto; max-height: 100%; border: none; padding: 0; }
    """

    def __init__(self, steps: list[tuple[str, str]], *, id: str | None = None) -> None:  # noqa: A002
        self._sb_steps = steps
        self._sb_marked: set[str] = set()
        self._sb_current = steps[0][0]
        self._sb_enabled: set[str] = {steps[0][0]}
        self._sb_compact = False
        super().__init__(*self._sb_options(), id=id)

    def _sb_options(self) -> list[Option]:
        out = []
        for i, (key, title) in enumerate(self._sb_steps, 1):
            # one line per step at any width: a wrapped marker would push steps 6-7 out
            label = Text(no_wrap=True, overflow="ellipsis")
            current = key == self._sb_current
            if self._sb_compact:
                label.append(f"{i}", style="bold reverse" if current else "")
            else:
                label.append("▶ " if current else "  ", style="bold")
                label.append(f"{i} {title}", style="bold" if current else "")
            if key in self._sb_marked:
                label.append(" ●", style="bold yellow")
            out.append(Option(label, id=key, disabled=key not in self._sb_enabled))
        return out

    def set_compact(self, compact: bool) -> None:
        """Numbers only (narrow terminals); the step title line names the step."""
        if compact != self._sb_compact:
            self._sb_compact = compact
            # measure the options at the width the new CSS class gives, not the old one
            self.call_after_refresh(self._sb_rebuild)

    def update_state(self, current: str, marked: Set[str], enabled: Set[str]) -> None:
        if (current, marked, enabled) == (self._sb_current, self._sb_marked, self._sb_enabled):
            return
        self._sb_current, self._sb_marked, self._sb_enabled = current, set(marked), set(enabled)
        self._sb_rebuild()

    def _sb_rebuild(self) -> None:
        current = self._sb_current
        highlighted = self.highlighted
        self.clear_options()
        self.add_options(self._sb_options())
        keys = [k for k, _ in self._sb_steps]
        self.highlighted = keys.index(current) if highlighted is None else highlighted
        if self.highlighted is not None and keys[self.highlighted] != current \
                and not self.has_focus:
            self.highlighted = keys.index(current)
