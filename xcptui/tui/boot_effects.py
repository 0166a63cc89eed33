"""The effect of the identity and boot settings, computed by the engine's own planners.

Runs in a worker: the recipe draft goes through ``boot_plan`` exactly as a build
would, and each boot config's new text is compared with the old one entry by entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xcptui.engine import recipe as recipe_mod
from xcptui.engine.errors import XcptuiError
from xcptui.tui import engine_access
from xcptui.tui.session import Session


@dataclass
class Effects:
    changes: list[str] = field(default_factory=list)  # the build plan's lines
    warnings: list[str] = field(default_factory=list)
    per_config: list[tuple[str, list[str]]] = field(default_factory=list)
    error: str | None = None


def summarise(bootcfg: Any, before: Any, after: Any) -> list[str]:
    """Compact per-config lines: entries grouped by the same parameter change."""
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for eff in bootcfg.effects(before, after):
        if eff.changed:
            groups.setdefault((tuple(eff.added), tuple(eff.removed)), []).append(eff.label)
    lines = []
    for (added, removed), labels in groups.items():
        what = " ".join([f"+{p}" for p in added] + [f"-{p}" for p in removed])
        lines.append(f"{what}  on {', '.join(labels)}")
    lines += [x for x in bootcfg.describe_effect(before, after)
              if x.startswith(("default:", "timeout:"))]
    return lines or ["unchanged"]


def compute(s: Session, rec: recipe_mod.Recipe) -> Effects:
    out = Effects()
    try:
        build = engine_access.require("build", "the build planner")
        boot_plan = engine_access.require("boot_plan", "boot config editing")
        bootcfg = engine_access.require("bootcfg", "boot config editing")
        plan = build.BuildPlan()
        if rec.iso.volume_id is not None and rec.iso.volume_id != s.iso.volume_id:
            identity = engine_access.require("identity", "volume id checks")
            identity.validate_volume_id(rec.iso.volume_id)
            out.changes.append(f"volume id: {s.iso.volume_id!r} -> {rec.iso.volume_id!r}")
        boot_plan.plan_identity(s.iso, rec, plan)
        plan.answerfile = boot_plan.plan_answerfile(s.iso, rec)
        if plan.answerfile is not None:
            plan.changes += list(plan.answerfile.messages)
            plan.warnings += list(plan.answerfile.warnings)
        boot_plan.plan_boot(s.iso, rec, plan)
        out.changes += list(plan.changes)
        out.warnings += list(plan.warnings)
        cfgs = boot_plan.load_configs(s.iso)
        paths = {"isolinux.cfg": boot_plan.ISOLINUX_CFG, "grub.cfg": boot_plan.GRUB_CFG}
        for name, cfg in cfgs.items():
            new = plan.new_text.get(paths[name]) if name in paths else plan.efiboot_grub
            after = cfg if new is None else bootcfg.BootConfig.from_bytes(new, cfg.kind,
                                                                          cfg.name)
            out.per_config.append((name, summarise(bootcfg, cfg, after)))
    except XcptuiError as e:
        out.error = str(e)
    return out
