"""Dependency check with libsolv: will ``yum install xcp-ng-deps`` succeed on this repo?

The XCP-ng installer runs ``yum install xcp-ng-deps`` (plus ``kernel-alt`` when booted
that way) against the ISO's repository with an empty install root (docs §6): yum takes the
highest EVR of each name, honours Obsoletes and ignores weak dependencies. This module
loads the repository into a libsolv pool (from package data or from primary.xml.gz and
filelists.xml.gz), solves those jobs, and reports

* every unresolved Requires and every Conflicts/Obsoletes clash inside the closure, each
  with the package that has it: a walk of the requirement graph that, like yum 3, takes
  the newest provider of each Requires and does not backtrack to older versions (so one
  missing package does not hide the next, and a broken newest version fails as in yum);
* libsolv's own verdict (its problem descriptions when the walk found nothing);
* the closure: what would be installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import solv

from xcptui.engine.errors import InputError
from xcptui.engine.rpm.header import Dep, RpmInfo

INSTALLER_TARGET = "xcp-ng-deps"
ALT_KERNEL = "kernel-alt"
_REL = {"<": solv.REL_LT, "<=": solv.REL_LT | solv.REL_EQ, "=": solv.REL_EQ,
        ">=": solv.REL_GT | solv.REL_EQ, ">": solv.REL_GT}


@dataclass(frozen=True)
class Problem:
    kind: str  # "unresolved" | "conflict" | "obsoletes" | "missing-target" | "other"
    package: str  # the package that has the dependency (NEVRA), "" for job problems
    dep: str  # the dependency text
    text: str  # one human line

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "package": self.package, "dep": self.dep, "text": self.text}


@dataclass
class SolveResult:
    targets: list[str]
    ok: bool
    install: list[str] = field(default_factory=list)  # NEVRAs yum would install
    names: set[str] = field(default_factory=set)  # their names
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"targets": self.targets, "ok": self.ok, "install": self.install,
                "problems": [p.to_dict() for p in self.problems]}


def _evr(epoch: int | str | None, version: str | None, release: str | None) -> str:
    e = str(epoch) if epoch not in (None, "", 0, "0") else ""
    out = f"{e}:{version}" if e else (version or "")
    return f"{out}-{release}" if release else out


class RepoSolver:
    """One libsolv pool holding one repository; solve installer jobs against it."""

    def __init__(self, arch: str = "x86_64") -> None:
        self.pool = solv.Pool()
        self.pool.setdisttype(solv.Pool.DISTTYPE_RPM)
        self.pool.setarch(arch)
        self.repo = self.pool.add_repo("iso")
        self._ready = False

    # -- loading -----------------------------------------------------------------------

    @classmethod
    def from_packages(cls, packages: Iterable[RpmInfo], arch: str = "x86_64") -> RepoSolver:
        self = cls(arch)
        pkgs = list(packages)
        file_reqs = {d.name for p in pkgs for d in p.requires if d.name.startswith("/")}
        for p in pkgs:
            s = self.repo.add_solvable()
            s.name, s.arch = p.name, p.arch
            s.evr = _evr(p.epoch, p.version, p.release)
            for d in p.requires:
                if not d.name.startswith("rpmlib("):
                    s.add_requires(self._dep(d))
            for d in p.provides:
                s.add_provides(self._dep(d))
            s.add_provides(self.pool.rel2id(s.nameid, s.evrid, solv.REL_EQ))
            for f in file_reqs.intersection(p.files):
                s.add_provides(self.pool.str2id(f))
            for d in p.conflicts:
                s.add_conflicts(self._dep(d))
            for d in p.obsoletes:
                s.add_obsoletes(self._dep(d))
        self.repo.internalize()
        return self

    @classmethod
    def from_repodata(cls, primary: Path, filelists: Path | None = None,
                      arch: str = "x86_64") -> RepoSolver:
        """Load primary.xml.gz (and filelists.xml.gz for file dependencies)."""
        self = cls(arch)
        for path, flags in ((primary, 0), (filelists, solv.Repo.REPO_EXTEND_SOLVABLES)):
            if path is None:
                continue
            f = solv.xfopen(str(path))
            if f is None:
                raise InputError(f"{path.name}: cannot open")
            try:
                if not self.repo.add_rpmmd(f, None, flags):
                    raise InputError(f"{path.name}: not valid repository metadata "
                                     f"({self.pool.errstr})")
            finally:
                f.close()
        self.repo.internalize()
        return self

    def _dep(self, d: Dep) -> int:
        name = self.pool.str2id(d.name)
        if not d.op or not d.version:
            return int(name)
        evr = self.pool.str2id(_evr(d.epoch, d.version, d.release))
        return int(self.pool.rel2id(name, evr, _REL[d.op]))

    def _prepare(self) -> None:
        if not self._ready:
            self.pool.addfileprovides()
            self.pool.createwhatprovides()
            self._ready = True

    # -- solving -----------------------------------------------------------------------

    def names(self) -> set[str]:
        return {s.name for s in self.repo.solvables}

    def solve(self, targets: list[str]) -> SolveResult:
        """Install ``targets`` (package names) into an empty root, the way yum would."""
        self._prepare()
        pool = self.pool
        res = SolveResult(list(targets), ok=True)
        jobs = []
        for t in targets:
            sel = pool.select(t, solv.Selection.SELECTION_NAME)
            if sel.isempty():
                res.problems.append(Problem(
                    "missing-target", "", t,
                    f"no package named {t} in the repository: the installer's "
                    f"'yum install {t}' would fail"))
                continue
            jobs += sel.jobs(solv.Job.SOLVER_INSTALL)
        if res.problems:
            res.ok = False
            return res
        solver = pool.Solver()
        solver.set_flag(solv.Solver.SOLVER_FLAG_IGNORE_RECOMMENDED, 1)
        solver.set_flag(solv.Solver.SOLVER_FLAG_YUM_OBSOLETES, 1)
        problems = solver.solve(jobs)
        # yum 3 does not backtrack: it takes the newest provider of each Requires and fails
        # when that one's own Requires are missing. The walk does the same, libsolv may
        # find an older version that works; both must succeed.
        walked = self._walk(targets)
        if not problems and not walked:
            trans = solver.transaction()
            new = sorted(trans.newsolvables(), key=lambda s: s.name)
            res.install = [s.str() for s in new]
            res.names = {s.name for s in new}
            return res
        res.ok = False
        res.problems.extend(walked)
        if not walked:
            seen: set[str] = set()
            for pr in problems:
                for rule in pr.findallproblemrules():
                    for info in rule.allinfos():
                        text = info.problemstr()
                        if text not in seen:
                            seen.add(text)
                            res.problems.append(Problem("other", _solvable_str(info.solvable),
                                                        "", text))
        return res

    def _best(self, sols: list[solv.XSolvable]) -> list[solv.XSolvable]:
        """Per name, the installable solvable with the highest EVR (yum's choice)."""
        best: dict[str, solv.XSolvable] = {}
        for s in sols:
            if not s.installable():
                continue
            cur = best.get(s.name)
            if cur is None or s.evrcmp(cur) > 0:
                best[s.name] = s
        return [best[n] for n in sorted(best)]

    def closure_names(self, targets: list[str]) -> set[str]:
        """Names reachable from ``targets`` through Requires (even when some are missing)."""
        self._prepare()
        closure: dict[int, solv.XSolvable] = {}
        self._walk(targets, closure)
        return {s.name for s in closure.values()}

    def sole_providers(self, requirers: set[str], candidates: set[str]
                       ) -> list[tuple[str, str, str]]:
        """(requirer, dep, provider) where every provider of a Requires of a package named
        in ``requirers`` is one of ``candidates`` (NEVRAs), e.g. packages about to go."""
        self._prepare()
        out = []
        for s in self.repo.solvables:
            if s.name not in requirers or s.str() in candidates:
                continue
            for dep in s.lookup_deparray(solv.SOLVABLE_REQUIRES):
                provs = [p.str() for p in self.pool.whatprovides(dep)]
                if provs and all(p in candidates for p in provs):
                    out.append((s.str(), str(dep), provs[0]))
        return out

    def _walk(self, targets: list[str],
              closure: dict[int, solv.XSolvable] | None = None) -> list[Problem]:
        """Every unresolved Requires and Conflicts/Obsoletes clash in the closure."""
        pool = self.pool
        out: list[Problem] = []
        queue: list[solv.XSolvable] = []
        for t in targets:
            queue += self._best(pool.select(t, solv.Selection.SELECTION_NAME).solvables())
        if closure is None:
            closure = {}
        while queue:
            s = queue.pop(0)
            if s.id in closure:
                continue
            closure[s.id] = s
            for dep in s.lookup_deparray(solv.SOLVABLE_REQUIRES):
                if str(dep).startswith("rpmlib("):
                    continue
                providers = self._best(pool.whatprovides(dep))
                if not providers:
                    other_arch = any(not o.installable() and o.matchesdep(
                        solv.SOLVABLE_PROVIDES, dep) for o in self.repo.solvables)
                    why = ("only packages of another architecture provide it" if other_arch
                           else "nothing in the repository provides it")
                    out.append(Problem("unresolved", s.str(), str(dep),
                                       f"{s.str()} requires {dep}, but {why}"))
                    continue
                if any(p.id in closure for p in providers):
                    continue
                queue.append(providers[0])
        members = list(closure.values())
        for s in members:
            for dep in s.lookup_deparray(solv.SOLVABLE_CONFLICTS):
                for o in pool.whatprovides(dep):
                    if o.id in closure and o.id != s.id:
                        out.append(Problem("conflict", s.str(), str(dep),
                                           f"{s.str()} conflicts with {dep}, which "
                                           f"{o.str()} (also needed) provides"))
            for dep in s.lookup_deparray(solv.SOLVABLE_OBSOLETES):
                for o in pool.whatprovides(dep):
                    if o.id in closure and o.id != s.id and o.nameid == dep_name_id(pool, dep):
                        out.append(Problem("obsoletes", s.str(), str(dep),
                                           f"{s.str()} obsoletes {dep}, but {o.str()} "
                                           "is needed too"))
        return out


def dep_name_id(pool: solv.Pool, dep: solv.Dep) -> int:
    """The name id of a (possibly versioned) dependency."""
    name = str(dep).split(" ", 1)[0]
    return int(pool.str2id(name))


def _solvable_str(s: solv.XSolvable | None) -> str:
    return s.str() if s is not None else ""


@dataclass
class InstallerCheck:
    """The installer's two jobs against one repository."""

    main: SolveResult
    alt: SolveResult | None  # with kernel-alt, when the repo has it

    @property
    def ok(self) -> bool:
        return self.main.ok and (self.alt is None or self.alt.ok)

    @property
    def problems(self) -> list[Problem]:
        out = list(self.main.problems)
        if self.alt is not None:
            for p in self.alt.problems:
                if p not in out:
                    out.append(p)
        return out

    def not_installed(self, names: Iterable[str]) -> list[str]:
        """One line per name that neither job would install."""
        lines = []
        for n in names:
            if n in self.main.names:
                continue
            if self.alt is not None and n in self.alt.names:
                lines.append(f"{n} would be installed only when booted with kernel-alt")
                continue
            lines.append(f"{n} would NOT be installed: nothing requires it")
        return lines


def check_installer(solver: RepoSolver) -> InstallerCheck:
    """Solve ``xcp-ng-deps`` and, when the repository has it, ``xcp-ng-deps + kernel-alt``."""
    main = solver.solve([INSTALLER_TARGET])
    alt = solver.solve([INSTALLER_TARGET, ALT_KERNEL]) if ALT_KERNEL in solver.names() else None
    return InstallerCheck(main, alt)
