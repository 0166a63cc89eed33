"""The boot-menu model: a parsed menu (BootConfig), its entries and their arguments.

Edits rewrite only the tokens they change and return a new BootConfig parsed from
the new text (``.text``); see xcptui.engine.boot.config for the whole picture.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xcptui.engine.boot.syntax import (
    ending,
    grub_quote,
    insert_line,
    param_name,
    replace_first_arg,
    replace_grub_value,
    validate_param,
)
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


# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tok:
    raw: str  # as written in the file (grub: maybe quoted)
    value: str  # as the boot loader passes it on
    start: int
    end: int


@dataclass(frozen=True)
class ArgSpan:
    """Where an entry's dom0 arguments live: one line, the tokens after the kernel path."""

    line: int
    prefix_end: int  # end of the kernel path token (or of the APPEND keyword)
    toks: tuple[Tok, ...]
    protected: frozenset[int] = frozenset()  # token indexes never edited (initrd=...)


@dataclass
class Arg:
    """One dom0 argument of an entry's kernel line, as an edit sees it."""

    sep: str  # the whitespace before it, as written
    raw: str  # as written (grub: maybe quoted)
    value: str  # as the kernel receives it
    protected: bool = False  # never edited or counted (isolinux initrd=...)


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
    span: ArgSpan | None = field(default=None, repr=False, compare=False)

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
        return _reparse(data.decode("utf-8", "surrogateescape"), kind, name)

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
                from xcptui.engine.boot.compare import match_entries

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
        role = role_from_name(name)
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
                   change: Callable[[list[Arg]], None]) -> BootConfig:
        lines = self.text.splitlines(keepends=True)
        for e in targets:
            if e.span is None:
                raise InputError(f"{self.name}: entry {e.label!r} has no kernel argument line "
                                 f"to {what}")
            sp = e.span
            raw = lines[sp.line]
            end = ending(raw)
            body = raw[: len(raw) - len(end)]
            items: list[Arg] = []  # the tokens after the kernel path
            pos = sp.prefix_end
            for i, t in enumerate(sp.toks):
                items.append(Arg(body[pos:t.start], t.raw, t.value, i in sp.protected))
                pos = t.end
            tail = body[pos:]
            change(items)
            new_args = [it.value for it in items if not it.protected]
            size = len(" ".join(new_args).encode())
            if size > DOM0_CMDLINE_MAX:
                raise InputError(f"{self.name}: entry {e.label!r}: dom0 command line would be "
                                 f"{size} bytes; Xen passes at most {DOM0_CMDLINE_MAX} to dom0")
            lines[sp.line] = (body[: sp.prefix_end] + "".join(it.sep + it.raw for it in items)
                              + tail + end)
        return _reparse("".join(lines), self.kind, self.name)

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

        def change(items: list[Arg]) -> None:
            for p in params:
                live = [it for it in items if not it.protected]
                if any(it.value == p for it in live):
                    continue
                key = param_name(p)
                same = [it for it in live if param_name(it.value) == key]
                if "=" in p and key not in REPEATABLE and same:
                    same[0].raw, same[0].value = quote(p), p
                    for it in same[1:]:
                        items.remove(it)
                    continue
                items.append(Arg(" ", quote(p), p))

        return self._edit_args(targets, "add boot parameters to", change)

    def remove_params(self, params: Sequence[str], entries: Sequence[str] | None = None, *,
                      via: BootConfig | None = None) -> BootConfig:
        """Remove dom0 parameters: ``name`` removes every ``name``/``name=...``,
        ``name=value`` removes only that exact parameter. Absent ones are ignored."""
        params = [validate_param(p) for p in params]
        if not params:
            return self
        targets = self._targets(entries, via, "remove boot parameters from")

        def change(items: list[Arg]) -> None:
            for p in params:
                for it in list(items):
                    if it.protected:
                        continue
                    if it.value == p or ("=" not in p and param_name(it.value) == p):
                        items.remove(it)

        return self._edit_args(targets, "remove boot parameters from", change)

    def set_default(self, name: str, *, via: BootConfig | None = None) -> BootConfig:
        """Make ``name`` (a label, a grub title, or a label of ``via``) the default entry."""
        e = self.find(name, via=via)
        lines = self.text.splitlines(keepends=True)
        if self.kind == ISOLINUX:
            for i in self._default_lines + self._ontimeout_lines:
                lines[i] = replace_first_arg(lines[i], e.label)
            if not self._default_lines:
                insert_line(lines, self._insert_globals_at, f"DEFAULT {e.label}")
        else:
            assert e.grub_id is not None
            for i in self._default_lines:
                lines[i] = replace_grub_value(lines[i], e.grub_id, quoted=True)
            if not self._default_lines:
                insert_line(lines, 0, f'set default="{e.grub_id}"')
        return _reparse("".join(lines), self.kind, self.name)

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
                lines[i] = replace_first_arg(lines[i], value)
            if not self._timeout_lines:
                at = (self._default_lines[-1] + 1) if self._default_lines \
                    else self._insert_globals_at
                insert_line(lines, at, f"TIMEOUT {value}")
        else:
            for i in self._timeout_lines:
                lines[i] = replace_grub_value(lines[i], str(seconds), quoted=False)
            if not self._timeout_lines:
                at = (self._default_lines[-1] + 1) if self._default_lines else 0
                insert_line(lines, at, f"set timeout={seconds}")
        return _reparse("".join(lines), self.kind, self.name)


def _reparse(text: str, kind: str, name: str | None) -> BootConfig:
    from xcptui.engine.boot.parse import parse  # parse builds BootConfigs: import at use

    return parse(text, kind, name)


def role_from_name(name: str) -> str | None:
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
    if dom0 & {"bash-shell", "shell"}:  # startup/preinit takes both spellings
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


def finish(e: BootEntry) -> BootEntry:
    e.is_installer = _is_installer(e.kernel_path, e.initrd)
    e.role = _role(e)
    return e
