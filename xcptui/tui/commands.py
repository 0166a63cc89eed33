"""The wizard's commands in the command palette (ctrl+p): steps, files, build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider

from xcptui.tui.state.session import SessionHost
from xcptui.tui.steps.wizard import STEPS, WizardScreen


@dataclass(frozen=True)
class WizardCommand:
    title: str
    help: str
    run: Callable[[], object]


def wizard_commands(app: App[object]) -> list[WizardCommand]:
    """The commands that make sense now (the step ones only once an ISO is open)."""
    wiz = app.screen_stack[0]
    if not isinstance(wiz, WizardScreen):
        return []
    out = [WizardCommand(f"Go to: {title}", f"Jump to the {title} step", partial(wiz.go, key))
           for key, title in STEPS if wiz.can_go(key)]
    out += [
        WizardCommand("Open ISO…", "Pick another ISO", partial(wiz.go_pick, chooser=True)),
        WizardCommand("Open demo ISO", "Open the generated demo ISO", wiz.pick.open_demo),
        WizardCommand("Load recipe…", "Load a recipe TOML", wiz.pick.action_load_recipe),
    ]
    if isinstance(app, SessionHost) and app.session is not None:
        out += [
            WizardCommand("Save recipe…", "Save the pending changes as a recipe TOML",
                          wiz.save_recipe),
            WizardCommand("Add driver (.ko)…", "Swap or add a driver in install.img",
                          partial(wiz.run_step_action, "installer", "add_driver")),
            WizardCommand("Add package (.rpm)…", "Add or replace an RPM in Packages/",
                          partial(wiz.run_step_action, "packages", "add_package")),
            WizardCommand("Check dependencies", "Run the dependency check now",
                          partial(wiz.run_step_action, "packages", "check")),
            WizardCommand("Build ISO", "Go to the Build step and start",
                          partial(wiz.run_step_action, "build", "build")),
            WizardCommand("Compare with another ISO…", "Files, install.img, packages, boot "
                          "entries and .treeinfo that differ (F6)", wiz.action_compare),
        ]
    help_action = getattr(app, "action_help", None)
    if help_action is not None:
        out.append(WizardCommand("Help", "Keys and what each step does", help_action))
    return out


class WizardCommands(Provider):
    """Command-palette provider for the wizard's commands."""

    async def discover(self) -> Hits:
        for c in wizard_commands(self.app):
            yield DiscoveryHit(c.title, c.run, help=c.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for c in wizard_commands(self.app):
            score = matcher.match(c.title)
            if score > 0:
                yield Hit(score, matcher.highlight(c.title), c.run, text=c.title, help=c.help)
