"""A recipe's [packages] and [deps] applied in memory to the source repository: the
new Packages/ set, the rebuilt xcp-ng-deps and the installer's dependency check."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path

from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress
from xcptui.engine.events import check as check_cancel
from xcptui.engine.iso.read import IsoReader
from xcptui.engine.recipe import Recipe
from xcptui.engine.repo.pkg_source import Source, load_source
from xcptui.engine.repo.solver import (
    ALT_KERNEL,
    INSTALLER_TARGET,
    InstallerCheck,
    RepoSolver,
    check_installer,
)
from xcptui.engine.rpm.header import Dep, RpmInfo, evrcmp, parse_dep, read_rpm

META = INSTALLER_TARGET  # the meta package the installer installs
INSTALLABLE_ARCHES = {"x86_64", "noarch", "i686", "i586", "i486", "i386"}


@dataclass
class State:
    src: Source
    final: dict[str, RpmInfo]  # basename -> info of the new Packages/
    added: dict[str, RpmInfo] = field(default_factory=dict)  # basename -> added RPMs
    removed: list[RpmInfo] = field(default_factory=list)  # explicit removes
    replaced: list[tuple[RpmInfo, RpmInfo]] = field(default_factory=list)  # (old, new)
    meta_base: RpmInfo | None = None  # the xcp-ng-deps to rebuild
    meta_new: RpmInfo | None = None  # its in-memory rebuilt version
    require: list[Dep] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    auto_required: list[str] = field(default_factory=list)
    result: InstallerCheck | None = None
    not_installed: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)  # problems that stop the build


def _nvr_forms(i: RpmInfo) -> set[str]:
    e = f"{i.epoch}:" if i.epoch else ""
    return {i.name, i.filename, f"Packages/{i.filename}", f"/Packages/{i.filename}", i.nvra,
            i.nevra, f"{i.name}-{i.version}-{i.release}", f"{i.name}-{e}{i.version}-{i.release}",
            f"{i.name}.{i.arch}"}


def _edit_meta_requires(base: list[Dep], require: list[Dep], drop: list[str]) -> list[Dep]:
    out = [d for d in base if d.name not in drop]
    for r in require:
        out = [d for d in out if not (d.name == r.name and not d.pre)]
        out.append(r)
    return out


def next_release(base: RpmInfo, taken: list[RpmInfo]) -> str:
    """``14`` -> ``14.1`` (``14.2``... when taken): higher than every same-name package."""
    n = 1
    while True:
        rel = f"{base.release}.{n}"
        cand = dataclasses.replace(base, release=rel, package=None)
        if all(evrcmp(cand.evr_obj, t.evr_obj) > 0 for t in taken) and not any(
                t.version == base.version and t.release == rel for t in taken):
            return rel
        n += 1


def prepare(iso: IsoReader, recipe: Recipe, workdir: Path, progress: Progress,
            cancel: threading.Event | None) -> State:
    """The recipe's [packages] and [deps] applied in memory, solved; InputError first."""
    pk = recipe.packages
    require, drop = _check_deps(recipe)  # cheap validation first: the dependency strings
    # the added RPMs (before touching the ISO: a bad file is the commonest mistake)
    added = _read_added(recipe, cancel)
    by_name_added = {info.name: info for info in added.values()}

    src = load_source(iso, workdir, full=True, progress=progress, cancel=cancel)
    st = State(src, dict(src.infos), require=require, drop=drop)
    st.warnings += [f"source repository: {n}" for n in src.notes]
    _apply_removals(st, recipe, by_name_added)
    _apply_additions(st, recipe, added)
    _pick_meta(st, require, drop)

    if (require or drop) and st.meta_base is not None and not meta_changed(st):
        st.warnings.append(f"deps: {st.meta_base.nevra} already has exactly these Requires; "
                           "it is not rebuilt")
    solve(st)
    if pk.auto_require and st.meta_base is not None:
        newly = [line.split(" ", 1)[0] for line in st.not_installed
                 if " would NOT be installed" in line]
        if newly:
            st.auto_required = newly
            st.require = st.require + [Dep(n) for n in newly]
            solve(st)
    st.warnings += st.not_installed

    # a removal that breaks what the installer needs
    if st.removed and not pk.force:
        check_removals(st)
    if st.result is not None and not st.result.ok:
        st.blocking = [p.text for p in st.result.problems]
    return st


def _check_deps(recipe: Recipe) -> tuple[list[Dep], list[str]]:
    deps = recipe.deps
    require = [parse_dep(r, f"deps.require[{i}]") for i, r in enumerate(deps.require)]
    drop = list(deps.drop)
    for i, d in enumerate(drop):
        if not d or any(c.isspace() for c in d) or any(c in d for c in "<>="):
            raise InputError(f"deps.drop[{i}]: {d!r} is not a package name")
    both = {r.name for r in require} & set(drop)
    if both:
        raise InputError(f"deps: {', '.join(sorted(both))} is both required and dropped")
    return require, drop


def _read_added(recipe: Recipe, cancel: threading.Event | None) -> dict[str, RpmInfo]:
    """basename -> info of every RPM in packages.add (one per name and file name)."""
    pk = recipe.packages
    added: dict[str, RpmInfo] = {}
    by_name_added: dict[str, RpmInfo] = {}
    for path in pk.add:
        check_cancel(cancel)
        info = read_rpm(path, f"Packages/{path.name}", name=str(path))
        if info.arch not in INSTALLABLE_ARCHES:
            raise InputError(f"{path}: architecture {info.arch} cannot be installed on an "
                             "x86_64 XCP-ng host")
        if info.name in by_name_added:
            raise InputError(f"packages.add: {path} and {by_name_added[info.name].path} are "
                             f"both {info.name}; add one of them")
        if path.name in added:
            raise InputError(f"packages.add: two files named {path.name}")
        added[path.name] = info
        by_name_added[info.name] = info
    return added


def _apply_removals(st: State, recipe: Recipe, by_name_added: dict[str, RpmInfo]) -> None:
    pk, src = recipe.packages, st.src
    for i, spec in enumerate(pk.remove):
        hits = [info for info in src.infos.values() if spec in _nvr_forms(info)]
        if not hits:
            names = sorted({info.name for info in src.infos.values()
                            if spec.split("-")[0] in info.name})[:5]
            hint = f" (similar: {', '.join(names)})" if names else ""
            raise InputError(f"packages.remove[{i}]: no package {spec!r} in Packages/{hint}")
        for h in hits:
            if h.name in by_name_added:
                raise InputError(f"packages.remove[{i}]: {spec!r} is also added by "
                                 f"packages.add ({by_name_added[h.name].path}); adding it "
                                 "already replaces the old one")
            if h.name == META and not pk.force:
                raise InputError(f"packages.remove[{i}]: {h.nevra} is what the installer "
                                 f"installs ('yum install {META}'); removing it breaks every "
                                 "install (set packages.force = true to do it anyway)")
            if h.filename in st.final:
                del st.final[h.filename]
                st.removed.append(h)
                st.changes.append(f"Packages: remove {h.nevra}")


def _apply_additions(st: State, recipe: Recipe, added: dict[str, RpmInfo]) -> None:
    """Each added RPM adds, upgrades or (with packages.downgrade) replaces its name."""
    pk = recipe.packages
    for fname, info in added.items():
        olds = [o for o in st.final.values() if o.name == info.name]
        for o in olds:
            c = evrcmp(info.evr_obj, o.evr_obj)
            if c < 0 and not pk.downgrade:
                raise InputError(
                    f"{info.path}: {info.name} {info.evr} is older than Packages/{o.filename} "
                    f"({o.evr}); yum would install the newer one: set packages.downgrade = "
                    "true to replace it")
            if c == 0 and o.checksum and o.checksum == info.checksum:
                st.warnings.append(f"{info.path}: identical to Packages/{o.filename}; "
                                   "nothing to change")
                continue
            del st.final[o.filename]
            st.replaced.append((o, info))
            how = "downgrade" if c < 0 else ("rebuild of the same version" if c == 0 else
                                             "upgrade")
            st.changes.append(f"Packages: replace {o.nevra} with {info.nevra} ({how})")
        if any(o.checksum and o.checksum == info.checksum for o in olds):
            continue
        if fname in st.final:  # same file name, different package name: cannot both exist
            raise InputError(f"{info.path}: Packages/{fname} already exists and holds "
                             f"{st.final[fname].nevra}")
        st.final[fname] = info
        st.added[fname] = info
        if not olds:
            st.changes.append(f"Packages: add {info.nevra} ({fname})")


def _pick_meta(st: State, require: list[Dep], drop: list[str]) -> None:
    """The xcp-ng-deps to rebuild (the newest), checked against deps.require / drop."""
    metas = [i for i in st.final.values() if i.name == META]
    if (require or drop) and not metas:
        raise InputError(f"deps: no {META} package in Packages/ to edit")
    if len(metas) > 1:
        st.warnings.append(f"Packages/ holds {len(metas)} {META} packages; yum uses the "
                           "newest, which is the one edited")
    if metas:
        best = metas[0]
        for m in metas[1:]:
            if evrcmp(m.evr_obj, best.evr_obj) > 0:
                best = m
        st.meta_base = best
        req_names = {d.name for d in best.requires}
        for d in drop:
            if d not in req_names:
                raise InputError(f"deps.drop: {best.nevra} does not require {d!r}")
        for r in require:
            if any(str(d) == str(r) and not d.pre for d in best.requires):
                st.warnings.append(f"deps.require: {best.name} already requires {r}")


def meta_changed(st: State) -> bool:
    """True when the [deps] edits change the meta package's Requires at all."""
    base = st.meta_base
    if base is None or not (st.require or st.drop):
        return False
    new = _edit_meta_requires(base.requires, st.require, st.drop)
    return sorted(map(str, new)) != sorted(map(str, base.requires))


def solve(st: State) -> None:
    infos = dict(st.final)
    st.meta_new = None
    if meta_changed(st):
        base = st.meta_base
        assert base is not None
        same = [i for i in st.final.values() if i.name == META] + [
            o for o, _n in st.replaced if o.name == META] + [
            i for i in st.removed if i.name == META]
        rel = next_release(base, same)
        new = dataclasses.replace(
            base, release=rel, requires=_edit_meta_requires(base.requires, st.require, st.drop),
            filename=f"{base.name}-{base.version}-{rel}.{base.arch}.rpm", package=None,
            checksum=None)
        new.href = f"Packages/{new.filename}"
        new.provides = [dataclasses.replace(d, release=rel) if d.name == base.name and
                        d.op == "=" and d.version == base.version and
                        d.release == base.release else d for d in base.provides]
        infos.pop(base.filename, None)
        infos[new.filename] = new
        st.meta_new = new
    solver = RepoSolver.from_packages(infos.values())
    st.result = check_installer(solver)
    st.not_installed = st.result.not_installed(sorted({i.name for i in st.added.values()}))


def check_removals(st: State) -> None:
    """Error naming who requires a removed package (yum would fail on it)."""
    assert st.result is not None
    final = {k: v for k, v in st.final.items()}
    if st.meta_new is not None and st.meta_base is not None:
        final.pop(st.meta_base.filename, None)
        final[st.meta_new.filename] = st.meta_new
    removed_ids = {r.nevra for r in st.removed}
    combined = RepoSolver.from_packages(list(final.values()) + st.removed)
    needed = RepoSolver.from_packages(final.values()).closure_names(
        [INSTALLER_TARGET] + ([ALT_KERNEL] if any(i.name == ALT_KERNEL
                                                  for i in final.values()) else []))
    by_provider: dict[str, list[tuple[str, str]]] = {}
    for requirer, dep, provider in combined.sole_providers(needed, removed_ids):
        by_provider.setdefault(provider, []).append((requirer, dep))
    for provider, who in by_provider.items():
        who.sort(key=lambda w: (not w[0].startswith(META + "-"), w[0]))  # the meta first
        names = ", ".join(f"{r} requires {d}" for r, d in who[:3])
        more = f" (+{len(who) - 3} more)" if len(who) > 3 else ""
        raise InputError(f"packages.remove: cannot remove {provider}: {names}{more}, and "
                         "nothing else provides it (drop it from [deps] or set "
                         "packages.force = true)")
