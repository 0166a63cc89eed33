"""Token-level text helpers shared by the isolinux and grub readers and the editors:
line endings, inserting a line, replacing a value in place, parameter rules."""

from __future__ import annotations

import re

from xcptui.engine.errors import InputError

GRUB_SAFE = re.compile(r"[A-Za-z0-9_.,:/=+@%^~-]+")
ISO_WORD = re.compile(r"[^ \t\ufeff]+")
GRUB_SET = re.compile(r"(?P<pre>\s*(?:set\s+)?(?P<var>default|timeout)=)"
                       r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s;]*)")


def ending(line: str) -> str:
    for end in ("\r\n", "\n", "\r"):
        if line.endswith(end):
            return end
    return ""


def newline_of(lines: list[str]) -> str:
    for ln in lines:
        if ending(ln):
            return ending(ln)
    return "\n"


def insert_line(lines: list[str], at: int, text: str) -> None:
    nl = newline_of(lines)
    if at > 0 and at == len(lines) and not ending(lines[-1]):
        lines[-1] += nl
    lines.insert(at, text + nl)


def replace_first_arg(line: str, value: str) -> str:
    """'DEFAULT install' -> 'DEFAULT value' (keyword, spacing, extra words kept)."""
    end = ending(line)
    body = line[: len(line) - len(end)]
    toks = list(ISO_WORD.finditer(body))
    if len(toks) < 2:
        sep = "" if body.endswith((" ", "\t")) else " "
        return body + sep + value + end
    t = toks[1]
    return body[: t.start()] + value + body[t.end():] + end


def replace_grub_value(line: str, value: str, *, quoted: bool) -> str:
    end = ending(line)
    body = line[: len(line) - len(end)]
    m = GRUB_SET.match(body)
    assert m is not None
    old = m.group("value")
    if old[:1] in ("'", '"'):
        new = old[0] + value + old[0]
    else:
        new = f'"{value}"' if quoted and not old else value
    return body[: m.start("value")] + new + body[m.end("value"):] + end


def param_name(p: str) -> str:
    return p.split("=", 1)[0]


def validate_param(p: str) -> str:
    """One kernel parameter: printable ASCII, no whitespace, no quotes, no '---'."""
    if not p:
        raise InputError("boot parameter is empty")
    if "---" in p:
        raise InputError(f"boot parameter {p!r} contains '---', the mboot.c32 module separator")
    for ch in p:
        if ch.isspace():
            raise InputError(f"boot parameter {p!r} contains whitespace; give one parameter "
                             "per item")
        if not ch.isascii() or not ch.isprintable():
            raise InputError(f"boot parameter {p!r} contains {ch!r}; use printable ASCII")
        if ch in "\"'\\":
            raise InputError(f"boot parameter {p!r} contains {ch!r}, which the kernel and grub "
                             "treat as quoting")
    return p


def grub_quote(value: str) -> str:
    """Quote ``value`` for a grub command line when grub would otherwise interpret it
    (';' ends a command, '$' expands a variable, '{' '|' '&' '<' '>' ...)."""
    if GRUB_SAFE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"
