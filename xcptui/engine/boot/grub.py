"""grub.cfg reader: menuentry / submenu blocks (grub's default= ids such as "5>0"),
set default= / timeout=, and multiboot2 + module2 (or linux + initrd) lines."""

from __future__ import annotations

from typing import Any

from xcptui.engine.boot.model import GRUB, ArgSpan, BootConfig, BootEntry, Tok, finish
from xcptui.engine.boot.syntax import GRUB_SET, ending


def _grub_words(body: str) -> list[Tok]:
    """Split a grub command line into words, honouring quotes and backslashes.

    Stops at a '#' that starts a word (comment) and at an unquoted ';'.
    """
    toks: list[Tok] = []
    i, n = 0, len(body)
    while i < n:
        if body[i] in " \t\ufeff":
            i += 1
            continue
        if body[i] in "#;":
            break
        start, val = i, []
        while i < n and body[i] not in " \t;":
            c = body[i]
            if c == "\\" and i + 1 < n:
                val.append(body[i + 1])
                i += 2
            elif c == "'":
                j = body.find("'", i + 1)
                j = n if j < 0 else j
                val.append(body[i + 1:j])
                i = j + 1
            elif c == '"':
                j = i + 1
                while j < n and body[j] != '"':
                    if body[j] == "\\" and j + 1 < n and body[j + 1] in '"\\$':
                        j += 1
                    val.append(body[j])
                    j += 1
                i = j + 1
            else:
                val.append(c)
                i += 1
        i = min(i, n)
        toks.append(Tok(body[start:i], "".join(val), start, i))
        if i < n and body[i] == ";":
            break
    return toks


def _args_after_options(toks: list[Tok]) -> tuple[Tok | None, list[Tok]]:
    """(path token, argument tokens) of 'module2 [--nounzip] PATH ARGS...'."""
    rest = toks[1:]
    while rest and rest[0].value.startswith("--"):
        rest = rest[1:]
    if not rest:
        return None, []
    return rest[0], rest[1:]


def parse_grub(text: str, name: str) -> BootConfig:
    lines = text.splitlines(keepends=True)
    cfg = BootConfig(GRUB, [], None, None, text, name)
    stack: list[tuple[str, dict[str, Any] | None]] = []
    counters: list[int] = [0]
    prefix: list[str] = []
    index = 0
    for i, raw in enumerate(lines):
        body = raw[: len(raw) - len(ending(raw))]
        toks = _grub_words(body)
        if not toks:
            continue
        w0 = toks[0].value
        in_entry = any(kind == "entry" for kind, _ in stack)
        if w0 == "}":
            if stack:
                kind, cur = stack.pop()
                if kind == "entry" and cur is not None:
                    cfg.entries.append(finish(_grub_entry(cur)))
                elif kind == "submenu":
                    counters.pop()
                    prefix.pop()
            continue
        if w0 in ("menuentry", "submenu") and not in_entry:
            pos = counters[-1]
            counters[-1] += 1
            gid = ">".join([*prefix, str(pos)])
            title = toks[1].value if len(toks) > 1 else ""
            if w0 == "submenu":
                stack.append(("submenu", None))
                counters.append(0)
                prefix.append(str(pos))
            else:
                stack.append(("entry", {"label": title, "line": i, "gid": gid, "index": index,
                                        "cmds": []}))
                index += 1
            continue
        if toks[-1].raw == "{" or w0 == "function":
            stack.append(("block", None))
            continue
        if in_entry:
            cur = next(c for k, c in reversed(stack) if k == "entry")
            assert cur is not None
            cur["cmds"].append((i, toks))
            continue
        m = GRUB_SET.match(body)
        if m:
            value = m.group("value").strip("\"'")
            if m.group("var") == "default":
                cfg._default_lines.append(i)
                cfg.default = value
            else:
                cfg._timeout_lines.append(i)
                try:
                    secs = int(value)
                except ValueError:
                    secs = -1
                cfg.timeout = float(secs) if secs >= 0 else None
    # An unterminated entry still counts (grub would refuse the file, inspect should not).
    for kind, cur in stack:
        if kind == "entry" and cur is not None:
            cfg.entries.append(finish(_grub_entry(cur)))
    cfg.entries.sort(key=lambda e: e.index)
    return cfg


def _grub_entry(cur: dict[str, Any]) -> BootEntry:
    e = BootEntry(cur["label"], cur["index"], [], None, [], None, False, grub_id=cur["gid"],
                  line=cur["line"])
    xen = False
    modules = 0
    for line, toks in cur["cmds"]:
        cmd = toks[0].value
        if cmd in ("multiboot2", "multiboot"):
            path, args = _args_after_options(toks)
            xen = True
            e.hypervisor = path.value if path else None
            e.xen_args = [t.value for t in args]
        elif cmd in ("module2", "module") and xen:
            path, args = _args_after_options(toks)
            modules += 1
            if path is None:
                continue
            if modules == 1:  # Xen takes the first module as the dom0 kernel
                e.kernel_path = path.value
                e.dom0_args = [t.value for t in args]
                e.span = ArgSpan(line, path.end, tuple(args))
            elif e.initrd is None:
                e.initrd = path.value
        elif cmd in ("linux", "linuxefi", "linux16"):
            path, args = _args_after_options(toks)
            if path is not None:
                e.kernel_path = path.value
                e.dom0_args = [t.value for t in args]
                e.span = ArgSpan(line, path.end, tuple(args))
        elif cmd in ("initrd", "initrdefi", "initrd16"):
            path, _ = _args_after_options(toks)
            e.initrd = path.value if path else None
        elif cmd == "chainloader":
            path, _ = _args_after_options(toks)
            e.kernel_path = path.value if path else None
    return e
