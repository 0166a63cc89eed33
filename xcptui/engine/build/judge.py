"""Judge a build by what it changed: a finding the source already has is not the build's.

The output (still a temp file) is verified in full, independently of the writer.
For each failing check the same check runs on the source when it is cheap, or when
the build changed the part it reads; an expensive check of an unchanged part reads
the same bytes in both, so its findings are inherited without a second run. A
finding of the output that the source lacks is introduced: the build fails.
"""

from __future__ import annotations

import threading
from pathlib import Path

from xcptui.engine.build.plan import BuildPlan
from xcptui.engine.errors import VerifyFailed
from xcptui.engine.events import Progress
from xcptui.engine.layout import INSTALL_IMG, PACKAGES, REPODATA, TREEINFO, CheckStatus
from xcptui.engine.verify.checks import verify
from xcptui.engine.verify.registry import specs
from xcptui.engine.verify.report import Check, Report

# check family -> the ISO paths whose change it can see (only for expensive checks)
_AREAS: dict[str, tuple[str, ...]] = {
    "installimg": (INSTALL_IMG,),
    "repository": (PACKAGES, REPODATA, TREEINFO),
    "signing": (PACKAGES, REPODATA, TREEINFO),
}


def _changed(plan: BuildPlan, prefixes: tuple[str, ...]) -> bool:
    touched = set(plan.iso.put) | plan.iso.remove | set(plan.new_text)
    if plan.image_changed:
        touched.add(INSTALL_IMG)
    return any(p == pre or p.startswith(pre.rstrip("/") + "/") for p in touched
               for pre in prefixes)


def _findings(c: Check) -> list[str]:
    return list(c.findings) or [c.evidence]


def judge_output(part: Path, source: Path, output: Path, plan: BuildPlan,
                 progress: Progress, cancel: threading.Event | None
                 ) -> tuple[Report, list[str]]:
    """Verify ``part``; return (report, inherited findings) or raise VerifyFailed."""
    report = verify(part, progress=progress, cancel=cancel)
    report.path = str(output)
    failed = report.failed
    if not failed:
        return report, []
    by_id = {s.id: s for s in specs()}
    rerun: list[str] = []
    inherited: list[str] = []
    introduced: list[str] = []
    for c in failed:
        spec = by_id.get(c.id)
        if spec is not None and not spec.cheap and not _changed(
                plan, _AREAS.get(spec.family, ("/",))):
            inherited += _findings(c)
            c.status = CheckStatus.WARN
        else:
            rerun.append(c.id)
    if rerun:
        progress.log(f"verify: checking the source for {', '.join(rerun)}")
        src_report = verify(source, progress=progress, cancel=cancel, only=rerun)
        for c in failed:
            if c.id not in rerun:
                continue
            src_check = src_report.get(c.id)
            before = set(_findings(src_check)) if src_check is not None and \
                src_check.status == CheckStatus.FAIL else set()
            new = [f for f in _findings(c) if f not in before]
            inherited += [f for f in _findings(c) if f in before]
            if new:
                introduced += new
            else:
                c.status = CheckStatus.WARN
    if introduced:
        more = f" (and {len(introduced) - 1} more)" if len(introduced) > 1 else ""
        raise VerifyFailed(f"{output}: the built ISO fails a check the source passes: "
                           f"{introduced[0]}{more}; nothing was written",
                           report=report, introduced=introduced)
    return report, inherited
