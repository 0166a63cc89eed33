"""isolinux.cfg reader: LABEL blocks, global DEFAULT / TIMEOUT / ONTIMEOUT, and the
mboot.c32 APPEND line (Xen args --- dom0 kernel + args --- initrd)."""

from __future__ import annotations

import posixpath
from typing import Any

from xcptui.engine.boot.model import ISOLINUX, ArgSpan, BootConfig, BootEntry, Tok, finish
from xcptui.engine.boot.syntax import ISO_WORD, ending


def _iso_words(body: str) -> list[Tok]:
    return [Tok(m.group(), m.group(), m.start(), m.end()) for m in ISO_WORD.finditer(body)]


_ISO_KERNEL_WORDS = {"kernel", "linux", "com32", "boot", "bss", "pxe", "fdimage", "comboot"}


def parse_isolinux(text: str, name: str) -> BootConfig:
    lines = text.splitlines(keepends=True)
    cfg = BootConfig(ISOLINUX, [], None, None, text, name)
    blocks: list[dict[str, Any]] = []
    in_text = False
    first_label: int | None = None
    last_global: int | None = None
    for i, raw in enumerate(lines):
        body = raw[: len(raw) - len(ending(raw))]
        toks = _iso_words(body)
        if not toks or toks[0].value.startswith("#"):
            continue
        kw = toks[0].value.lower()
        if in_text:
            in_text = kw != "endtext"
            continue
        if kw == "text" and len(toks) > 1 and toks[1].value.lower() == "help":
            in_text = True
            continue
        if kw == "label":
            label = body[toks[1].start:].strip() if len(toks) > 1 else ""
            blocks.append({"label": label, "line": i, "kernel": None, "append": None,
                           "initrd": None})
            if first_label is None:
                first_label = i
            continue
        # Global directives apply wherever they appear.
        if kw == "default":
            cfg._default_lines.append(i)
            cfg.default = toks[1].value if len(toks) > 1 else None
        elif kw == "ontimeout":
            cfg._ontimeout_lines.append(i)
        elif kw == "timeout":
            cfg._timeout_lines.append(i)
            try:
                tenths = int(toks[1].value) if len(toks) > 1 else 0
            except ValueError:
                tenths = 0
            cfg.timeout = tenths / 10 if tenths > 0 else None
        elif blocks and kw in _ISO_KERNEL_WORDS:
            blocks[-1]["kernel"] = toks[1].value if len(toks) > 1 else ""
        elif blocks and kw == "append":
            blocks[-1]["append"] = (i, toks)
        elif blocks and kw == "initrd":
            blocks[-1]["initrd"] = toks[1].value if len(toks) > 1 else None
        if first_label is None:
            last_global = i
    cfg._insert_globals_at = (last_global + 1) if last_global is not None else 0
    for idx, b in enumerate(blocks):
        cfg.entries.append(finish(_isolinux_entry(b, idx)))
    return cfg


def _isolinux_entry(b: dict[str, Any], idx: int) -> BootEntry:
    e = BootEntry(b["label"], idx, [], b["kernel"], [], b["initrd"], False, line=b["line"])
    if b["append"] is None:
        return e
    line, toks = b["append"]
    args = toks[1:]
    if b["kernel"] and posixpath.basename(b["kernel"]).lower() == "mboot.c32":
        # Xen image + args --- dom0 kernel + args --- initrd [--- more modules]
        segs: list[list[Tok]] = [[]]
        for t in args:
            if t.value == "---":
                segs.append([])
            else:
                segs[-1].append(t)
        if segs[0]:
            e.hypervisor = segs[0][0].value
            e.xen_args = [t.value for t in segs[0][1:]]
        e.kernel_path = None
        if len(segs) > 1 and segs[1]:
            e.kernel_path = segs[1][0].value
            dom0 = tuple(segs[1][1:])
            e.dom0_args = [t.value for t in dom0]
            e.span = ArgSpan(line, segs[1][0].end, dom0)
        if len(segs) > 2 and segs[2]:
            e.initrd = segs[2][0].value
        return e
    # A plain Linux entry: APPEND holds the kernel arguments, maybe initrd=.
    prot = frozenset(i for i, t in enumerate(args) if t.value.startswith("initrd="))
    e.dom0_args = [t.value for i, t in enumerate(args) if i not in prot]
    if e.initrd is None and prot:
        e.initrd = args[min(prot)].value.split("=", 1)[1].split(",")[0]
    e.span = ArgSpan(line, toks[0].end, tuple(args), prot)
    return e
