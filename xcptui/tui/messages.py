"""Messages the steps post to the app (widget-local ones live with their widget).

Steps never call back into the app: they post one of these and the app (which
owns the session and the dialogs) handles it. Every message bubbles from the
posting widget through its screen to the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from xcptui.engine import ProgressEvent
from xcptui.engine import recipe as recipe_mod

if TYPE_CHECKING:
    from xcptui.tui.state.session import Session


class JobProgress(Message):
    """An engine ProgressEvent, posted from a worker thread (already throttled)."""

    def __init__(self, tag: str, event: ProgressEvent) -> None:
        super().__init__()
        self.tag = tag
        self.event = event


class JobFailed(Message):
    """A worker or a guarded handler failed: the app shows the one-line dialog."""

    def __init__(self, error: BaseException, what: str) -> None:
        super().__init__()
        self.error = error
        self.what = what


class ShowError(Message):
    """An error the step has already turned into one line."""

    def __init__(self, message: str, title: str = "Error") -> None:
        super().__init__()
        self.message = message
        self.title = title


class RecipeChanged(Message):
    """The recipe was edited: autosave, then every step refreshes."""


class RecipeSaved(Message):
    """The recipe was written to a file: steps refresh their saved state (no autosave)."""


class RecipeReplaced(Message):
    """A whole recipe was loaded (from a file or an autosave) into the session."""

    def __init__(self, recipe: recipe_mod.Recipe, saved_path: Path | None) -> None:
        super().__init__()
        self.recipe = recipe
        self.saved_path = saved_path


class SessionOpened(Message):
    """An ISO was opened: the app takes the session and every step reloads."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session


class WizardReady(Message):
    """The wizard screen is composed: the app opens what the command line named."""
