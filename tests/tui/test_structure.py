"""The TUI's shape: every key binding has an id, steps never import the app."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

from textual.binding import Binding

import xcptui.tui

TUI = Path(xcptui.tui.__file__).parent


def _modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages([str(TUI)], "xcptui.tui.")]


def test_every_binding_has_an_id() -> None:
    missing = []
    for name in _modules():
        mod = importlib.import_module(name)
        for obj in vars(mod).values():
            if isinstance(obj, type) and obj.__module__ == name:
                for b in vars(obj).get("BINDINGS", []):
                    if isinstance(b, Binding) and not b.id:
                        missing.append(f"{name}.{obj.__name__}: {b.key}")
    assert missing == []


def test_steps_widgets_and_dialogs_do_not_import_the_app() -> None:
    offenders = []
    for sub in ("steps", "widgets", "dialogs", "state", "jobs"):
        for path in (TUI / sub).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "xcptui.tui.app" or \
                        isinstance(node, ast.Import) and any(a.name == "xcptui.tui.app"
                                                             for a in node.names):
                    offenders.append(str(path.relative_to(TUI)))
    assert offenders == []


def test_the_wizard_imports_without_the_app() -> None:
    code = "import sys, xcptui.tui.steps.wizard; print('xcptui.tui.app' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
