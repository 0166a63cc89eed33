"""The engine's public API: every exported name resolves, __all__ and the lazy table agree."""

import ast
import subprocess
import sys
from pathlib import Path

import xcptui.engine as engine


def test_all_matches_exports() -> None:
    assert engine.__all__ == sorted(engine._EXPORTS)


def test_every_export_resolves_to_what_the_table_names() -> None:
    import importlib

    import xcptui.engine.build  # noqa: F401 - subpackages shadow same-named attributes
    import xcptui.engine.verify  # noqa: F401

    for name in engine.__all__:
        mod, _, attr = engine._EXPORTS[name].partition(":")
        want = importlib.import_module(f"xcptui.engine.{mod}")
        assert getattr(engine, name) is (getattr(want, attr) if attr else want), name


def test_type_checking_block_names_every_export() -> None:
    tree = ast.parse(Path(engine.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If))
    named = {a.asname or a.name for imp in ast.walk(block) if isinstance(imp, ast.ImportFrom)
             for a in imp.names}
    assert set(engine.__all__) <= named


def test_lazy_import_keeps_ls_light() -> None:
    code = ("import sys, xcptui.engine as e; e.IsoSource; "
            "print(any(m.startswith(('xcptui.engine.build', 'solv', 'createrepo_c')) "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
