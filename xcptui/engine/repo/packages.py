"""Packages/, xcp-ng-deps, repodata and signing: the facade the build, CLI and TUI call.

* :func:`list_packages` - every RPM in Packages/ (from repodata, else from headers;
  in :mod:`.pkg_source`, with the rest of the source reading);
* :func:`check` - will the installer's ``yum install xcp-ng-deps`` (+ kernel-alt) resolve,
  on the ISO as it is or with a recipe applied;
* :func:`plan` - validate a recipe's ``[packages]``, ``[deps]`` and ``[signing]`` against
  the ISO and compute every changed file (new RPMs, rebuilt xcp-ng-deps, regenerated
  repodata, signature files, .treeinfo). All validation errors are raised before
  anything is computed into ``workdir``; nothing outside ``workdir`` is ever written.
  The recipe applied in memory (new package set, rebuilt xcp-ng-deps, the solve) is
  :mod:`.pkg_apply`.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xcptui.engine.errors import BuildError, InputError
from xcptui.engine.events import Progress
from xcptui.engine.events import check as check_cancel
from xcptui.engine.iso.read import IsoReader
from xcptui.engine.layout import PACKAGES
from xcptui.engine.recipe import Recipe
from xcptui.engine.repo import repodata as repo_mod
from xcptui.engine.repo import signing
from xcptui.engine.repo.pkg_apply import (
    META,
    State,
    next_release,
    prepare,
)
from xcptui.engine.repo.pkg_source import copy_out, list_packages, load_source, require_packages
from xcptui.engine.repo.signing import SigningOutcome
from xcptui.engine.repo.solver import (
    InstallerCheck,
    RepoSolver,
    check_installer,
)
from xcptui.engine.rpm.header import (
    Dep,
    RpmInfo,
    read_rpm,
)
from xcptui.engine.rpm.writer import rebuild_package

__all__ = ["META", "CheckReport", "MetaRebuild", "PackagesPlan", "check", "list_packages",
           "next_release", "plan"]


# ---------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class MetaRebuild:
    """xcp-ng-deps as the recipe rebuilds it: its Requires before and after."""

    old_nevra: str
    new_nevra: str
    old_requires: list[str]  # without rpmlib() and pre-install requirements
    new_requires: list[str]

    @property
    def added(self) -> list[str]:
        return [r for r in self.new_requires if r not in self.old_requires]

    @property
    def removed(self) -> list[str]:
        return [r for r in self.old_requires if r not in self.new_requires]


def _plain_requires(deps: list[Dep]) -> list[str]:
    return [str(d) for d in deps if not d.pre and not d.name.startswith("rpmlib(")]


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
    #: the output's signing (the source's when the repository does not change)
    output_signing: SigningOutcome | None = None
    meta: MetaRebuild | None = None  # set when the recipe rebuilds xcp-ng-deps
    #: every package of the (resulting) repository that neither install job installs
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the recipe's, informational

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
            "with_recipe": self.with_recipe, "skipped": self.skipped,
            "meta": None if self.meta is None else {
                "old": self.meta.old_nevra, "new": self.meta.new_nevra,
                "old_requires": self.meta.old_requires, "new_requires": self.meta.new_requires},
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


# ---------------------------------------------------------------------------------------
# public API


def check(iso: IsoReader, recipe: Recipe | None = None, progress: Progress | None = None,
          cancel: threading.Event | None = None) -> CheckReport:
    """The installer's dependency check, for the ISO as it is or with ``recipe`` applied.

    Bad input (a broken RPM in the recipe, an unknown package to remove...) raises; a
    broken closure is reported (``ok`` False), never raised.
    """
    progress = progress or Progress()
    state = signing.detect(iso)
    with tempfile.TemporaryDirectory(prefix="xcptui-check-") as td:
        work = Path(td)
        if recipe is not None and recipe.drivers.disk:  # their RPMs, as a build adds them
            from xcptui.engine.repo.driverdisk import with_disk_packages

            recipe = with_disk_packages(recipe, work, cancel)[0]
        if recipe is not None and recipe.touches_repo():
            st = prepare(iso, recipe, work, progress, cancel)
            notes = list(st.changes)
            if st.meta_new is not None:
                notes.append(f"{META} would be rebuilt as {st.meta_new.nevra} with Requires: "
                             + ", ".join(str(d) for d in st.meta_new.requires))
            if st.auto_required:
                notes.append(f"auto_require adds {', '.join(st.auto_required)} to {META}")
            warnings = [w for w in st.warnings if w not in st.not_installed
                        and not w.startswith("source repository: ")]
            notes += warnings
            effective = bool(st.removed or st.added or st.replaced or st.meta_new)
            sig = recipe.signing
            out_sig = signing.outcome(state, changes_repo=effective,
                                      mode=sig.mode if sig else None, key=sig.key if sig else None,
                                      installer_gpgcheck=sig.installer_gpgcheck if sig else None)
            rep = _report(st.result, st.not_installed, len(st.final), out_sig.text,
                          st.src.notes, with_recipe=True, extra=notes)
            rep.output_signing = out_sig
            rep.warnings = warnings
            if st.meta_new is not None and st.meta_base is not None:
                rep.meta = MetaRebuild(st.meta_base.nevra, st.meta_new.nevra,
                                       _plain_requires(st.meta_base.requires),
                                       _plain_requires(st.meta_new.requires))
            if st.result is not None:
                rep.skipped = st.result.not_installed(sorted({i.name for i in
                                                              st.final.values()}))
            return rep
        src = load_source(iso, work, full=False, progress=progress, cancel=cancel)
        progress.step("check dependencies")
        solver = RepoSolver.from_packages(src.infos.values())
        res = check_installer(solver)
        progress.finish_step()
        never = res.not_installed(sorted({i.name for i in src.infos.values()}))
        rep = _report(res, never, len(src.infos), state.describe(), src.notes,
                      with_recipe=False, extra=[])
        rep.output_signing = SigningOutcome(state.signed, state.signed, state.describe())
        rep.skipped = list(never)
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


def plan(iso: IsoReader, recipe: Recipe, workdir: Path, progress: Progress | None = None,
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
    require_packages(iso)
    sig = recipe.signing
    key_fpr: str | None = None
    if sig is not None and sig.mode == "gpg":
        key_fpr = signing.check_key(sig.key or "", signing.detect(iso).product_version)
    workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="packages-", dir=workdir))
    try:
        return _plan(iso, recipe, work, progress, cancel, treeinfo, key_fpr)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # leave nothing behind on any failure
        raise


def _plan(iso: IsoReader, recipe: Recipe, work: Path, progress: Progress,
          cancel: threading.Event | None, treeinfo: bytes | None,
          key_fpr: str | None) -> PackagesPlan:
    out = PackagesPlan()
    st = prepare(iso, recipe, work, progress, cancel)
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
        _rebuild_meta(iso, st, work, progress, out, final)
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

    _plan_signing(iso, recipe, res, work, treeinfo, key_fpr, out)
    return out


def _rebuild_meta(iso: IsoReader, st: State, work: Path, progress: Progress,
                  out: PackagesPlan, final: dict[str, RpmInfo]) -> None:
    """Rebuild xcp-ng-deps with the edited Requires; ``final`` gets the new file."""
    assert st.meta_new is not None and st.meta_base is not None
    progress.step(f"rebuild {META}")
    base = st.meta_base
    base_path = base.path
    if base_path is None:
        base_path = copy_out(iso, f"{PACKAGES}/{base.filename}",
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


def _plan_signing(iso: IsoReader, recipe: Recipe, res: repo_mod.RepodataResult, work: Path,
                  treeinfo: bytes | None, key_fpr: str | None, out: PackagesPlan) -> None:
    """Sign (or unsign) the new repomd.xml and adjust .treeinfo as [signing] says."""
    sig = recipe.signing
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


def _rec(res: repo_mod.RepodataResult, kind: str) -> str:
    for rel in res.files:
        if rel.endswith(f"-{kind}.xml.gz") or rel == f"repodata/{kind}.xml.gz":
            return rel
    raise BuildError(f"repodata: no {kind} file was written")

