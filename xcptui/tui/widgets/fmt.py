"""Small formatting helpers shared by the screens (sizes, paths, durations, file types)."""

from __future__ import annotations

import os
from pathlib import Path

from rich.markup import escape as _markup_escape
from rich.text import Text

from xcptui.engine import printable, units


def size(n: int | None) -> str:
    """Humanized binary size: '963.6 KiB' (xcptui.engine.units.size; '' for None)."""
    return "" if n is None else units.size(n)


def shown(s: str) -> str:
    """Untrusted text (a name, label, RPM tag...) for a widget that parses markup:
    terminal controls made visible, then Rich markup escaped ("[bold]" stays literal)."""
    return _markup_escape(printable(s))


def plain(s: str, style: str = "") -> Text:
    """Untrusted text as a Rich Text: never parsed as markup, controls made visible."""
    return Text(printable(s), style=style)


def rate(nbytes: int, seconds: float) -> str:
    if seconds <= 0.05:
        return ""
    return f"{size(int(nbytes / seconds))}/s"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"


def display_path(path: Path | str) -> str:
    """A short path for the screen: relative to the working dir, else ~-based."""
    p = Path(path)
    try:
        cwd: Path | None = Path.cwd()
    except OSError:
        cwd = None
    if cwd is not None and p.is_absolute() and p != cwd and cwd in p.parents:
        return str(p.relative_to(cwd))
    home = os.path.expanduser("~")
    s = str(p)
    if home not in ("", "/") and (s == home or s.startswith(home + "/")):
        return "~" + s[len(home):]
    return s


_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\x7fELF", 0, "ELF binary"),
    (b"\xed\xab\xee\xdb", 0, "RPM package"),
    (b"BZh", 0, "bzip2 data"),
    (b"\x1f\x8b", 0, "gzip data"),
    (b"\xfd7zXZ\x00", 0, "xz data"),
    (b"\x28\xb5\x2f\xfd", 0, "zstd data"),
    (b"070701", 0, "cpio archive (newc)"),
    (b"070702", 0, "cpio archive (crc)"),
    (b"\x89PNG", 0, "PNG image"),
    (b"GIF8", 0, "GIF image"),
    (b"\xff\xd8\xff", 0, "JPEG image"),
    (b"MZ", 0, "PE/COFF executable (EFI)"),
    (b"-----BEGIN PGP", 0, "PGP armored data"),
    (b"PK\x03\x04", 0, "zip archive"),
    (b"hsqs", 0, "squashfs image"),
]


def sniff(head: bytes, name: str = "") -> str:
    """A one-phrase file type from the first bytes (like file(1), much smaller)."""
    for magic, off, what in _MAGIC:
        if head[off:off + len(magic)] == magic:
            if what == "ELF binary" and name.endswith(".ko"):
                return "kernel module (ELF)"
            return what
    if len(head) >= 512 and head[510:512] == b"\x55\xaa":
        if b"FAT" in head[0x36:0x3E] or b"FAT" in head[0x52:0x5A]:
            return "FAT filesystem image"
        return "boot sector / disk image"
    if not head:
        return "empty file"
    if is_text(head):
        return "text"
    return "binary data"


def is_text(head: bytes) -> bool:
    if b"\x00" in head[:8192]:
        return False
    try:
        head[:8192].decode("utf-8")
    except UnicodeDecodeError as e:
        # a multi-byte character cut at the end of the sample is still text
        return e.start >= len(head[:8192]) - 3
    return True


_LEXERS = {
    ".xml": "xml", ".py": "python", ".sh": "bash", ".repo": "ini", ".ini": "ini",
    ".conf": "unixconfig", ".json": "json", ".toml": "toml", ".yaml": "yaml",
    ".yml": "yaml", ".service": "ini", ".spec": "spec",
}


def lexer_for(name: str) -> str:
    """The Pygments lexer for a file shown in a preview."""
    base = name.rsplit("/", 1)[-1]
    if base == ".treeinfo":
        return "ini"
    if base.startswith("grub") and base.endswith(".cfg"):
        return "bash"
    if base.endswith(".cfg"):
        return "unixconfig" if "linux" in base else "ini"
    for ext, lexer in _LEXERS.items():
        if base.endswith(ext):
            return lexer
    return "text"
