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

The pieces: model (BootConfig, BootEntry, Arg and the edits), syntax (token helpers),
isolinux and grub (the readers), parse (kind detection), compare (pairing, diffs,
effects). This module is the public face and holds the recipe's ``edit``.
"""

from __future__ import annotations

from collections.abc import Sequence

from xcptui.engine.boot.compare import (
    EntryEffect,
    compare,
    describe_effect,
    effects,
    match_entries,
)
from xcptui.engine.boot.model import (
    DEFAULT_NAMES,
    DOM0_CMDLINE_MAX,
    GRUB,
    ISOLINUX,
    KINDS,
    REPEATABLE,
    ROLES,
    Arg,
    ArgSpan,
    BootConfig,
    BootEntry,
)
from xcptui.engine.boot.parse import detect_kind, parse
from xcptui.engine.boot.syntax import grub_quote, validate_param

__all__ = ["DEFAULT_NAMES", "DOM0_CMDLINE_MAX", "GRUB", "ISOLINUX", "KINDS", "REPEATABLE",
           "ROLES", "Arg", "ArgSpan", "BootConfig", "BootEntry", "EntryEffect", "compare",
           "describe_effect", "detect_kind", "edit", "effects", "grub_quote", "match_entries",
           "parse", "validate_param"]


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
