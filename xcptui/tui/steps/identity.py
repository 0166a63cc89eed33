"""Step 5: volume label, build number, version; boot parameters, default, timeout."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.validation import Function, ValidationResult, Validator
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    SelectionList,
    Static,
)
from textual.worker import Worker, WorkerState
from textual_fspicker import FileOpen, Filters

from xcptui.engine import (
    ANSWERFILE_ALL_ENTRIES,
    ANSWERFILE_INTERACTIVE_ROLES,
    BootEffects,
    XcptuiError,
    plan_boot_effects,
    printable,
    validate_build_number,
    validate_version,
    volume_id_problem,
)
from xcptui.engine import recipe as recipe_mod
from xcptui.engine.recipe import edits as ops
from xcptui.tui.dialogs.common import ErrorDialog
from xcptui.tui.jobs import readers
from xcptui.tui.jobs.guard import guarded
from xcptui.tui.steps.base import Step
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets.safe_input import SafeInput  # prefilled from the ISO

PRESETS = [  # (checkbox id, parameter name, label)
    ("p-atexit", "atexit", "atexit=shell: a shell when the installer exits"),
    ("p-nogpg", "no-gpgcheck", "no-gpgcheck: skip package signature checks"),
    ("p-norepogpg", "no-repo-gpgcheck", "no-repo-gpgcheck: skip the repo signature check"),
]
MANAGED = {"sshpassword", "atexit", "no-gpgcheck", "no-repo-gpgcheck"}
# [signing] installer_gpgcheck: (Select value, label, one-line explanation); "auto" = None
GPGCHECK = [
    ("auto", "auto", "off when the repo is re-signed by you"),
    ("off", "off", "no-gpgcheck: unsigned RPMs install"),
    ("keep", "keep", "on: RPMs not signed by you fail"),
]
UNIQUE_SEARCH_WHY = "no other XCP-ng stick takes the boot"


class EngineCheck(Validator):
    """Inline validation by an engine check.

    ``raises``: the check raises XcptuiError when the value is bad (treeinfo's
    validate_*); otherwise it returns a problem string or None (identity's
    volume_id_problem).
    """

    def __init__(self, check: Any, *, raises: bool, allow_empty: bool = True) -> None:
        super().__init__()
        self.check, self.raises, self.allow_empty = check, raises, allow_empty

    def validate(self, value: str) -> ValidationResult:
        if not value and self.allow_empty:
            return self.success()
        try:
            result = self.check(value)
        except XcptuiError as e:
            return self.failure(str(e))
        if not self.raises and isinstance(result, str):
            return self.failure(result)
        return self.success()


def _timeout_ok(value: str) -> bool:
    return value == "" or (value.isdigit() and 0 <= int(value) <= 3600)


def _params_ok(value: str) -> bool:
    return all("---" not in p for p in ops.split_params(value))


VOLID_MAX = 32  # ISO 9660 volume identifier (d-characters)


class IdentityStep(Step):
    DEFAULT_CSS = """
    IdentityStep #f-af-entries { height: auto; max-height: 10; }
    IdentityStep .form-why { color: $text-muted; padding: 0 0 0 2; height: auto; }
    """
    KEY = "identity"
    TITLE = "Identity & boot"
    INTRO = "label, version, boot parameters; Enter applies"

    BINDINGS = [
        Binding("ctrl+y", "apply", "Apply", priority=True, id="identity.apply"),
        Binding("ctrl+r", "revert", "Revert", show=False, id="identity.revert"),
        Binding("f4", "boot_diff", "Side by side", id="identity.boot-diff"),
    ]

    def action_boot_diff(self) -> None:
        """Boot configs old | new (dialogs/boot_diff.py)."""
        from xcptui.tui.dialogs.boot_diff import BootDiffScreen

        if self.session is not None:
            self.app.push_screen(BootDiffScreen())

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._timer: Timer | None = None
        self._loading = False
        self._loaded_state = ""  # _state() of the recipe the form was last loaded from
        self._af_kept: list[str] = []  # recipe answerfile entries the list cannot show

    def compose(self) -> ComposeResult:
        with Horizontal(classes="split"):
            with VerticalScroll(id="id-form", classes="split-main form"):
                yield Label("Identity", classes="pane-title")
                with Horizontal(classes="form-row"):
                    yield Label("Volume label", classes="form-label")
                    yield SafeInput(id="f-volid")
                    yield Label("", id="f-volid-count")
                yield Static("", id="f-volid-why", classes="error-text")
                yield from self._row("Build number", SafeInput(id="f-build"))
                yield from self._row("Version", SafeInput(id="f-version"))
                yield Label("Boot parameters (all installer entries)", classes="pane-title")
                with Horizontal(classes="form-row"):
                    yield Checkbox("SSH in, password:", id="p-ssh")
                    yield Input(placeholder="password", password=True, id="f-sshpw")
                for cid, _name, label in PRESETS:
                    yield Checkbox(label, id=cid)
                yield from self._row("More params", Input(placeholder="e.g. blacklist=igb",
                                                          id="f-extra"))
                yield from self._row("Remove params", Input(placeholder="e.g. console=hvc0",
                                                            id="f-remove"))
                yield Label("Answer file", classes="pane-title")
                with RadioSet(id="f-af-mode"):
                    yield RadioButton("none", id="af-none", value=True)
                    yield RadioButton("embed file", id="af-embed")
                    yield RadioButton("URL", id="af-url")
                with Horizontal(classes="form-row", id="af-embed-row"):
                    yield Input(placeholder="host path of answerfile.xml", id="f-af-file")
                    yield Button("Browse…", id="af-browse", compact=True)
                yield from self._row("URL", Input(placeholder="http://server/answerfile.xml",
                                                  id="f-af-url"), row_id="af-url-row")
                yield Label("Entries that get it (the others stay interactive):",
                            id="f-af-entries-title")
                yield SelectionList[str](id="f-af-entries", compact=True)
                yield Label("Checks", classes="pane-title")
                yield from self._row("RPM gpgcheck", Select[str](
                    [(label, value) for value, label, _why in GPGCHECK], value="auto",
                    allow_blank=False, id="f-gpgcheck"))
                yield Static("", id="f-gpgcheck-why", classes="form-why")
                yield Checkbox("unique search (UEFI grub marker file)", id="f-unique")
                yield Static(Text(UNIQUE_SEARCH_WHY), id="f-unique-why", classes="form-why")
                yield Label("Menu", classes="pane-title")
                yield from self._row("Default entry", Select[str]([], prompt="(keep)",
                                                                  id="f-default"))
                yield from self._row("Timeout (s)", Input(placeholder="(keep)", id="f-timeout",
                                                          type="integer"))
                yield Static("", id="id-errors", classes="error-text")
                with Horizontal(id="id-buttons"):
                    yield Button("Apply", id="id-apply", variant="primary", compact=True)
                    yield Button("Revert", id="id-revert", compact=True)
                    yield Static("", id="id-state")
            with VerticalScroll(id="id-effect", classes="split-side preview"):
                yield Static(Text("The effect of your settings shows here.", style="dim"),
                             id="id-effect-body")

    def _row(self, label: str, widget: Any, row_id: str | None = None) -> ComposeResult:  # noqa: A002
        with Horizontal(classes="form-row", id=row_id):
            yield Label(label, classes="form-label")
            yield widget

    def on_mount(self) -> None:
        for w in self.query("#id-form Input, #id-form Select"):
            w.compact = True  # type: ignore[attr-defined]
        self.query_one("#f-volid", Input).validators = [self._volid_validator()]
        self.query_one("#f-build", Input).validators = [self._build_validator()]
        self.query_one("#f-version", Input).validators = [self._version_validator()]
        self.query_one("#f-timeout", Input).validators = [
            Function(_timeout_ok, "a number of seconds, 0 to 3600")]
        self.query_one("#f-extra", Input).validators = [
            Function(_params_ok, "kernel parameters, separated by spaces")]
        self._af_rows()

    def _volid_validator(self) -> Validator:
        return EngineCheck(volume_id_problem, raises=False, allow_empty=False)

    def _build_validator(self) -> Validator:
        return EngineCheck(validate_build_number, raises=True)

    def _version_validator(self) -> Validator:
        return EngineCheck(validate_version, raises=True)

    def shown(self) -> None:
        # the form, not a field: digits still jump between steps until Tab is pressed
        self.query_one("#id-form").focus()
        self._schedule()

    # -- source values -----------------------------------------------------------------
    def _source_values(self) -> tuple[str, str, str]:
        s = self.session
        if s is None:
            return "", "", ""
        ti = s.facts.treeinfo or {}
        version = ti.get("system-v1", {}).get("product_version") or \
            ti.get("branding", {}).get("version", "")
        return s.iso.volume_id, ti.get("build", {}).get("number", ""), version

    def _entries(self) -> list[dict[str, Any]]:
        """The first boot menu's entries as the engine's facts give them (isolinux.cfg)."""
        s = self.session
        if s is None:
            return []
        configs = (s.facts.boot or {}).get("configs") or {}
        first = next(iter(configs.values()), None)
        if not isinstance(first, dict):
            return []
        return [e for e in first.get("entries", []) if isinstance(e, dict)]

    def _labels(self) -> list[str]:
        return [str(e.get("label")) for e in self._entries()]

    def _installer(self) -> list[tuple[str, str]]:
        """(label, role) of the installer entries: what an answerfile can go on."""
        return [(str(e.get("label")), str(e.get("role"))) for e in self._entries()
                if e.get("installer")]

    def _af_default(self) -> list[str]:
        """The engine's default for empty [answerfile] entries."""
        return [lbl for lbl, role in self._installer()
                if role not in ANSWERFILE_INTERACTIVE_ROLES]

    def _af_selected(self, entries: list[str]) -> list[str]:
        """Recipe entries -> the labels to tick (a name may be a label or a role)."""
        inst = self._installer()
        if not entries:
            return self._af_default()
        if entries == [ANSWERFILE_ALL_ENTRIES]:
            return [lbl for lbl, _ in inst]
        want = {n.lower() for n in entries}
        return [lbl for lbl, role in inst if lbl.lower() in want or role in want]

    def _af_unmatched(self, entries: list[str]) -> list[str]:
        """Recipe entries naming no installer entry of the list (kept: the engine says why)."""
        if entries in ([], [ANSWERFILE_ALL_ENTRIES]):
            return []
        known = {n.lower() for lbl, role in self._installer() for n in (lbl, role)}
        return [n for n in entries if n.lower() not in known]

    def _af_entries(self) -> list[str]:
        """The ticked entries as recipe entries: [] = the engine's default, ["all"]."""
        ticked = set(self.query_one("#f-af-entries", SelectionList).selected)
        labels = [lbl for lbl, _ in self._installer() if lbl in ticked]
        if self._af_kept:
            return labels + self._af_kept
        if labels == self._af_default():
            return []
        if labels == [lbl for lbl, _ in self._installer()]:
            return [ANSWERFILE_ALL_ENTRIES]
        return labels

    # -- recipe -> form --------------------------------------------------------------------
    def session_changed(self) -> None:
        labels = self._labels()
        sel = self.query_one("#f-default", Select)
        sel.set_options([(fmt.plain(lbl), lbl) for lbl in labels])
        entries = self.query_one("#f-af-entries", SelectionList)
        entries.clear_options()
        entries.add_options([(self._entry_prompt(lbl, role), lbl)
                             for lbl, role in self._installer()])
        self._load_form()

    @staticmethod
    def _entry_prompt(label: str, role: str) -> Text:
        t = fmt.plain(label)
        if role != label:  # roles are the engine's names (ROLES), not ISO text
            t.append(f"  ({role})", style="dim")
        if role in ANSWERFILE_INTERACTIVE_ROLES:
            t.append("  interactive by default", style="dim italic")
        return t

    def recipe_changed(self) -> None:
        if not self._dirty():  # keep the user's unapplied edits, else follow the recipe
            self._load_form()

    @staticmethod
    def _state(rec: recipe_mod.Recipe) -> str:
        """The part of a recipe this step edits, as text (for comparisons)."""
        part = recipe_mod.Recipe(boot=rec.boot, answerfile=rec.answerfile)
        if rec.signing is not None and rec.signing.installer_gpgcheck:  # only this key
            part.signing = recipe_mod.SigningSection(
                installer_gpgcheck=rec.signing.installer_gpgcheck)
        part.iso.volume_id = rec.iso.volume_id
        part.iso.build_number = rec.iso.build_number
        part.iso.product_version = rec.iso.product_version
        return recipe_mod.dumps(part)

    def _load_form(self) -> None:
        s = self.session
        if s is None:
            return
        self._loading = True
        rec = s.recipe
        volid, build, version = self._source_values()
        self.query_one("#f-volid", Input).value = rec.iso.volume_id or volid
        self.query_one("#f-build", Input).value = rec.iso.build_number or build
        self.query_one("#f-version", Input).value = rec.iso.product_version or version
        ssh = ops.has_param(rec, "sshpassword")
        self.query_one("#p-ssh", Checkbox).value = ssh is not None
        self.query_one("#f-sshpw", Input).value = ssh.split("=", 1)[1] if ssh and "=" in ssh \
            else ""
        for cid, name, _label in PRESETS:
            self.query_one(f"#{cid}", Checkbox).value = ops.has_param(rec, name) is not None
        extra = [p for p in rec.boot.append if ops.param_name(p) not in MANAGED]
        self.query_one("#f-extra", Input).value = " ".join(extra)
        self.query_one("#f-remove", Input).value = " ".join(rec.boot.remove)
        af = rec.answerfile
        mode = "af-none" if af is None else ("af-embed" if af.source is not None else "af-url")
        self.query_one(f"#{mode}", RadioButton).value = True
        self.query_one("#f-af-file", Input).value = str(af.source) if af and af.source else ""
        self.query_one("#f-af-url", Input).value = af.url or "" if af else ""
        entries = self.query_one("#f-af-entries", SelectionList)
        entries.deselect_all()
        for lbl in self._af_selected(af.entries if af else []):
            entries.select(lbl)
        self._af_kept = self._af_unmatched(af.entries if af else [])
        gpg = rec.signing.installer_gpgcheck if rec.signing is not None else None
        self.query_one("#f-gpgcheck", Select).value = gpg or "auto"
        self.query_one("#f-unique", Checkbox).value = rec.boot.unique_search
        sel = self.query_one("#f-default", Select)
        if rec.boot.default is not None and rec.boot.default in self._labels():
            sel.value = rec.boot.default
        else:
            sel.clear()
        self.query_one("#f-timeout", Input).value = "" if rec.boot.timeout is None \
            else str(rec.boot.timeout)
        self._af_rows()
        self._loaded_state = self._state(rec)
        self._loading = False
        self._schedule()

    # -- form -> recipe --------------------------------------------------------------------
    def _invalid(self) -> list[str]:
        problems = []
        for inp in self.query(Input):
            if not inp.display or not inp.validators:
                continue
            res = inp.validate(inp.value)
            if res is not None and not res.is_valid:
                problems += res.failure_descriptions
        if self.query_one("#p-ssh", Checkbox).value and \
                not self.query_one("#f-sshpw", Input).value:
            problems.append("SSH needs a password")
        if self._af_mode() != "none" and self._installer() and \
                not self.query_one("#f-af-entries", SelectionList).selected:
            problems.append("Answer file: tick at least one boot entry")
        return problems

    def draft(self) -> recipe_mod.Recipe:
        s = self.session
        assert s is not None
        rec = ops.clone(s.recipe)
        volid, build, version = self._source_values()
        v = self.query_one("#f-volid", Input).value
        rec.iso.volume_id = v if v and v != volid else None
        b = self.query_one("#f-build", Input).value.strip()
        rec.iso.build_number = b if b and b != build else None
        pv = self.query_one("#f-version", Input).value.strip()
        rec.iso.product_version = pv if pv and pv != version else None
        append: list[str] = []
        if self.query_one("#p-ssh", Checkbox).value:
            append.append(f"sshpassword={self.query_one('#f-sshpw', Input).value}")
        for cid, name, _label in PRESETS:
            if self.query_one(f"#{cid}", Checkbox).value:
                append.append("atexit=shell" if name == "atexit" else name)
        append += [p for p in ops.split_params(self.query_one("#f-extra", Input).value)
                   if p not in append]
        rec.boot.append = append
        rec.boot.remove = ops.split_params(self.query_one("#f-remove", Input).value)
        sel = self.query_one("#f-default", Select)
        rec.boot.default = str(sel.value) if sel.value is not Select.NULL else None
        t = self.query_one("#f-timeout", Input).value.strip()
        rec.boot.timeout = int(t) if t.isdigit() else None
        rec.boot.unique_search = self.query_one("#f-unique", Checkbox).value
        gpg = self.query_one("#f-gpgcheck", Select).value
        ops.set_installer_gpgcheck(rec, None if gpg in ("auto", Select.NULL) else str(gpg))
        mode = self._af_mode()
        old = s.recipe.answerfile
        if mode == "none":
            rec.answerfile = None
        else:
            af = recipe_mod.AnswerfileSection() if old is None else ops.clone_answerfile(old)
            if mode == "embed":
                path = self.query_one("#f-af-file", Input).value.strip()
                af.source, af.url = (Path(path).expanduser() if path else None), None
            else:
                af.url = self.query_one("#f-af-url", Input).value.strip() or None
                af.source = None
            af.entries = self._af_entries()
            rec.answerfile = af
        return rec

    def _dirty(self) -> bool:
        """The form differs from the recipe it was loaded from (edits not applied)."""
        s = self.session
        if s is None or self._loading or not self._loaded_state:
            return False
        try:
            return self._state(self.draft()) != self._loaded_state
        except (ValueError, XcptuiError):
            return True

    def leave_problem(self) -> str | None:
        if self._dirty():
            return ("Identity & boot has edits not applied yet: press Enter (or ^y) to apply, "
                    "or ^r to revert.")
        return None

    @guarded("Apply")
    def action_apply(self) -> None:
        s = self.session
        if s is None:
            return
        problems = self._invalid()
        if problems:
            self.query_one("#id-errors", Static).update(Text("\n".join(problems)))
            self.notify("Fix the fields in red first.", severity="warning")
            return
        if self._af_mode() == "embed":
            p = Path(self.query_one("#f-af-file", Input).value.strip()).expanduser()
            if not p.is_file():
                self.notify(f"{p}: no such file", severity="warning")
                return
            problem = readers.answerfile_problem(p)
            if problem:
                self.app.push_screen(ErrorDialog(problem, "Not an answerfile"))
                return
        s.recipe = self.draft()
        self._loaded_state = self._state(s.recipe)
        self.notify("Identity and boot settings applied to the recipe.")
        self.changed()

    def action_revert(self) -> None:
        self._load_form()

    @on(Button.Pressed, "#id-apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#id-revert")
    def _revert_pressed(self) -> None:
        self.action_revert()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    # -- answer file rows ------------------------------------------------------------------
    def _af_mode(self) -> str:
        idx = self.query_one("#f-af-mode", RadioSet).pressed_index
        return ["none", "embed", "url"][idx] if idx >= 0 else "none"

    def _af_rows(self) -> None:
        mode = self._af_mode()
        self.query_one("#af-embed-row").display = mode == "embed"
        self.query_one("#af-url-row").display = mode == "url"
        for wid in ("#f-af-entries-title", "#f-af-entries"):
            self.query_one(wid).display = mode != "none"
        gpg = self.query_one("#f-gpgcheck", Select).value
        why = next((w for v, _label, w in GPGCHECK if v == gpg), "")
        self.query_one("#f-gpgcheck-why", Static).update(Text(why))

    @on(RadioSet.Changed, "#f-af-mode")
    def _af_changed(self) -> None:
        self._af_rows()
        self._schedule()

    @on(Button.Pressed, "#af-browse")
    def _af_browse(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                problem = readers.answerfile_problem(path)  # refused when chosen
                if problem:
                    self.app.push_screen(ErrorDialog(problem, "Not an answerfile"))
                    return
                self.query_one("#f-af-file", Input).value = str(path)

        self.app.push_screen(FileOpen(Path.cwd(), "Answer file",
                                      filters=Filters(("*.xml",
                                                       lambda p: p.suffix == ".xml"),
                                                      ("all", lambda p: True))), chosen)

    # -- live effect -----------------------------------------------------------------------
    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    def _edited(self, event: Any) -> None:
        if isinstance(event, Select.Changed) and event.select.id == "f-gpgcheck":
            self._af_rows()  # its explanation line
        if isinstance(event, Input.Changed) and event.validation_result is not None:
            errs = [] if event.validation_result.is_valid else \
                event.validation_result.failure_descriptions
            self.query_one("#id-errors", Static).update(Text("\n".join(errs)))
            if event.input.id == "f-volid":  # the reason next to the field, not below
                self._volid_feedback(event.value, errs)
        self._schedule()

    def _volid_feedback(self, value: str, errs: list[str]) -> None:
        n = len(value.encode("utf-8", "surrogateescape"))
        self.query_one("#f-volid-count", Label).update(
            Text(f" {n}/{VOLID_MAX}", style="bold red" if n > VOLID_MAX else "dim"))
        why = self.query_one("#f-volid-why", Static)
        why.update(Text("\n".join(errs)))  # not markup: errs quote ISO values
        why.display = bool(errs)

    def _schedule(self) -> None:
        if self._loading or self.session is None:
            return
        self._state_line()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.3, self._compute)

    def _state_line(self) -> None:
        self.query_one("#id-state", Static).update(
            Text(" not applied yet", style="bold yellow") if self._dirty() else
            Text(" applied", style="dim"))

    def _compute(self) -> None:
        if self.session is None or self._invalid():
            return
        try:
            draft = self.draft()
        except (ValueError, XcptuiError):
            return
        self._effects(draft)

    @work(thread=True, exclusive=True, group="effects", exit_on_error=False,
          description="Boot effect")
    def _effects(self, draft: recipe_mod.Recipe) -> BootEffects | str:
        """The engine's plan of the draft, or the one-line reason it cannot be built."""
        s = self.session
        assert s is not None
        try:
            return plan_boot_effects(s.iso, draft)
        except XcptuiError as e:
            return str(e)

    def _show_effects(self, eff: BootEffects | str) -> None:
        t = Text()
        if isinstance(eff, str):
            t.append(printable(eff) + "\n", style="bold red")
            t.append("Effect per boot config\n", style="bold underline")
            self.query_one("#id-effect-body", Static).update(t)
            return
        t.append("Effect per boot config\n", style="bold underline")
        for name, lines in eff.per_config:
            t.append(f"{printable(name)}\n", style="bold")  # entry labels come from the ISO
            for line in lines:
                t.append(f"  {printable(line)}\n", style="dim" if line == "unchanged" else "green")
        rest = [c for c in eff.changes if not c.startswith("boot (")]  # shown above
        if rest:
            t.append("Build plan\n", style="bold underline")
            for c in rest:
                t.append(f"• {printable(c)}\n")
        for w in eff.warnings:
            t.append(f"! {printable(w)}\n", style="yellow")
        self.query_one("#id-effect-body", Static).update(t)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "effects":
            if event.state == WorkerState.SUCCESS:
                self._show_effects(cast("BootEffects | str", event.worker.result))
            elif event.state == WorkerState.ERROR:
                if isinstance(event.worker.error, XcptuiError):
                    event.prevent_default()  # shown in the effect pane
                self.query_one("#id-effect-body", Static).update(
                    fmt.plain(f"cannot compute the effect: {event.worker.error}", "red"))
