"""Boot menus: ``boot/isolinux/isolinux.cfg`` (BIOS) and ``EFI/xenserver/grub.cfg`` (UEFI).

Both menus boot Xen with two modules: the dom0 kernel (``/boot/vmlinuz``, with
the dom0 / installer command line) and ``/install.img`` (the dom0 initrd)::

    APPEND /boot/xen.gz XEN ARGS --- /boot/vmlinuz DOM0 ARGS --- /install.img   (mboot.c32)
    multiboot2 /boot/xen.gz XEN ARGS / module2 /boot/vmlinuz DOM0 ARGS / module2 /install.img

Installer parameters (``answerfile=``, ``no-gpgcheck``...) belong on the dom0
part; Xen's arguments are never touched. Edits rewrite only the tokens they
change: comments, TABs, blank lines, line endings and every other byte of the
file stay as they were. An edit returns a new BootConfig; ``.text`` holds the file.

Entries of the two menus are paired by what they boot (kernel path plus the
parameters that distinguish install / no-serial / safe / multipath /
install-alt / shell / memtest), not by their titles, which differ
("install-alt" vs "install with alternate/debug kernel (kernel-alt)").
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xcptui.engine.errors import InputError

ISOLINUX = "isolinux"
GRUB = "grub"
KINDS = (ISOLINUX, GRUB)
DEFAULT_NAMES = {ISOLINUX: "boot/isolinux/isolinux.cfg", GRUB: "EFI/xenserver/grub.cfg"}

# Parameters the kernel accepts several times (each console= adds a console; the
# last one is /dev/console), so appending one never replaces another.
REPEATABLE = frozenset({"console"})
# dom0 is a PV guest: Xen copies its command line into start_info.cmd_line[1024].
DOM0_CMDLINE_MAX = 1023
# Known menu roles, named like the isolinux labels of the official ISO.
ROLES = ("install", "no-serial", "safe", "multipath", "install-alt", "shell", "memtest",
         "common-criteria-prep", "rescue")

_GRUB_SAFE = re.compile(r"[A-Za-z0-9_.,:/=+@%^~-]+")
_ISO_WORD = re.compile(r"[^ \t\ufeff]+")
_GRUB_SET = re.compile(r"(?P<pre>\s*(?:set\s+)?(?P<var>default|timeout)=)"
                       r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s;]*)")


# ---------------------------------------------------------------------------
# model


@dataclass(frozen=True)
class _Tok:
    raw: str  # as written in the file (grub: maybe quoted)
    value: str  # as the boot loader passes it on
    start: int
    end: int


@dataclass(frozen=True)
class _ArgSpan:
    """Where an entry's dom0 arguments live: one line, the tokens after the kernel path."""

    line: int
    prefix_end: int  # end of the kernel path token (or of the APPEND keyword)
    toks: tuple[_Tok, ...]
    protected: frozenset[int] = frozenset()  # token indexes never edited (initrd=...)


@dataclass
class BootEntry:
    """One menu entry. ``label`` is the isolinux LABEL or the grub menuentry title."""

    label: str
    index: int  # position among the file's entries, 0-based
    xen_args: list[str]
    kernel_path: str | None
    dom0_args: list[str]
    initrd: str | None
    is_installer: bool
    role: str = "other"
    hypervisor: str | None = None  # /boot/xen.gz for Xen entries
    grub_id: str | None = None  # grub's default= value for this entry ("0", "5>0")
    line: int = 0  # 0-based line of LABEL / menuentry
    span: _ArgSpan | None = field(default=None, repr=False, compare=False)

    @property
    def title(self) -> str:
        return self.label


@dataclass
class BootConfig:
    kind: str  # "isolinux" | "grub"
    entries: list[BootEntry]
    default: str | None  # as written: isolinux label, grub value ("0")
    timeout: float | None  # seconds; None = waits for the user
    text: str = ""
    name: str = ""
    _default_lines: list[int] = field(default_factory=list, repr=False)
    _timeout_lines: list[int] = field(default_factory=list, repr=False)
    _ontimeout_lines: list[int] = field(default_factory=list, repr=False)
    _insert_globals_at: int = field(default=0, repr=False)

    # ------------------------------------------------------------------ reading

    @classmethod
    def from_bytes(cls, data: bytes, kind: str, name: str | None = None) -> BootConfig:
        # surrogateescape: any byte survives a parse/edit/write round trip.
        return parse(data.decode("utf-8", "surrogateescape"), kind, name)

    def to_bytes(self) -> bytes:
        return self.text.encode("utf-8", "surrogateescape")

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.entries]

    def installer_entries(self) -> list[BootEntry]:
        return [e for e in self.entries if e.is_installer]

    def find(self, name: str, *, via: BootConfig | None = None) -> BootEntry:
        """The entry called ``name`` (label/title, then role such as "install-alt").

        With ``via`` (the other menu), a label of that menu is mapped to the
        matching entry of this one: ``grub.find("install-alt", via=isolinux)``.
        """
        found = self._lookup(name)
        if found is None and via is not None and via is not self:
            other = via._lookup(name)
            if other is not None:
                for a, b in match_entries(via, self):
                    if a is other and b is not None:
                        found = b
                        break
        if found is None:
            raise InputError(f"{self.name}: no boot entry {name!r} (entries: "
                             f"{', '.join(repr(label) for label in self.labels)})")
        return found

    def _lookup(self, name: str) -> BootEntry | None:
        for e in self.entries:
            if e.label == name:
                return e
        for e in self.entries:
            if e.label.lower() == name.lower():
                return e
        role = _role_from_name(name)
        for e in self.entries:
            if role is not None and e.role == role:
                return e
        return None

    def default_entry(self) -> BootEntry | None:
        if self.default is None:
            return None
        if self.kind == GRUB:
            for e in self.entries:
                if e.grub_id == self.default:
                    return e
            if re.fullmatch(r"\d+(>\d+)*", self.default):
                return None
        for e in self.entries:
            if e.label == self.default:
                return e
        return None

    def summary(self) -> dict[str, Any]:
        d = self.default_entry()
        return {
            "kind": self.kind,
            "name": self.name,
            "default": d.label if d is not None else self.default,
            "timeout": self.timeout,
            "entries": [
                {"label": e.label, "role": e.role, "installer": e.is_installer,
                 "kernel": e.kernel_path, "dom0_args": " ".join(e.dom0_args),
                 "xen_args": " ".join(e.xen_args), "initrd": e.initrd}
                for e in self.entries
            ],
        }

    # ------------------------------------------------------------------ editing

    def _targets(self, entries: Sequence[str] | None, via: BootConfig | None,
                 what: str) -> list[BootEntry]:
        if not entries:  # None or empty: every installer entry (recipe semantics)
            targets = self.installer_entries()
            if not targets:
                raise InputError(f"{self.name}: no installer entry (one booting vmlinuz with "
                                 f"install.img) to {what}")
            return targets
        targets = []
        for name in entries:
            e = self.find(name, via=via)
            if not e.is_installer:
                raise InputError(f"{self.name}: entry {e.label!r} does not boot the installer; "
                                 f"cannot {what} it")
            if e not in targets:
                targets.append(e)
        return targets

    def _edit_args(self, targets: Iterable[BootEntry], what: str,
                   change: Callable[[list[list[Any]]], None]) -> BootConfig:
        lines = self.text.splitlines(keepends=True)
        for e in targets:
            if e.span is None:
                raise InputError(f"{self.name}: entry {e.label!r} has no kernel argument line "
                                 f"to {what}")
            sp = e.span
            raw = lines[sp.line]
            end = _ending(raw)
            body = raw[: len(raw) - len(end)]
            # (separator, raw token, value, protected) after the kernel path
            items: list[list[Any]] = []
            pos = sp.prefix_end
            for i, t in enumerate(sp.toks):
                items.append([body[pos:t.start], t.raw, t.value, i in sp.protected])
                pos = t.end
            tail = body[pos:]
            change(items)
            new_args = [it[2] for it in items if not it[3]]
            size = len(" ".join(new_args).encode())
            if size > DOM0_CMDLINE_MAX:
                raise InputError(f"{self.name}: entry {e.label!r}: dom0 command line would be "
                                 f"{size} bytes; Xen passes at most {DOM0_CMDLINE_MAX} to dom0")
            lines[sp.line] = (body[: sp.prefix_end] + "".join(it[0] + it[1] for it in items)
                              + tail + end)
        return parse("".join(lines), self.kind, self.name)

    def append_params(self, params: Sequence[str], entries: Sequence[str] | None = None, *,
                      via: BootConfig | None = None) -> BootConfig:
        """Add dom0 parameters to every installer entry (or to ``entries``).

        Idempotent: a parameter already there is not added again; ``key=value``
        replaces an existing ``key=...`` (except repeatable ones like console=).
        New parameters go after the entry's existing ones; entry-specific ones
        (bash-shell, kernel-alt, ...) stay.
        """
        params = [validate_param(p) for p in params]
        if not params:
            return self
        targets = self._targets(entries, via, "add boot parameters to")
        quote = grub_quote if self.kind == GRUB else (lambda s: s)

        def change(items: list[list[Any]]) -> None:
            for p in params:
                live = [it for it in items if not it[3]]
                if any(it[2] == p for it in live):
                    continue
                key = _param_name(p)
                same = [it for it in live if _param_name(it[2]) == key]
                if "=" in p and key not in REPEATABLE and same:
                    same[0][1], same[0][2] = quote(p), p
                    for it in same[1:]:
                        items.remove(it)
                    continue
                items.append([" ", quote(p), p, False])

        return self._edit_args(targets, "add boot parameters to", change)

    def remove_params(self, params: Sequence[str], entries: Sequence[str] | None = None, *,
                      via: BootConfig | None = None) -> BootConfig:
        """Remove dom0 parameters: ``name`` removes every ``name``/``name=...``,
        ``name=value`` removes only that exact parameter. Absent ones are ignored."""
        params = [validate_param(p) for p in params]
        if not params:
            return self
        targets = self._targets(entries, via, "remove boot parameters from")

        def change(items: list[list[Any]]) -> None:
            for p in params:
                for it in list(items):
                    if it[3]:
                        continue
                    if it[2] == p or ("=" not in p and _param_name(it[2]) == p):
                        items.remove(it)

        return self._edit_args(targets, "remove boot parameters from", change)

    def set_default(self, name: str, *, via: BootConfig | None = None) -> BootConfig:
        """Make ``name`` (a label, a grub title, or a label of ``via``) the default entry."""
        e = self.find(name, via=via)
        lines = self.text.splitlines(keepends=True)
        if self.kind == ISOLINUX:
            for i in self._default_lines + self._ontimeout_lines:
                lines[i] = _replace_first_arg(lines[i], e.label)
            if not self._default_lines:
                _insert_line(lines, self._insert_globals_at, f"DEFAULT {e.label}")
        else:
            assert e.grub_id is not None
            for i in self._default_lines:
                lines[i] = _replace_grub_value(lines[i], e.grub_id, quoted=True)
            if not self._default_lines:
                _insert_line(lines, 0, f'set default="{e.grub_id}"')
        return parse("".join(lines), self.kind, self.name)

    def set_timeout(self, seconds: int) -> BootConfig:
        """Menu timeout in seconds; 0 boots the default entry at once."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= 3600:
            raise InputError(f"{self.name}: timeout {seconds!r} must be 0..3600 seconds")
        lines = self.text.splitlines(keepends=True)
        if self.kind == ISOLINUX:
            # SYSLINUX counts tenths of a second and TIMEOUT 0 means "wait forever",
            # so "at once" is the shortest real timeout, one tenth.
            value = str(seconds * 10) if seconds else "1"
            for i in self._timeout_lines:
                lines[i] = _replace_first_arg(lines[i], value)
            if not self._timeout_lines:
                at = (self._default_lines[-1] + 1) if self._default_lines \
                    else self._insert_globals_at
                _insert_line(lines, at, f"TIMEOUT {value}")
        else:
            for i in self._timeout_lines:
                lines[i] = _replace_grub_value(lines[i], str(seconds), quoted=False)
            if not self._timeout_lines:
                at = (self._default_lines[-1] + 1) if self._default_lines else 0
                _insert_line(lines, at, f"set timeout={seconds}")
        return parse("".join(lines), self.kind, self.name)


# ---------------------------------------------------------------------------
# helpers


def _ending(line: str) -> str:
    for end in ("\r\n", "\n", "\r"):
        if line.endswith(end):
            return end
    return ""


def _newline_of(lines: list[str]) -> str:
    for ln in lines:
        if _ending(ln):
            return _ending(ln)
    return "\n"


def _insert_line(lines: list[str], at: int, text: str) -> None:
    nl = _newline_of(lines)
    if at > 0 and at == len(lines) and not _ending(lines[-1]):
        lines[-1] += nl
    lines.insert(at, text + nl)


def _replace_first_arg(line: str, value: str) -> str:
    """'DEFAULT install' -> 'DEFAULT value' (keyword, spacing, extra words kept)."""
    end = _ending(line)
    body = line[: len(line) - len(end)]
    toks = list(_ISO_WORD.finditer(body))
    if len(toks) < 2:
        sep = "" if body.endswith((" ", "\t")) else " "
        return body + sep + value + end
    t = toks[1]
    return body[: t.start()] + value + body[t.end():] + end


def _replace_grub_value(line: str, value: str, *, quoted: bool) -> str:
    end = _ending(line)
    body = line[: len(line) - len(end)]
    m = _GRUB_SET.match(body)
    assert m is not None
    old = m.group("value")
    if old[:1] in ("'", '"'):
        new = old[0] + value + old[0]
    else:
        new = f'"{value}"' if quoted and not old else value
    return body[: m.start("value")] + new + body[m.end("value"):] + end


def _param_name(p: str) -> str:
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
    if _GRUB_SAFE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def _role_from_name(name: str) -> str | None:
    n = name.strip().lower()
    if n in ROLES:
        return n
    if "kernel-alt" in n:
        return "install-alt"
    return None


def _role(e: BootEntry) -> str:
    if not e.is_installer:
        return "memtest" if e.kernel_path and "memtest" in e.kernel_path.lower() else "other"
    dom0, xen = set(e.dom0_args), set(e.xen_args)
    if "bash-shell" in dom0:
        return "shell"
    if "cc-preparations" in dom0:
        return "common-criteria-prep"
    if any(a.startswith("systemd.unit=rescue") for a in dom0):
        return "rescue"
    if "device_mapper_multipath=enabled" in dom0:
        return "multipath"
    if "kernel-alt" in dom0 or (e.kernel_path and "/alt/" in e.kernel_path):
        return "install-alt"
    if xen & {"nosmp", "noreboot", "no-mce"}:
        return "safe"
    serial = "console=hvc0" in dom0 or any(a.startswith("com1=") for a in xen)
    return "install" if serial else "no-serial"


def _is_installer(kernel: str | None, initrd: str | None) -> bool:
    return bool(kernel and initrd
                and posixpath.basename(kernel).startswith("vmlinuz")
                and posixpath.basename(initrd) == "install.img")


def _finish(e: BootEntry) -> BootEntry:
    e.is_installer = _is_installer(e.kernel_path, e.initrd)
    e.role = _role(e)
    return e


# ---------------------------------------------------------------------------
# isolinux


def _iso_words(body: str) -> list[_Tok]:
    return [_Tok(m.group(), m.group(), m.start(), m.end()) for m in _ISO_WORD.finditer(body)]


_ISO_KERNEL_WORDS = {"kernel", "linux", "com32", "boot", "bss", "pxe", "fdimage", "comboot"}


def _parse_isolinux(text: str, name: str) -> BootConfig:
    lines = text.splitlines(keepends=True)
    cfg = BootConfig(ISOLINUX, [], None, None, text, name)
    blocks: list[dict[str, Any]] = []
    in_text = False
    first_label: int | None = None
    last_global: int | None = None
    for i, raw in enumerate(lines):
        body = raw[: len(raw) - len(_ending(raw))]
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
        cfg.entries.append(_finish(_isolinux_entry(b, idx)))
    return cfg


def _isolinux_entry(b: dict[str, Any], idx: int) -> BootEntry:
    e = BootEntry(b["label"], idx, [], b["kernel"], [], b["initrd"], False, line=b["line"])
    if b["append"] is None:
        return e
    line, toks = b["append"]
    args = toks[1:]
    if b["kernel"] and posixpath.basename(b["kernel"]).lower() == "mboot.c32":
        # Xen image + args --- dom0 kernel + args --- initrd [--- more modules]
        segs: list[list[_Tok]] = [[]]
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
            e.span = _ArgSpan(line, segs[1][0].end, dom0)
        if len(segs) > 2 and segs[2]:
            e.initrd = segs[2][0].value
        return e
    # A plain Linux entry: APPEND holds the kernel arguments, maybe initrd=.
    prot = frozenset(i for i, t in enumerate(args) if t.value.startswith("initrd="))
    e.dom0_args = [t.value for i, t in enumerate(args) if i not in prot]
    if e.initrd is None and prot:
        e.initrd = args[min(prot)].value.split("=", 1)[1].split(",")[0]
    e.span = _ArgSpan(line, toks[0].end, tuple(args), prot)
    return e


# ---------------------------------------------------------------------------
# grub


def _grub_words(body: str) -> list[_Tok]:
    """Split a grub command line into words, honouring quotes and backslashes.

    Stops at a '#' that starts a word (comment) and at an unquoted ';'.
    """
    toks: list[_Tok] = []
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
        toks.append(_Tok(body[start:i], "".join(val), start, i))
        if i < n and body[i] == ";":
            break
    return toks


def _args_after_options(toks: list[_Tok]) -> tuple[_Tok | None, list[_Tok]]:
    """(path token, argument tokens) of 'module2 [--nounzip] PATH ARGS...'."""
    rest = toks[1:]
    while rest and rest[0].value.startswith("--"):
        rest = rest[1:]
    if not rest:
        return None, []
    return rest[0], rest[1:]


def _parse_grub(text: str, name: str) -> BootConfig:
    lines = text.splitlines(keepends=True)
    cfg = BootConfig(GRUB, [], None, None, text, name)
    stack: list[tuple[str, dict[str, Any] | None]] = []
    counters: list[int] = [0]
    prefix: list[str] = []
    index = 0
    for i, raw in enumerate(lines):
        body = raw[: len(raw) - len(_ending(raw))]
        toks = _grub_words(body)
        if not toks:
            continue
        w0 = toks[0].value
        in_entry = any(kind == "entry" for kind, _ in stack)
        if w0 == "}":
            if stack:
                kind, cur = stack.pop()
                if kind == "entry" and cur is not None:
                    cfg.entries.append(_finish(_grub_entry(cur)))
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
        m = _GRUB_SET.match(body)
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
            cfg.entries.append(_finish(_grub_entry(cur)))
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
                e.span = _ArgSpan(line, path.end, tuple(args))
            elif e.initrd is None:
                e.initrd = path.value
        elif cmd in ("linux", "linuxefi", "linux16"):
            path, args = _args_after_options(toks)
            if path is not None:
                e.kernel_path = path.value
                e.dom0_args = [t.value for t in args]
                e.span = _ArgSpan(line, path.end, tuple(args))
        elif cmd in ("initrd", "initrdefi", "initrd16"):
            path, _ = _args_after_options(toks)
            e.initrd = path.value if path else None
        elif cmd == "chainloader":
            path, _ = _args_after_options(toks)
            e.kernel_path = path.value if path else None
    return e


# ---------------------------------------------------------------------------
# public functions


def detect_kind(text: str) -> str:
    if re.search(r"^\s*(menuentry|multiboot2?|module2?)\b", text, re.M):
        return GRUB
    if re.search(r"^\s*label\s", text, re.M | re.I):
        return ISOLINUX
    raise InputError("boot config: neither an isolinux.cfg (LABEL) nor a grub.cfg (menuentry)")


def parse(text: str, kind: str, name: str | None = None) -> BootConfig:
    """Parse an isolinux.cfg (``kind="isolinux"``) or a grub.cfg (``kind="grub"``)."""
    if kind not in KINDS:
        raise InputError(f"boot config kind {kind!r} is not one of {', '.join(KINDS)}")
    name = name or DEFAULT_NAMES[kind]
    if kind == ISOLINUX:
        return _parse_isolinux(text, name)
    return _parse_grub(text, name)


def edit(cfg: BootConfig, *, append: Sequence[str] = (), remove: Sequence[str] = (),
         default: str | None = None, timeout: int | None = None,
         entries: Sequence[str] | None = None, via: BootConfig | None = None) -> BootConfig:
    """Apply a recipe's [boot] section: remove first, then append, default, timeout.

    Removing before appending lets ``remove=["console"]`` + ``append=["console=ttyS0"]``
    leave exactly the new console.
    """
    out = cfg
    if remove:
        out = out.remove_params(remove, entries, via=via)
    if append:
        out = out.append_params(append, entries, via=via)
    if default is not None:
        out = out.set_default(default, via=via)
    if timeout is not None:
        out = out.set_timeout(timeout)
    return out


def match_entries(a: BootConfig, b: BootConfig) -> list[tuple[BootEntry | None,
                                                              BootEntry | None]]:
    """Pair the entries of two menus: same role and title first, then same role in order."""
    pairs: dict[int, BootEntry] = {}
    used: set[int] = set()
    for ea in a.entries:
        for eb in b.entries:
            if eb.index not in used and eb.role == ea.role and \
                    eb.label.lower() == ea.label.lower():
                pairs[ea.index] = eb
                used.add(eb.index)
                break
    for ea in a.entries:
        if ea.index in pairs or ea.role == "other":
            continue
        for eb in b.entries:
            if eb.index not in used and eb.role == ea.role:
                pairs[ea.index] = eb
                used.add(eb.index)
                break
    out: list[tuple[BootEntry | None, BootEntry | None]] = [
        (ea, pairs.get(ea.index)) for ea in a.entries]
    out += [(None, eb) for eb in b.entries if eb.index not in used]
    return out


def _default_name(e: BootEntry | None, raw: str | None) -> str:
    if e is not None:
        return repr(e.label)
    return f"{raw!r} (no such entry)" if raw else "nothing (no default set)"


def _fmt_timeout(t: float | None) -> str:
    if t is None:
        return "none (waits)"
    return f"{t:g} s"


def _list_diff(label: str, what: str, ref: str, other: str, a: list[str],
               b: list[str]) -> list[str]:
    if a == b:
        return []
    missing = [p for p in a if p not in b]
    extra = [p for p in b if p not in a]
    if not missing and not extra:
        return [f"{label}: {what} in a different order: {ref} '{' '.join(a)}', "
                f"{other} '{' '.join(b)}'"]
    out = []
    if missing:
        out.append(f"{label}: {other} lacks {what} '{' '.join(missing)}' that {ref} has")
    if extra:
        out.append(f"{label}: {other} has extra {what} '{' '.join(extra)}'")
    return out


def compare(configs: dict[str, BootConfig]) -> list[str]:
    """Human lines for every disagreement between the copies (isolinux, grub, efiboot).

    The first config is the reference. Only installer entries, the default
    entry and the timeout are compared; global lines (such as the efiboot
    copy's ``search --file --set /install.img``) are not differences.
    """
    names = list(configs)
    if len(names) < 2:
        return []
    rn = names[0]
    ref = configs[rn]
    out: list[str] = []
    for on in names[1:]:
        other = configs[on]
        pairs = match_entries(ref, other)
        for ea, eb in pairs:
            if ea is not None and eb is not None:
                if not (ea.is_installer or eb.is_installer):
                    continue
                label = ea.label if ea.label == eb.label else f"{ea.label} / {eb.label}"
                if ea.kernel_path != eb.kernel_path:
                    out.append(f"{label}: kernel {ea.kernel_path} in {rn}, {eb.kernel_path} "
                               f"in {on}")
                out += _list_diff(label, "dom0 params", rn, on, ea.dom0_args, eb.dom0_args)
                out += _list_diff(label, "Xen args", rn, on, ea.xen_args, eb.xen_args)
                if ea.initrd != eb.initrd:
                    out.append(f"{label}: initrd {ea.initrd} in {rn}, {eb.initrd} in {on}")
            elif ea is not None and ea.is_installer:
                out.append(f"{ea.label}: installer entry in {rn} has no match in {on}")
            elif eb is not None and eb.is_installer:
                out.append(f"{eb.label}: installer entry in {on} has no match in {rn}")
        da, db = ref.default_entry(), other.default_entry()
        mapped = next((b for a, b in pairs if a is da), None) if da is not None else None
        if (da is None) != (db is None) or (da is not None and mapped is not db):
            out.append(f"default: {rn} boots {_default_name(da, ref.default)}, {on} boots "
                       f"{_default_name(db, other.default)}")
        ta, tb = ref.timeout, other.timeout
        # grub counts whole seconds, isolinux tenths: agree within a second.
        if (ta is None) != (tb is None) or (ta is not None and tb is not None
                                            and abs(ta - tb) >= 1):
            out.append(f"timeout: {rn} {_fmt_timeout(ta)}, {on} {_fmt_timeout(tb)}")
    return out


@dataclass
class EntryEffect:
    label: str
    before: list[str]  # dom0 params before the edit
    after: list[str]

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def added(self) -> list[str]:
        return [p for p in self.after if p not in self.before]

    @property
    def removed(self) -> list[str]:
        return [p for p in self.before if p not in self.after]


def _as_config(x: BootConfig | str, kind: str | None) -> BootConfig:
    if isinstance(x, BootConfig):
        return x
    return parse(x, kind or detect_kind(x))


def effects(before: BootConfig | str, after: BootConfig | str) -> list[EntryEffect]:
    """Per installer entry: dom0 params before and after an edit of the same file."""
    kind = before.kind if isinstance(before, BootConfig) else \
        after.kind if isinstance(after, BootConfig) else None
    b, a = _as_config(before, kind), _as_config(after, kind)
    out = []
    for eb, ea in match_entries(b, a):
        if eb is None or ea is None or not (eb.is_installer or ea.is_installer):
            continue
        out.append(EntryEffect(eb.label, list(eb.dom0_args), list(ea.dom0_args)))
    return out


def describe_effect(before: BootConfig | str, after: BootConfig | str, *,
                    unchanged: bool = False) -> list[str]:
    """Lines showing what an edit does to each entry's dom0 params, default and timeout.

    ``install: console=hvc0 console=tty0  ->  console=hvc0 console=tty0 install``
    """
    kind = before.kind if isinstance(before, BootConfig) else \
        after.kind if isinstance(after, BootConfig) else None
    b, a = _as_config(before, kind), _as_config(after, kind)
    out = []
    for eff in effects(b, a):
        if eff.changed:
            out.append(f"{eff.label}: {' '.join(eff.before) or '(none)'}  ->  "
                       f"{' '.join(eff.after) or '(none)'}")
        elif unchanged:
            out.append(f"{eff.label}: {' '.join(eff.before) or '(none)'}  (unchanged)")
    db, da = b.default_entry(), a.default_entry()
    lb = db.label if db else b.default
    la = da.label if da else a.default
    if lb != la:
        out.append(f"default: {lb}  ->  {la}")
    if b.timeout != a.timeout:
        out.append(f"timeout: {_fmt_timeout(b.timeout)}  ->  {_fmt_timeout(a.timeout)}")
    return out
