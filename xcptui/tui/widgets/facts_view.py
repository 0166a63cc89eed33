"""Renders an ISO's facts (engine.facts.IsoFacts) as a two-column grid.

Every value (volume id, .treeinfo fields, boot entry labels, paths) comes from the
ISO: it goes through ``printable`` into Text, never into a markup string.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from xcptui.engine import IsoFacts, printable
from xcptui.tui.widgets import fmt


def _entries_of(summary: Any) -> list[str]:
    """Entry labels from a bootcfg summary, whatever its exact shape."""
    if isinstance(summary, dict):
        ents = summary.get("entries") or []
        out = []
        for e in ents:
            if isinstance(e, dict):
                out.append(str(e.get("label") or e.get("title") or e.get("name") or "?"))
            else:
                out.append(str(e))
        return out
    return []


def _timeout(value: Any) -> str:
    if value is None:
        return "waits"
    return f"{value:g}s" if isinstance(value, (int, float)) else str(value)


def _config_line(summary: Any) -> Text:
    t = Text()
    if not isinstance(summary, dict):
        t.append(printable(str(summary)))
        return t
    ents = _entries_of(summary)
    t.append(f"default {summary.get('default')}, timeout {_timeout(summary.get('timeout'))}; ",
             style="dim")
    t.append(printable(", ".join(ents)))
    return t


def boot_lines(f: IsoFacts) -> list[Text]:
    lines: list[Text] = []
    b = f.boot or {}
    if b.get("unavailable"):
        lines.append(fmt.plain(str(b["unavailable"]), style="dim"))
    configs = b.get("configs") or {}
    if configs and not b.get("differences"):
        first = next(iter(configs.values()))
        lines.append(_config_line(first))
        where = ", ".join(configs)
        lines.append(fmt.plain(f"same in all {len(configs)}: {where}" if len(configs) > 1
                               else where, style="green"))
        return lines
    for label, summary in configs.items():
        t = Text()
        t.append(f"{printable(str(label))}: ", style="bold")
        t.append_text(_config_line(summary))
        lines.append(t)
    if b.get("differences"):
        lines.append(Text("the copies DISAGREE:", style="bold red"))
        lines += [fmt.plain(f"  {d}", style="red") for d in b["differences"]]
    return lines


def render_facts(f: IsoFacts) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")

    def row(key: str, value: RenderableType) -> None:
        grid.add_row(key, fmt.plain(value) if isinstance(value, str) else value)

    row("ISO", f"{fmt.display_path(f.path)}  ({fmt.size(f.size)})")
    row("volume id", repr(f.volume_id))
    if f.product:
        row("product", f.product)
    ti = f.treeinfo or {}
    ver = ti.get("system-v1", {}).get("product_version") or ti.get("general", {}).get("version")
    if ver:
        row("version", ver)
    build = ti.get("build", {}).get("number")
    if build:
        row("build number", build)
    boots = [f"{b['platform']} {b['path'] or '(no file)'}" for b in f.eltorito]
    row("El Torito", ", ".join(boots) or Text("none: does not boot from CD", style="red"))
    h = f.hybrid or {}
    if h.get("mbr_signature"):
        usb = "isohybrid MBR" if h.get("isohybrid") else "MBR"
        if (h.get("gpt") or {}).get("present"):
            usb += " + GPT"
        row("USB boot", usb)
    else:
        row("USB boot", Text("no hybrid MBR", style="yellow"))
    ii = f.install_img or {}
    if ii.get("unavailable"):
        row("install.img", fmt.plain(f"{fmt.size(ii.get('size'))}; {ii['unavailable']}",
                                     style="dim"))
    elif ii.get("error"):
        row("install.img", fmt.plain(str(ii["error"]), style="red"))
    elif ii:
        row("install.img", f"{ii['compression']}, {ii['segments']} segment(s), "
                           f"{ii['entries']} entries, {fmt.size(ii['size'])} → "
                           f"{fmt.size(ii['uncompressed'])}")
        kernels = ii.get("kernels") or []
        ktxt = Text()
        for i, k in enumerate(kernels):
            if i:
                ktxt.append(", ")
            ktxt.append(printable(k), style="bold" if i == 0 else "")
            ktxt.append(" (main)" if i == 0 else " (alt)", style="dim")
        row("kernels", ktxt if kernels else Text("none found", style="yellow"))
    r = f.repo or {}
    if r.get("packages_dir"):
        row("repository", f"{r.get('rpm_count', 0)} RPMs in /Packages")
    signed = r.get("signing", "")
    style = "green" if signed.startswith("signed") else "yellow"
    row("signing", fmt.plain(signed, style=style))
    lines = boot_lines(f)
    if lines:
        row("boot menu", Group(*lines))
    for p in f.problems:
        row(Text("problem", style="bold red"), fmt.plain(p, style="red"))  # type: ignore[arg-type]
    return grid
