"""rpm's version comparison (``rpmvercmp``), EVR ordering and dependency strings
(``"name"`` / ``"name >= 1.2"``), with the RPMSENSE bits they map to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from xcptui.engine.errors import InputError

# RPMSENSE comparison bits
SENSE_LESS, SENSE_GREATER, SENSE_EQUAL = 0x02, 0x04, 0x08
SENSE_RPMLIB = 1 << 24

OPERATORS = {
    "<": SENSE_LESS, "<=": SENSE_LESS | SENSE_EQUAL, "=": SENSE_EQUAL, "==": SENSE_EQUAL,
    ">=": SENSE_GREATER | SENSE_EQUAL, ">": SENSE_GREATER,
}
# createrepo_c's flag names (primary.xml) <-> operators
CR_FLAGS = {"LT": "<", "LE": "<=", "EQ": "=", "GE": ">=", "GT": ">"}
OP_TO_CR = {"<": "LT", "<=": "LE", "=": "EQ", "==": "EQ", ">=": "GE", ">": "GT"}


# --- version comparison (rpm semantics) -------------------------------------------------


def _isdigit(c: str) -> bool:
    return "0" <= c <= "9"


def _isalpha(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def rpmvercmp(a: str, b: str) -> int:
    """Compare two version (or release) strings the way rpm does: -1, 0 or 1.

    Alphanumeric segments are compared pairwise (numbers numerically, letters
    lexically, a number beats letters); ``~`` sorts before anything (pre-releases),
    ``^`` after the base version but before any further segment.
    """
    if a == b:
        return 0
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        while i < la and not (_isdigit(a[i]) or _isalpha(a[i]) or a[i] in "~^"):
            i += 1
        while j < lb and not (_isdigit(b[j]) or _isalpha(b[j]) or b[j] in "~^"):
            j += 1
        ca = a[i] if i < la else ""
        cb = b[j] if j < lb else ""
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i += 1
            j += 1
            continue
        if ca == "^" or cb == "^":
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (ca and cb):
            break
        pred = _isdigit if _isdigit(ca) else _isalpha
        si, sj = i, j
        while i < la and pred(a[i]):
            i += 1
        while j < lb and pred(b[j]):
            j += 1
        sa, sb = a[si:i], b[sj:j]
        if not sb:  # segments of different kinds: numbers are newer than letters
            return 1 if pred is _isdigit else -1
        if pred is _isdigit:
            sa, sb = sa.lstrip("0"), sb.lstrip("0")
            if len(sa) != len(sb):
                return 1 if len(sa) > len(sb) else -1
        if sa != sb:
            return 1 if sa > sb else -1
    ra, rb = i >= la, j >= lb
    if ra and rb:
        return 0
    return -1 if ra else 1


@dataclass(frozen=True, order=False)
class Evr:
    epoch: int
    version: str
    release: str

    def __str__(self) -> str:
        e = f"{self.epoch}:" if self.epoch else ""
        return f"{e}{self.version}-{self.release}" if self.release else f"{e}{self.version}"


def evrcmp(a: Evr, b: Evr) -> int:
    """rpm's EVR ordering: epoch, then version, then release (-1, 0, 1)."""
    if a.epoch != b.epoch:
        return 1 if a.epoch > b.epoch else -1
    c = rpmvercmp(a.version, b.version)
    if c:
        return c
    if a.release and b.release:
        return rpmvercmp(a.release, b.release)
    return 0


def parse_evr(text: str) -> Evr:
    """``[epoch:]version[-release]`` -> Evr (no validation beyond the epoch being a number)."""
    epoch = 0
    if ":" in text:
        e, text = text.split(":", 1)
        if not e.isdigit():
            raise ValueError(f"epoch {e!r} is not a number")
        epoch = int(e)
    version, _, release = text.partition("-")
    if "-" in release:
        raise ValueError("more than one '-'")
    return Evr(epoch, version, release)


# --- dependencies -----------------------------------------------------------------------


@dataclass(frozen=True)
class Dep:
    """One Requires/Provides/Conflicts/Obsoletes entry."""

    name: str
    op: str | None = None  # "<", "<=", "=", ">=", ">" or None (any version)
    epoch: str | None = None
    version: str | None = None
    release: str | None = None
    pre: bool = False  # Requires(pre) and friends

    @property
    def evr(self) -> str:
        if not self.version:
            return ""
        e = f"{self.epoch}:" if self.epoch and self.epoch != "0" else ""
        r = f"-{self.release}" if self.release else ""
        return f"{e}{self.version}{r}"

    @property
    def sense(self) -> int:
        """RPMSENSE comparison bits for this dependency."""
        return OPERATORS[self.op] if self.op else 0

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.evr}" if self.op else self.name

    @classmethod
    def from_cr(cls, t: tuple[Any, ...]) -> Dep:
        name, flags, epoch, version, release, pre = t
        return cls(name, CR_FLAGS.get(flags) if flags else None, epoch, version, release,
                   bool(pre))


_DEP_NAME = re.compile(r"[^\s<>=,]+")
_DEP_EVR = re.compile(r"([0-9]+:)?[A-Za-z0-9._+~^]+(-[A-Za-z0-9._+~^]+)?")
_DEP_RE = re.compile(r"\s*([^\s<>=,]+)\s*(?:(<=|>=|==|=|<|>)\s*([^\s<>=,]+))?\s*")


def parse_dep(text: str, where: str = "dependency") -> Dep:
    """Parse ``"name"`` or ``"name OP [epoch:]version[-release]"``; InputError when not."""
    m = _DEP_RE.fullmatch(text)
    if not m or (m.group(2) is None and text.strip() != m.group(1)):
        raise InputError(f"{where}: {text!r} is not 'name' or 'name OP version' "
                         "(OP one of < <= = >= >)")
    name, op, evr = m.group(1), m.group(2), m.group(3)
    if name.startswith(("rpmlib(", "(")):
        raise InputError(f"{where}: {text!r}: rpmlib() and rich dependencies cannot be edited")
    if op is None:
        return Dep(name)
    if not _DEP_EVR.fullmatch(evr):
        raise InputError(f"{where}: {text!r}: {evr!r} is not a version "
                         "([epoch:]version[-release])")
    e = parse_evr(evr)
    return Dep(name, "=" if op == "==" else op, str(e.epoch) if ":" in evr else None,
               e.version, e.release or None)


# --- package info -----------------------------------------------------------------------
