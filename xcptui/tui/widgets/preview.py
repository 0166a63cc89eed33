"""Builds the Browse preview for a tree node (called in a worker thread).

Only the first PREVIEW_BYTES of a file are read for text; RPMs show their header,
kernel modules their modinfo, anything else its type and size.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from xcptui.engine import Progress, printable
from xcptui.tui.jobs import readers
from xcptui.tui.state.session import Session
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets.browse_model import IMG, ISO, RPM, NodeInfo

# Everything shown here comes from the ISO (names, RPM tags, modinfo, file text):
# through ``printable`` into Text objects, never markup.


def _header(title: str, sub: str = "") -> Text:
    t = fmt.plain(title, style="bold")
    if sub:
        t.append(f"  {printable(sub)}", style="dim")
    return t


def _kv(rows: list[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for k, v in rows:
        grid.add_row(k, v if isinstance(v, Text) else fmt.plain(str(v)))
    return grid


def _lines(items: list[str]) -> Text:
    """One escaped item a line (an item's own newline cannot forge another line)."""
    return Text("\n".join(printable(i) for i in items))


def text_preview(name: str, data: bytes, total: int) -> RenderableType:
    text = data.decode("utf-8", "replace")
    if len(data) < total:
        # do not show a half line at the cut
        text = text[: text.rfind("\n") + 1] or text
    text = "\n".join(printable(ln.rstrip("\r"), keep="\t") for ln in text.split("\n"))
    syntax = Syntax(text, fmt.lexer_for(name), line_numbers=True, word_wrap=False,
                    theme="ansi_dark", background_color="default", indent_guides=False)
    parts: list[RenderableType] = [syntax]
    if len(data) < total:
        parts.append(Text(f"… first {fmt.size(len(data))} of {fmt.size(total)} shown",
                          style="dim italic"))
    return Group(*parts)


def rpm_preview(info: Any) -> RenderableType:
    def deps(items: list[Any], limit: int = 12) -> Text:
        names = [str(d) for d in items]
        t = _lines(names[:limit])
        if len(names) > limit:
            t.append(f"\n… {len(names) - limit} more", style="dim")
        return t or Text("(none)", style="dim")

    files = list(getattr(info, "files", []) or [])
    ftxt = _lines(files[:15])
    if len(files) > 15:
        ftxt.append(f"\n… {len(files) - 15} more (expand the RPM in the tree)", style="dim")
    return _kv([
        ("package", fmt.plain(info.nevra, style="bold")),
        ("summary", info.summary or "-"),
        ("size", fmt.size(info.size)),
        ("requires", deps(info.requires)),
        ("provides", deps(info.provides)),
        ("files", ftxt or Text("(none)", style="dim")),
    ])


def modinfo_preview(mi: Any, kernels: list[str]) -> RenderableType:
    match, verdict = readers.vermagic_verdict(mi, kernels)
    aliases = mi.fields.get("alias", [])
    atxt = _lines(aliases[:8])
    if len(aliases) > 8:
        atxt.append(f"\n… {len(aliases) - 8} more", style="dim")
    return _kv([
        ("module", fmt.plain(mi.name, style="bold")),
        ("version", mi.first("version") or "-"),
        ("description", mi.first("description") or "-"),
        ("vermagic", mi.vermagic.strip() or "-"),
        ("verdict", fmt.plain(verdict, style="green" if match else "yellow")),
        ("depends", mi.first("depends") or "-"),
        ("license", mi.first("license") or "-"),
        ("aliases", atxt or Text("(none)", style="dim")),
    ])


def build(s: Session, info: NodeInfo, progress: Progress | None = None,
          cancel: threading.Event | None = None) -> RenderableType:
    progress = progress or Progress()
    kernels = s.kernels()
    if info.virtual:
        return Group(_header(info.path, "pending addition"),
                     Text("This file does not exist in the source ISO yet; it is added by "
                          "the recipe.", style="italic"))
    if info.area == ISO:
        return _iso_preview(s, info, kernels, progress, cancel)
    if info.area == IMG:
        return _img_preview(s, info, kernels)
    if info.area == RPM:
        kind = "directory" if info.is_dir else "file"
        return Group(_header(info.path, f"{kind} in {info.container}"),
                     Text("Inside an RPM payload: extract the RPM (x) to read it, or add its "
                          "payload to install.img on the Installer step.", style="dim"))
    return Text("")


def _iso_preview(s: Session, info: NodeInfo, kernels: list[str], progress: Progress,
                 cancel: threading.Event | None) -> RenderableType:
    if info.is_dir:
        kids = s.iso.listdir(info.path)
        total = sum(k.size for k in kids if not k.is_dir)
        return Group(_header(info.path, "directory"),
                     Text(f"{len(kids)} entries, {fmt.size(total)} in its files"))
    e = s.iso.entry(info.path)
    if info.is_image:
        ii = s.facts.install_img or {}
        rows: list[tuple[str, Any]] = [("size", fmt.size(e.size))]
        if "compression" in ii:
            rows += [("compression", ii["compression"]), ("segments", ii["segments"]),
                     ("entries", ii["entries"]), ("uncompressed", fmt.size(ii["uncompressed"])),
                     ("kernels", ", ".join(ii.get("kernels") or []) or "-")]
        return Group(_header(info.path, "the installer's initramfs"), _kv(rows),
                     Text("Expand it to browse its files.", style="dim"))
    if info.path.endswith(".rpm"):
        return Group(_header(info.path, fmt.size(e.size)),
                     rpm_preview(readers.rpm_info_iso(s, info.path, progress, cancel)))
    head = s.iso.read(info.path, readers.PREVIEW_BYTES)
    return _file_preview(info.path, head, e.size, kernels,
                         lambda: s.iso.read(info.path, readers.MODINFO_MAX))


def _img_preview(s: Session, info: NodeInfo, kernels: list[str]) -> RenderableType:
    e = info.entry
    if e is None and info.path == "/":
        return _header("install.img", "root of the installer image")
    if e is None:
        return _header(info.path)
    meta = (f"{e.mode_string}  {e.uid}:{e.gid}  "
            + (fmt.size(e.size) if e.type == "file" else ""))
    if e.type == "dir":
        return Group(_header(info.path, "directory"), Text(meta, style="dim"))
    if e.type == "symlink":
        return Group(_header(info.path, "symbolic link"), Text(meta, style="dim"),
                     fmt.plain(f"→ {e.link_target}"))
    if e.type in ("chardev", "blockdev"):
        kind = "character device" if e.type == "chardev" else "block device"
        return Group(_header(info.path, kind), Text(meta, style="dim"),
                     Text(f"device {e.rdev[0]},{e.rdev[1]}"))
    if e.type != "file":
        return Group(_header(info.path, e.type), fmt.plain(meta, style="dim"))
    img = s.image()
    inner = info.path.strip("/")
    head = img.read(inner, readers.PREVIEW_BYTES)
    return Group(Text(meta, style="dim"),
                 _file_preview(info.path, head, e.size, kernels,
                               lambda: img.read(inner, readers.MODINFO_MAX)))


def _file_preview(path: str, head: bytes, size: int, kernels: list[str],
                  whole: Any) -> RenderableType:
    name = path.rsplit("/", 1)[-1]
    kind = fmt.sniff(head, name)
    if kind == "kernel module (ELF)" and size <= readers.MODINFO_MAX:
        mi = readers.modinfo(whole(), name)
        return Group(_header(path, f"kernel module, {fmt.size(size)}"),
                     modinfo_preview(mi, kernels))
    if kind == "text" or (kind == "empty file" and size == 0):
        return Group(_header(path, fmt.size(size)), text_preview(name, head, size))
    return Group(_header(path, kind), Text(f"{fmt.size(size)} ({size} bytes)"))
