"""Answerfile XML: a safe parse that remembers where each element starts, and minimal
byte edits of the root start tag.

Parsing goes through defusedxml's expat-based parser, so entity declarations
(XML bombs) and external entities are refused before anything is expanded; a
small tree builder records the line and byte offset of every start tag, so each
problem names its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from xcptui.engine.errors import InputError
from xcptui.engine.limits import read_small_file

MAX_SIZE = 1 << 20  # an answerfile is a few hundred bytes; refuse anything absurd


@dataclass
class XmlElement:
    """One element with the line and byte offset of its start tag."""

    tag: str
    attrs: dict[str, str]
    line: int
    offset: int
    text: str = ""
    children: list[XmlElement] = field(default_factory=list)

    def iter(self, *tags: str) -> Iterator[XmlElement]:
        """Descendants (not self) with one of ``tags`` (all when empty), document order.

        The installer looks elements up with minidom's getElementsByTagName, which
        searches the whole subtree, so this does too.
        """
        # an explicit stack: no recursion for a deep document to exhaust
        todo = list(reversed(self.children))
        while todo:
            c = todo.pop()
            if not tags or c.tag in tags:
                yield c
            todo.extend(reversed(c.children))

    def find_all(self, *tags: str) -> list[XmlElement]:
        return list(self.iter(*tags))

    def first(self, *tags: str) -> XmlElement | None:
        return next(self.iter(*tags), None)

    @property
    def stripped(self) -> str:
        return self.text.strip()


MAX_DEPTH = 64  # real answerfiles nest 3 deep; a deeper one is not an answerfile


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _LineTreeBuilder:
    """Target for DefusedXMLParser: builds XmlElements, asking expat where each starts."""

    def __init__(self) -> None:
        self.parser: Any = None  # the DefusedXMLParser, set right after construction
        self.root: XmlElement | None = None
        self._stack: list[XmlElement] = []
        self._text: list[str] = []

    def _flush(self) -> None:
        if self._stack and self._text:
            self._stack[-1].text += "".join(self._text)
        self._text = []

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self._flush()
        expat = self.parser.parser
        if len(self._stack) >= MAX_DEPTH:
            raise _TooDeep(int(expat.CurrentLineNumber))
        el = XmlElement(tag, dict(attrs), int(expat.CurrentLineNumber),
                        int(expat.CurrentByteIndex))
        if self._stack:
            self._stack[-1].children.append(el)
        elif self.root is None:
            self.root = el
        self._stack.append(el)

    def end(self, tag: str) -> None:
        self._flush()
        self._stack.pop()

    def data(self, text: str) -> None:
        self._text.append(text)

    def close(self) -> XmlElement | None:
        return self.root


@dataclass
class Answerfile:
    """A parsed answerfile: the raw bytes (for minimal edits) and the element tree."""

    name: str
    data: bytes
    root: XmlElement

    @property
    def operation(self) -> str:
        return self.root.tag

    @property
    def mode(self) -> str | None:
        """fresh | reinstall | upgrade for <installation> (default fresh), None for restore."""
        if self.root.tag != "installation":
            return None
        return self.root.attrs.get("mode", "fresh")


def parse(data: bytes, name: str = "answerfile.xml") -> Answerfile:
    """Parse answerfile bytes safely; InputError (one line, naming ``name``) when refused."""
    if len(data) > MAX_SIZE:
        raise InputError(f"{name}: {len(data)} bytes is too big for an answerfile "
                         f"(limit {MAX_SIZE}); is this the right file?")
    if not data.strip():
        raise InputError(f"{name}: empty file, not an XML answerfile")
    target = _LineTreeBuilder()
    # No DTD at all: answerfiles never need one, and a DOCTYPE is how entity bombs and
    # external (file/network) entities get in. Entities are refused as well, in depth.
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    target.parser = parser
    try:
        parser.feed(data)
        root = parser.close()
    except _TooDeep as e:
        raise InputError(f"{name} line {e.line}: elements nested more than {MAX_DEPTH} "
                         "deep; not an answerfile") from None
    except EntitiesForbidden:  # pragma: no cover - the DOCTYPE holding them is refused first
        line = parser.parser.CurrentLineNumber
        raise InputError(f"{name} line {line}: refused: the XML declares entities "
                         "(<!ENTITY>), the way XML bombs and file-stealing external "
                         "entities work; answerfiles never need them") from None
    except ExternalReferenceForbidden:  # pragma: no cover - likewise
        line = parser.parser.CurrentLineNumber
        raise InputError(f"{name} line {line}: refused: the XML references an external "
                         "entity or DTD; answerfiles never need them") from None
    except DTDForbidden:
        line = parser.parser.CurrentLineNumber
        raise InputError(f"{name} line {line}: refused: the XML has a <!DOCTYPE>, the way "
                         "XML bombs and file-stealing external entities get in; answerfiles "
                         "never need one") from None
    except DefusedXmlException as e:  # pragma: no cover - any other defusedxml refusal
        raise InputError(f"{name}: refused unsafe XML ({type(e).__name__})") from None
    except ParseError as e:
        line, col = getattr(e, "position", (0, 0))
        msg = str(e).split(":")[0]
        m = re.fullmatch(r"not well-formed \((.*)\)", msg)
        msg = m.group(1) if m else msg
        raise InputError(f"{name} line {line} column {col + 1}: not well-formed XML "
                         f"({msg}); is this an answerfile?") from None
    except (ValueError, LookupError) as e:  # e.g. an unknown encoding declaration
        raise InputError(f"{name}: cannot parse as XML ({e})") from None
    if root is None:  # pragma: no cover - expat reports "no element found" first
        raise InputError(f"{name}: no XML element found")
    return Answerfile(name, data, root)


def load(path: Path, name: str | None = None) -> Answerfile:
    label = name or path.name
    try:
        size = path.stat().st_size
        if size > MAX_SIZE:
            raise InputError(f"{label}: {size} bytes is too big for an answerfile "
                             f"(limit {MAX_SIZE}); is this the right file?")
        data = read_small_file(path, "answerfile", MAX_SIZE, label)  # no FIFO, device
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not an answerfile") from None
    except OSError as e:
        raise InputError(f"{label}: cannot read: {e.strerror}") from None
    return parse(data, label)


# ---------------------------------------------------------------------------
# minimal edits of the root start tag


_ATTR = re.compile(rb"""(\s+)([^\s=/>]+)(\s*=\s*)("[^"]*"|'[^']*')""")


def set_root_attributes(af: Answerfile, values: dict[str, str]) -> bytes:
    """Return the answerfile bytes with attributes set on the root start tag.

    Only the root start tag changes (existing attributes keep their place and
    quoting, new ones are appended); comments, layout and everything else stay
    byte-identical. Refuses encodings where byte edits are unsafe.
    """
    data = af.data
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4]:
        raise InputError(f"{af.name}: UTF-16 answerfiles cannot be edited; save it as UTF-8")
    start = af.root.offset
    if data[start:start + 1] != b"<":  # pragma: no cover - expat gave us this offset
        raise InputError(f"{af.name}: cannot locate the root start tag for editing")
    end = _tag_end(data, start)
    tag = data[start:end]
    close = b"/>" if tag.endswith(b"/>") else b">"
    body = tag[: len(tag) - len(close)]
    for name, value in values.items():
        bname = name.encode("ascii")
        bval = value.encode("ascii")
        found = False

        def repl(m: re.Match[bytes], bname: bytes = bname, bval: bytes = bval) -> bytes:
            nonlocal found
            if m.group(2) != bname:
                return m.group(0)
            found = True
            q = m.group(4)[:1]
            return m.group(1) + m.group(2) + m.group(3) + q + bval + q

        body = _ATTR.sub(repl, body)
        if not found:
            body = body.rstrip() + b" " + bname + b'="' + bval + b'"'
    new = data[:start] + body + close + data[end:]
    parse(new, af.name)  # must still be well-formed
    return new


def _tag_end(data: bytes, start: int) -> int:
    """Offset just past the '>' ending the start tag at ``start`` (quotes respected)."""
    quote = 0
    for i in range(start + 1, len(data)):
        c = data[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in (0x22, 0x27):
            quote = c
        elif c == 0x3E:
            return i + 1
    raise InputError("answerfile: unterminated root start tag")  # pragma: no cover
