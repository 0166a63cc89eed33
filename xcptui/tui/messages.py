"""Messages shared across the wizard (widget-local ones live with their widget)."""

from __future__ import annotations

from textual.message import Message
from textual.message_pump import MessagePump

from xcptui.engine import Progress, ProgressEvent


class Progressed(Message):
    """An engine ProgressEvent, posted from a worker thread (already throttled)."""

    def __init__(self, tag: str, event: ProgressEvent) -> None:
        super().__init__()
        self.tag = tag
        self.event = event


def posting_progress(target: MessagePump, tag: str) -> Progress:
    """An engine Progress whose events arrive at ``target`` as Progressed messages.

    ``post_message`` is thread-safe and never blocks the worker; the engine's
    Progress throttles byte events to 20 per second.
    """
    def post(ev: ProgressEvent) -> None:
        target.post_message(Progressed(tag, ev))

    return Progress(post)


class RecipeChanged(Message):
    """The recipe was edited; screens refresh markers and derived views."""


class SessionChanged(Message):
    """An ISO was opened (or closed)."""


class GoToStep(Message):
    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step
