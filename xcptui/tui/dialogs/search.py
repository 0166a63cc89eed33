"""Content search across the ISO and inside install.img (ctrl+f on Browse).

A grep in a worker thread: ISO files are read one by one through IsoSource,
install.img's files in archive order with ``read_many`` in batches, so each
compressed block is decoded about once. Files over SEARCH_FILE_MAX and files with
a NUL byte (binaries) are skipped and counted. Escape cancels a running search;
Enter on a hit closes the screen with it (Browse then shows the file and opens the
pager at that line). Lines are shown through ``printable`` as Rich Text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Checkbox, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from xcptui.engine import ImageEntry, InstallImage, printable
from xcptui.engine.layout import INSTALL_IMG
from xcptui.tui.state.session import Session
from xcptui.tui.widgets import fmt

SEARCH_FILE_MAX = 8 * 1024 * 1024  # bigger files are skipped
MAX_HITS = 2000
BATCH_BYTES = 16 * 1024 * 1024  # install.img data read per read_many call
AREA_ISO, AREA_IMG = "iso", "img"


@dataclass(frozen=True)
class Hit:
    area: str  # iso | img
    path: str  # absolute within the area
    line: int  # 1-based
    text: str  # the line, already printable
    spans: tuple[tuple[int, int], ...] = ()


@dataclass
class Tally:
    searched: int = 0
    skipped: int = 0
    hits: int = 0


def compile_pattern(text: str, *, regex: bool, ignore_case: bool) -> re.Pattern[str]:
    """The pattern to search for (re.error for a bad regex)."""
    return re.compile(text if regex else re.escape(text), re.IGNORECASE if ignore_case else 0)


def grep(data: bytes, pattern: re.Pattern[str]) -> Iterator[tuple[int, str, list[tuple[int,
                                                                                         int]]]]:
    """(line number, printable line, match spans) for each matching line of ``data``."""
    for n, raw in enumerate(data.decode("utf-8", "surrogateescape").split("\n"), 1):
        if pattern.search(raw) is None:
            continue
        line = printable(raw.rstrip("\r").expandtabs(8))
        yield n, line, [(m.start(), m.end()) for m in pattern.finditer(line) if m.end() > m.start()]


def _binary(data: bytes) -> bool:
    return b"\0" in data[:8192]


def search_session(s: Session, pattern: re.Pattern[str], emit: Callable[[list[Hit]], None],
                   tally: Tally, cancel: threading.Event) -> None:
    """Search every text file of the ISO, then of install.img; ``emit`` gets hits in batches."""

    def take(area: str, path: str, data: bytes) -> None:
        if _binary(data):
            tally.skipped += 1
            return
        tally.searched += 1
        hits = [Hit(area, path, n, line, tuple(spans)) for n, line, spans in grep(data, pattern)]
        if hits:
            hits = hits[: MAX_HITS - tally.hits]
            tally.hits += len(hits)
            emit(hits)

    for e in s.iso.walk("/"):
        if cancel.is_set() or tally.hits >= MAX_HITS:
            return
        if e.is_dir or e.is_symlink or e.path == INSTALL_IMG or e.path.endswith(".rpm"):
            continue
        if e.size > SEARCH_FILE_MAX:
            tally.skipped += 1
            continue
        take(AREA_ISO, e.path, s.iso.read(e.path))
    if not s.has_image:
        return
    img = s.image(None, cancel)
    files: list[ImageEntry] = []
    for ie in img.entries():
        if ie.type != "file" or getattr(ie, "unsafe", False) or not ie.path:
            continue
        if ie.size > SEARCH_FILE_MAX:
            tally.skipped += 1
        elif ie.size:
            files.append(ie)
    files.sort(key=lambda e: img.data_range(e)[0])  # archive order: one pass over the blocks
    _search_image(img, files, take, tally, cancel)


def _search_image(img: InstallImage, files: list[ImageEntry],
                  take: Callable[[str, str, bytes], None], tally: Tally,
                  cancel: threading.Event) -> None:
    """read_many over batches of about BATCH_BYTES, in the order given."""
    batch: list[ImageEntry] = []
    size = 0
    for i, e in enumerate(files):
        batch.append(e)
        size += e.size
        if size < BATCH_BYTES and i < len(files) - 1:
            continue
        data = img.read_many(batch, cancel)
        for be in batch:
            if cancel.is_set() or tally.hits >= MAX_HITS:
                return
            take(AREA_IMG, "/" + be.path, data.get(be.index, b""))
        batch, size = [], 0


def hit_label(h: Hit, width: int = 200, lead: int = 24) -> Text:
    """path:line: text, one line; a long line starts shortly before its first match
    (marked with "…") so the match is in view."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("install.img:" if h.area == AREA_IMG else "", style="dim")
    t.append(printable(h.path), style="bold")
    t.append(f":{h.line}: ", style="dim")
    start = 0
    if h.spans and h.spans[0][0] > lead + 8:
        start = h.spans[0][0] - lead
    body = Text(("…" if start else "") + h.text[start:start + width])
    shift = 1 if start else 0
    for a, b in h.spans:
        a, b = a - start + shift, b - start + shift
        if shift <= a < width + shift:
            body.stylize("reverse", a, min(b, width + shift))
    t.append_text(body)
    return t


class SearchScreen(Screen[Hit | None]):
    """ctrl+f: grep the ISO and install.img; Enter on a hit returns it."""

    BINDINGS = [Binding("escape", "close", "Cancel / close", id="search.close")]

    DEFAULT_CSS = """
    SearchScreen { layout: vertical; }
    SearchScreen #search-title { height: 1; background: $boost; padding: 0 1; }
    SearchScreen #search-bar { height: auto; }
    SearchScreen #search-input { width: 1fr; }
    SearchScreen Checkbox { width: auto; }
    SearchScreen #search-hits { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    SearchScreen #search-status { height: 1; padding: 0 1; color: $text-muted;
                                  text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, initial: str = "") -> None:
        super().__init__()
        self.initial = initial
        self.hits: list[Hit] = []
        self.tally = Tally()
        self.running = False
        self.done = False
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(Text("Search file contents (ISO and install.img)", style="bold"),
                     id="search-title")
        with Horizontal(id="search-bar"):
            yield Input(self.initial, placeholder="text to find, Enter", id="search-input")
            yield Checkbox("regex", id="search-regex", compact=True)
            yield Checkbox("ignore case", True, id="search-icase", compact=True)
        yield OptionList(id="search-hits")
        yield Static(Text("Type what to look for and press Enter; Esc closes.", style="dim"),
                     id="search-status")

    def on_mount(self) -> None:
        self.query_one("#search-input", Input).focus()

    @on(Input.Submitted, "#search-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value or self.running:
            return
        try:
            pattern = compile_pattern(event.value,
                                      regex=self.query_one("#search-regex", Checkbox).value,
                                      ignore_case=self.query_one("#search-icase", Checkbox).value)
        except re.error as e:
            self._status(Text(f"bad regex: {e}", style="red"))
            return
        self.hits, self.tally, self.done = [], Tally(), False
        self._cancel = threading.Event()
        self.query_one(OptionList).clear_options()
        self.running = True
        self._status(Text("searching…", style="italic"))
        self._run(pattern, self._cancel)

    @work(thread=True, exclusive=True, group="content-search", exit_on_error=False,
          description="Content search")
    def _run(self, pattern: re.Pattern[str], cancel: threading.Event) -> None:
        s = getattr(self.app, "session", None)
        worker = get_current_worker()

        def emit(hits: list[Hit]) -> None:
            if worker.is_cancelled:  # the screen went away: stop as if Escape was pressed
                cancel.set()
            self.app.call_from_thread(self._add, hits)

        try:
            if s is not None:
                search_session(s, pattern, emit, self.tally, cancel)
        finally:
            self.app.call_from_thread(self._finished, cancel.is_set())

    def _add(self, hits: list[Hit]) -> None:
        self.hits += hits
        width = max(40, self.size.width - 4)
        self.query_one(OptionList).add_options([Option(hit_label(h, width)) for h in hits])
        self._status(Text(f"searching… {len(self.hits)} hits, {self.tally.searched} files",
                          style="italic"))

    def _finished(self, cancelled: bool) -> None:
        self.running, self.done = False, True
        t = self.tally
        capped = f" (first {MAX_HITS})" if t.hits >= MAX_HITS else ""
        msg = (f"{len(self.hits)} hit(s){capped} in {t.searched} files searched; "
               f"{t.skipped} skipped "
               f"(binary or over {fmt.size(SEARCH_FILE_MAX)})")
        if cancelled:
            msg = "cancelled: " + msg
        self._status(Text(msg + ("  · Enter opens a hit" if self.hits else ""),
                          style="yellow" if cancelled else ""))
        if self.hits:
            self.query_one(OptionList).focus()

    def _status(self, text: Text) -> None:
        self.query_one("#search-status", Static).update(text)

    @on(OptionList.OptionSelected, "#search-hits")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.hits):
            self._cancel.set()
            self.dismiss(self.hits[event.option_index])

    def action_close(self) -> None:
        if self.running:
            self._cancel.set()
            return
        self.dismiss(None)
