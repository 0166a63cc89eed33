"""Step 1: pick an ISO (host browser, recent list, demo) and show its facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import ContentSwitcher, DirectoryTree, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState, get_current_worker

from xcptui.engine import InputError, IsoFacts, IsoSource, gather_facts
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.dialogs.common import ChoiceDialog
from xcptui.tui.dialogs.files import FileOpen, Filters
from xcptui.tui.jobs.progress import posting_progress
from xcptui.tui.messages import (
    JobProgress,
    RecipeReplaced,
    SessionOpened,
    ShowError,
)
from xcptui.tui.state import statedir
from xcptui.tui.state.session import Session
from xcptui.tui.steps.base import Step
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets.facts_view import render_facts
from xcptui.tui.widgets.iso_file_tree import IsoFileTree
from xcptui.tui.widgets.job_status import JobStatus

DEMO_ID = "demo"
RECIPE_ID = "load-recipe"


@dataclass
class Opened:
    path: Path
    iso: IsoSource
    facts: IsoFacts
    recipe: recipe_mod.Recipe | None
    recipe_path: Path | None
    autosaved: recipe_mod.Recipe | None


class PickStep(Step):
    KEY = "pick"
    TITLE = "Pick ISO"
    INTRO = "open an XCP-ng installation ISO"
    NEEDS_SESSION = False

    BINDINGS = [
        Binding("d", "open_demo", "Demo ISO", id="pick.open-demo"),
        Binding("r", "load_recipe", "Load recipe", id="pick.load-recipe"),
        Binding("o", "chooser", "Open other", id="pick.chooser"),
        Binding("backspace", "parent", "Parent dir", show=False, id="pick.parent"),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.pending_recipe: Path | None = None

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial="chooser", id="pick-switcher"):
            with Vertical(id="chooser"):
                yield Input(fmt.display_path(Path.cwd()),
                            placeholder="a folder or an .iso path, then Enter", id="pick-path")
                with Horizontal(id="pick-panes"):
                    yield IsoFileTree(Path.cwd(), id="pick-tree")
                    with Vertical(id="pick-side"):
                        yield Label("Recent and demo", classes="pane-title")
                        yield OptionList(id="pick-recent")
            with VerticalScroll(id="facts"):
                yield Static("", id="facts-body")
        yield JobStatus(id="pick-job")

    def on_mount(self) -> None:
        self._fill_recent()

    def shown(self) -> None:
        if self.query_one(ContentSwitcher).current == "chooser":
            self.query_one("#pick-tree").focus()
        else:
            self.query_one("#facts").focus()

    def _fill_recent(self) -> None:
        ol = self.query_one("#pick-recent", OptionList)
        ol.clear_options()
        for p in statedir.load_recent():
            where = fmt.shown(fmt.display_path(p.parent))  # host names are not markup
            ol.add_option(Option(f"{fmt.shown(p.name)}  [dim]{where}[/]",
                                 id=f"recent:{p}"))
        ol.add_option(Option("[b]Demo ISO[/]  [dim](generated, no download)[/]", id=DEMO_ID))
        ol.add_option(Option("[b]Load a recipe…[/]", id=RECIPE_ID))

    # -- chooser -----------------------------------------------------------------------
    def show_chooser(self) -> None:
        self.query_one(ContentSwitcher).current = "chooser"
        self._fill_recent()
        self.query_one("#pick-tree").focus()

    def action_chooser(self) -> None:
        self.show_chooser()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_demo", "load_recipe") and isinstance(
                self.app.focused, (IsoFileTree, Input)):
            return False  # letters search the tree / type into the path field
        if action == "chooser":
            return self.query_one(ContentSwitcher).current == "facts"
        if action == "parent":
            return self.query_one(ContentSwitcher).current == "chooser"
        return True

    def _set_root(self, folder: Path) -> None:
        tree = self.query_one(IsoFileTree)
        tree.path = folder
        self.query_one("#pick-path", Input).value = fmt.display_path(folder)

    def action_parent(self) -> None:
        tree = self.query_one(IsoFileTree)
        parent = Path(tree.path).resolve().parent
        self._set_root(parent)

    @on(Input.Submitted, "#pick-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        p = Path(event.value).expanduser()
        if p.is_dir():
            self._set_root(p.resolve())
            self.query_one(IsoFileTree).focus()
        elif p.is_file():
            self.open_iso(p, self.pending_recipe)
        else:
            self.notify(f"{event.value}: no such file or folder", severity="warning")

    @on(DirectoryTree.FileSelected, "#pick-tree")
    def _file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.open_iso(event.path, self.pending_recipe)

    @on(OptionList.OptionSelected, "#pick-recent")
    def _recent_selected(self, event: OptionList.OptionSelected) -> None:
        oid = event.option.id or ""
        if oid == DEMO_ID:
            self.open_demo()
        elif oid == RECIPE_ID:
            self.action_load_recipe()
        elif oid.startswith("recent:"):
            self.open_iso(Path(oid[len("recent:"):]), self.pending_recipe)

    def action_open_demo(self) -> None:
        self.open_demo()

    def action_load_recipe(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is None:
                return
            if self.session is None:
                self.pending_recipe = path
                self.notify(f"Now pick the ISO to apply {path.name} to.")
                return
            self._load_recipe(path)

        self.app.push_screen(
            FileOpen(Path.cwd(), "Load recipe",
                     filters=Filters(("*.toml", lambda p: p.suffix == ".toml"),
                                     ("all", lambda p: True))),
            chosen)

    def _load_recipe(self, path: Path) -> None:
        try:
            rec = recipe_mod.load(path)
        except InputError as e:
            self.post_message(ShowError(str(e), "Load recipe"))
            return
        self.post_message(RecipeReplaced(rec, path))
        self.notify(f"Recipe loaded: {path.name}")

    # -- opening -----------------------------------------------------------------------
    def open_demo(self) -> None:
        job = self.query_one(JobStatus)
        job.start("generating the demo ISO (first time only)…")
        self._demo_worker()

    @work(thread=True, exclusive=True, group="open", exit_on_error=False,
          description="Demo ISO")
    def _demo_worker(self) -> Path:
        return self.host.demo_iso()

    def open_iso(self, path: Path, recipe_path: Path | None = None) -> None:
        self.query_one(JobStatus).start(f"opening {path.name}…")
        self._open_worker(Path(path).expanduser(), recipe_path)

    @work(thread=True, exclusive=True, group="open", exit_on_error=False,
          description="Open the ISO")
    def _open_worker(self, path: Path, recipe_path: Path | None) -> Opened:
        cancel = get_current_worker().cancelled_event
        progress = posting_progress(self, "open")
        progress.step(f"read {path.name}")
        iso = IsoSource.open(path)
        try:
            progress.step("gather facts")
            facts = gather_facts(iso, progress, cancel, deep=True)
            rec = recipe_mod.load(recipe_path) if recipe_path is not None else None
            autosaved = statedir.load_autosave(path) if rec is None else None
        except BaseException:
            iso.close()
            raise
        return Opened(path, iso, facts, rec, recipe_path, autosaved)

    @on(JobProgress)
    def _progress(self, event: JobProgress) -> None:
        self.job_progress(event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "open":
            return
        if event.state != WorkerState.SUCCESS:
            return
        result = event.worker.result
        if isinstance(result, Path):  # the demo ISO is ready
            self.open_iso(result, self.pending_recipe)
            return
        assert isinstance(result, Opened)
        self.query_one(JobStatus).stop()
        self._opened(result)

    def _opened(self, o: Opened) -> None:
        session = Session(o.path.absolute(), o.iso, o.facts)
        if o.recipe is not None:
            session.recipe = o.recipe
            session.mark_saved(o.recipe_path)
            self.pending_recipe = None
        self.post_message(SessionOpened(session))
        if o.autosaved is not None:
            n = len(Session(session.source, session.iso, session.facts,
                            recipe=o.autosaved).changes())
            self.app.push_screen(
                ChoiceDialog("Restore pending changes?",
                             f"{n} pending change{'s were' if n != 1 else ' was'} autosaved for "
                             "this ISO last time. Restore?",
                             [("yes", "Restore", "primary"), ("cancel", "Start fresh", "default")]),
                lambda choice: self._restore(choice, o.autosaved))

    def _restore(self, choice: str | None, rec: recipe_mod.Recipe | None) -> None:
        if choice == "yes" and rec is not None:
            self.post_message(RecipeReplaced(rec, None))
            self.notify("Pending changes restored.")
        elif self.session is not None:
            statedir.drop_autosave(self.session.source)

    def session_changed(self) -> None:
        s = self.session
        if s is None:
            return
        self.query_one("#facts-body", Static).update(render_facts(s.facts))
        self.query_one(ContentSwitcher).current = "facts"
        if self.screen.is_current:
            self.query_one("#facts").focus()
        self.refresh_bindings()
