"""identity: which volume ids xcptui accepts, and the messages for the others."""

from __future__ import annotations

import pytest

from xcptui.engine.errors import InputError
from xcptui.engine.iso.identity import (
    FORBIDDEN_CHARS,
    MAX_VOLUME_ID_BYTES,
    validate_volume_id,
    volume_id_problem,
)


@pytest.mark.parametrize("vid", [
    "XCP-ng 8.3.0",  # what real ISOs (and the docs' -V "XCP-ng $VERSION") use
    "XCP-NG_830_TEST",  # create-install-image README
    "XCP-ng 8.3 updates 20240601",
    "A" * 32,
    "x",
    "acme (lab) #3, v1.2+rc=ok!",
])
def test_accepted(vid: str) -> None:
    assert validate_volume_id(vid) == vid
    assert volume_id_problem(vid) is None


def test_too_long_message() -> None:
    vid = "XCP-ng 8.3.0 custom build for acme"  # 34 bytes
    with pytest.raises(InputError) as ei:
        validate_volume_id(vid)
    assert str(ei.value) == (
        "volume id 'XCP-ng 8.3.0 custom build for acme' is 34 bytes; ISO 9660 allows at most 32")
    with pytest.raises(InputError, match=r"^volume id 'A{40}' is 40 bytes; ISO 9660 allows at "
                                         r"most 32$"):
        validate_volume_id("A" * 40)
    long = "B" * 100
    msg = volume_id_problem(long)
    assert msg is not None and msg.startswith("volume id '" + "B" * 45 + "...' is 100 bytes")
    assert MAX_VOLUME_ID_BYTES == 32


def test_empty_non_ascii_control() -> None:
    with pytest.raises(InputError, match="^volume id is empty$"):
        validate_volume_id("")
    with pytest.raises(InputError, match="non-ASCII 'é'"):
        validate_volume_id("XCP-ng café")
    # non-ASCII is reported before the length (the byte count would depend on an encoding)
    assert "non-ASCII" in (volume_id_problem("é" * 20) or "")
    with pytest.raises(InputError, match="control character"):
        validate_volume_id("XCP\tng")
    with pytest.raises(InputError, match="control character"):
        validate_volume_id("XCP\nng")


@pytest.mark.parametrize("ch", list(FORBIDDEN_CHARS))
def test_forbidden_characters(ch: str) -> None:
    with pytest.raises(InputError) as ei:
        validate_volume_id(f"XCP{ch}ng")
    assert f"contains {ch}" in str(ei.value)
    assert "\n" not in str(ei.value)


def test_forbidden_set_is_what_the_docs_say() -> None:
    assert set(FORBIDDEN_CHARS) == set("\"'`$\\/*?<>|:")
    for ok in " .-_+()[]{},;=!#@%&~^":
        assert volume_id_problem(f"a{ok}b") is None, ok


@pytest.mark.parametrize("vid", [" XCP", "XCP ", "   "])
def test_edge_spaces(vid: str) -> None:
    with pytest.raises(InputError, match="starts or ends with a space"):
        validate_volume_id(vid)
