"""``.treeinfo``: parse it the way the installer does and edit it with minimal diffs.

The installer (host-installer ``repository.py``, ``MainYumRepository``) reads the
file with Python 2's ``SafeConfigParser``: option names are lower-cased, ``#`` and
``;`` start comment lines, indented lines continue the previous value, a ``;``
after whitespace starts an inline comment, and ``%`` triggers interpolation. It
uses ``[system-v1]`` (falling back to ``[platform]`` / ``[branding]``),
``[build] number`` and every entry of ``[keys]`` (the first names the GPG key
file). ``[general]`` and ``[images-*]`` are not read by the installer.

Edits rewrite only the lines they touch; every other byte (comments, blank
lines, spacing around ``=``, line endings) is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xcptui.engine.errors import InputError

NAME = ".treeinfo"

_SECTION = re.compile(r"\[(?P<name>[^]]+)\]")
# Same shape as ConfigParser's OPTCRE: a name not starting with ':', '=' or space.
_OPTION = re.compile(r"(?P<pre>(?P<key>[^:=\s][^:=]*?)\s*[:=][ \t]*)(?P<rest>.*)$")
_COMMENTED = re.compile(r"(?P<mark>[#;][ \t]*)(?P<key>[^:=\s][^:=]*?)\s*[:=]")
_VERSION = re.compile(r"\d+(\.\d+)*")
# Characters a build number must not contain, and why:
#   %    SafeConfigParser interpolation: a bare % makes the installer fail to read .treeinfo
#   ;    after a space it starts an inline comment: the rest would be silently dropped
#   '    the installer writes BUILD_NUMBER='...' into /etc/xensource-inventory (sourced by sh)
#   " ` $ \  kept out too, so the value reads the same in every inventory reader
#            (sh, Python, xapi) whatever quoting it applies
_BUILD_FORBIDDEN = "%;'\"`$\\"
_KEYFILE_FORBIDDEN = "%;'\"`$\\"


@dataclass(frozen=True)
class _Line:
    kind: str  # "section" | "option" | "continuation" | "comment" | "blank" | "junk"
    section: str | None  # the section the line belongs to (None before the first header)
    key: str | None = None  # lower-cased option name ("option" lines and commented options)
    value: str | None = None  # the value as the installer sees it ("option" lines)


def _ending(line: str) -> str:
    for end in ("\r\n", "\n", "\r"):
        if line.endswith(end):
            return end
    return ""


def _strip_inline_comment(rest: str) -> tuple[str, str]:
    """Split a raw value into (value, inline comment) like Python 2 ConfigParser.

    Only the first ';' counts, and only when whitespace precedes it.
    """
    pos = rest.find(";")
    if pos > 0 and rest[pos - 1].isspace():
        return rest[:pos].rstrip(), rest[pos:]
    return rest.rstrip(), ""


def _parse_lines(lines: list[str]) -> list[_Line]:
    out: list[_Line] = []
    section: str | None = None
    in_option = False
    last_option = -1
    for raw in lines:
        body = raw[: len(raw) - len(_ending(raw))]
        if out == [] and body.startswith("\ufeff"):
            body = body[1:]
        stripped = body.strip()
        if not stripped:
            out.append(_Line("blank", section))
            in_option = False  # an indented line after a blank one is not a continuation
            continue
        if body[0] in "#;":  # py2 ConfigParser: only at column 0
            m = _COMMENTED.match(body)
            out.append(_Line("comment", section, m.group("key").strip().lower() if m else None))
            continue
        if body[0].isspace() and in_option:
            # the value goes on: ConfigParser joins continuation lines with "\n"
            prev = out[last_option]
            out[last_option] = _Line("option", prev.section, prev.key,
                                     f"{prev.value}\n{stripped}")
            out.append(_Line("continuation", section))
            continue
        m = _SECTION.match(body)
        if m:
            section = m.group("name")
            out.append(_Line("section", section))
            in_option = False
            continue
        m = _OPTION.match(body)
        if m and section is not None:
            value, _ = _strip_inline_comment(m.group("rest"))
            if value == '""':
                value = ""
            last_option = len(out)
            out.append(_Line("option", section, m.group("key").strip().lower(), value))
            in_option = True
            continue
        out.append(_Line("junk", section))
        in_option = False
    return out


def validate_version(version: str, what: str = "product version") -> str:
    """A version the installer's ``Version.from_string`` reads as plain dotted numbers."""
    if not _VERSION.fullmatch(version):
        raise InputError(
            f"{what} {version!r} is not dotted numbers like 8.3.0 (the installer parses it with "
            "Version.from_string); put a custom tag in the build number instead"
        )
    return version


def validate_build_number(number: str) -> str:
    if not number:
        raise InputError("build number is empty")
    if len(number) > 200:
        raise InputError(f"build number is {len(number)} characters; keep it under 200")
    for ch in number:
        if not ch.isascii() or not ch.isprintable():
            raise InputError(f"build number {number!r} contains {ch!r}; use printable ASCII "
                             "on one line")
        if ch in _BUILD_FORBIDDEN:
            raise InputError(f"build number {number!r} contains {ch!r}, which breaks the "
                             f"installer's .treeinfo or inventory parsing (avoid "
                             f"{' '.join(_BUILD_FORBIDDEN)})")
    if number != number.strip():
        raise InputError(f"build number {number!r} starts or ends with a space, which the "
                         "installer strips")
    return number


def validate_key_file(name: str) -> str:
    """A key file name as ``.treeinfo`` [keys] lists it: relative to the ISO root."""
    if (not name or name.startswith("/") or ".." in name.split("/")
            or any(c.isspace() or not c.isprintable() or not c.isascii() for c in name)
            or any(c in _KEYFILE_FORBIDDEN for c in name)):
        raise InputError(f"key file name {name!r} must be a path relative to the ISO root, "
                         "printable ASCII without spaces, quotes, % or ;")
    return name


class TreeInfo:
    """A parsed ``.treeinfo``. Edits return a new TreeInfo; ``text`` is the file content."""

    def __init__(self, text: str, name: str = NAME) -> None:
        self.text = text
        self.name = name
        self._raw = text.splitlines(keepends=True)
        self._lines = _parse_lines(self._raw)

    @classmethod
    def from_bytes(cls, data: bytes, name: str = NAME) -> TreeInfo:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{name}: not UTF-8 text (byte {e.start})") from None
        return cls(text, name)

    def to_bytes(self) -> bytes:
        return self.text.encode("utf-8")

    # ------------------------------------------------------------------ reading

    def sections(self) -> list[str]:
        seen: list[str] = []
        for ln in self._lines:
            if ln.kind == "section" and ln.section not in seen:
                seen.append(ln.section or "")
        return seen

    def has_section(self, section: str) -> bool:
        return section in self.sections()

    def items(self, section: str) -> dict[str, str]:
        """Options of ``section`` as the installer reads them (later duplicates win)."""
        out: dict[str, str] = {}
        for ln in self._lines:
            if ln.kind == "option" and ln.section == section and ln.key is not None:
                out[ln.key] = ln.value or ""
        return out

    def get(self, section: str, key: str) -> str | None:
        return self.items(section).get(key.lower())

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {s: self.items(s) for s in self.sections()}

    def _name_version(self, pairs: list[tuple[str, str, str]]) -> tuple[str | None, str | None]:
        # The installer takes the first section that exists, never mixing sections.
        for section, name_key, version_key in pairs:
            if self.has_section(section):
                return self.get(section, name_key), self.get(section, version_key)
        return None, None

    @property
    def product(self) -> tuple[str | None, str | None]:
        """(product name, product version): [system-v1], else [branding]."""
        return self._name_version([("system-v1", "product_name", "product_version"),
                                   ("branding", "name", "version")])

    @property
    def platform(self) -> tuple[str | None, str | None]:
        """(platform name, platform version): [system-v1], else [platform]."""
        return self._name_version([("system-v1", "platform_name", "platform_version"),
                                   ("platform", "name", "version")])

    @property
    def product_version(self) -> str | None:
        return self.product[1]

    @property
    def build_number(self) -> str | None:
        return self.get("build", "number")

    @property
    def keys(self) -> list[str]:
        """Key files the installer will look for, in order (the first one is used)."""
        return list(self.items("keys").values())

    @property
    def commented_keys(self) -> list[str]:
        """Names of ``[keys]`` entries that are commented out (``#key1 = ...``)."""
        return [ln.key for ln in self._lines
                if ln.kind == "comment" and ln.section == "keys" and ln.key]

    def problems(self) -> list[str]:
        """Things the installer would trip over, as one-line messages."""
        out: list[str] = []
        seen_sections: set[str] = set()
        seen_opts: set[tuple[str | None, str | None]] = set()
        for i, ln in enumerate(self._lines, 1):
            if ln.kind == "section":
                if ln.section in seen_sections:
                    out.append(f"{self.name}: line {i}: section [{ln.section}] repeated")
                seen_sections.add(ln.section or "")
            elif ln.kind == "option":
                if (ln.section, ln.key) in seen_opts:
                    out.append(f"{self.name}: line {i}: [{ln.section}] {ln.key} repeated")
                seen_opts.add((ln.section, ln.key))
                if ln.value and "%" in ln.value:
                    out.append(f"{self.name}: line {i}: '%' in a value breaks the installer's "
                               "SafeConfigParser")
            elif ln.kind == "junk":
                out.append(f"{self.name}: line {i}: not 'key = value', a [section] or a comment")
        name, version = self.product
        if name is None and version is None:
            out.append(f"{self.name}: no [system-v1] or [branding] product name/version")
        elif version is not None and not _VERSION.fullmatch(version):
            out.append(f"{self.name}: product version {version!r} is not dotted numbers")
        return out

    # ------------------------------------------------------------------ editing

    def _newline(self) -> str:
        for raw in self._raw:
            end = _ending(raw)
            if end:
                return end
        return "\n"

    def _with(self, raw: list[str]) -> TreeInfo:
        return TreeInfo("".join(raw), self.name)

    def _section_span(self, section: str) -> tuple[int, int] | None:
        """(header index, index after the last option/continuation line) of the first header."""
        start = None
        for i, ln in enumerate(self._lines):
            if ln.kind == "section" and ln.section == section:
                start = i
                break
        if start is None:
            return None
        end = start + 1
        for j in range(start + 1, len(self._lines)):
            ln = self._lines[j]
            if ln.kind == "section":
                break
            if ln.kind in ("option", "continuation"):
                end = j + 1
        return start, end

    def _replace_value(self, raw: list[str], index: int, value: str) -> None:
        line = raw[index]
        end = _ending(line)
        body = line[: len(line) - len(end)]
        m = _OPTION.match(body)
        assert m is not None  # index points at an "option" line
        _, comment = _strip_inline_comment(m.group("rest"))
        pre = m.group("pre")
        if not pre.endswith((" ", "\t")) and not m.group("rest"):
            pre += " "  # "variant =" style: keep the file's "key = value" spacing
        tail = f" {comment}" if comment else ""
        raw[index] = f"{pre}{value}{tail}{end}"
        # Continuation lines belonged to the old value.
        j = index + 1
        while j < len(self._lines) and self._lines[j].kind == "continuation":
            raw[j] = ""
            j += 1

    def _insert(self, raw: list[str], index: int, new_lines: list[str]) -> None:
        nl = self._newline()
        if index > 0 and raw[index - 1] and not _ending(raw[index - 1]):
            raw[index - 1] += nl  # the file ended without a newline
        raw[index:index] = [ln + nl for ln in new_lines]

    def set_value(self, section: str, key: str, value: str) -> TreeInfo:
        """Set ``[section] key = value``, creating the key or the section when missing."""
        if any(not c.isprintable() for c in section + key + value) or "]" in section:
            raise InputError(f"{self.name}: [{section}] {key} = {value!r}: section, key and "
                             "value must be printable text on one line")
        key_l = key.lower()
        raw = list(self._raw)
        hits = [i for i, ln in enumerate(self._lines)
                if ln.kind == "option" and ln.section == section and ln.key == key_l]
        if hits:
            for i in hits:  # the installer reads the last; keep duplicates consistent
                self._replace_value(raw, i, value)
            return self._with(raw)
        span = self._section_span(section)
        if span is not None:
            self._insert(raw, span[1], [f"{key} = {value}"])
            return self._with(raw)
        block = [f"[{section}]", f"{key} = {value}"]
        if raw and self._lines[-1].kind != "blank":
            block.insert(0, "")
        self._insert(raw, len(raw), block)
        return self._with(raw)

    def set_build_number(self, number: str) -> TreeInfo:
        """Set ``[build] number`` (the host's BUILD_NUMBER); creates it when missing."""
        validate_build_number(number)
        return self.set_value("build", "number", number)

    def set_product_version(self, version: str) -> TreeInfo:
        """Set the product version everywhere the create-iso template writes it.

        That is ``[system-v1] product_version``, ``[branding] version`` and
        ``[general] version`` where present, plus ``[general] name`` when it is the
        template's ``<brand>-<old version>``. The installer reads the first of
        [system-v1] / [branding] (the key is added there if missing); the others
        keep the file coherent. Platform versions are left alone.
        """
        validate_version(version)
        if not self.has_section("system-v1") and not self.has_section("branding"):
            raise InputError(f"{self.name}: has no [system-v1] or [branding] section to hold "
                             "the product version")
        read = "system-v1" if self.has_section("system-v1") else "branding"
        out: TreeInfo = self
        for section, key in (("system-v1", "product_version"), ("branding", "version"),
                             ("general", "version")):
            old = out.get(section, key)
            if section == "general" and old:
                name = out.get("general", "name")
                if name and name.endswith(f"-{old}"):
                    out = out.set_value("general", "name", name[: -len(old)] + version)
            # Add a missing key only where the installer reads it.
            if old is not None or section == read:
                out = out.set_value(section, key, version)
        return out

    def comment_keys(self) -> TreeInfo:
        """Comment out every ``[keys]`` entry (``key1 = X`` -> ``#key1 = X``).

        This is what create-iso.sh does for unsigned builds: with no key listed
        the installer writes no gpgcheck options, so neither repomd.xml.asc nor
        RPM signatures are checked, and it does not look for the key files.
        """
        raw = list(self._raw)
        for i, ln in enumerate(self._lines):
            if ln.kind in ("option", "continuation") and ln.section == "keys":
                raw[i] = "#" + raw[i]
        return self._with(raw)

    def set_key(self, filename: str, slot: str = "key1") -> TreeInfo:
        """Make ``filename`` the only active key: ``key1 = NAME`` (uncommenting if needed).

        The installer uses only the first ``[keys]`` entry but opens all of
        them, so any other active entry is commented out.
        """
        validate_key_file(filename)
        slot_l = slot.lower()
        raw = list(self._raw)
        span = self._section_span("keys")
        if span is None:
            return self.set_value("keys", slot, filename)
        lines = self._lines
        target = next((i for i, ln in enumerate(lines) if ln.kind == "option"
                       and ln.section == "keys" and ln.key == slot_l), None)
        keep: set[int] = set()
        if target is not None:
            keep.add(target)
            j = target + 1
            while j < len(lines) and lines[j].kind == "continuation":
                keep.add(j)
                j += 1
        for i, ln in enumerate(lines):
            if ln.section == "keys" and ln.kind in ("option", "continuation") and i not in keep:
                raw[i] = "#" + raw[i]
        if target is not None:
            self._replace_value(raw, target, filename)
            return self._with(raw)
        commented = next((i for i, ln in enumerate(lines) if ln.kind == "comment"
                          and ln.section == "keys" and ln.key == slot_l), None)
        if commented is not None:
            end = _ending(raw[commented])
            body = raw[commented][: len(raw[commented]) - len(end)]
            m = _COMMENTED.match(body)
            assert m is not None
            uncommented = body[len(m.group("mark")):]
            om = _OPTION.match(uncommented)
            pre = om.group("pre") if om else f"{slot} = "
            if not pre.endswith((" ", "\t")):
                pre += " "
            raw[commented] = f"{pre}{filename}{end}"
            return self._with(raw)
        self._insert(raw, span[0] + 1, [f"{slot} = {filename}"])
        return self._with(raw)


def parse(text: str, name: str = NAME) -> TreeInfo:
    return TreeInfo(text, name)


def describe_changes(before: TreeInfo, after: TreeInfo) -> list[str]:
    """Human lines for what changed between two versions of the file, as the installer sees it."""
    out: list[str] = []
    b, a = before.as_dict(), after.as_dict()
    for section in list(b) + [s for s in a if s not in b]:
        old, new = b.get(section, {}), a.get(section, {})
        for key in list(old) + [k for k in new if k not in old]:
            if key not in new:
                how = "commented out" if key in after.commented_keys else "removed"
                out.append(f"{after.name}: [{section}] {key} = {old[key]} {how}")
            elif key not in old:
                out.append(f"{after.name}: [{section}] {key} = {new[key]} added")
            elif old[key] != new[key]:
                out.append(f"{after.name}: [{section}] {key}: {old[key]} -> {new[key]}")
    return out
