"""Read a boot menu: which kind it is, and the parser for each kind."""

from __future__ import annotations

import re

from xcptui.engine.boot.grub import parse_grub
from xcptui.engine.boot.isolinux import parse_isolinux
from xcptui.engine.boot.model import DEFAULT_NAMES, GRUB, ISOLINUX, KINDS, BootConfig
from xcptui.engine.errors import InputError


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
        return parse_isolinux(text, name)
    return parse_grub(text, name)
