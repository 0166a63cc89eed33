"""The Packages step's dependency check and the rebuilt xcp-ng-deps Requires, rendered
from the engine's CheckReport fields (nothing re-derived here).

RPM names, requirements and the engine's messages quote RPM headers: every string goes
through ``fmt.plain`` (controls made visible, never parsed as markup).
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from xcptui.engine import CheckReport
from xcptui.tui.widgets import fmt

META = "xcp-ng-deps"


def _line(t: Text, head: str, body: str, style: str = "", head_style: str = "bold") -> None:
    t.append(head, style=head_style)
    t.append_text(fmt.plain(body, style))
    t.append("\n")


def check_text(rep: CheckReport, fixable: list[str]) -> Text:
    """The verdict first, then what the OUTPUT will be, then what yum would skip."""
    t = Text()
    if rep.ok:
        t.append("dependency check: OK\n", style="bold green")
    else:
        n = len(rep.problems)
        t.append(f"dependency check: FAILED ({n} problem{'s' if n != 1 else ''})\n",
                 style="bold red")
    for p in rep.problems:
        _line(t, "PROBLEM: ", p, "red", "bold red")
    sig = rep.output_signing
    if sig is not None:
        _line(t, "signing: ", sig.text, "bold yellow" if sig.lost else "")
    if rep.meta is not None:
        edits = [f"+ {a}" for a in rep.meta.added] + [f"- {d}" for d in rep.meta.removed]
        _line(t, f"{META}: ", f"rebuilt as {rep.meta.new_nevra} ({', '.join(edits)}); "
              "v shows its Requires old | new", "yellow")
    elif rep.with_recipe:
        _line(t, f"{META}: ", "original (its Requires do not change)", "dim")
    for x in rep.skipped:  # "htop would NOT be installed: nothing requires it"
        _line(t, "", x, "yellow")
    if fixable:
        _line(t, "f: ", f"require {', '.join(fixable)} from {META}", "bold")
    yum = (f"yum installs {len(rep.install)}" if rep.install else "yum install fails")
    if rep.alt_install:
        yum += f" (+kernel-alt: {len(rep.alt_install)})"
    what = "after the recipe" if rep.with_recipe else "as on the ISO"
    _line(t, "", f"{rep.packages} packages {what}; {yum}", "dim")
    for w in rep.warnings:
        _line(t, "note: ", w, "dim", "dim")
    t.rstrip()
    return t


def _name(req: str) -> str:
    return req.split()[0] if req.split() else req


def requires_rows(meta: Any) -> list[tuple[str, str, str]]:
    """(mark, old, new) per requirement, aligned by name; mark: '' | '-' | '+' | '~'."""
    new_by = {_name(x): x for x in meta.new_requires}
    old_names = {_name(x) for x in meta.old_requires}
    out: list[tuple[str, str, str]] = []
    for o in meta.old_requires:
        n = new_by.get(_name(o))
        out.append(("-", o, "") if n is None else ("" if n == o else "~", o, n))
    out += [("+", "", x) for x in meta.new_requires if _name(x) not in old_names]
    return out


MARK_STYLE = {"-": "red", "+": "green", "~": "yellow", "": ""}
MARK_WORD = {"-": "removed", "+": "added", "~": "changed", "": ""}


def requires_table(meta: Any) -> Table:
    """Two columns, source | rebuilt; removed, added and changed rows marked."""
    t = Table(box=None, expand=True, pad_edge=False, padding=(0, 1), header_style="bold")
    t.add_column("", width=1, no_wrap=True)
    t.add_column(fmt.plain(f"{meta.old_nevra} (on the ISO)"), ratio=1, overflow="fold")
    t.add_column(fmt.plain(f"{meta.new_nevra} (rebuilt)"), ratio=1, overflow="fold")
    t.add_column("", width=8, no_wrap=True)
    for mark, old, new in requires_rows(meta):
        st = MARK_STYLE[mark]
        t.add_row(Text(mark, style=f"bold {st}"),
                  fmt.plain(old, "red strike" if mark == "-" else ("red" if mark else "")),
                  fmt.plain(new, "green" if mark in "+~" and mark else ""),
                  Text(MARK_WORD[mark], style=st))
    return t
