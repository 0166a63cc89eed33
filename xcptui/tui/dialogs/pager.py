"""A full-screen pager for a file of the ISO or of install.img (z / F3 on Browse).

The file is streamed in chunks by a worker thread and shown as it arrives, up to
PAGER_MAX bytes (then a notice). Lines are drawn one at a time (Line API), so a
16 MiB log scrolls as fast as a short config. Every line goes through
``printable``: ESC and other controls in a file never reach the terminal, and no
file content is ever parsed as Rich markup.
"""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Callable, Iterator

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static

from xcptui.engine import printable
from xcptui.tui.state.session import Session
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets.browse_model import IMG, ISO, NodeInfo

PAGER_MAX = 16 * 1024 * 1024  # bytes shown at most; the rest is announced, not read
CHUNK = 1024 * 1024
MATCH = Style(reverse=True)
CURRENT = Style(bgcolor="yellow", color="black", bold=True)
GUTTER = Style(dim=True)

#: a loader yields the file's chunks (in a worker thread); total is the file's size
Chunks = Callable[[threading.Event], Iterator[bytes]]


def file_source(s: Session, info: NodeInfo) -> tuple[int, Chunks] | None:
    """(size, chunk loader) for a regular file of the ISO or install.img, else None."""
    if info.virtual or info.is_dir or info.is_image:
        return None
    if info.area == ISO:
        size = s.iso.entry(info.path).size

        def iso_chunks(cancel: threading.Event) -> Iterator[bytes]:
            with s.iso.open_file(info.path) as fh:
                left = min(size, PAGER_MAX)
                while left > 0 and not cancel.is_set():
                    data = fh.read(min(CHUNK, left))
                    if not data:
                        return
                    left -= len(data)
                    yield data

        return size, iso_chunks
    if info.area == IMG and s.image_loaded:
        img = s.image()
        target = img.resolve(info.path.strip("/"))
        e = img.get(target) if target is not None else None
        if e is None or e.type != "file":
            return None
        a, b = img.data_range(e)

        def img_chunks(cancel: threading.Event) -> Iterator[bytes]:
            yield from img.iter_range(a, min(b, a + PAGER_MAX), cancel)

        return e.size, img_chunks
    return None


class PagerView(ScrollView, can_focus=True):
    """Lines with a line-number gutter; search matches reversed, the current one yellow."""

    DEFAULT_CSS = """
    PagerView { height: 1fr; background: $surface; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.lines: list[str] = []
        self._partial = ""
        self._width = 0
        self.pattern: re.Pattern[str] | None = None
        self.matches: list[tuple[int, int, int]] = []  # (line, start, end)
        self.current = -1

    # -- content ---------------------------------------------------------------------
    def feed(self, text: str, final: bool = False) -> None:
        """Append decoded text; a line is shown once its newline arrived (or at the end)."""
        parts = (self._partial + text).split("\n")
        self._partial = "" if final else parts.pop()
        if final and parts and parts[-1] == "" and len(parts) > 1:
            parts.pop()
        for raw in parts:
            line = printable(raw.rstrip("\r").expandtabs(8))
            self.lines.append(line)
            self._width = max(self._width, len(line))
        self._resize()

    def _gutter(self) -> int:
        return len(str(max(1, len(self.lines)))) + 1

    def on_mount(self) -> None:
        self._resize()

    def _resize(self) -> None:
        if not self.is_attached:
            return
        self.virtual_size = Size(self._width + self._gutter() + 1, len(self.lines))
        self.refresh()

    # -- search ----------------------------------------------------------------------
    def search(self, pattern: re.Pattern[str] | None, from_line: int = 0) -> int:
        """Find every match; the current one is the first at or after ``from_line``."""
        self.pattern = pattern
        self.matches = []
        if pattern is not None:
            for n, line in enumerate(self.lines):
                for m in pattern.finditer(line):
                    if m.end() > m.start():
                        self.matches.append((n, m.start(), m.end()))
        self.current = next((i for i, m in enumerate(self.matches) if m[0] >= from_line),
                            0 if self.matches else -1)
        if self.is_attached:
            self._show_current()
        return len(self.matches)

    def step(self, delta: int) -> None:
        if self.matches:
            self.current = (self.current + delta) % len(self.matches)
            self._show_current()

    def _show_current(self) -> None:
        if self.current >= 0:
            line, start, _ = self.matches[self.current]
            self.goto_line(line)
            x = start + self._gutter() + 1
            if not (self.scroll_x <= x < self.scroll_x + self.size.width - 1):
                self.scroll_to(x=max(0, x - 8), animate=False)
        self.refresh()

    def goto_line(self, line: int) -> None:
        """Bring ``line`` (0-based) into view, a few lines below the top."""
        self.scroll_to(y=max(0, line - 3), animate=False)

    # -- drawing ---------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        n = scroll_y + y
        width = self.size.width
        if n >= len(self.lines):
            return Strip.blank(width)
        g = self._gutter()
        text = Text(no_wrap=True, end="")
        text.append(f"{n + 1:>{g - 1}} ", style=GUTTER)
        body = Text(self.lines[n], no_wrap=True, end="")
        for i, (ln, a, b) in enumerate(self.matches):
            if ln == n:
                body.stylize(CURRENT if i == self.current else MATCH, a, b)
        text.append_text(body)
        segments = list(text.render(self.app.console))
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width) if strip.cell_length < width else strip


class PagerScreen(Screen[None]):
    """``z``/F3: the whole file, scrollable; ``/`` search, ``n``/``N``, ``q`` closes."""

    BINDINGS = [
        Binding("q,escape", "close", "Close", id="pager.close"),
        Binding("slash", "find", "Search", key_display="/", id="pager.find"),
        Binding("n", "next", "Next", id="pager.next"),
        Binding("N", "prev", "Previous", key_display="N", id="pager.prev"),
        Binding("g", "top", "Top", show=False, id="pager.top"),
        Binding("G", "bottom", "Bottom", show=False, id="pager.bottom"),
    ]

    DEFAULT_CSS = """
    PagerScreen { layout: vertical; }
    PagerScreen #pager-title { height: 1; background: $boost; padding: 0 1;
                               text-wrap: nowrap; text-overflow: ellipsis; }
    PagerScreen #pager-status { height: 1; padding: 0 1; color: $text-muted;
                                text-wrap: nowrap; text-overflow: ellipsis; }
    PagerScreen #pager-find { dock: bottom; height: 1; border: none; padding: 0 1;
                              display: none; }
    PagerScreen #pager-find.-shown { display: block; }
    """

    def __init__(self, title: str, size: int, chunks: Chunks, *, line: int | None = None,
                 pattern: re.Pattern[str] | None = None) -> None:
        super().__init__()
        self.title_text, self.total, self.chunks = title, size, chunks
        self.start_line, self.start_pattern = line, pattern
        self.loaded = False
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        title = Text(printable(self.title_text), style="bold")
        title.append(f"  {fmt.size(self.total)}", style="dim")
        yield Static(title, id="pager-title")
        yield PagerView(id="pager-view")
        yield Static(Text("reading…", style="italic"), id="pager-status")
        yield Input(placeholder="search (regex; Enter; Esc cancels)", id="pager-find")

    @property
    def view(self) -> PagerView:
        return self.query_one(PagerView)

    def on_mount(self) -> None:
        self.view.focus()
        self._load()

    @work(thread=True, exclusive=True, group="pager", exit_on_error=False,
          description="Read the file")
    def _load(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        for data in self.chunks(self._cancel):
            text = decoder.decode(data)
            self.app.call_from_thread(self.view.feed, text)
        if not self._cancel.is_set():
            self.app.call_from_thread(self._loaded, decoder.decode(b"", final=True))

    def _loaded(self, tail: str) -> None:
        view = self.view
        view.feed(tail, final=True)
        self.loaded = True
        if self.start_pattern is not None:
            view.search(self.start_pattern, self.start_line or 0)
        elif self.start_line is not None:
            view.goto_line(self.start_line)
        self._status()

    def _status(self, extra: str = "") -> None:
        view = self.view
        t = Text(f"{len(view.lines)} lines", style="dim")
        if self.total > PAGER_MAX:
            t.append(f"  · first {fmt.size(PAGER_MAX)} of {fmt.size(self.total)} shown",
                     style="yellow")
        if view.pattern is not None:
            n = len(view.matches)
            where = f"{view.current + 1}/{n}" if n else "no match"
            t.append(f"  · /{printable(view.pattern.pattern)}: {where}")
        if extra:
            t.append(f"  · {extra}", style="red")
        t.append("  · / search  n/N next/prev  g/G top/end  q close", style="dim")
        self.query_one("#pager-status", Static).update(t)

    # -- actions -----------------------------------------------------------------------
    def action_close(self) -> None:
        find = self.query_one("#pager-find", Input)
        if find.has_class("-shown"):
            find.remove_class("-shown")
            self.view.focus()
            return
        self._cancel.set()
        self.dismiss(None)

    def action_find(self) -> None:
        find = self.query_one("#pager-find", Input)
        find.add_class("-shown")
        find.focus()

    @on(Input.Submitted, "#pager-find")
    def _find(self, event: Input.Submitted) -> None:
        event.stop()
        find = self.query_one("#pager-find", Input)
        find.remove_class("-shown")
        view = self.view
        view.focus()
        if not event.value:
            view.search(None)
            self._status()
            return
        try:
            pattern = re.compile(event.value, re.IGNORECASE if event.value.islower() else 0)
        except re.error as e:
            self._status(f"bad pattern: {e}")
            return
        view.search(pattern, view.scroll_offset.y)
        self._status()

    def action_next(self) -> None:
        self.view.step(1)
        self._status()

    def action_prev(self) -> None:
        self.view.step(-1)
        self._status()

    def action_top(self) -> None:
        self.view.scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.view.scroll_end(animate=False)


def open_pager(screen_host: object, s: Session, info: NodeInfo, *, line: int | None = None,
               pattern: re.Pattern[str] | None = None) -> bool:
    """Push a pager on ``info`` (False when it is not a readable file)."""
    from textual.app import App

    src = file_source(s, info)
    if src is None or not isinstance(screen_host, App):
        return False
    title = ("install.img:" if info.area == IMG else "") + info.path
    screen_host.push_screen(PagerScreen(title, src[0], src[1], line=line, pattern=pattern))
    return True
