"""The effect of the identity and boot settings, computed by the engine's own planners.

Runs in a worker: the recipe draft goes through ``boot_plan`` exactly as a build
would, and each boot config's new text is compared with the old one entry by entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xcptui.engine import recipe as recipe_mod
from xcptui.engine.errors import XcptuiError
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
    from xcptui.engine import layout, plan_boot_effects
    from xcptui.engine.boot import config as bootcfg
    from xcptui.engine.build import boot_stage

    out = Effects()
    try:
        eff = plan_boot_effects(s.iso, rec)
        out.changes += eff.changes
        out.warnings += eff.warnings
        cfgs = boot_stage.load_configs(s.iso)
        paths = {"isolinux.cfg": layout.ISOLINUX_CFG, "grub.cfg": layout.GRUB_CFG}
        for name, cfg in cfgs.items():
            new = eff.new_text.get(paths[name]) if name in paths else eff.efiboot_grub
            after = cfg if new is None else bootcfg.BootConfig.from_bytes(new, cfg.kind,
                                                                          cfg.name)
            out.per_config.append((name, summarise(bootcfg, cfg, after)))
    except XcptuiError as e:
        out.error = str(e)
    return out
