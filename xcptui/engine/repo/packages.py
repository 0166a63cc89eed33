"""Packages/, xcp-ng-deps, repodata and signing: the facade the build, CLI and TUI call.

* :func:`list_packages` - every RPM in Packages/ (from repodata, else from headers);
* :func:`check` - will the installer's ``yum install xcp-ng-deps`` (+ kernel-alt) resolve,
  on the ISO as it is or with a recipe applied;
* :func:`plan` - validate a recipe's ``[packages]``, ``[deps]`` and ``[signing]`` against
  the ISO and compute every changed file (new RPMs, rebuilt xcp-ng-deps, regenerated
  repodata, signature files, .treeinfo). All validation errors are raised before
  anything is computed into ``workdir``; nothing outside ``workdir`` is ever written.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xcptui.engine.errors import BuildError, InputError
from xcptui.engine.events import Progress
from xcptui.engine.events import check as check_cancel
from xcptui.engine.layout import PACKAGES, REPODATA
from xcptui.engine.recipe import Recipe
from xcptui.engine.repo import repodata as repo_mod
from xcptui.engine.repo import signing
from xcptui.engine.repo.solver import (
    ALT_KERNEL,
    INSTALLER_TARGET,
    InstallerCheck,
    RepoSolver,
    check_installer,
)
from xcptui.engine.rpm.header import (
    Dep,
    RpmInfo,
    evrcmp,
    parse_dep,
    read_rpm,
)
from xcptui.engine.rpm.metadata import parse_repodata_packages, read_repomd
from xcptui.engine.rpm.writer import rebuild_package

META = INSTALLER_TARGET  # the meta package the installer installs
INSTALLABLE_ARCHES = {"x86_64", "noarch", "i686", "i586", "i486", "i386"}


class _Iso(Protocol):
    path: Path

    def exists(self, iso_path: str) -> bool: ...
    def is_dir(self, iso_path: str) -> bool: ...
    def listdir(self, iso_path: str = "/") -> list[Any]: ...
    def read(self, iso_path: str, limit: int | None = None) -> bytes: ...
    def open_file(self, iso_path: str) -> Any: ...
    def extract(self, iso_path: str, dest: Path, progress: Progress = ...,
                cancel: threading.Event | None = ...) -> list[Path]: ...


# ---------------------------------------------------------------------------------------
# results


@dataclass
class CheckReport:
    """The installer's dependency check, as lines for the CLI/TUI and as JSON."""

    ok: bool
    problems: list[str] = field(default_factory=list)  # each makes the install fail
    not_installed: list[str] = field(default_factory=list)  # packages yum would skip
    install: list[str] = field(default_factory=list)  # NEVRAs of `yum install xcp-ng-deps`
    alt_install: list[str] | None = None  # ... plus kernel-alt, when the repo has it
    packages: int = 0  # packages in the (resulting) repository
    signing: str = ""
    notes: list[str] = field(default_factory=list)  # informational lines
    with_recipe: bool = False

    def lines(self) -> list[str]:
        what = "with the recipe applied" if self.with_recipe else "as it is"
        if self.install:
            yum = (f"'yum install {META}' installs {len(self.install)}"
                   + (f" (+kernel-alt: {len(self.alt_install)})" if self.alt_install else ""))
        else:
            yum = f"'yum install {META}' fails"
        out = [f"repository ({what}): {self.packages} packages; {yum}"]
        if self.signing:
            out.append(f"signing: {self.signing}")
        out += [f"note: {n}" for n in self.notes]
        out += [f"not installed: {n}" for n in self.not_installed]
        out += [f"PROBLEM: {p}" for p in self.problems]
        out.append("dependency check: OK" if self.ok else
                   f"dependency check: FAILED ({len(self.problems)} problem"
                   f"{'s' if len(self.problems) != 1 else ''})")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "problems": self.problems, "not_installed": self.not_installed,
            "install": self.install, "alt_install": self.alt_install,
            "packages": self.packages, "signing": self.signing, "notes": self.notes,
            "with_recipe": self.with_recipe,
        }


@dataclass
class PackagesPlan:
    iso_changes: dict[str, Path | None] = field(default_factory=dict)
    treeinfo: bytes | None = None
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    report: CheckReport | None = None  # the dependency check of the new repository
    packages: list[RpmInfo] = field(default_factory=list)  # the new repository

    @property
    def empty(self) -> bool:
        return not self.iso_changes and self.treeinfo is None


# ---------------------------------------------------------------------------------------
# reading the source repository


@dataclass
class _Source:
    files: dict[str, Any]  # basename -> IsoEntry of /Packages/*.rpm
    infos: dict[str, RpmInfo]  # basename -> info (for every file in `files`)
    old: repo_mod.OldRepo | None  # loaded repodata (update mode), None without repodata
    repodata_files: list[str]  # ISO paths of the files under /repodata
    notes: list[str] = field(default_factory=list)  # consistency problems of the source
    primary_href: str = ""


def _require_packages(iso: _Iso) -> None:
    if not iso.is_dir(PACKAGES):
        raise InputError(f"{iso.path.name}: has no /Packages directory (a netinstall ISO?): "
                         "there is no local repository to list, check or change")


def _copy_out(iso: _Iso, iso_path: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with iso.open_file(iso_path) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return dest


def _norm_href(href: str) -> str:
    while href.startswith("./"):
        href = href[2:]
    return href


def _load_source(iso: _Iso, workdir: Path, *, full: bool, progress: Progress,
                 cancel: threading.Event | None) -> _Source:
    """Packages/ listing + package data (repodata where it matches, headers otherwise)."""
    _require_packages(iso)
    files = {e.name: e for e in iso.listdir(PACKAGES)
             if not e.is_dir and e.name.endswith(".rpm")}
    src = _Source(files, {}, None, [])
    old_pkgs: dict[str, Any] = {}
    if iso.exists(REPODATA + "/repomd.xml"):
        progress.step("load repository metadata")
        root = workdir / "old"
        for ent in iso.listdir(REPODATA):
            if not ent.is_dir:
                src.repodata_files.append(ent.path)
                _copy_out(iso, ent.path, root / "repodata" / ent.name)
        try:
            if full:
                src.old = repo_mod.load_old(root)
                old_pkgs = src.old.packages
                src.primary_href = src.old.files.records["primary"][0]
            else:
                md = read_repomd(root)
                src.primary_href = md.records["primary"][0]
                for p in parse_repodata_packages(md, filelists=True, other=False):
                    old_pkgs.setdefault(_norm_href(p.location_href), p)
        except InputError as err:
            src.notes.append(f"the ISO's repodata cannot be read ({err}); yum cannot use it")
            src.old, old_pkgs = None, {}
        if src.primary_href and not src.primary_href.endswith(".gz"):
            src.notes.append(f"{src.primary_href} is not gzip: the installer (which always "
                             "gunzips primary) cannot read it")
        progress.finish_step()
    else:
        src.notes.append("the ISO has no repodata/repomd.xml: the installer cannot use "
                         "Packages/")
    to_read: list[tuple[str, Any]] = []
    for name, e in sorted(files.items()):
        pkg = old_pkgs.get(f"Packages/{name}")
        if pkg is not None and int(pkg.size_package or -1) == e.size:
            src.infos[name] = RpmInfo.from_package(pkg)
        else:
            if pkg is not None:
                src.notes.append(f"Packages/{name} does not match its repodata entry "
                                 f"(size {e.size}, repodata says {pkg.size_package})")
            elif old_pkgs:
                src.notes.append(f"Packages/{name} is not in the repodata: yum cannot see it")
            to_read.append((name, e))
    for href in sorted(set(old_pkgs) - {f"Packages/{n}" for n in files}):
        src.notes.append(f"the repodata lists {href}, which is not on the ISO: installs "
                         "that need it fail")
    if to_read:
        progress.step("read RPM headers", sum(e.size for _n, e in to_read))
        done = 0
        for name, e in to_read:
            check_cancel(cancel)
            host = _copy_out(iso, e.path, workdir / "src-rpms" / name)
            try:
                src.infos[name] = read_rpm(host, f"Packages/{name}", name=f"Packages/{name}")
            except InputError as err:  # the ISO's own file: report it, leave it out
                src.notes.append(f"{err}; it is left out of the repository")
                host.unlink(missing_ok=True)
            done += e.size
            progress.update(done)
        progress.finish_step()
    return src


def list_packages(iso: _Iso, progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> list[RpmInfo]:
    """Every RPM in /Packages, sorted by name (repodata when it matches, else headers)."""
    progress = progress or Progress()
    with tempfile.TemporaryDirectory(prefix="xcptui-pk-") as td:
        src = _load_source(iso, Path(td), full=False, progress=progress, cancel=cancel)
        out = sorted(src.infos.values(), key=lambda i: (i.name, i.nevra))
        for i in out:
            i.path = None
        return out


# ---------------------------------------------------------------------------------------
# the recipe applied in memory


@dataclass
class _State:
    src: _Source
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


def _next_release(base: RpmInfo, taken: list[RpmInfo]) -> str:
    """``14`` -> ``14.1`` (``14.2``... when taken): higher than every same-name package."""
    n = 1
    while True:
        rel = f"{base.release}.{n}"
        cand = dataclasses.replace(base, release=rel, package=None)
        if all(evrcmp(cand.evr_obj, t.evr_obj) > 0 for t in taken) and not any(
                t.version == base.version and t.release == rel for t in taken):
            return rel
        n += 1


def _prepare(iso: _Iso, recipe: Recipe, workdir: Path, progress: Progress,
             cancel: threading.Event | None) -> _State:
    pk, deps = recipe.packages, recipe.deps
    # cheap validation first: the dependency strings
    require = [parse_dep(r, f"deps.require[{i}]") for i, r in enumerate(deps.require)]
    drop = list(deps.drop)
    for i, d in enumerate(drop):
        if not d or any(c.isspace() for c in d) or any(c in d for c in "<>="):
            raise InputError(f"deps.drop[{i}]: {d!r} is not a package name")
    both = {r.name for r in require} & set(drop)
    if both:
        raise InputError(f"deps: {', '.join(sorted(both))} is both required and dropped")

    # the added RPMs (before touching the ISO: a bad file is the commonest mistake)
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

    src = _load_source(iso, workdir, full=True, progress=progress, cancel=cancel)
    st = _State(src, dict(src.infos), require=require, drop=drop)
    st.warnings += [f"source repository: {n}" for n in src.notes]

    # removals
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

    # additions and replacements
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

    # the meta package
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

    if (require or drop) and st.meta_base is not None and not _meta_changed(st):
        st.warnings.append(f"deps: {st.meta_base.nevra} already has exactly these Requires; "
                           "it is not rebuilt")
    _solve(st)
    if pk.auto_require and st.meta_base is not None:
        newly = [line.split(" ", 1)[0] for line in st.not_installed
                 if " would NOT be installed" in line]
        if newly:
            st.auto_required = newly
            st.require = st.require + [Dep(n) for n in newly]
            _solve(st)
    st.warnings += st.not_installed

    # a removal that breaks what the installer needs
    if st.removed and not pk.force:
        _check_removals(st)
    if st.result is not None and not st.result.ok:
        st.blocking = [p.text for p in st.result.problems]
    return st


def _meta_changed(st: _State) -> bool:
    """True when the [deps] edits change the meta package's Requires at all."""
    base = st.meta_base
    if base is None or not (st.require or st.drop):
        return False
    new = _edit_meta_requires(base.requires, st.require, st.drop)
    return sorted(map(str, new)) != sorted(map(str, base.requires))


def _solve(st: _State) -> None:
    infos = dict(st.final)
    st.meta_new = None
    if _meta_changed(st):
        base = st.meta_base
        assert base is not None
        same = [i for i in st.final.values() if i.name == META] + [
            o for o, _n in st.replaced if o.name == META] + [
            i for i in st.removed if i.name == META]
        rel = _next_release(base, same)
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


def _check_removals(st: _State) -> None:
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


# ---------------------------------------------------------------------------------------
# public API


def check(iso: _Iso, recipe: Recipe | None = None, progress: Progress | None = None,
          cancel: threading.Event | None = None) -> CheckReport:
    """The installer's dependency check, for the ISO as it is or with ``recipe`` applied.

    Bad input (a broken RPM in the recipe, an unknown package to remove...) raises; a
    broken closure is reported (``ok`` False), never raised.
    """
    progress = progress or Progress()
    state = signing.detect(iso)
    with tempfile.TemporaryDirectory(prefix="xcptui-check-") as td:
        work = Path(td)
        if recipe is not None and recipe.touches_repo():
            st = _prepare(iso, recipe, work, progress, cancel)
            notes = list(st.changes)
            if st.meta_new is not None:
                notes.append(f"{META} would be rebuilt as {st.meta_new.nevra} with Requires: "
                             + ", ".join(str(d) for d in st.meta_new.requires))
            if st.auto_required:
                notes.append(f"auto_require adds {', '.join(st.auto_required)} to {META}")
            notes += [w for w in st.warnings if w not in st.not_installed
                      and not w.startswith("source repository: ")]
            if state.signed or state.repomd_asc:
                mode = recipe.signing.mode if recipe.signing else "unsigned"
                notes.append("signing: the build would sign repomd.xml with your key"
                             if mode == "gpg" else
                             "signing: the build would make the ISO unsigned ([keys] "
                             "commented out, repomd.xml.asc removed)")
            return _report(st.result, st.not_installed, len(st.final), state.describe(),
                           st.src.notes, with_recipe=True, extra=notes)
        src = _load_source(iso, work, full=False, progress=progress, cancel=cancel)
        progress.step("check dependencies")
        solver = RepoSolver.from_packages(src.infos.values())
        res = check_installer(solver)
        progress.finish_step()
        never = res.not_installed(sorted({i.name for i in src.infos.values()}))
        rep = _report(res, never, len(src.infos), state.describe(), src.notes,
                      with_recipe=False, extra=[])
        if state.keys and not state.repomd_asc:
            rep.problems.append(state.describe())
        for k in state.keys:
            if not iso.exists("/" + k.lstrip("/")):
                rep.problems.append(f".treeinfo [keys] lists {k}, but /{k} is not on the ISO: "
                                    "the installer fails")
        rep.ok = not rep.problems
        return rep


def _report(res: InstallerCheck | None, not_installed: list[str], count: int, sig: str,
            notes: list[str], *, with_recipe: bool, extra: list[str]) -> CheckReport:
    rep = CheckReport(ok=True, packages=count, signing=sig, with_recipe=with_recipe)
    rep.not_installed = list(not_installed)
    rep.notes = list(extra)
    if res is not None:
        rep.install = list(res.main.install)
        rep.alt_install = list(res.alt.install) if res.alt is not None else None
        rep.problems = [p.text for p in res.problems]
        if res.alt is not None and not res.alt.ok and res.main.ok:
            rep.problems = [f"with kernel-alt: {p}" for p in rep.problems]
    if not with_recipe:
        rep.problems += notes
    rep.ok = not rep.problems
    return rep


def plan(iso: _Iso, recipe: Recipe, workdir: Path, progress: Progress | None = None,
         cancel: threading.Event | None = None, *, treeinfo: bytes | None = None
         ) -> PackagesPlan:
    """Validate the recipe's repository changes and compute them into ``workdir``.

    ``treeinfo``: the .treeinfo content to edit when another planner already changed it
    (default: the source's). Raises InputError (nothing computed) for any bad input or a
    broken dependency closure unless ``packages.force``.
    """
    progress = progress or Progress()
    out = PackagesPlan()
    if not recipe.touches_repo():
        return out
    _require_packages(iso)
    sig = recipe.signing
    key_fpr: str | None = None
    if sig is not None and sig.mode == "gpg":
        key_fpr = signing.check_key(sig.key or "")
    workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="packages-", dir=workdir))
    try:
        return _plan(iso, recipe, work, progress, cancel, treeinfo, key_fpr)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # leave nothing behind on any failure
        raise


def _plan(iso: _Iso, recipe: Recipe, work: Path, progress: Progress,
          cancel: threading.Event | None, treeinfo: bytes | None,
          key_fpr: str | None) -> PackagesPlan:
    out = PackagesPlan()
    sig = recipe.signing
    st = _prepare(iso, recipe, work, progress, cancel)
    if st.blocking:
        if not recipe.packages.force:
            more = f" (+{len(st.blocking) - 1} more; see xcptui check)" if len(
                st.blocking) > 1 else ""
            raise InputError(f"the installer's dependency closure would be broken: "
                             f"{st.blocking[0]}{more} (set packages.force = true to build "
                             "anyway)")
        st.warnings += [f"forced despite: {b}" for b in st.blocking]
    check_cancel(cancel)
    out.warnings += st.warnings
    if not (st.removed or st.added or st.replaced or st.meta_new is not None):
        return out  # nothing effective to do: the repository stays byte-identical
    out.changes += st.changes

    # Packages/
    for info in st.removed:
        out.iso_changes[f"{PACKAGES}/{info.filename}"] = None
    for old, _new in st.replaced:
        out.iso_changes[f"{PACKAGES}/{old.filename}"] = None
    entries: list[repo_mod.RepoEntry] = []
    final = dict(st.final)
    if st.meta_new is not None and st.meta_base is not None:
        progress.step(f"rebuild {META}")
        base = st.meta_base
        base_path = base.path
        if base_path is None:
            base_path = _copy_out(iso, f"{PACKAGES}/{base.filename}",
                                  work / "meta-src" / base.filename)
        rebuilt = rebuild_package(base_path, work / "meta", release=st.meta_new.release,
                                  require=st.require, drop=st.drop,
                                  label=f"Packages/{base.filename}")
        new_info = read_rpm(rebuilt.path, f"Packages/{rebuilt.path.name}")
        final.pop(base.filename, None)
        st.added.pop(base.filename, None)
        final[rebuilt.path.name] = new_info
        if base.filename in st.src.files:
            out.iso_changes[f"{PACKAGES}/{base.filename}"] = None
        out.iso_changes[f"{PACKAGES}/{rebuilt.path.name}"] = rebuilt.path
        adds = [str(r) for r in st.require]
        desc = ", ".join([f"+ {a}" for a in adds] + [f"- {d}" for d in st.drop])
        auto = (f" (auto_require: {', '.join(st.auto_required)})" if st.auto_required else "")
        out.changes.append(f"{META}: rebuilt as {new_info.nevra}: Requires {desc}{auto}; "
                           "old signature dropped")
        progress.finish_step()
    for fname, info in st.added.items():
        assert info.path is not None
        out.iso_changes[f"{PACKAGES}/{fname}"] = info.path
    old_hrefs = st.src.old.hrefs if st.src.old is not None else set()
    for fname in sorted(final):
        href = f"Packages/{fname}"
        if fname in st.src.files and fname not in st.added and href in old_hrefs:
            entries.append(repo_mod.RepoEntry(href, size=st.src.files[fname].size))
        else:
            entries.append(repo_mod.RepoEntry(href, info=final[fname]))

    # repodata
    # sqlite like the source had them; createrepo_c's default (with sqlite) when unknown
    res = repo_mod.write_repodata(entries, work / "newrepo", old=st.src.old,
                                  database=None if st.src.old is not None else True,
                                  progress=progress, cancel=cancel)
    for rel, host in res.files.items():
        out.iso_changes["/" + rel] = host
    for rel in res.stale:
        out.iso_changes.setdefault("/" + rel, None)
    for p in st.src.repodata_files:  # anything else in repodata/ is stale too
        if p not in out.iso_changes and p != signing.REPOMD_ASC:
            out.iso_changes[p] = None
    db = " + sqlite" if any(r.endswith(".sqlite" + x) for r in res.files
                            for x in (".gz", ".bz2", ".xz")) else ""
    out.changes.append(f"repodata: regenerated for {len(entries)} packages ({res.reused} "
                       f"reused from the old repodata, {res.read} read; gzip XML{db}, "
                       "sha256)")

    # prove it on the written metadata, as the installer will read it
    progress.step("check dependencies")
    primary = res.repodata / Path(_rec(res, "primary")).name
    filelists = res.repodata / Path(_rec(res, "filelists")).name
    final_check = check_installer(RepoSolver.from_repodata(primary, filelists))
    if final_check.ok != (st.result.ok if st.result else True):
        raise BuildError("repodata: the written metadata solves differently from the plan "
                         "(internal error); nothing was written")
    out.report = _report(final_check, st.not_installed, len(entries), "", [],
                         with_recipe=True, extra=[])
    out.packages = res.packages
    progress.finish_step()

    # signing
    state = signing.detect(iso)
    ti = treeinfo if treeinfo is not None else (
        iso.read(signing.TREEINFO) if iso.exists(signing.TREEINFO) else None)
    sp = signing.plan(state, mode=sig.mode if sig else None,
                      key=key_fpr or (sig.key if sig else None),
                      repomd=res.repodata / "repomd.xml", workdir=work / "signing",
                      treeinfo=ti, iso=iso, key_label=sig.key if sig else None)
    for k, v in sp.iso_changes.items():
        out.iso_changes[k] = v
    out.treeinfo = sp.treeinfo
    out.changes += sp.changes
    out.warnings += sp.warnings
    return out


def _rec(res: repo_mod.RepodataResult, kind: str) -> str:
    for rel in res.files:
        if rel.endswith(f"-{kind}.xml.gz") or rel == f"repodata/{kind}.xml.gz":
            return rel
    raise BuildError(f"repodata: no {kind} file was written")

