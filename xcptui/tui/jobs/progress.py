"""An engine ``Progress`` whose events arrive at a widget as ``JobProgress`` messages."""

from __future__ import annotations

from textual.message_pump import MessagePump

from xcptui.engine import Progress, ProgressEvent
from xcptui.tui.messages import JobProgress


def posting_progress(target: MessagePump, tag: str) -> Progress:
    """An engine Progress whose events arrive at ``target`` as JobProgress messages.

    ``post_message`` is thread-safe and never blocks the worker; the engine's
    Progress throttles byte events to 20 per second.
    """
    def post(ev: ProgressEvent) -> None:
        target.post_message(JobProgress(tag, ev))

    return Progress(post)
