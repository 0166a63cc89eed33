"""Hostile names from an ISO reach the TUI's screen escaped, never as terminal controls
or Rich markup (issue 9).

The ISO is the demo ISO with hostile pieces added while it is built: ISO file names,
a folder/file pair whose path reads "[/]" (closes markup: a MarkupError when parsed),
a symlink target, install.img entries and a symlink there, the volume id, a .treeinfo
value, an RPM whose Summary holds ESC sequences and whose Provides (required by
xcp-ng-deps) is markup.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.style import Style
from textual.widgets import DataTable, Input, Log
from textual.widgets._data_table import default_cell_formatter
from textual.widgets._toast import Toast
from textual.widgets.tree import TreeNode

from tests.tui.pilot_helpers import choose_file, goto, settle, text_of, wait_for, wait_session
from xcptui.demoiso import builder, rootfs
from xcptui.demoiso.newc import S_IFLNK, S_IFREG
from xcptui.demoiso.options import DemoOptions
from xcptui.demoiso.rpms import RpmSpec
from xcptui.engine import InputError, printable
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs.common import ErrorDialog, InputDialog
from xcptui.tui.dialogs.pager import PagerScreen
from xcptui.tui.widgets.iso_tree import IsoTree

ESC = "esc\x1b[2Jclear"
OSC = "osc\x1b]0;pwned\x07"
CRNL = "cr\rnl\nname"
BIDI = "bidi\u202etxt.exe"
MARKUP = "[bold]x"  # a file name cannot hold "/", so no closing tag here
LINK = "[link=file:etc]y[/link][/]"  # no "//": a Rock Ridge symlink would reset
HOSTILE_TEXT = f"{OSC} {ESC} [bold]x[/bold] [/] {BIDI}\n"
ISO_NAMES = [f"{ESC}.txt", f"{OSC}.txt", f"{CRNL}.txt", BIDI, f"{MARKUP}.txt"]
IMG_NAMES = [f"{ESC}img", f"{OSC}img", "cr\rimg", "bidi\u202eimg", "[bold]img"]
RAW = ("\x1b", "\x07", "\r", "\u202e")
VOLUME_ID = "X\x1b]0;p\x07[/]"
BUILD_NO = "cl\x1b[31moud[bold]b[/bold][/]\u202e"
SUMMARY = "Sum \r[bold]x[/bold] [/] \u202eevil"  # repodata XML cannot hold ESC
PROVIDE = "evil[/]x"


def _build(out: Path) -> Path:
    """The demo ISO with the hostile additions (hooks into the demo builder)."""
    orig_efiboot, orig_installer = builder._efiboot, rootfs._installer
    orig_specs, orig_treeinfo = builder.package_specs, builder._treeinfo

    def efiboot(dest: Path, grub_cfg: bytes, work: Path) -> None:
        orig_efiboot(dest, grub_cfg, work)
        tree = dest.parent.parent  # called last, just before mastering
        for name in ISO_NAMES:
            (tree / name).write_text(HOSTILE_TEXT)
        (tree / "d[").mkdir()
        (tree / "d[" / "]b").write_text("x\n")  # its path is "/d[/]b"
        os.symlink(f"/target{ESC}{LINK}", tree / "link")

    def installer(t: Any) -> None:
        orig_installer(t)
        for name in IMG_NAMES:
            t.add(f"etc/{name}", S_IFREG | 0o644, HOSTILE_TEXT.encode())
        t.add("etc/d[/]b", S_IFREG | 0o644, b"x\n")
        t.add("etc/evil-link", S_IFLNK | 0o777, f"/tgt{OSC}{LINK}".encode())

    def specs(extra: int = 0, payload_size: int = 64) -> list[RpmSpec]:
        out = orig_specs(extra, payload_size)
        for s in out:
            if s.name == "xcp-ng-deps":
                s.requires.append(PROVIDE)
        out.append(RpmSpec("hostile", "1.0", "1", summary=SUMMARY, provides=[PROVIDE],
                           files={"/usr/share/hostile/a": (0o644, b"x\n")}))
        return out

    def treeinfo(template: str, version: str, signed: bool) -> str:
        return orig_treeinfo(template, version, signed).replace("number = cloud",
                                                                f"number = {BUILD_NO}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builder, "_efiboot", efiboot)
        mp.setattr(rootfs, "_installer", installer)
        mp.setattr(builder, "package_specs", specs)
        mp.setattr(builder, "_treeinfo", treeinfo)
        return builder.build_demo_iso(out, DemoOptions(volume_id=VOLUME_ID))


@pytest.fixture(scope="module")
def hostile_iso(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("hostile") / "hostile.iso")


@pytest.fixture
def in_work(hostile_iso: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    (d / "hostile.iso").symlink_to(hostile_iso)
    monkeypatch.chdir(d)
    return d / "hostile.iso"


def screen_text(app: Any) -> str:
    """What the terminal would get for the whole screen, as text (like export_screenshot,
    which records the same render; control segments such as cursor moves left out)."""
    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def tables_text(app: Any) -> str:
    """Every cell of the screen's DataTables as the table renders it (scrolled or not)."""
    console = Console(width=400, file=io.StringIO(), record=True, color_system=None)
    for table in app.screen.query(DataTable):
        for key in table.rows:
            for cell in table.get_row(key):
                console.print(default_cell_formatter(cell))
    return console.export_text()


def assert_clean(text: str, *, visible: tuple[str, ...] = ()) -> None:
    for c in RAW:
        assert c not in text, (repr(c), text)
    for v in visible:
        assert v in text, (v, text)


def child(node: TreeNode[Any], name: str) -> TreeNode[Any]:
    for c in node.children:
        if c.data is not None and c.data.name == name:
            return c
    raise AssertionError(f"{name!r} not in {[c.data.name for c in node.children if c.data]}")


def nodes(node: TreeNode[Any]) -> Iterator[TreeNode[Any]]:
    yield node
    for c in node.children:
        yield from nodes(c)


def labels(tree: IsoTree) -> str:
    """Every node's label as the tree draws it (its own render_label)."""
    return "\n".join(tree.render_label(n, Style(), Style()).plain for n in nodes(tree.root))


async def expand(pilot: Any, node: TreeNode[Any]) -> None:
    node.expand()
    await settle(pilot)


async def show(pilot: Any, tree: IsoTree, node: TreeNode[Any]) -> None:
    """Select ``node`` and wait for its preview (debounced, built in a worker)."""
    tree.move_cursor(node)
    tree.scroll_to_node(node, animate=False)
    body = pilot.app.screen.query_one("#browse-preview-body")
    want = printable(node.data.path)
    await wait_for(pilot, lambda: want in text_of(body))


SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES)
async def test_pick_and_browse_show_hostile_names_escaped(in_work: Path,
                                                          size: tuple[int, int]) -> None:
    app = XcptuiApp(in_work)
    async with app.run_test(size=size, notifications=True) as pilot:
        await wait_session(pilot)
        # Pick: the facts (volume id, .treeinfo build number)
        facts = screen_text(app)
        assert_clean(facts, visible=("\\x1b", "\\u202e"))
        assert "[/]" in facts

        await goto(pilot, "browse")
        tree = app.screen.query_one("#browse-tree", IsoTree)
        root = tree.root
        await expand(pilot, child(root, "d["))
        img = child(root, "install.img")
        await expand(pilot, img)
        await expand(pilot, child(img, "etc"))
        await expand(pilot, child(child(img, "etc"), "d["))
        pk = child(root, "Packages")
        await expand(pilot, pk)
        drawn = labels(tree)
        assert_clean(drawn, visible=("esc\\x1b[2Jclear.txt", "osc\\x1b]0;pwned\\x07.txt",
                                     "cr\\x0dnl\\x0aname.txt", "bidi\\u202etxt.exe",
                                     "[bold]x.txt", f"→ /target{ESC}{LINK}".replace(
                                         "\x1b", "\\x1b"), "esc\\x1b[2Jclearimg",
                                     "[bold]img", "]b"))
        for n in nodes(root):  # the labels Tree keeps (its cursor search reads them)
            assert_clean(str(n.label))
        assert str(child(root, f"{MARKUP}.txt").label) == "[bold]x.txt"

        # the hostile names on screen: the tree lines and the preview's header and text
        await show(pilot, tree, child(root, f"{ESC}.txt"))
        assert_clean(screen_text(app), visible=("/esc\\x1b[2Jclear.txt", "1 osc\\x1b]0;pwned\\x07"))
        await show(pilot, tree, child(root, f"{MARKUP}.txt"))
        assert_clean(screen_text(app), visible=("/[bold]x.txt",))
        await show(pilot, tree, child(root, "link"))
        assert_clean(screen_text(app), visible=("link → /targetesc\\x1b[2J",))
        etc = child(img, "etc")
        await show(pilot, tree, child(etc, "evil-link"))
        assert_clean(screen_text(app), visible=("/tgt", "\\x1b]0;pwned\\x07"))
        await show(pilot, tree, child(etc, "bidi\u202eimg"))
        assert_clean(screen_text(app), visible=("bidi\\u202eimg",))
        # an RPM's Summary in its preview
        await show(pilot, tree, child(pk, "hostile-1.0-1.noarch.rpm"))
        assert_clean(screen_text(app), visible=("\\x0d[bold]x[/bold] [/]", "\\u202eevil"))

        # the pager on a hostile name: title and lines
        await show(pilot, tree, child(root, f"{OSC}.txt"))
        await pilot.press("z")
        await wait_for(pilot, lambda: isinstance(app.screen, PagerScreen)
                       and app.screen.loaded)
        assert_clean(screen_text(app), visible=("osc\\x1b]0;pwned\\x07.txt",
                                                "[bold]x[/bold] [/]", "\\u202e"))
        await pilot.press("q")
        await settle(pilot)

        # Replace a hostile file: the destination field is prefilled with its exact path,
        # drawn with U+FFFD for each control
        await show(pilot, tree, child(root, f"{ESC}.txt"))
        (in_work.parent / "new.txt").write_text("new\n")
        await pilot.press("a")
        await choose_file(pilot, in_work.parent / "new.txt")
        assert isinstance(app.screen, InputDialog)
        assert app.screen.query_one(Input).value == f"/{ESC}.txt"
        assert_clean(screen_text(app), visible=("/esc\ufffd[2Jclear.txt",))
        await pilot.press("escape")
        await settle(pilot)

        # Remove a file whose path reads "[/]": the toast and the change mark
        d = child(root, "d[")
        await show(pilot, tree, child(d, "]b"))
        await pilot.press("delete")
        await wait_for(pilot, lambda: bool(app.screen.query(Toast)))
        shot = screen_text(app)
        assert_clean(shot, visible=("Will remove /d[/]b", "− ]b"))
        assert app.session is not None
        assert [c.text for c in app.session.changes()] == ["/d[/]b"]
        assert app.export_screenshot()  # the SVG export renders too


@pytest.mark.parametrize("size", SIZES)
async def test_packages_review_and_errors_escaped(in_work: Path,
                                                  size: tuple[int, int]) -> None:
    app = XcptuiApp(in_work)
    async with app.run_test(size=size, notifications=True) as pilot:
        await wait_session(pilot)
        s = app.session
        assert s is not None
        # a pending removal of a hostile ISO file: Review's plan and change lines name it
        from xcptui.engine.recipe import edits as ops

        ops.toggle_iso_remove(s.recipe, f"/{ESC}.txt")
        app.recipe_changed()
        await goto(pilot, "packages")
        await settle(pilot, 0.5)
        assert_clean(screen_text(app))
        assert_clean(tables_text(app), visible=(PROVIDE, "hostile"))

        await goto(pilot, "review")
        await settle(pilot, 0.5)
        assert_clean(screen_text(app), visible=("esc\\x1b[2Jclear.txt",))

        # an engine error naming a hostile file, with a hostile title
        app.report_exception(InputError(f"install.img:/etc/{OSC}{LINK}: cannot read"),
                             f"Browse {LINK}")
        await settle(pilot)
        assert isinstance(app.screen, ErrorDialog)
        assert_clean(screen_text(app), visible=("\\x1b]0;pwned\\x07", "[link=file:"))
        await pilot.press("escape")
        await settle(pilot)
        # an internal error (its message is not an engine one) and a warning toast
        app.report_exception(RuntimeError(f"odd {BIDI} [/]"), "[/]")
        app.notify(f"{OSC} [/] {BIDI}", title="[/]", severity="warning")
        await wait_for(pilot, lambda: bool(app.screen.query(Toast)))
        assert_clean(screen_text(app), visible=("odd bidi\\u202etxt.exe [/]",
                                                "osc\\x1b]0;pwned\\x07 [/]"))



async def test_build_log_and_summary_escaped(in_work: Path) -> None:
    """A build that removes a hostile file: the log and the summary name it escaped."""
    from xcptui.engine.recipe import edits as ops
    from xcptui.tui.steps.build import BuildStep

    app = XcptuiApp(in_work)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_session(pilot)
        s = app.session
        assert s is not None
        ops.toggle_iso_remove(s.recipe, f"/{ESC}.txt")
        app.recipe_changed()
        await goto(pilot, "build")
        out = in_work.parent / "out.iso"
        app.screen.query_one("#build-output", Input).value = str(out)
        await pilot.press("ctrl+r")
        await settle(pilot, 0.3)
        build = app.screen.query_one(BuildStep)
        summary = text_of(build.query_one("#build-summary"))
        assert build.result is not None, summary
        assert_clean(summary, visible=("• remove /esc\\x1b[2Jclear.txt",))
        assert_clean("\n".join(build.query_one("#build-log", Log).lines))
        assert_clean(screen_text(app))


@pytest.mark.parametrize("size", SIZES)
async def test_identity_prefill_escaped(in_work: Path, size: tuple[int, int]) -> None:
    """Identity & boot prefills the ISO's volume id (ESC, markup): drawn safely."""
    app = XcptuiApp(in_work)
    async with app.run_test(size=size) as pilot:
        await wait_session(pilot)
        await goto(pilot, "identity")
        await settle(pilot, 0.5)
        assert app.screen.query_one("#f-volid", Input).value == VOLUME_ID
        assert_clean(screen_text(app), visible=("X\ufffd]0;p\ufffd[/]",))


async def test_file_dialog_lists_hostile_host_names(in_work: Path) -> None:
    """Files extracted from a hostile ISO land on the host: the file dialog (Add file,
    Load recipe...) lists them and their folder's path escaped, without crashing."""
    from xcptui.tui.dialogs.files import FileOpen

    d = in_work.parent / "d[" / "]b"  # the folder's path reads "d[/]b"
    d.mkdir(parents=True)
    (d / f"{ESC}.txt").write_text("x\n")
    (d / BIDI).write_text("x\n")
    app = XcptuiApp(in_work)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        app.push_screen(FileOpen(d, "Add or replace a file"))
        await settle(pilot, 0.3)
        assert isinstance(app.screen, FileOpen)
        assert_clean(screen_text(app), visible=("esc\\x1b[2Jclear.txt", "bidi\\u202etxt.exe",
                                                "d[/]b"))
