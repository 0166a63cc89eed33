"""The engine must never pull in Textual or Rich (checked at run time, in a subprocess)."""

import pkgutil
import subprocess
import sys

import xcptui.engine


def test_engine_imports_no_ui() -> None:
    mods = [m.name for m in pkgutil.walk_packages(xcptui.engine.__path__, "xcptui.engine.")]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'xcptui.tui')"
        " or m.startswith('xcptui.tui')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine imported UI modules: {out.stdout}"
    assert len(mods) > 30  # subpackages are walked too


def test_engine_source_has_no_ui_import() -> None:
    from pathlib import Path

    root = Path(xcptui.engine.__path__[0])
    for py in root.rglob("*.py"):
        text = py.read_text()
        for bad in ("import textual", "from textual", "import rich", "from rich", "xcptui.tui"):
            assert bad not in text, f"{py.relative_to(root)} contains {bad!r}"
