"""treeinfo: read .treeinfo like the installer and edit it line by line."""

from __future__ import annotations

import configparser
import difflib
import re
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from xcptui.engine.errors import InputError
from xcptui.engine.repo import treeinfo
from xcptui.engine.repo.treeinfo import TreeInfo

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "xcpng"


def template(version: str) -> str:
    return (resources.files("xcptui.demoiso") / "data" / version / "treeinfo.template").read_text()


def diff(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines; difflib shows only these."""
    old, new = [], []
    for d in difflib.ndiff(before.splitlines(True), after.splitlines(True)):
        if d.startswith("- "):
            old.append(d[2:])
        elif d.startswith("+ "):
            new.append(d[2:])
    return old, new


def stdlib_view(text: str) -> dict[str, dict[str, str]]:
    """An independent reader (py3 configparser, close to the installer's py2 one)."""
    cp = configparser.RawConfigParser(inline_comment_prefixes=(";",), strict=False,
                                      interpolation=None)
    cp.read_string(text)
    return {s: dict(cp.items(s)) for s in cp.sections()}


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared reference data not present")
def test_embedded_copies_match_reference() -> None:
    assert (REFERENCE / "xcp-repo/8.3.treeinfo").read_text() == REAL_83
    assert (REFERENCE / "xcp-repo/8.2.1.treeinfo").read_text() == REAL_821


def test_read_83() -> None:
    t = TreeInfo(REAL_83)
    assert t.product == ("XCP-ng", "8.3.0")
    assert t.platform == ("XCP", "3.3.0")
    assert t.product_version == "8.3.0"
    assert t.build_number == "cloud"
    assert t.keys == ["RPM-GPG-KEY-xcpng"]
    assert t.get("general", "variant") == ""
    assert t.get("GENERAL", "arch") is None  # section names are case-sensitive
    assert t.get("general", "ARCH") == "x86_64"  # option names are not
    assert t.as_dict() == stdlib_view(REAL_83)
    assert t.problems() == []


def test_read_821_fallbacks() -> None:
    t = TreeInfo(REAL_821)
    assert not t.has_section("system-v1")
    assert t.product == ("XCP-ng", "8.2.1")  # [branding]
    assert t.platform == ("XCP", "3.2.1")  # [platform]
    assert t.build_number == "release/yangtze/master/58"
    assert t.keys == ["RPM-GPG-KEY-CH-8", "RPM-GPG-KEY-CH-8-LCM", "RPM-GPG-KEY-Platform-V1"]


def test_demo_iso_treeinfo(demo_iso: Path) -> None:
    data = subprocess.run(["bsdtar", "-xOf", str(demo_iso), ".treeinfo"], check=True,
                          capture_output=True).stdout
    t = TreeInfo.from_bytes(data)
    assert t.product == ("XCP-ng", "8.3.0") and t.keys == ["RPM-GPG-KEY-xcpng"]
    assert t.set_build_number("x").to_bytes() == data.replace(b"number = cloud", b"number = x")


def test_set_build_number_minimal_diff() -> None:
    for text, old_value in ((REAL_83, "cloud"), (REAL_821, "release/yangtze/master/58")):
        new = TreeInfo(text).set_build_number("acme-2024.06 #7")
        assert diff(text, new.text) == ([f"number = {old_value}\n"], ["number = acme-2024.06 #7\n"])
        assert new.build_number == "acme-2024.06 #7"
        assert stdlib_view(new.text)["build"]["number"] == "acme-2024.06 #7"
        assert new.set_build_number("acme-2024.06 #7").text == new.text


def test_build_number_created_when_missing() -> None:
    no_key = REAL_83.replace("number = cloud\n", "")
    new = TreeInfo(no_key).set_build_number("b1")
    assert new.text == REAL_83.replace("number = cloud", "number = b1")
    no_section = REAL_83.replace("[build]\nnumber = cloud\n", "")
    new = TreeInfo(no_section).set_build_number("b1")
    assert new.text == no_section + "[build]\nnumber = b1\n"  # file ends with a blank line
    assert TreeInfo("[a]\nx = 1").set_build_number("b").text == "[a]\nx = 1\n\n[build]\nnumber = b\n"


@pytest.mark.parametrize("bad", ["", "a\nb", "a\tb", "a\x00", "50%", "it's", "a;b", "$x", " x",
                                 "x ", "caf\u00e9", "x" * 201])
def test_build_number_rejected(bad: str) -> None:
    with pytest.raises(InputError, match="build number"):
        TreeInfo(REAL_83).set_build_number(bad)


def test_set_product_version_83() -> None:
    new = TreeInfo(REAL_83).set_product_version("8.3.1")
    old, added = diff(REAL_83, new.text)
    assert old == ["product_version = 8.3.0\n", "name = XCP-ng-8.3.0\n", "version = 8.3.0\n"]
    assert added == ["product_version = 8.3.1\n", "name = XCP-ng-8.3.1\n", "version = 8.3.1\n"]
    assert new.product == ("XCP-ng", "8.3.1")
    assert new.platform == ("XCP", "3.3.0")  # untouched


def test_set_product_version_821_and_template() -> None:
    new = TreeInfo(REAL_821).set_product_version("8.2.2")
    assert diff(REAL_821, new.text)[1] == ["version = 8.2.2\n", "name = XCP-ng-8.2.2\n",
                                           "version = 8.2.2\n"]
    assert new.product == ("XCP-ng", "8.2.2")
    tpl = template("8.3")
    new = TreeInfo(tpl).set_product_version("9.0")
    assert new.get("branding", "version") == new.get("system-v1", "product_version") == "9.0"
    assert new.get("general", "version") == "9.0"
    assert new.get("platform", "version") == "@@PLATFORM_VERSION@@"


def test_product_version_key_added_where_installer_reads() -> None:
    text = "[system-v1]\nproduct_name = X\n\n[general]\nname = foo\n"
    new = TreeInfo(text).set_product_version("1.2.3")
    assert new.text == "[system-v1]\nproduct_name = X\nproduct_version = 1.2.3\n\n[general]\n" \
                       "name = foo\n"
    with pytest.raises(InputError, match=r"^\.treeinfo: has no \[system-v1\] or \[branding\]"):
        TreeInfo("[general]\nversion = 1\n").set_product_version("2")


@pytest.mark.parametrize("bad", ["", "8.3.0-1", "8.x", "v8.3", "8..3", "8.3.", " 8.3", "8,3"])
def test_invalid_versions(bad: str) -> None:
    with pytest.raises(InputError, match="not dotted numbers"):
        TreeInfo(REAL_83).set_product_version(bad)


def test_comment_keys_like_create_iso() -> None:
    for text in (REAL_83, REAL_821, template("8.2"), template("8.3")):
        new = TreeInfo(text).comment_keys()
        # create-iso.sh: sed "s,^key,#key,"
        assert new.text == re.sub(r"^key", "#key", text, flags=re.M)
        assert new.keys == [] and new.has_section("keys")
        assert new.commented_keys == [k for k in ("key1", "key2", "key3") if f"\n{k} " in text]
        assert new.comment_keys().text == new.text
    assert TreeInfo("[build]\nnumber = 1\n").comment_keys().text == "[build]\nnumber = 1\n"


def test_set_key() -> None:
    signed = TreeInfo(REAL_83).set_key("RPM-GPG-KEY-acme")
    assert diff(REAL_83, signed.text) == (["key1 = RPM-GPG-KEY-xcpng\n"],
                                          ["key1 = RPM-GPG-KEY-acme\n"])
    unsigned = TreeInfo(REAL_83).comment_keys()
    resigned = unsigned.set_key("RPM-GPG-KEY-acme")
    assert resigned.text == signed.text  # uncommented in place
    assert resigned.set_key("RPM-GPG-KEY-acme").text == resigned.text
    three = TreeInfo(REAL_821).set_key("MYKEY")
    assert diff(REAL_821, three.text)[1] == ["key1 = MYKEY\n", "#key2 = RPM-GPG-KEY-CH-8-LCM\n",
                                             "#key3 = RPM-GPG-KEY-Platform-V1\n"]
    assert three.keys == ["MYKEY"]
    no_keys = REAL_83.replace("[keys]\nkey1 = RPM-GPG-KEY-xcpng\n", "")
    assert TreeInfo(no_keys).set_key("K").text == no_keys + "[keys]\nkey1 = K\n"
    empty_section = REAL_83.replace("key1 = RPM-GPG-KEY-xcpng\n", "")
    assert TreeInfo(empty_section).set_key("K").text == REAL_83.replace("RPM-GPG-KEY-xcpng", "K")
    for bad in ("", "/abs", "a b", "../x", "50%"):
        with pytest.raises(InputError, match="key file name"):
            TreeInfo(REAL_83).set_key(bad)


def test_crlf_and_odd_layout_kept() -> None:
    text = ("; comment\r\n[build]\r\nNumber=old ; inline\r\n  continued\r\n\r\n"
            "[keys]\r\n# note\r\nkey1 = K1\r\n[general]\r\nvariant =\r\n")
    t = TreeInfo(text)
    assert t.build_number == "old\ncontinued" and t.get("general", "variant") == ""
    new = t.set_build_number("new").set_value("general", "variant", "x").comment_keys()
    assert new.text == ("; comment\r\n[build]\r\nNumber=new ; inline\r\n\r\n"
                        "[keys]\r\n# note\r\n#key1 = K1\r\n[general]\r\nvariant = x\r\n")
    assert new.build_number == "new"


def test_no_trailing_newline_and_bom() -> None:
    t = TreeInfo("\ufeff[build]\nnumber = 1")
    assert t.build_number == "1"
    assert t.set_build_number("2").text == "\ufeff[build]\nnumber = 2"
    assert t.set_value("build", "extra", "y").text == "\ufeff[build]\nnumber = 1\nextra = y\n"


def test_problems() -> None:
    text = REAL_83 + "[build]\nnumber = two\nnumber = 50%\n garbage\n"
    probs = TreeInfo(text, "x/.treeinfo").problems()
    assert any("section [build] repeated" in p for p in probs)
    assert any("[build] number repeated" in p for p in probs)
    assert any("'%'" in p for p in probs)
    assert all(p.startswith("x/.treeinfo: ") for p in probs)
    assert TreeInfo("[general]\n").problems() == [
        ".treeinfo: no [system-v1] or [branding] product name/version"]
    assert TreeInfo("oops\n").problems()[0] == (
        ".treeinfo: line 1: not 'key = value', a [section] or a comment")
    assert TreeInfo(template("8.3")).problems() == [
        ".treeinfo: product version '@@PRODUCT_VERSION@@' is not dotted numbers"]


def test_describe_changes() -> None:
    before = TreeInfo(REAL_83)
    after = before.set_build_number("b2").comment_keys()
    assert treeinfo.describe_changes(before, after) == [
        ".treeinfo: [build] number: cloud -> b2",
        ".treeinfo: [keys] key1 = RPM-GPG-KEY-xcpng commented out",
    ]
    assert treeinfo.describe_changes(after, after.set_key("K")) == [
        ".treeinfo: [keys] key1 = K added"]


def test_from_bytes_errors() -> None:
    with pytest.raises(InputError, match=r"^\.treeinfo: not UTF-8"):
        TreeInfo.from_bytes(b"[build]\nnumber = \xff\n")
    assert treeinfo.parse("[a]\n").sections() == ["a"]
    with pytest.raises(InputError, match="one line"):
        TreeInfo(REAL_83).set_value("general", "variant", "a\nb")


# xcp-ng/xcp iso/8.3/.treeinfo (verbatim)
REAL_83 = """\
[system-v1]
platform_name = XCP
platform_version = 3.3.0
product_name = XCP-ng
product_version = 8.3.0

[build]
number = cloud
[keys]
key1 = RPM-GPG-KEY-xcpng

[general]
name = XCP-ng-8.3.0
family = XCP-ng
timestamp = {{timestamp}}
variant =
version = 8.3.0
packagedir =
arch = x86_64

[images-x86_64]
kernel = boot/pxelinux/mboot.c32
initrd = boot/vmlinuz
boot.iso = boot/xen.gz

[images-xen]
kernel = boot/pxelinux/mboot.c32
initrd = boot/vmlinuz

"""


# xcp-ng/xcp iso/8.2/.treeinfo (verbatim)
REAL_821 = """\
[platform]
name = XCP
version = 3.2.1

[branding]
name = XCP-ng
version = 8.2.1

[build]
number = release/yangtze/master/58

[keys]
key1 = RPM-GPG-KEY-CH-8
key2 = RPM-GPG-KEY-CH-8-LCM
key3 = RPM-GPG-KEY-Platform-V1

[general]
name = XCP-ng-8.2.1
family = XCP-ng
timestamp = {{timestamp}}
variant =
version = 8.2.1
packagedir =
arch = x86_64

[images-x86_64]
kernel = boot/pxelinux/mboot.c32
initrd = boot/vmlinuz
boot.iso = boot/xen.gz

[images-xen]
kernel = boot/pxelinux/mboot.c32
initrd = boot/vmlinuz

"""
