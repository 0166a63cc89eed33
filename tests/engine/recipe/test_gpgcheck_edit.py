"""[signing] installer_gpgcheck as an edit: kept by set_signing, its own section when alone."""

from __future__ import annotations

import pytest

from xcptui.engine import recipe as r
from xcptui.engine.recipe import edits


def test_gpgcheck_alone_holds_a_section_and_drops_it_again() -> None:
    rec = r.Recipe()
    edits.set_installer_gpgcheck(rec, "off")
    assert rec.signing == r.SigningSection("unsigned", None, "off")
    assert 'installer_gpgcheck = "off"' in r.dumps(rec)
    edits.set_installer_gpgcheck(rec, None)
    assert rec.signing is None


def test_auto_keeps_an_explicit_unsigned_section() -> None:
    rec = r.Recipe()
    edits.set_signing(rec, "unsigned")
    edits.set_installer_gpgcheck(rec, None)  # the form applies an unchanged "auto"
    assert rec.signing == r.SigningSection("unsigned")


def test_set_signing_keeps_gpgcheck() -> None:
    rec = r.Recipe()
    edits.set_installer_gpgcheck(rec, "keep")
    edits.set_signing(rec, "gpg", "ABCD")
    assert rec.signing == r.SigningSection("gpg", "ABCD", "keep")
    edits.set_signing(rec, None)
    assert rec.signing == r.SigningSection("unsigned", None, "keep")


def test_bad_value_refused() -> None:
    with pytest.raises(ValueError, match="off, keep or auto"):
        edits.set_installer_gpgcheck(r.Recipe(), "maybe")
