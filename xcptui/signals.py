"""SIGINT, SIGTERM and SIGHUP for the CLI and the TUI: stop the work, leave nothing behind.

The engine never installs handlers (it is a library); the two UIs do, here:
- CLI: the first signal sets the engine's cancel event (worker threads stop) and
  raises ``Interrupted`` in the main thread, so every ``finally`` on the way out
  removes its temp files; later signals are ignored so that cleanup can finish.
- TUI: the work runs in thread workers; a signal (a dropped SSH connection sends
  SIGHUP) sets every worker's cancel event and asks the app to exit. ``run_tui``
  then waits for the builds to clean up before the process ends.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from xcptui.engine import Interrupted, remove_live_temp_files, wait_builds_idle

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
CLEANUP_WAIT = 30.0  # seconds a cancelled build gets to remove its files
EXIT_GRACE = 3.0  # then seconds the app gets to restore the terminal and return


def _ignore_further() -> None:
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def install_cli(cancel: threading.Event) -> dict[int, Any]:
    """Handlers for a CLI command running in the main thread; returns the old ones."""

    def handler(signum: int, frame: FrameType | None) -> None:
        _ignore_further()
        cancel.set()
        raise Interrupted(signum)

    return {s: signal.signal(s, handler) for s in SIGNALS}


def restore(old: dict[int, Any]) -> None:
    for s, h in old.items():
        signal.signal(s, h)


def say(line: str) -> None:
    """One line on stderr; the terminal may be gone (SIGHUP), which is fine."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def run_tui(make_app: Callable[[], Any]) -> int:
    """Run a Textual app; on a signal cancel its workers, clean up, and end the process.

    A lost terminal can leave Textual's shutdown waiting forever on its output
    thread, so the cleanup does not depend on it: a reaper thread waits for the
    cancelled builds to remove their files, then ends the process if the app has
    not returned by itself.
    """
    app = make_app()
    got: list[int] = []
    done = threading.Event()

    def reap(signum: int) -> None:
        wait_builds_idle(CLEANUP_WAIT)
        remove_live_temp_files()
        err = Interrupted(signum)
        if not done.wait(EXIT_GRACE):
            say(f"xcptui: {err}")
            os._exit(err.exit_code)

    def handler(signum: int, frame: FrameType | None) -> None:
        if got:
            return
        got.append(signum)
        for w in list(app.workers):
            w.cancelled_event.set()
        threading.Thread(target=reap, args=(signum,), name="xcptui-reaper",
                         daemon=True).start()
        loop = getattr(app, "_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(app.exit, None, 128 + signum)

    old: dict[int, Any] = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        try:
            result = app.run()
        except Exception:  # noqa: BLE001 - a lost terminal can break the renderer
            if not got:
                raise
            result = None
        if got:
            wait_builds_idle(CLEANUP_WAIT)
            remove_live_temp_files()
            done.set()
            err = Interrupted(got[0])
            say(f"xcptui: {err}")
            return err.exit_code
        return int(result or 0)
    finally:
        restore(old)
