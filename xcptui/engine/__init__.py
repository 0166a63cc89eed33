"""Headless engine: everything xcptui does, with no UI imports.

The CLI and the TUI import only this module's public API (``__all__``) and
``xcptui.engine.layout``. Names load lazily, so ``xcptui ls`` does not pay for
importing the build or the dependency solver. Nothing under this package may use
Textual, Rich or the TUI package (import-linter contracts in pyproject.toml).

Packages, lowest layer first: basics (``errors``, ``events``, ``tools``,
``layout``) < ``recipe`` | ``iso`` < ``rpm`` < ``initrd`` | ``repo`` < ``boot``
< ``verify`` < ``build``. See docs/DESIGN.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> "module:attribute"
_EXPORTS: dict[str, str] = {
    # errors and progress
    "XcptuiError": "errors:XcptuiError", "InputError": "errors:InputError",
    "RecipeError": "errors:RecipeError", "ToolMissing": "errors:ToolMissing",
    "BuildError": "errors:BuildError", "Cancelled": "errors:Cancelled",
    "Interrupted": "errors:Interrupted", "VerifyFailed": "errors:VerifyFailed",
    "Progress": "events:Progress", "ProgressEvent": "events:ProgressEvent",
    "check_cancel": "events:check", "EtaSmoother": "events:EtaSmoother",
    "progress_amount": "events:amount",
    "require_tool": "tools:require", "which_tool": "tools:which",
    # the recipe
    "Recipe": "recipe.model:Recipe", "recipe": "recipe:",
    # reading
    "IsoSource": "iso.read:IsoSource", "IsoEntry": "iso.read:IsoEntry",
    "inspect_hybrid": "iso.hybrid:inspect",
    "read_efiboot_grub": "iso.efiboot:read_grub_cfg_from_bytes",
    "validate_volume_id": "iso.identity:validate_volume_id",
    "volume_id_problem": "iso.identity:volume_id_problem",
    "InstallImage": "initrd.image:InstallImage", "ImageEntry": "initrd.entry:Entry",
    "AddDriver": "initrd.edits:AddDriver", "AddRpmPayload": "initrd.edits:AddRpmPayload",
    "plan_image": "initrd.planner:plan", "extract_image": "initrd.extract:extract",
    "DEPMOD_INPUTS": "initrd.kmod:DEPMOD_INPUTS", "read_modinfo": "initrd.kmod:read_modinfo",
    "ModInfo": "initrd.kmod:ModInfo",
    "read_rpm": "rpm.header:read_rpm", "RpmInfo": "rpm.header:RpmInfo",
    "evrcmp": "rpm.header:evrcmp",
    "list_packages": "repo.packages:list_packages", "check_packages": "repo.packages:check",
    "CheckReport": "repo.packages:CheckReport",
    "validate_build_number": "repo.treeinfo:validate_build_number",
    "validate_version": "repo.treeinfo:validate_version",
    "TreeInfo": "repo.treeinfo:TreeInfo",
    # facts, plan, build, verify
    "IsoFacts": "build.facts:IsoFacts", "gather_facts": "build.facts:gather",
    "BuildPlan": "build.plan:BuildPlan", "BuildResult": "build.runner:BuildResult",
    # not "build"/"verify": those names are the subpackages once they are imported
    "plan_build": "build.plan:plan_build", "build_iso": "build.runner:build",
    "pending": "build.pending:", "PendingChange": "build.pending:Change",
    "plan_boot_effects": "build.plan:plan_boot_effects", "BootEffects": "build.plan:BootEffects",
    "check_output_path": "build.runner:check_output_path",
    "make_driver_disk": "build.driverdisk:make_disk",
    "expand_driver_disks": "build.driverdisk:expand",
    "default_output": "build.runner:default_output",
    "equivalent_command": "build.runner:equivalent_command",
    "verify_iso": "verify.checks:verify", "VerifyReport": "verify.checks:Report",
    "diff_isos": "diff.compare:diff_isos", "DiffReport": "diff.model:DiffReport",
    "wait_builds_idle": "build.atomic:wait_idle",
    "remove_live_temp_files": "build.atomic:remove_live",
    "smoke_boot": "verify.qemuboot:smoke_boot", "BootReport": "verify.qemuboot:BootReport",
    "printable": "text:printable", "validate_answerfile": "boot.answerfile:validate",
    "ANSWERFILE_INTERACTIVE_ROLES": "boot.answerfile:INTERACTIVE_ROLES",
    "ANSWERFILE_ALL_ENTRIES": "boot.answerfile:ALL_ENTRIES",
}

__all__ = [
    "ANSWERFILE_ALL_ENTRIES", "ANSWERFILE_INTERACTIVE_ROLES", "AddDriver", "AddRpmPayload",
    "BootEffects", "BootReport", "BuildError", "BuildPlan", "BuildResult", "Cancelled",
    "CheckReport", "DEPMOD_INPUTS", "DiffReport", "EtaSmoother", "ImageEntry", "InputError",
    "InstallImage", "Interrupted", "IsoEntry", "IsoFacts", "IsoSource", "ModInfo",
    "PendingChange", "Progress", "ProgressEvent", "Recipe", "RecipeError", "RpmInfo",
    "ToolMissing", "TreeInfo", "VerifyFailed", "VerifyReport", "XcptuiError", "build_iso",
    "check_cancel", "check_output_path", "check_packages", "default_output", "diff_isos",
    "equivalent_command", "evrcmp", "expand_driver_disks", "extract_image", "gather_facts",
    "inspect_hybrid", "list_packages", "make_driver_disk", "pending", "plan_boot_effects",
    "plan_build", "plan_image", "printable", "progress_amount", "read_efiboot_grub",
    "read_modinfo", "read_rpm", "recipe", "remove_live_temp_files", "require_tool",
    "smoke_boot", "validate_answerfile", "validate_build_number", "validate_version",
    "validate_volume_id", "verify_iso", "volume_id_problem", "wait_builds_idle", "which_tool",
]


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    mod_name, _, attr = target.partition(":")
    mod = importlib.import_module(f"{__name__}.{mod_name}")
    value = getattr(mod, attr) if attr else mod
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what the lazy names are, for mypy and editors
    from xcptui.engine import recipe
    from xcptui.engine.boot.answerfile import ALL_ENTRIES as ANSWERFILE_ALL_ENTRIES
    from xcptui.engine.boot.answerfile import INTERACTIVE_ROLES as ANSWERFILE_INTERACTIVE_ROLES
    from xcptui.engine.boot.answerfile import validate as validate_answerfile
    from xcptui.engine.build import pending
    from xcptui.engine.build.atomic import remove_live as remove_live_temp_files
    from xcptui.engine.build.atomic import wait_idle as wait_builds_idle
    from xcptui.engine.build.driverdisk import expand as expand_driver_disks
    from xcptui.engine.build.driverdisk import make_disk as make_driver_disk
    from xcptui.engine.build.facts import IsoFacts
    from xcptui.engine.build.facts import gather as gather_facts
    from xcptui.engine.build.pending import Change as PendingChange
    from xcptui.engine.build.plan import BootEffects, BuildPlan, plan_boot_effects, plan_build
    from xcptui.engine.build.runner import (
        BuildResult,
        check_output_path,
        default_output,
        equivalent_command,
    )
    from xcptui.engine.build.runner import build as build_iso
    from xcptui.engine.diff.compare import diff_isos
    from xcptui.engine.diff.model import DiffReport
    from xcptui.engine.errors import (
        BuildError,
        Cancelled,
        InputError,
        Interrupted,
        RecipeError,
        ToolMissing,
        VerifyFailed,
        XcptuiError,
    )
    from xcptui.engine.events import EtaSmoother, Progress, ProgressEvent
    from xcptui.engine.events import amount as progress_amount
    from xcptui.engine.events import check as check_cancel
    from xcptui.engine.initrd.edits import AddDriver, AddRpmPayload
    from xcptui.engine.initrd.entry import Entry as ImageEntry
    from xcptui.engine.initrd.extract import extract as extract_image
    from xcptui.engine.initrd.image import InstallImage
    from xcptui.engine.initrd.kmod import DEPMOD_INPUTS, ModInfo, read_modinfo
    from xcptui.engine.initrd.planner import plan as plan_image
    from xcptui.engine.iso.efiboot import read_grub_cfg_from_bytes as read_efiboot_grub
    from xcptui.engine.iso.hybrid import inspect as inspect_hybrid
    from xcptui.engine.iso.identity import validate_volume_id, volume_id_problem
    from xcptui.engine.iso.read import IsoEntry, IsoSource
    from xcptui.engine.recipe.model import Recipe
    from xcptui.engine.repo.packages import CheckReport, list_packages
    from xcptui.engine.repo.packages import check as check_packages
    from xcptui.engine.repo.treeinfo import TreeInfo, validate_build_number, validate_version
    from xcptui.engine.rpm.header import RpmInfo, evrcmp, read_rpm
    from xcptui.engine.text import printable
    from xcptui.engine.tools import require as require_tool
    from xcptui.engine.tools import which as which_tool
    from xcptui.engine.verify.checks import Report as VerifyReport
    from xcptui.engine.verify.checks import verify as verify_iso
    from xcptui.engine.verify.qemuboot import BootReport, smoke_boot
