"""A guard for UI handlers that call the engine on the UI thread.

Textual stops a widget's message loop when a handler raises, so handlers that can
meet a bad file (an engine XcptuiError, an OSError) are wrapped: the error becomes
the usual one-line dialog and the widget keeps working.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from xcptui.engine import XcptuiError
from xcptui.tui.messages import JobFailed

F = TypeVar("F", bound=Callable[..., Any])


def guarded(what: str) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except (XcptuiError, OSError) as e:
                self.post_message(JobFailed(e, what))  # the app shows the dialog
                return None

        return wrapper  # type: ignore[return-value]

    return deco
