"""`xcptui check --recipe` refuses an answerfile that is not XML (it used to say OK)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xcptui.cli import main as cli_main


def test_check_refuses_a_non_xml_answerfile(demo_iso: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "af.xml").write_text("not xml at all\n")
    recipe = tmp_path / "r.toml"
    recipe.write_text('[answerfile]\nsource = "af.xml"\n')
    rc = cli_main(["check", "--recipe", str(recipe), str(demo_iso)])
    err = capsys.readouterr().err
    assert rc != 0
    assert "af.xml line 1" in err and "not well-formed XML" in err
