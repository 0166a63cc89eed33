"""Automated installs: validate an answerfile and plan where it goes.

Parsing goes through defusedxml's expat-based parser, so entity declarations
(XML bombs) and external entities are refused before anything is expanded; a
small tree builder records the line and byte offset of every start tag, so each
problem names its line.

The rules follow what the XCP-ng installer (host-installer ``answerfile.py``,
``doc/answerfile.txt``) accepts, tightened where an unattended install would
otherwise silently fall back to a default (keymap, root password, timezone).

``plan_answerfile`` turns a recipe's ``[answerfile]`` table into dom0 boot
parameters and files to embed into install.img. It also handles the installer
rule that ``no-gpgcheck`` / ``no-repo-gpgcheck`` on the command line together
with an answerfile is a hard error ("Using answerfile, gpgcheck settings on CLI
would be ignored"): such flags are dropped from the command line and set as
``gpgcheck="false"`` / ``repo-gpgcheck="false"`` on ``<installation>`` in the
embedded copy (``netinstall-gpg-check="false"`` on 8.2) instead.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from defusedxml import DefusedXmlException
from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from xcptui.engine.errors import InputError
from xcptui.engine.layout import GRUB_CFG, ISOLINUX_CFG, TREEINFO

if TYPE_CHECKING:
    from xcptui.engine.boot.config import BootConfig, BootEntry
    from xcptui.engine.iso.read import IsoSource
    from xcptui.engine.recipe import Recipe

MAX_SIZE = 1 << 20  # an answerfile is a few hundred bytes; refuse anything absurd
DEFAULT_DEST = "/answerfile.xml"
URL_SCHEMES = ("http", "https", "ftp", "nfs")

# boot flag -> answerfile attribute on <installation> (8.3)
GPG_FLAGS = {"no-gpgcheck": "gpgcheck", "no-repo-gpgcheck": "repo-gpgcheck"}
GPG_ATTR_82 = "netinstall-gpg-check"
# parameters that make the installer unattended; a new answerfile replaces old ones
ANSWERFILE_PARAMS = ("answerfile", "rt_answerfile", "answerfile_generator")
# mount points the installer's init covers at boot: a file embedded there is hidden
_HIDDEN_DIRS = ("/proc", "/sys", "/dev", "/run")

_BOOL = {"true": True, "yes": True, "false": False, "no": False}

KNOWN_ELEMENTS = frozenset({
    "installation", "restore", "primary-disk", "guest-disks", "guest-disk", "raid", "disk",
    "admin-interface", "ipaddr", "ip", "subnet", "subnet-mask", "gateway", "ipv6",
    "gatewayv6", "root-password", "name-server", "nameserver", "hostname", "timezone", "ntp",
    "ntp-server", "ntp-servers", "keymap", "source", "driver-source", "script",
    "post-install-script", "install-failed-script", "ui-confirmation-prompt", "bootloader",
    "network-backend", "existing-installation", "backup-disk", "fcoe-interface", "service",
})


# ---------------------------------------------------------------------------
# parsing


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
        for c in self.children:
            if not tags or c.tag in tags:
                yield c
            yield from c.iter(*tags)

    def find_all(self, *tags: str) -> list[XmlElement]:
        return list(self.iter(*tags))

    def first(self, *tags: str) -> XmlElement | None:
        return next(self.iter(*tags), None)

    @property
    def stripped(self) -> str:
        return self.text.strip()


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
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not an answerfile") from None
    except OSError as e:
        raise InputError(f"{label}: cannot read: {e.strerror}") from None
    return parse(data, label)


# ---------------------------------------------------------------------------
# validation


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class _Checker:
    def __init__(self, af: Answerfile, version: str | None) -> None:
        self.af, self.version = af, version
        self._errors: list[tuple[int, str]] = []
        self._warnings: list[tuple[int, str]] = []

    def err(self, el: XmlElement | None, what: str) -> None:
        self._errors.append((el.line if el is not None else self.af.root.line, what))

    def warn(self, el: XmlElement | None, what: str) -> None:
        self._warnings.append((el.line if el is not None else self.af.root.line, what))

    def findings(self) -> Findings:
        """Problems in line order, each "NAME line N: what"."""
        def fmt(items: list[tuple[int, str]]) -> list[str]:
            return [f"{self.af.name} line {ln}: {what}"
                    for ln, what in sorted(items, key=lambda t: t[0])]
        self._check()
        return Findings(fmt(self._errors), fmt(self._warnings))

    # -- helpers -----------------------------------------------------------
    def choice(self, el: XmlElement, attr: str, allowed: Sequence[str], *,
               required: bool = False, lower: bool = False) -> str | None:
        val = el.attrs.get(attr)
        if val is None:
            if required:
                self.err(el, f"<{el.tag}> needs {attr}=\"...\" (one of {_alts(allowed)})")
            return None
        key = val.lower() if lower else val
        if key not in allowed:
            self.err(el, f"<{el.tag} {attr}=\"{val}\">: {attr} must be {_alts(allowed)}")
            return None
        return key

    def boolean(self, el: XmlElement, *attrs: str) -> None:
        for a in attrs:
            val = el.attrs.get(a)
            if val is not None and val.strip().lower() not in _BOOL:
                self.err(el, f"<{el.tag} {a}=\"{val}\">: {a} must be true, false, yes or no")

    def text(self, el: XmlElement, what: str) -> str | None:
        t = el.stripped
        if not t:
            self.err(el, f"<{el.tag}> is empty: it must hold {what}")
            return None
        return t

    def single(self, tags: Sequence[str], what: str) -> XmlElement | None:
        found = self.af.root.find_all(*tags)
        for extra in found[1:]:
            self.warn(extra, f"second <{extra.tag}>: the installer uses only the first "
                             f"{what} (line {found[0].line})")
        return found[0] if found else None

    def require(self, tags: Sequence[str], why: str) -> XmlElement | None:
        el = self.single(tags, f"<{tags[0]}>")
        if el is None:
            self.err(None, f"<{self.af.root.tag} mode=\"{self.af.mode}\"> has no "
                           f"<{tags[0]}>: {why}")
        return el

    # -- the whole file ----------------------------------------------------
    def _check(self) -> None:
        root = self.af.root
        if root.tag not in ("installation", "restore"):
            hint = (' (write <installation mode="upgrade">)' if root.tag == "upgrade" else "")
            self.err(root, f"root element is <{root.tag}>: an answerfile's root must be "
                           f"<installation> or <restore>{hint}")
            return
        for el in root.iter():
            if el.tag not in KNOWN_ELEMENTS or el.tag in ("installation", "restore"):
                self.warn(el, f"unknown element <{el.tag}>: the installer ignores it")
        self.common()
        if root.tag == "restore":
            for el in root.find_all("backup-disk"):
                self.text(el, "the disk holding the backup, e.g. sda")
            return
        mode = self.choice(root, "mode", ("fresh", "reinstall", "upgrade"))
        if "mode" in root.attrs and mode is None:
            return
        self.installation_attrs()
        self.sources()
        if mode == "upgrade":
            ex = self.require(("existing-installation",),
                              "an upgrade must name the disk of the installation to upgrade")
            if ex is not None:
                self.text(ex, "the disk holding the existing installation, e.g. sda")
            return
        self.fresh()

    def installation_attrs(self) -> None:
        root = self.af.root
        self.choice(root, "sr-type", ("ext", "lvm"))
        self.choice(root, "srtype", ("ext", "lvm"))
        self.boolean(root, "gpgcheck", "repo-gpgcheck", GPG_ATTR_82)
        if self.version == "8.2":
            for a in GPG_FLAGS.values():
                if a in root.attrs:
                    self.warn(root, f"{a}=\"...\" is an 8.3 attribute; the 8.2 installer "
                                    f"ignores it (use {GPG_ATTR_82}=\"false\")")
        elif self.version is not None and GPG_ATTR_82 in root.attrs:
            self.warn(root, f"{GPG_ATTR_82}=\"...\" is an 8.2 attribute; this installer "
                            "ignores it (use gpgcheck / repo-gpgcheck)")

    def common(self) -> None:
        for el in self.af.root.find_all("driver-source"):
            self.repo_location(el)
        for el in self.af.root.find_all("script"):
            self.choice(el, "stage", ("installation-start", "packages-installed",
                                      "filesystem-populated", "installation-complete"),
                        required=True, lower=True)
            stype = self.choice(el, "type", ("url", "nfs"), required=True, lower=True)
            url = self.text(el, "the script's URL")
            if url and stype == "url":
                self.url(el, url, ("http", "https", "ftp", "file", "nfs"))
        for el in self.af.root.find_all("post-install-script", "install-failed-script"):
            self.warn(el, f"<{el.tag}> is deprecated: use <script stage=\"...\">")
            self.text(el, "the script's URL")
        for el in self.af.root.find_all("ui-confirmation-prompt"):
            if el.stripped.lower() not in ("", *_BOOL):
                self.err(el, "<ui-confirmation-prompt> must be true or false")

    def sources(self) -> None:
        found = self.af.root.find_all("source")
        if not found:
            self.err(None, "no <source>: an installation needs the package source, e.g. "
                           "<source type=\"local\"/> for this ISO")
        for el in found:
            self.repo_location(el)
            self.boolean(el, "gpgcheck", "repo-gpgcheck")
        for el in self.af.root.find_all("bootloader"):
            self.choice(el, "location", ("mbr", "partition"))
            self.boolean(el, "write-boot-entry")
            if el.stripped not in ("", "grub2"):
                self.err(el, f"<bootloader>{el.stripped}</bootloader>: only grub2 is supported")
        for el in self.af.root.find_all("network-backend"):
            if el.stripped not in ("bridge", "openvswitch", "vswitch"):
                self.err(el, f"<network-backend>{el.stripped}</network-backend>: must be "
                             "bridge, openvswitch or vswitch")

    def repo_location(self, el: XmlElement) -> None:
        rtype = self.choice(el, "type", ("local", "url", "nfs"), required=True)
        if rtype in ("url", "nfs"):
            loc = self.text(el, f"the repository {'URL' if rtype == 'url' else 'server:/path'}")
            if loc and rtype == "url":
                self.url(el, loc, ("http", "https", "ftp", "file", "nfs"))
            elif loc and rtype == "nfs" and ":" not in loc:
                self.err(el, f"<{el.tag} type=\"nfs\">{loc}: must be server:/path")

    def url(self, el: XmlElement, url: str, schemes: Sequence[str]) -> None:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in schemes:
            self.err(el, f"<{el.tag}>{url}: not a URL the installer can fetch "
                         f"({_alts([s + '://' for s in schemes])})")

    def fresh(self) -> None:
        mode = self.af.mode
        disk = self.require(("primary-disk",), "the installer needs the disk to install to")
        if disk is not None:
            self.text(disk, "the target disk, e.g. sda")
            self.boolean(disk, "guest-storage", "gueststorage", "sr-at-end", "swraid")
            self.choice(disk, "preserve-first-partition",
                        ("true", "yes", "false", "no", "if-utility"))
        for raid in self.af.root.find_all("raid"):
            if not raid.attrs.get("device"):
                self.err(raid, "<raid> needs device=\"md127\" (the md device to create)")
            if len(raid.find_all("disk")) < 2:
                self.err(raid, "<raid> needs at least two <disk> children")
        for el in self.af.root.find_all("guest-disk"):
            self.text(el, "a disk for the local SR, e.g. sdb")
        km = self.require(("keymap",), "without it an unattended install silently uses 'us'")
        if km is not None:
            self.text(km, "a console keymap, e.g. us")
        pw = self.require(("root-password",),
                          "without it the host has no root password until first boot")
        if pw is not None:
            self.choice(pw, "type", ("plaintext", "hash"))
            if not pw.text:
                self.err(pw, "<root-password> is empty")
        self.interface()
        tz = self.single(("timezone",), "<timezone>")
        ntp = self.af.root.find_all("ntp")
        if tz is None and not ntp:
            self.err(None, f"<installation mode=\"{mode}\"> has neither <timezone> nor <ntp>: "
                           "add e.g. <timezone>Europe/Paris</timezone>")
        if tz is not None:
            self.text(tz, "a region/city timezone, e.g. Europe/Paris")
        for extra in ntp[1:]:
            self.err(extra, "more than one <ntp> element (the installer refuses that)")
        servers = self.af.root.find_all("ntp-server", "ntp-servers")
        if ntp:
            src = self.choice(ntp[0], "source", ("dhcp", "default", "manual", "none"),
                              required=True)
            if servers and src is not None and src != "manual":
                self.err(servers[0], f"<{servers[0].tag}> is only valid with "
                                     "<ntp source=\"manual\"/>")
            if src == "manual" and not servers:
                self.err(ntp[0], "<ntp source=\"manual\"/> needs at least one <ntp-server>")
        for el in servers:
            self.text(el, "an NTP server name or address")
        for el in self.af.root.find_all("service"):
            if not el.attrs.get("name"):
                self.err(el, "<service> needs name=\"...\"")
            self.choice(el, "state", ("enabled", "disabled"), required=True)

    def interface(self) -> None:
        el = self.require(("admin-interface",),
                          "the installer needs the management interface")
        if el is None:
            return
        if not el.attrs.get("name") and not el.attrs.get("hwaddr"):
            self.err(el, "<admin-interface> needs name=\"eth0\" or hwaddr=\"...\"")
        proto = self.choice(el, "proto", ("static", "dhcp", "none"), required=True)
        protov6 = self.choice(el, "protov6", ("static", "dhcp", "autoconf", "none"))
        if proto == "static":
            for tags, what in ((("ipaddr", "ip"), "<ipaddr>"),
                               (("subnet", "subnet-mask"), "<subnet>"),
                               (("gateway",), "<gateway>")):
                child = el.first(*tags)
                if child is None:
                    self.err(el, f"<admin-interface proto=\"static\"> needs {what}")
                else:
                    self.text(child, "an address")
        if proto == "none" and protov6 in (None, "none"):
            self.err(el, "<admin-interface proto=\"none\"> needs protov6=\"static|dhcp|"
                         "autoconf\" (no IPv4 and no IPv6 leaves the host unreachable)")
        if protov6 == "static":
            for tag in ("ipv6", "gatewayv6"):
                if el.first(tag) is None:
                    self.err(el, f"<admin-interface protov6=\"static\"> needs <{tag}>")
        vlan = el.attrs.get("vlan")
        if vlan is not None and not (vlan.isdigit() and 1 <= int(vlan) <= 4094):
            self.err(el, f"<admin-interface vlan=\"{vlan}\">: vlan must be 1 to 4094")


def _alts(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def check(af: Answerfile, version: str | None = None) -> Findings:
    """Every problem (errors) and oddity (warnings) of a parsed answerfile, one line each.

    ``version`` is the ISO's product version ("8.2", "8.3"...) when known.
    """
    return _Checker(af, version).findings()


def validate(data: bytes, name: str = "answerfile.xml", version: str | None = None
             ) -> tuple[Answerfile, Findings]:
    """Parse and check; InputError (one line) when refused or when anything is wrong."""
    af = parse(data, name)
    found = check(af, version)
    if found.errors:
        raise InputError(summarise(found.errors))
    return af, found


def summarise(errors: Sequence[str]) -> str:
    """One line for several problems: the first in full, then the others."""
    if len(errors) == 1:
        return errors[0]
    first = errors[0].split(" line ", 1)[0]
    rest = "; ".join(e[len(first) + 1:] if e.startswith(first + " ") else e
                     for e in errors[1:])
    return f"{errors[0]} (and {len(errors) - 1} more: {rest})"


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


# ---------------------------------------------------------------------------
# planning for the build


class EmbeddedFile(NamedTuple):
    dest: str  # absolute path inside install.img
    data: bytes
    mode: int  # 0o644 for the answerfile, 0o755 for scripts


@dataclass
class AnswerfilePlan:
    """What the build does for ``[answerfile]``.

    The boot planner removes ``params_to_remove`` (names: ``answerfile`` removes any
    ``answerfile=...``; absent ones are ignored) and then appends ``params_to_append``
    on the dom0 (vmlinuz) command line of ``entries`` in all three boot configs
    (empty ``entries`` = every installer entry). The install.img planner adds
    ``embedded`` as files (uid/gid 0).
    """

    params_to_append: list[str] = field(default_factory=list)
    params_to_remove: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    embedded: list[EmbeddedFile] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.params_to_append or self.params_to_remove or self.embedded)


def check_dest(dest: str, what: str) -> str:
    """An absolute path inside install.img, not hidden by a boot-time mount."""
    if not dest.startswith("/"):
        raise InputError(f"{what}: {dest!r} must be an absolute path inside install.img "
                         "(start with /)")
    parts = [p for p in dest.split("/") if p]
    if any(p in ("..", ".") for p in parts):
        raise InputError(f"{what}: {dest!r} must stay inside install.img (no '..' or '.')")
    if not parts or dest.endswith("/"):
        raise InputError(f"{what}: {dest!r} must name a file, not a directory")
    if any(c.isspace() or ord(c) < 32 for c in dest):
        raise InputError(f"{what}: {dest!r} contains whitespace; it must fit on the kernel "
                         "command line")
    norm = "/" + "/".join(parts)
    for d in _HIDDEN_DIRS:
        if norm == d or norm.startswith(d + "/"):
            raise InputError(f"{what}: {dest!r} is under {d}, which is mounted over at boot "
                             "and would hide the file")
    return norm


def check_url(url: str, what: str = "answerfile.url") -> str:
    if any(c.isspace() for c in url):
        raise InputError(f"{what}: {url!r} contains whitespace; it must be one kernel "
                         "parameter")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in URL_SCHEMES:
        raise InputError(f"{what}: {url!r}: the installer fetches answerfiles only over "
                         "http://, https://, ftp:// or nfs:// (embed a local file with "
                         "source = \"...\" instead)")
    if not rest.split("/", 1)[0]:
        raise InputError(f"{what}: {url!r} has no server name")
    return url


def _check_param_value(value: str, what: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise InputError(f"{what}: {value!r} must be one word (eth0, a MAC address or all)")
    return value


@dataclass
class IsoAnswerfileFacts:
    """What plan_answerfile needs to know about the source ISO."""

    version: str | None = None  # product version from .treeinfo, e.g. "8.3.0"
    configs: dict[str, BootConfig] = field(default_factory=dict)  # "isolinux", "grub", ...

    @property
    def is_82(self) -> bool:
        return bool(self.version and (self.version == "8.2" or self.version.startswith("8.2.")))

    def chosen(self, entries: Sequence[str]) -> list[tuple[str, BootEntry]]:
        """(config name, entry) for ``entries`` (labels of any menu) or every installer
        entry; InputError naming the config when one is missing or not an installer entry."""
        out: list[tuple[str, BootEntry]] = []
        ref = self.configs.get("isolinux") or next(iter(self.configs.values()), None)
        for cname, cfg in self.configs.items():
            if not entries:
                out += [(cname, e) for e in cfg.installer_entries()]
                continue
            for name in entries:
                e = cfg.find(name, via=ref)
                if not e.is_installer:
                    raise InputError(f"{cfg.name}: entry {e.label!r} does not boot the "
                                     "installer; an answerfile cannot go there")
                out.append((cname, e))
        return out


def iso_facts(src: IsoSource) -> IsoAnswerfileFacts:
    """Read the product version (.treeinfo) and the boot menus of the source ISO."""
    from xcptui.engine.boot import config as bootcfg
    from xcptui.engine.repo import treeinfo

    out = IsoAnswerfileFacts()
    if src.exists(TREEINFO):
        try:
            out.version = treeinfo.TreeInfo.from_bytes(src.read(TREEINFO)).product_version
        except InputError:
            out.version = None
    for cname, path, kind in (("isolinux", ISOLINUX_CFG, bootcfg.ISOLINUX),
                              ("grub", GRUB_CFG, bootcfg.GRUB)):
        if src.exists(path):
            out.configs[cname] = bootcfg.BootConfig.from_bytes(src.read(path), kind,
                                                               path.lstrip("/"))
    return out


def plan_answerfile(recipe: Recipe, src: IsoSource | IsoAnswerfileFacts | None = None, *,
                    extra_params: Iterable[str] = ()) -> AnswerfilePlan:
    """Plan ``recipe.answerfile``; InputError (one line) for anything wrong.

    ``src`` is the source ISO (or facts already read from it with ``iso_facts``);
    ``extra_params`` are dom0 parameters other planners want on the command line
    (e.g. ``no-repo-gpgcheck`` from the packages/signing plan), so gpg flags among
    them are moved into the answerfile too.
    """
    plan = AnswerfilePlan()
    af_sec = recipe.answerfile
    if af_sec is None:
        return plan
    facts = (src if isinstance(src, IsoAnswerfileFacts)
             else iso_facts(src) if src is not None else IsoAnswerfileFacts())
    where = f"recipe {recipe.path}" if recipe.path else "recipe"
    if (af_sec.source is None) == (af_sec.url is None):
        raise InputError(f"{where}: [answerfile] needs exactly one of source (embed) or url")
    plan.entries = list(af_sec.entries)
    chosen = facts.chosen(plan.entries)

    # gpg flags that would end up on the command line of the chosen entries
    removed_by_recipe = {p.split("=", 1)[0] for p in recipe.boot.remove}
    wanted: dict[str, str] = {}  # flag -> why
    for p in recipe.boot.append:
        if p in GPG_FLAGS:
            wanted.setdefault(p, "the recipe's [boot] append")
    for p in extra_params:
        if p in GPG_FLAGS:
            wanted.setdefault(p, "the repository changes")
    for cname, entry in chosen:
        for p in entry.dom0_args:
            if p in GPG_FLAGS and p not in removed_by_recipe:
                wanted.setdefault(p, f"the ISO's {cname} entry '{entry.label}'")

    plan.params_to_remove = list(ANSWERFILE_PARAMS)
    plan.params_to_remove += [f for f in GPG_FLAGS if f in wanted]

    if af_sec.url is not None:
        url = check_url(af_sec.url)
        plan.params_to_append = ["install", f"answerfile={url}"]
        if af_sec.answerfile_device:
            plan.params_to_append.append("answerfile_device=" + _check_param_value(
                af_sec.answerfile_device, "answerfile.answerfile_device"))
            plan.params_to_remove.append("answerfile_device")
        if af_sec.network_device:
            plan.params_to_append.append("network_device=" + _check_param_value(
                af_sec.network_device, "answerfile.network_device"))
            plan.params_to_remove.append("network_device")
        if af_sec.scripts:
            raise InputError(f"{where}: [[answerfile.scripts]] embeds scripts into "
                             "install.img, which only makes sense with an embedded answerfile "
                             "(source = ...), not with url")
        plan.messages.append(f"answerfile: {url} is fetched over the network at install "
                             "time; xcptui cannot check its content")
        for flag, why in wanted.items():
            attr = GPG_ATTR_82 if facts.is_82 else GPG_FLAGS[flag]
            plan.warnings.append(
                f"{flag} (from {why}) is not put on the kernel command line: with an "
                f"answerfile the installer refuses it; make sure the answerfile at {url} "
                f"sets {attr}=\"false\" on <installation>")
        return plan

    # embedded answerfile
    assert af_sec.source is not None
    label = af_sec.source.name
    dest = check_dest(af_sec.dest, "answerfile.dest")
    af = load(af_sec.source, label)
    found = check(af, facts.version[:3] if facts.version else None)
    if found.errors:
        raise InputError(summarise(found.errors))
    plan.warnings += found.warnings
    data = af.data
    if af.operation == "installation":
        data = _apply_gpg(af, wanted, facts, recipe, plan)
    elif wanted:
        plan.messages.append(f"{', '.join(wanted)} dropped from the kernel command line "
                             f"({label} is a <restore> answerfile)")
    # (the install.img and boot-config planners report the file and the parameters)
    plan.embedded.append(EmbeddedFile(dest, data, 0o644))
    plan.params_to_append = ["install", f"answerfile=file://{dest}"]

    seen = {dest}
    for i, s in enumerate(af_sec.scripts):
        sdest = check_dest(s.dest, f"answerfile.scripts[{i}].dest")
        if sdest in seen:
            raise InputError(f"{where}: answerfile.scripts[{i}].dest {sdest} is used twice")
        seen.add(sdest)
        try:
            sdata = s.source.read_bytes()
        except OSError as e:
            raise InputError(f"{s.source}: cannot read: {e.strerror}") from None
        plan.embedded.append(EmbeddedFile(sdest, sdata, 0o755))
    # scripts the answerfile expects inside install.img
    for el in af.root.find_all("script", "post-install-script", "install-failed-script"):
        url = el.stripped
        if url.startswith("file://"):
            path = posixpath.normpath(url[len("file://"):] or "/")
            if path not in seen:
                plan.warnings.append(
                    f"{label} line {el.line}: <{el.tag}> runs {url}, which is not embedded "
                    f"by the recipe (add [[answerfile.scripts]] with dest = \"{path}\" unless "
                    "install.img already has it)")
    return plan


def _apply_gpg(af: Answerfile, wanted: dict[str, str], facts: IsoAnswerfileFacts,
               recipe: Recipe, plan: AnswerfilePlan) -> bytes:
    """Set the gpg attributes the dropped boot flags stood for; report each change."""
    label = af.name
    attrs: dict[str, str] = {}
    if facts.is_82:
        if wanted or recipe.touches_repo():
            why = (", ".join(f"{f} (from {w})" for f, w in wanted.items()) if wanted else
                   "the repository changes (8.2 answerfile installs check signatures "
                   "against the key inside install.img)")
            attrs[GPG_ATTR_82] = "false"
            plan.messages.append(f"{label}: set {GPG_ATTR_82}=\"false\" on <installation> "
                                 f"for {why}")
    else:
        signing = recipe.signing
        if (recipe.touches_repo() and signing is not None and signing.mode == "gpg"
                and "no-gpgcheck" not in wanted):
            # Re-signed repodata verifies against the user's key, but the RPMs keep their
            # XCP-ng signatures (or none): only one key per repo, so RPM checks must go.
            attrs["gpgcheck"] = "false"
            plan.messages.append(
                f"{label}: set gpgcheck=\"false\" on <installation>: the repository is "
                "re-signed with your key, which the RPMs are not signed with")
        for flag, why in wanted.items():
            attr = GPG_FLAGS[flag]
            attrs[attr] = "false"
            plan.messages.append(
                f"{label}: set {attr}=\"false\" on <installation> instead of {flag} on the "
                f"kernel command line (from {why}; the installer refuses gpg boot flags "
                "together with an answerfile)")
    if not attrs:
        return af.data
    for a in attrs:
        old = af.root.attrs.get(a)
        if old is not None and old.strip().lower() in ("true", "yes"):
            plan.warnings.append(f"{label} line {af.root.line}: {a}=\"{old}\" overridden to "
                                 "\"false\"")
    for el in af.root.find_all("source"):
        for a in attrs:
            v = el.attrs.get(a)
            if v is not None and v.strip().lower() in ("true", "yes"):
                plan.warnings.append(
                    f"{label} line {el.line}: <source {a}=\"{v}\"> overrides the global "
                    f"{a}=\"false\" for that source; the install may fail its signature check")
    return set_root_attributes(af, attrs)
