"""Text from an input, made safe to show on a terminal.

Every name, link target, label, .treeinfo value, RPM tag or Requires string comes
from a file someone else made. Printed raw, an ESC starts a terminal escape
sequence (retitle the window, rewrite the screen, fake a prompt), a CR or newline
forges output lines, and a bidi control reorders what the reader sees. ``printable``
replaces each such character with a visible escape (``\\x1b``, ``\\u202e``); bytes
that were not UTF-8 (kept as surrogates by ``surrogateescape``) become ``\\xNN``.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls; bidi embeddings/overrides/isolates and marks;
# line/paragraph separators; zero-width joiners and the BOM (invisible in names);
# lone surrogates (undecodable bytes).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    if 0xDC80 <= c <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{c - 0xDC00:02x}"
    if c <= 0xFF:
        return f"\\x{c:02x}"
    return f"\\u{c:04x}"


def printable(s: str, keep: str = "") -> str:
    """``s`` with every character that could act on a terminal escaped.

    ``keep`` lists characters to pass through (e.g. "\\n" for multi-line output that
    the caller itself structures).
    """
    if keep:
        return "".join(ch if ch in keep else _UNSAFE.sub(_escape, ch) for ch in s) \
            if _UNSAFE.search(s) else s
    return _UNSAFE.sub(_escape, s)


def is_printable(s: str) -> bool:
    return _UNSAFE.search(s) is None
