"""What verify returns: one Check per structural check, gathered in a Report.

A check function returns an Outcome (status + evidence); the driver adds the id and
title from the registry, so each is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xcptui.engine.layout import CheckStatus

PASS, FAIL, SKIP = CheckStatus.PASS, CheckStatus.FAIL, CheckStatus.SKIP


@dataclass
class Outcome:
    """A check's verdict before the driver names it."""

    status: str
    evidence: str
    details: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


def passed(evidence: str, details: list[str] | None = None) -> Outcome:
    return Outcome(PASS, evidence, list(details or []))


def skipped(evidence: str) -> Outcome:
    return Outcome(SKIP, evidence)


def failed(problems: str | list[str]) -> Outcome:
    """A failure: the first problem is the evidence; every problem is a finding.

    A single string keeps ``details`` empty (as the report always printed it).
    """
    if isinstance(problems, str):
        return Outcome(FAIL, problems, [], [problems])
    return Outcome(FAIL, problems[0], list(problems), list(problems))


@dataclass
class Check:
    """One verification: ``status`` is pass / fail / skip, ``evidence`` one line.

    ``findings`` lists a failing check's individual problems, one line each naming
    the file (and entry), so a caller can compare a source ISO's with an output's.
    """

    id: str
    title: str
    status: str
    evidence: str
    details: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status,
                "evidence": self.evidence, "details": list(self.details),
                "findings": list(self.findings)}


@dataclass
class Report:
    path: str
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    def get(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in (PASS, FAIL, SKIP)}

    def lines(self) -> list[str]:
        width = max((len(c.title) for c in self.checks), default=10)
        out = [f"verify {Path(self.path).name}:"]
        for c in self.checks:
            out.append(f"  {c.status.upper():4}  {c.title:<{width}}  {c.evidence}")
            if c.status == FAIL:
                extra = [d for d in c.details if d != c.evidence]
                out += [f"        {'':<{width}}  {d}" for d in extra[:10]]
                if len(extra) > 10:
                    out.append(f"        {'':<{width}}  ... and {len(extra) - 10} more")
        n = self.counts()
        verdict = "OK" if self.ok else "FAILED"
        out.append(f"verify: {verdict}: {n[PASS]} passed, {n[FAIL]} failed, {n[SKIP]} skipped "
                   f"({self.seconds:.1f}s)")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "seconds": round(self.seconds, 3),
                "counts": self.counts(), "checks": [c.to_json() for c in self.checks]}
