"""Prove a built ISO is sound: every structural check as pass / fail / skip + one line.

Checks are independent readings of the finished image (the El Torito catalog,
the MBR/GPT bytes, the three boot menus, install.img, repodata, .treeinfo, the
repository signature), not a replay of what the build meant to do, so they catch
damage from xcptui and from a user's own edits alike. A check that cannot run
(a netinstall ISO has no repository) is "skip"; a broken structure is "fail" with
the evidence; verify itself only raises for input that is not an ISO at all.

``verify(path)`` runs after every build; ``xcptui verify OUT.iso [--json]``
runs it on its own. ``verify(path, only=cheap_ids())`` runs just the checks that
read small files (for a source ISO). The checks live in one module per family and
register themselves (registry.check).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Collection
from pathlib import Path

from xcptui.engine.errors import Cancelled, InputError, XcptuiError
from xcptui.engine.events import Progress, check
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.verify.registry import CheckSpec, Ctx, specs
from xcptui.engine.verify.report import FAIL, PASS, SKIP, Check, Outcome, Report

__all__ = ["FAIL", "PASS", "SKIP", "Check", "CheckSpec", "Report", "all_ids", "cheap_ids",
           "specs", "verify"]


def all_ids() -> list[str]:
    return [s.id for s in specs()]


def cheap_ids() -> list[str]:
    """The checks that read only small files (boot menus, tables, .treeinfo, repomd)."""
    return [s.id for s in specs() if s.cheap]


def _run_one(spec: CheckSpec, ctx: Ctx) -> Check:
    try:
        o = spec.run(ctx)
    except Cancelled:
        raise
    except XcptuiError as e:
        o = Outcome(FAIL, str(e), [], [str(e)])
    except Exception as e:  # a malformed structure must not crash verify
        msg = f"could not be checked: {type(e).__name__}: {' '.join(str(e).split())}"
        o = Outcome(FAIL, msg, [], [msg])
    return Check(spec.id, spec.title, o.status, o.evidence, o.details, o.findings)


def verify(iso_path: Path | str, progress: Progress | None = None,
           cancel: threading.Event | None = None,
           only: Collection[str] | None = None, full: bool = False) -> Report:
    """Run every check (or the ones whose ids are in ``only``) on ``iso_path``.

    ``full`` decodes install.img completely with an independent decoder instead of
    using the index (identical or spliced images are otherwise checked incrementally).

    InputError only when it is not an ISO at all, or ``only`` names an unknown check.
    """
    chosen = specs()
    if only is not None:
        unknown = sorted(set(only) - {s.id for s in chosen})
        if unknown:
            raise InputError(f"verify: unknown check id {', '.join(unknown)} "
                             f"(known: {', '.join(all_ids())})")
        chosen = [s for s in chosen if s.id in only]
    progress = progress or Progress()
    t0 = time.monotonic()
    path = Path(iso_path)
    report = Report(str(path))
    with IsoSource.open(path) as src:
        work = Path(tempfile.mkdtemp(prefix="xcptui-verify-"))
        try:
            ctx = Ctx(src, work, progress, cancel)
            ctx.full = full
            for spec in chosen:
                check(cancel)
                progress.step(f"verify: {spec.title}")
                c = _run_one(spec, ctx)
                report.checks.append(c)
                progress.log(f"{c.status}: {c.title}: {c.evidence}")
                progress.finish_step()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.monotonic() - t0
    return report
