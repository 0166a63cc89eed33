"""A side-by-side diff (old | new) of two texts as a Rich table.

Changed lines are red (old) and green (new) with the changed words emphasised;
runs of unchanged lines longer than 2 * CONTEXT are folded into one "… N unchanged
lines" row. Each change block is headed by the boot entry it falls in (the nearest
``label`` / ``menuentry`` line above it), so a diff reads per entry. Every line
goes through ``printable`` and into Text objects, never markup.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

from xcptui.engine import printable

CONTEXT = 2
OLD_STYLE, NEW_STYLE = "red", "green"
OLD_WORD, NEW_WORD = "bold white on dark_red", "bold black on green"
_ENTRY = re.compile(r"^\s*(label\s+\S|menuentry\s)", re.IGNORECASE)
_WORDS = re.compile(r"(\s+)")


@dataclass(frozen=True)
class Row:
    """One table row; ``tag``: equal | delete | insert | replace | fold | entry."""

    tag: str
    old_no: int | None = None
    old: str = ""
    new_no: int | None = None
    new: str = ""


def split_lines(data: bytes | str | None) -> list[str]:
    if data is None:
        return []
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    return [printable(ln.rstrip("\r").expandtabs(8)) for ln in text.splitlines()]


def _entry_of(lines: list[str], upto: int) -> str | None:
    for ln in reversed(lines[: upto + 1]):
        if _ENTRY.match(ln):
            return ln.strip()
    return None


def diff_rows(old: list[str], new: list[str], context: int = CONTEXT) -> list[Row]:
    """Rows of a side-by-side diff, unchanged runs folded."""
    rows: list[Row] = []
    ops = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    last_entry: str | None = None
    for k, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            n = i2 - i1
            head = 0 if k == 0 else context
            tail = 0 if k == len(ops) - 1 else context
            if n > head + tail + 1:
                rows += [Row("equal", i1 + d + 1, old[i1 + d], j1 + d + 1, new[j1 + d])
                         for d in range(head)]
                rows.append(Row("fold", old=f"… {n - head - tail} unchanged lines"))
                rows += [Row("equal", i2 - tail + d + 1, old[i2 - tail + d],
                             j2 - tail + d + 1, new[j2 - tail + d]) for d in range(tail)]
            else:
                rows += [Row("equal", i1 + d + 1, old[i1 + d], j1 + d + 1, new[j1 + d])
                         for d in range(n)]
            continue
        entry = _entry_of(new, j1) if j2 > j1 else _entry_of(old, i1)
        shown = {r.old.strip() for r in rows[-context:]} if context else set()
        if entry is not None and entry != last_entry and entry not in shown:
            rows.append(Row("entry", old=entry))  # the label is not in the context shown
        last_entry = entry or last_entry
        for d in range(max(i2 - i1, j2 - j1)):
            o = i1 + d if i1 + d < i2 else None
            w = j1 + d if j1 + d < j2 else None
            kind = "replace" if o is not None and w is not None else \
                ("delete" if o is not None else "insert")
            rows.append(Row(kind, None if o is None else o + 1, "" if o is None else old[o],
                            None if w is None else w + 1, "" if w is None else new[w]))
    return rows


def _word_diff(old: str, new: str) -> tuple[Text, Text]:
    a, b = _WORDS.split(old), _WORDS.split(new)
    to, tn = Text(style=OLD_STYLE), Text(style=NEW_STYLE)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        same = tag == "equal"
        to.append("".join(a[i1:i2]), style=None if same else OLD_WORD)
        tn.append("".join(b[j1:j2]), style=None if same else NEW_WORD)
    return to, tn


def render(rows: list[Row]) -> Table:
    """The rows as a four-column table: line no | old | line no | new."""
    t = Table(box=None, show_header=True, header_style="bold", expand=True, pad_edge=False,
              padding=(0, 1))
    t.add_column("#", justify="right", style="dim", no_wrap=True, width=4)
    t.add_column("old", ratio=1, overflow="fold")
    t.add_column("#", justify="right", style="dim", no_wrap=True, width=4)
    t.add_column("new", ratio=1, overflow="fold")

    def no(n: int | None) -> str:
        return "" if n is None else str(n)

    for r in rows:
        if r.tag == "fold":
            t.add_row("", Text(r.old, style="dim italic"), "", Text(r.old, style="dim italic"))
        elif r.tag == "entry":
            t.add_row("", Text(f"entry: {r.old}", style="bold cyan"), "",
                      Text(f"entry: {r.old}", style="bold cyan"))
        elif r.tag == "replace":
            to, tn = _word_diff(r.old, r.new)
            t.add_row(no(r.old_no), to, no(r.new_no), tn)
        elif r.tag == "delete":
            t.add_row(no(r.old_no), Text(r.old, style=OLD_STYLE), "", "")
        elif r.tag == "insert":
            t.add_row("", "", no(r.new_no), Text(r.new, style=NEW_STYLE))
        else:
            t.add_row(no(r.old_no), Text(r.old), no(r.new_no), Text(r.new))
    return t


def changed(rows: list[Row]) -> int:
    return sum(1 for r in rows if r.tag in ("replace", "delete", "insert"))
