"""The wizard frame: title bar, step sidebar, the current step, Back/Next, footer."""

from __future__ import annotations

from pathlib import Path

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Footer, Input, Label, OptionList, Static

from xcptui.engine import XcptuiError, pending
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.dialogs.compare import CompareScreen
from xcptui.tui.dialogs.files import FileOpen, FileSave, Filters
from xcptui.tui.messages import WizardReady
from xcptui.tui.state.session import Session, SessionHost
from xcptui.tui.steps.base import Step
from xcptui.tui.steps.browse import BrowseStep
from xcptui.tui.steps.build import BuildStep
from xcptui.tui.steps.identity import IdentityStep
from xcptui.tui.steps.installer import InstallerStep
from xcptui.tui.steps.packages import PackagesStep
from xcptui.tui.steps.pick import PickStep
from xcptui.tui.steps.review import ReviewStep
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets.step_sidebar import StepSidebar
from xcptui.tui.widgets.title_bar import TitleBar

STEP_CLASSES: list[type[Step]] = [PickStep, BrowseStep, InstallerStep, PackagesStep,
                                  IdentityStep, ReviewStep, BuildStep]
STEPS: list[tuple[str, str]] = [(c.KEY, c.TITLE) for c in STEP_CLASSES]
KEYS = [k for k, _ in STEPS]


class WizardScreen(Screen[None]):
    """One screen; each step is a pane in a ContentSwitcher (so its workers live on)."""

    AUTO_FOCUS = None
    BINDINGS = [
        # Next/Back are on the nav bar; the footer keeps room for the step's own keys
        Binding("ctrl+n,alt+right", "next", "Next", show=False, id="next"),
        Binding("ctrl+b,alt+left", "back", "Back", show=False, id="back"),
        Binding("ctrl+s", "save_recipe", "Save", id="save"),
        Binding("question_mark", "app.help", "Help", key_display="?", id="help-key"),
        Binding("f6", "compare", "Compare ISOs", show=False, id="compare"),
        *[Binding(f"{i},alt+{i}", f"go('{k}')", f"Go to {t}", show=False,
                  id=f"go-{k}")
          for i, (k, t) in enumerate(STEPS, 1)],
    ]

    current: reactive[str] = reactive("pick", bindings=True)

    def compose(self) -> ComposeResult:
        yield TitleBar(id="titlebar")
        with Horizontal(id="main"):
            with Vertical(id="side"):
                yield StepSidebar(STEPS, id="steps")
                yield Static("", id="side-status")
            with Vertical(id="content"):
                yield Label("", id="step-title")
                with ContentSwitcher(initial="pick", id="switcher"):
                    for cls in STEP_CLASSES:
                        yield cls(id=cls.KEY)
                with Horizontal(id="nav"):
                    yield Button("◀ Back", id="nav-back", compact=True)
                    yield Label("", id="nav-hint")
                    yield Button("Next ▶", id="nav-next", compact=True, variant="primary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._refresh_frame()
        self.pick.shown()
        self.call_after_refresh(self.post_message, WizardReady())

    def on_resize(self, event: object) -> None:
        size = getattr(event, "size", None)
        if size is not None:
            self.set_class(size.width < 110, "-narrow")
            self.set_class(size.width < 100, "-compact")
            self.query_one(StepSidebar).set_compact(size.width < 100)

    # -- access ------------------------------------------------------------------------
    def step(self, key: str) -> Step:
        return self.query_one(f"#{key}", Step)

    @property
    def pick(self) -> PickStep:
        return self.query_one(PickStep)

    @property
    def build_step(self) -> BuildStep:
        return self.query_one(BuildStep)

    @property
    def session(self) -> Session | None:
        return self.app.session if isinstance(self.app, SessionHost) else None

    # -- navigation ------------------------------------------------------------------
    def can_go(self, key: str) -> bool:
        cls = STEP_CLASSES[KEYS.index(key)]
        return not cls.NEEDS_SESSION or self.session is not None

    def go(self, key: str, *, check: bool = True) -> bool:
        if key not in KEYS or not self.can_go(key):
            self.notify("Open an ISO first.", severity="warning")
            return False
        if key == self.current:
            self.step(key).shown()
            return True
        if check:
            problem = self.step(self.current).leave_problem()
            if problem:
                self.notify(problem, severity="warning")
                return False
        self.current = key
        return True

    def go_pick(self, chooser: bool = False) -> None:
        if self.go("pick") and chooser:
            self.pick.show_chooser()

    def watch_current(self, key: str) -> None:
        self.query_one(ContentSwitcher).current = key
        self._refresh_frame()
        self.step(key).shown()

    def action_next(self) -> None:
        i = KEYS.index(self.current)
        if i + 1 < len(KEYS):
            self.go(KEYS[i + 1])

    def action_back(self) -> None:
        i = KEYS.index(self.current)
        if i > 0:
            self.go(KEYS[i - 1])

    def action_go(self, key: str) -> None:
        self.go(key)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next":
            i = KEYS.index(self.current)
            if i + 1 >= len(KEYS):
                return None
            return True if self.can_go(KEYS[i + 1]) else None
        if action == "back":
            return True if KEYS.index(self.current) > 0 else None
        if action == "save_recipe":
            return True if self.session is not None else None
        return True

    @on(Button.Pressed, "#nav-next")
    def _next_pressed(self) -> None:
        self.action_next()

    @on(Button.Pressed, "#nav-back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(OptionList.OptionSelected, "#steps")
    def _sidebar_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.go(event.option.id)

    def run_step_action(self, key: str, action: str) -> None:
        if self.go(key):
            self.call_after_refresh(self.step(key).do_step_action, action)

    # -- state fan-out -----------------------------------------------------------------
    def session_changed(self) -> None:
        for cls in STEP_CLASSES:
            self.step(cls.KEY).session_changed()
        self._refresh_frame()

    def recipe_changed(self) -> None:
        for cls in STEP_CLASSES:
            self.step(cls.KEY).recipe_changed()
        self._refresh_frame()

    def _nav_hint(self, hint: str | None = None) -> None:
        """The nav line; in a text field digits type, so it says Alt+1-7 then."""
        if hint is not None:
            self._hint = hint
        typing = isinstance(self.focused, Input)
        jump = "alt+1-7 jump" if typing else "1-7 jump"
        self.query_one("#nav-hint", Label).update(
            f"[dim]{getattr(self, '_hint', '')}  ·  ^n next  ^b back  {jump}  ? help[/]")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._nav_hint()

    def _refresh_frame(self) -> None:
        s = self.session
        enabled = {k for k in KEYS if self.can_go(k)}
        marked = pending.steps_with_changes(s.recipe) if s is not None else set()
        self.query_one(StepSidebar).update_state(self.current, marked, enabled)
        i = KEYS.index(self.current)
        cls = STEP_CLASSES[i]
        self.query_one("#step-title", Label).update(
            f"[b]{i + 1} · {cls.TITLE}[/]  [dim]{cls.INTRO}[/]")
        self.query_one("#nav-back", Button).disabled = i == 0
        nxt = self.query_one("#nav-next", Button)
        nxt.disabled = i + 1 >= len(KEYS) or not self.can_go(KEYS[i + 1])
        hint = f"next: {STEPS[i + 1][1]}" if i + 1 < len(KEYS) else "last step"
        self._nav_hint(hint)
        status = ""
        if s is None:
            self.query_one(TitleBar).show(None, "", 0, "")
        else:
            n = len(s.changes())
            built = bool(n) and self.build_step.built_and_saved()  # then nothing is pending
            if s.saved_path is not None:
                saved = ("saved" if not s.dirty else "modified") + \
                    f": {fmt.display_path(s.saved_path)}"
            else:
                saved = "not saved yet" if n else ""
            self.query_one(TitleBar).show(s.source.name, s.facts.product, n, saved,
                                          built=built)
            status = f"[dim]{n} pending change{'s' if n != 1 else ''}[/]" \
                if n and not built else ""
        self.query_one("#side-status", Static).update(status)

    # -- compare -----------------------------------------------------------------------
    def action_compare(self) -> None:
        """F6: what changed from the open ISO to another one (e.g. a build of it)."""
        s = self.session
        if s is None:
            self.notify("Open an ISO first.", severity="warning")
            return

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.compare_with(path)

        self.app.push_screen(
            FileOpen(s.source.parent, "Compare with ISO",
                     filters=Filters(("*.iso", lambda p: p.suffix.lower() == ".iso"),
                                     ("all", lambda p: True))),
            chosen)

    def compare_with(self, other: Path) -> None:
        s = self.session
        if s is not None:
            self.app.push_screen(CompareScreen(s.source, other))

    # -- recipe file -------------------------------------------------------------------
    def action_save_recipe(self) -> None:
        self.save_recipe()

    def save_recipe(self, then_quit: bool = False) -> None:
        s = self.session
        if s is None:
            self.notify("Open an ISO first.", severity="warning")
            return
        if s.saved_path is not None:
            location, default = s.saved_path.parent, s.saved_path.name
        else:
            stem = s.source.name[:-4] if s.source.name.lower().endswith(".iso") else \
                s.source.name
            location, default = Path.cwd(), f"{stem}-recipe.toml"

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            if self.write_recipe(path) and then_quit:
                self.app.exit(0)

        self.app.push_screen(
            FileSave(location, "Save recipe", default_file=default,
                     filters=Filters(("*.toml", lambda p: p.suffix == ".toml"),
                                     ("all", lambda p: True))),
            chosen)

    def write_recipe(self, path: Path) -> bool:
        s = self.session
        assert s is not None
        try:
            recipe_mod.save(s.recipe, path, meta={"source": str(s.source.resolve())})
        except (OSError, XcptuiError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self.app.notify(f"{path}: cannot save: {reason}", severity="error")
            return False
        s.recipe.path = path
        s.mark_saved(path)
        self.notify(f"Recipe saved: {fmt.display_path(path)}")
        self._refresh_frame()
        self.recipe_changed()
        return True
