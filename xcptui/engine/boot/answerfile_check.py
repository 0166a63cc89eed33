"""Answerfile rules: what the XCP-ng installer (host-installer ``answerfile.py``,
``doc/answerfile.txt``) accepts, tightened where an unattended install would
otherwise silently fall back to a default (keymap, root password, timezone)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xcptui.engine.boot.answerfile_xml import Answerfile, XmlElement, parse
from xcptui.engine.errors import InputError

# boot flag -> answerfile attribute on <installation> (8.3)
GPG_FLAGS = {"no-gpgcheck": "gpgcheck", "no-repo-gpgcheck": "repo-gpgcheck"}
GPG_ATTR_82 = "netinstall-gpg-check"
_BOOL = {"true": True, "yes": True, "false": False, "no": False}

KNOWN_ELEMENTS = frozenset({
    "installation", "restore", "primary-disk", "guest-disks", "guest-disk", "raid", "disk",
    "admin-interface", "ipaddr", "ip", "subnet", "subnet-mask", "gateway", "ipv6",
    "gatewayv6", "root-password", "name-server", "nameserver", "hostname", "timezone", "ntp",
    "ntp-server", "ntp-servers", "keymap", "source", "driver-source", "script",
    "post-install-script", "install-failed-script", "ui-confirmation-prompt", "bootloader",
    "network-backend", "existing-installation", "backup-disk", "fcoe-interface", "service",
})


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
        for attr in ("sr-type", "srtype"):
            val = root.attrs.get(attr)
            # the installer also takes the type its large-block-capable-sr-type feature
            # file names (host-installer constants.SR_TYPE_LARGE_BLOCK): unknown here
            if val is not None and val not in ("ext", "lvm"):
                self.warn(root, f"{attr}=\"{val}\": the installer accepts ext and lvm, and "
                                "only on some releases a large-block SR type; anything else "
                                "fails the install")
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
            # the only stages install.py / backend.py run ("packages-installed" never does)
            self.choice(el, "stage", ("installation-start", "filesystem-populated",
                                      "installation-complete"),
                        required=True, lower=True)
            stype = self.choice(el, "type", ("url", "nfs"), required=True, lower=True)
            url = self.text(el, "the script's URL")
            if url and stype == "url":
                self.url(el, url, ("http", "https", "ftp", "file", "nfs"))
        for el in self.af.root.find_all("post-install-script", "install-failed-script"):
            self.warn(el, f"<{el.tag}> is deprecated: use <script stage=\"...\">")
            self.text(el, "the script's URL")
        for el in self.af.root.find_all("ui-confirmation-prompt"):
            # answerfile.py parseUIConfirmationPrompt: bool(text), so "false" turns it ON
            if el.stripped and not _BOOL.get(el.stripped.lower(), True):
                self.err(el, f"<ui-confirmation-prompt>{el.stripped}</ui-confirmation-prompt> "
                             "turns the prompt ON (the installer only checks that the text "
                             "is not empty); remove the element for no prompt")

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
