"""`xcptui serve`: the wizard in a browser, through textual-serve.

textual-serve runs one `xcptui tui` process per browser session and relays its screen
over a websocket. Anyone who can open that websocket drives a wizard that reads any
file this user can, so:
- it binds to 127.0.0.1 unless told otherwise, and warns when it is not loopback;
- on loopback it only answers requests whose Host is a loopback name (a DNS-rebinding
  page cannot reach it), and the websocket only accepts a page of its own origin
  (websockets are not bound by the same-origin policy, so another page the user has
  open could otherwise connect to ws://127.0.0.1:PORT/ws).

Ctrl-C, SIGTERM and SIGHUP stop it cleanly: the sessions are told to quit, exit code 0.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import re
import shlex
import signal
import sys
from typing import Any

from aiohttp import web
from textual_serve.server import Server

from xcptui.engine import InputError

SHUTDOWN_TIMEOUT = 5.0  # seconds the sessions get to quit before their handlers are cancelled
_HOST_HEADER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?\Z")


def is_loopback(host: str) -> bool:
    """Whether HOST (an address or a name) only listens on this machine."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def tui_command(iso: str | None, recipe: str | None) -> str:
    """The shell command textual-serve runs per session: this Python's `xcptui tui`."""
    argv = [sys.executable, "-m", "xcptui", "tui"]
    # absolute: a relative name starting with "-" would read as an option
    if iso:
        argv.append(os.path.abspath(iso))
    if recipe:
        argv += ["--recipe", os.path.abspath(recipe)]
    return shlex.join(argv)


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


class WizardServer(Server):
    """textual-serve's server with the checks above, quiet, and stoppable from a loop."""

    def __init__(self, command: str, host: str, port: int) -> None:
        super().__init__(command, host=host, port=port, title="xcptui")
        self.loopback = is_loopback(host)
        self._sessions: set[asyncio.Task[Any]] = set()

    def _host_ok(self, request: web.Request) -> bool:
        m = _HOST_HEADER.match(request.host)
        return m is not None and (not self.loopback or is_loopback(m.group(1)))

    async def on_startup(self, app: web.Application) -> None:
        """No banner: `serve` prints its own one line once the port is bound."""

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        if not self._host_ok(request):
            raise web.HTTPForbidden(text="xcptui: this Host is not served\n")
        # The page's websocket URL must name the host the browser used: with
        # --host 0.0.0.0 the bind address is no address to connect to.
        self.public_url = f"http://{request.host}"
        return await super().handle_index(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        origin = request.headers.get("Origin")
        if not self._host_ok(request) or (
                origin is not None and origin != f"http://{request.host}"):
            raise web.HTTPForbidden(text="xcptui: cross-origin session refused\n")
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            return await super().handle_websocket(request)
        finally:
            self._sessions.discard(task)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until STOP is set; a port that cannot be bound is an InputError."""
        runner = web.AppRunner(await self._make_app(), handle_signals=False,
                               access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, self.host, self.port).start()
            except OSError as e:
                why = ("is in use (pick another with --port)" if e.errno == errno.EADDRINUSE
                       else f"cannot be opened: {e.strerror or e}")
                raise InputError(f"port {self.port} on {self.host} {why}") from None
            print(f"xcptui: serving the wizard at {url_of(self.host, self.port)} "
                  "— Ctrl-C stops", flush=True)
            await stop.wait()
            # Cancelling a session's handler makes textual-serve send its app "quit"
            # and wait for the process; without it shutdown waits on open websockets.
            for task in list(self._sessions):
                task.cancel()
            await asyncio.gather(*self._sessions, return_exceptions=True)
        finally:
            await runner.cleanup()


def serve(host: str, port: int, iso: str | None, recipe: str | None) -> int:
    """Run the server in the foreground; returns the exit code (0 on a signal)."""
    if not 0 < port < 65536:
        raise InputError(f"--port {port}: not a TCP port (1-65535)")
    if not is_loopback(host):
        print(f"warning: serving on {host}: anyone who can reach this port can drive the "
              "wizard and read any file this user can; there is no authentication",
              file=sys.stderr, flush=True)
    # textual-serve's own messages (a session that failed to start) go to stderr
    logging.basicConfig(level=logging.WARNING, format="xcptui serve: %(message)s")
    server = WizardServer(tui_command(iso, recipe), host, port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(s, stop.set)
        await server.run(stop)

    asyncio.run(main())
    return 0
