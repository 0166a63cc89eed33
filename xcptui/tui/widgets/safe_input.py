"""An Input whose value may come from an input file (a volume id, an ISO path).

Textual's Input draws its value as is: an ESC or a bidi control in a prefilled volume
id would reach the terminal. Here each such character is drawn as U+FFFD, one for
one, so the cursor and selection indices still match the value (which stays exact).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Input

from xcptui.engine import printable

SHOWN_FOR_UNSAFE = "\ufffd"


def masked(value: str) -> str:
    """``value`` with every character ``printable`` would escape drawn as U+FFFD."""
    if printable(value) == value:
        return value
    return "".join(c if printable(c) == c else SHOWN_FOR_UNSAFE for c in value)


class SafeInput(Input):
    @property
    def _value(self) -> Text:
        if self.password or masked(self.value) == self.value:
            return super()._value
        text = Text(masked(self.value), no_wrap=True, overflow="ignore", end="")
        return self.highlighter(text) if self.highlighter is not None else text
