"""Comparing boot menus: pairing entries by what they boot, the disagreements between
the copies (isolinux, grub, efiboot), and what an edit does to each entry."""

from __future__ import annotations

from dataclasses import dataclass

from xcptui.engine.boot.model import BootConfig, BootEntry
from xcptui.engine.boot.parse import detect_kind, parse


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
