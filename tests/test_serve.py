"""`xcptui serve`: the wizard in headless Chromium, the non-loopback warning, a busy port.

The browser part drives Chromium over its DevTools protocol (aiohttp's websocket
client: aiohttp comes with textual-serve). textual-serve draws with xterm.js on a
canvas, so the page's DOM holds no text: a script that runs before the page's own
catches the xterm.js Terminal when textual.js stores it (`this.terminal = ...`) and the
test reads the rendered screen from its buffer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]

# Runs in the page before textual.js: the first object assigned to a `terminal`
# property that looks like an xterm.js Terminal is kept in window.__xterm.
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(v) {
    Object.defineProperty(this, "terminal",
      {value: v, writable: true, configurable: true, enumerable: true});
    if (v && v.buffer && v.buffer.active && !window.__xterm) { window.__xterm = v; }
  },
});
"""
SCREEN_TEXT = """
(() => {
  const t = window.__xterm;
  if (!t) { return ""; }
  const b = t.buffer.active, rows = [];
  for (let i = 0; i < b.length; i++) { rows.push(b.getLine(i).translateToString(true)); }
  return rows.join("\\n");
})()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """End PROC's whole process group (it was started in a session of its own)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass
    # the TUI sessions it started share the group: make sure none is left behind
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def _serve(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "xcptui", "serve", *args], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        yield proc
    finally:
        _kill(proc)
        for f in (proc.stdout, proc.stderr):
            if f:
                f.close()


def _url_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the server prints it once the port is bound
    assert line.startswith("xcptui: serving the wizard at http://"), (line, proc.stderr)
    return line.split(" at ", 1)[1].split()[0]


async def _cdp_screen(debug_port: int, url: str, want: str, timeout: float) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(100):  # the browser may still be starting
            try:
                async with http.get(f"http://127.0.0.1:{debug_port}/json/list") as r:
                    pages = [t for t in await r.json() if t["type"] == "page"]
                if pages:
                    break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("chromium's DevTools did not come up")
        async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            ids = iter(range(1, 1_000_000))

            async def call(method: str, **params: object) -> dict[str, object]:
                n = next(ids)
                await ws.send_str(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    msg = json.loads((await ws.receive()).data)
                    if msg.get("id") == n:
                        assert "error" not in msg, msg
                        return dict(msg["result"])

            await call("Page.enable")
            await call("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINAL)
            await call("Page.navigate", url=url)
            text, end = "", time.monotonic() + timeout
            while time.monotonic() < end:
                res = await call("Runtime.evaluate", expression=SCREEN_TEXT, returnByValue=True)
                text = str(dict(res["result"]).get("value", ""))  # type: ignore[call-overload]
                if want in text:
                    break
                await asyncio.sleep(0.5)
            return text


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason=f"{CHROMIUM} missing (Debian package chromium: "
                    "scripts/system-packages.sh test)")
def test_wizard_in_headless_chromium() -> None:
    pytest.importorskip("textual_serve")
    with _serve("--port", str(_free_port())) as server, \
            tempfile.TemporaryDirectory(prefix="xcptui-chromium-") as profile:
        url = _url_line(server)
        assert url.startswith("http://127.0.0.1:")
        debug_port = _free_port()
        browser = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--window-size=1200,800", f"--user-data-dir={profile}",
             f"--remote-debugging-port={debug_port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            screen = asyncio.run(_cdp_screen(debug_port, url, "Pick ISO", timeout=60))
        finally:
            _kill(browser)
        assert "Pick ISO" in screen, f"the wizard's first step is not on the page:\n{screen}"


def test_non_loopback_host_warns_and_still_serves() -> None:
    pytest.importorskip("textual_serve")
    with _serve("--host", "0.0.0.0", "--port", str(_free_port())) as server:
        url = _url_line(server)
        assert url.startswith("http://0.0.0.0:")
        assert server.stderr is not None
        warning = server.stderr.readline()
        assert warning.startswith("warning: serving on 0.0.0.0: anyone who can reach this port")
        assert "no authentication" in warning
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(15) == 0


def test_loopback_is_quiet_and_sigterm_exits_0() -> None:
    pytest.importorskip("textual_serve")
    with _serve("--port", str(_free_port())) as server:
        _url_line(server)
        server.send_signal(signal.SIGINT)
        assert server.wait(15) == 0
        assert server.stderr is not None
        assert server.stderr.read() == ""


def test_busy_port_is_one_line_error() -> None:
    pytest.importorskip("textual_serve")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with _serve("--port", str(port)) as server:
            _, err = server.communicate(timeout=30)
    assert server.returncode == 1
    assert err.splitlines() == [
        f"xcptui: error: port {port} on 127.0.0.1 is in use (pick another with --port)"]


def test_tui_command_is_this_python_quoted(tmp_path: Path) -> None:
    pytest.importorskip("textual_serve")
    from xcptui.serve import is_loopback, tui_command

    iso = tmp_path / "my image's.iso"
    cmd = tui_command(str(iso), "r.toml")
    import shlex

    assert shlex.split(cmd) == [sys.executable, "-m", "xcptui", "tui", str(iso),
                                "--recipe", str(Path("r.toml").resolve())]
    assert tui_command(None, None) == shlex.join([sys.executable, "-m", "xcptui", "tui"])
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.2", "example.org", ""]))


def test_cross_origin_and_foreign_host_refused() -> None:
    pytest.importorskip("textual_serve")
    import urllib.error
    import urllib.request

    with _serve("--port", str(_free_port())) as server:
        url = _url_line(server)
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
        for headers, path in (({"Host": "rebind.example:80"}, ""),
                              ({"Origin": "http://evil.example", "Connection": "Upgrade",
                                "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, "ws")):
            req = urllib.request.Request(url + path, headers=headers)
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=10)
            assert e.value.code == 403

