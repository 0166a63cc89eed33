"""Automated installs: validate an answerfile and plan where it goes.

Parsing and minimal edits live in answerfile_xml, the installer's rules in
answerfile_check; both are re-exported here.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from xcptui.engine.boot.answerfile_check import (
    GPG_ATTR_82,
    GPG_FLAGS,
    KNOWN_ELEMENTS,
    Findings,
    check,
    summarise,
    validate,
)
from xcptui.engine.boot.answerfile_xml import (
    MAX_SIZE,
    Answerfile,
    XmlElement,
    load,
    parse,
    set_root_attributes,
)
from xcptui.engine.errors import InputError
from xcptui.engine.layout import GRUB_CFG, ISOLINUX_CFG, TREEINFO

if TYPE_CHECKING:
    from xcptui.engine.boot.config import BootConfig, BootEntry
    from xcptui.engine.iso.read import IsoSource
    from xcptui.engine.recipe import Recipe
    from xcptui.engine.recipe.model import AnswerfileSection

__all__ = ["ALL_ENTRIES", "ANSWERFILE_PARAMS", "DEFAULT_DEST", "GPG_ATTR_82", "GPG_FLAGS",
           "INTERACTIVE_ROLES", "KNOWN_ELEMENTS", "MAX_SIZE", "URL_SCHEMES", "Answerfile",
           "AnswerfilePlan", "EmbeddedFile",
           "Findings", "IsoAnswerfileFacts", "XmlElement", "check", "check_dest", "check_url",
           "iso_facts", "load", "parse", "plan_answerfile", "set_root_attributes", "summarise",
           "validate"]

DEFAULT_DEST = "/answerfile.xml"
#: roles of installer entries an answerfile skips unless named: a rescue shell, safe
#: mode and a systemd rescue target (8.99 media) are for a human at the console, not
#: unattended installs
INTERACTIVE_ROLES = ("shell", "safe", "rescue")
#: ``entries = ["all"]``: every installer entry, the interactive ones too
ALL_ENTRIES = "all"
URL_SCHEMES = ("http", "https", "ftp", "nfs")

# parameters that make the installer unattended; a new answerfile replaces old ones
ANSWERFILE_PARAMS = ("answerfile", "rt_answerfile", "answerfile_generator")
# mount points the installer's init covers at boot: a file embedded there is hidden
_HIDDEN_DIRS = ("/proc", "/sys", "/dev", "/run")


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
    (labels; empty = every installer entry: the recipe's default, which leaves the
    shell and safe entries interactive, is resolved to labels here). The install.img
    planner adds
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
        """(config name, entry) for ``entries``: labels (of any menu), ``["all"]`` for every
        installer entry, or empty for every installer entry but the interactive ones
        (INTERACTIVE_ROLES); InputError naming the config when one is missing or not an
        installer entry."""
        out: list[tuple[str, BootEntry]] = []
        ref = self.reference()
        if ALL_ENTRIES in entries and list(entries) != [ALL_ENTRIES]:
            raise InputError(f'answerfile.entries: "{ALL_ENTRIES}" means every installer '
                             "entry; it cannot be combined with labels")
        for cname, cfg in self.configs.items():
            if not entries or list(entries) == [ALL_ENTRIES]:
                out += [(cname, e) for e in cfg.installer_entries()
                        if entries or e.role not in INTERACTIVE_ROLES]
                continue
            for name in entries:
                e = cfg.find(name, via=ref)
                if not e.is_installer:
                    raise InputError(f"{cfg.name}: entry {e.label!r} does not boot the "
                                     "installer; an answerfile cannot go there")
                out.append((cname, e))
        return out

    def reference(self) -> BootConfig | None:
        """The menu whose labels name entries (isolinux.cfg, else the first one)."""
        return self.configs.get("isolinux") or next(iter(self.configs.values()), None)

    def split(self, entries: Sequence[str]) -> tuple[list[BootEntry], list[BootEntry]]:
        """(installer entries of the reference menu that get the answerfile, the ones left
        interactive), in menu order."""
        ref = self.reference()
        if ref is None:
            return [], []
        name = next(n for n, c in self.configs.items() if c is ref)
        got = {e.index for c, e in self.chosen(entries) if c == name}
        inst = ref.installer_entries()
        return [e for e in inst if e.index in got], [e for e in inst if e.index not in got]


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
    chosen = facts.chosen(af_sec.entries)
    plan.entries = _plan_entries(af_sec.entries, facts, where)

    wanted = _wanted_gpg_flags(recipe, chosen, extra_params)
    plan.params_to_remove = list(ANSWERFILE_PARAMS)
    plan.params_to_remove += [f for f in GPG_FLAGS if f in wanted]

    if af_sec.url is not None:
        _plan_url(plan, af_sec, af_sec.url, wanted, facts, where)
    else:
        _plan_embedded(plan, recipe, af_sec, wanted, facts, where)
    msg = _where_message(af_sec.entries, facts)
    if msg:
        plan.messages.insert(0, msg)
    return plan


def _plan_entries(entries: Sequence[str], facts: IsoAnswerfileFacts, where: str) -> list[str]:
    """The labels the boot planner edits (empty there = every installer entry)."""
    if list(entries) == [ALL_ENTRIES]:
        return []
    if entries or facts.reference() is None:
        return list(entries)
    got, _ = facts.split(entries)
    if not got:
        raise InputError(f"{where}: [answerfile] the ISO has no installer entry besides "
                         f"{'/'.join(INTERACTIVE_ROLES)}; name the entries (entries = "
                         '["shell"]) or use entries = ["all"]')
    return [e.label for e in got]


def _where_message(entries: Sequence[str], facts: IsoAnswerfileFacts) -> str | None:
    """"answerfile on boot entries ...; left interactive: ..." (reference menu labels)."""
    if facts.reference() is None:
        return None
    got, left = facts.split(entries)
    on = ", ".join(e.label for e in got)
    if not left:
        return f"answerfile on every installer entry ({on})"
    rest = ", ".join(f"{e.label} ({e.role})" if e.role != e.label else e.label for e in left)
    return f"answerfile on boot entries {on}; left interactive: {rest}"


def _wanted_gpg_flags(recipe: Recipe, chosen: list[tuple[str, BootEntry]],
                      extra_params: Iterable[str]) -> dict[str, str]:
    """gpg flag -> why, for the flags that would end up on the chosen entries' command line."""
    removed_by_recipe = {p.split("=", 1)[0] for p in recipe.boot.remove}
    wanted: dict[str, str] = {}
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
    return wanted


def _plan_url(plan: AnswerfilePlan, af_sec: AnswerfileSection, url: str,
              wanted: dict[str, str], facts: IsoAnswerfileFacts, where: str) -> None:
    """An answerfile the installer fetches: only boot parameters, nothing embedded."""
    url = check_url(url)
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


def _plan_embedded(plan: AnswerfilePlan, recipe: Recipe, af_sec: AnswerfileSection,
                   wanted: dict[str, str], facts: IsoAnswerfileFacts, where: str) -> None:
    """An answerfile (and its scripts) embedded into install.img, gpg flags moved into it."""
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
                and signing.installer_gpgcheck != "keep" and "no-gpgcheck" not in wanted):
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
