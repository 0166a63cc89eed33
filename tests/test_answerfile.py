"""Answerfiles: safe parsing, validation with line numbers, boot-parameter planning,
gpg flags moved into the answerfile, and the built ISO carrying it everywhere."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import cpio_listing, iso_member
from xcptui import cli
from xcptui.engine import recipe
from xcptui.engine.boot import answerfile as af
from xcptui.engine.boot import config as bootcfg
from xcptui.engine.build import runner as build
from xcptui.engine.errors import InputError
from xcptui.engine.iso.read import IsoSource

GOOD = b"""<?xml version="1.0"?>
<!-- unattended install for the lab -->
<installation mode="fresh" sr-type="ext">
  <primary-disk guest-storage="yes">sda</primary-disk>
  <keymap>us</keymap>
  <root-password type="hash">$6$salt$hash</root-password>
  <source type="local"/>
  <admin-interface name="eth0" proto="dhcp"/>
  <timezone>Europe/Paris</timezone>
</installation>
"""

ISOLINUX = (Path(__file__).parents[1] / "xcptui/demoiso/data/8.3/isolinux.cfg").read_text()
GRUB = (Path(__file__).parents[1] / "xcptui/demoiso/data/8.3/grub.cfg").read_text()
MT_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLSRC=os.devnull)


def _errors(data: bytes, version: str | None = None) -> list[str]:
    return af.check(af.parse(data, "a.xml"), version).errors


def _one_line(e: pytest.ExceptionInfo[InputError]) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ---------------------------------------------------------------------------
# parsing


def test_good_answerfile_has_no_findings() -> None:
    a = af.parse(GOOD, "a.xml")
    assert a.operation == "installation" and a.mode == "fresh"
    found = af.check(a, "8.3")
    assert found.ok and found.errors == [] and found.warnings == []
    assert a.root.line == 3 and a.root.first("keymap") is not None
    assert a.root.first("keymap").line == 5  # type: ignore[union-attr]


@pytest.mark.parametrize("data, expect", [
    (b"", "empty file"),
    (b"   \n", "empty file"),
    (b"hostname=xcp1\nkeymap=us\n", "line 1 column 9: not well-formed XML (invalid token)"),
    (b"just some words", "line 1 column 1: not well-formed XML (syntax error)"),
    (b"<installation>\n  <keymap>us</keymap>\n", "line 3 column 1: not well-formed XML"),
    (b"<installation><keymap>us</installation>", "line 1 column 27: not well-formed XML (mismatched tag)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not well-formed XML"),
])
def test_not_xml_is_one_clear_line(data: bytes, expect: str) -> None:
    with pytest.raises(InputError) as ei:
        af.parse(data, "answers.xml")
    msg = _one_line(ei)
    assert msg.startswith("answers.xml") and expect in msg


def test_billion_laughs_is_refused_before_expansion() -> None:
    levels = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">\n' for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?>\n<!DOCTYPE installation [\n<!ENTITY l0 "lol">\n{levels}]>\n'
            "<installation>&l9;</installation>\n").encode()
    with pytest.raises(InputError) as ei:
        af.parse(bomb, "bomb.xml")
    msg = _one_line(ei)
    assert msg.startswith("bomb.xml line 2: refused") and "XML bomb" in msg


def test_external_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("root:hash\n")
    data = (f'<?xml version="1.0"?>\n<!DOCTYPE installation [\n'
            f'<!ENTITY x SYSTEM "file://{secret}">]>\n'
            "<installation><keymap>&x;</keymap></installation>").encode()
    with pytest.raises(InputError) as ei:
        af.parse(data, "ext.xml")
    msg = _one_line(ei)
    assert "refused" in msg and "root:hash" not in msg
    # a DTD with an external subset is refused too (no network, no file access)
    data2 = (b'<?xml version="1.0"?>\n<!DOCTYPE installation SYSTEM "http://evil/x.dtd">\n'
             b"<installation/>")
    with pytest.raises(InputError, match="refused"):
        af.parse(data2, "dtd.xml")


def test_huge_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b"<installation>" + b" " * (af.MAX_SIZE + 1) + b"</installation>")
    with pytest.raises(InputError, match="too big"):
        af.load(big)


# ---------------------------------------------------------------------------
# validation


@pytest.mark.parametrize("root, expect", [
    (b"<foo/>", "line 1: root element is <foo>"),
    (b"<upgrade/>", 'write <installation mode="upgrade">'),
    (b"<answerfile><installation/></answerfile>", "root element is <answerfile>"),
])
def test_wrong_root(root: bytes, expect: str) -> None:
    errs = _errors(root)
    assert len(errs) == 1 and expect in errs[0] and errs[0].startswith("a.xml line 1: ")


@pytest.mark.parametrize("tag", ["primary-disk", "keymap", "root-password", "source",
                                 "admin-interface"])
def test_each_required_element(tag: str) -> None:
    lines = GOOD.decode().splitlines(keepends=True)
    data = "".join(ln for ln in lines if f"<{tag}" not in ln).encode()
    errs = _errors(data)
    assert len(errs) == 1, errs
    assert f"<{tag}>" in errs[0] and errs[0].startswith("a.xml line 3: ")


def test_timezone_or_ntp_required() -> None:
    no_tz = GOOD.replace(b"  <timezone>Europe/Paris</timezone>\n", b"")
    assert any("neither <timezone> nor <ntp>" in e for e in _errors(no_tz))
    with_ntp = no_tz.replace(b"</installation>", b'  <ntp source="dhcp"/>\n</installation>')
    assert _errors(with_ntp) == []
    manual = no_tz.replace(b"</installation>", b'<ntp source="manual"/></installation>')
    assert any("needs at least one <ntp-server>" in e for e in _errors(manual))
    servers = no_tz.replace(b"</installation>",
                            b'<ntp source="dhcp"/><ntp-server>pool</ntp-server></installation>')
    assert any('only valid with <ntp source="manual"/>' in e for e in _errors(servers))


@pytest.mark.parametrize("old, new, expect", [
    (b'mode="fresh"', b'mode="clean"', 'mode must be fresh, reinstall or upgrade'),
    (b'<source type="local"/>', b'<source type="cdrom"/>', "type must be local, url or nfs"),
    (b'<source type="local"/>', b"<source/>", '<source> needs type="..."'),
    (b'<source type="local"/>', b'<source type="url"></source>', "<source> is empty"),
    (b'<source type="local"/>', b'<source type="url">smb://srv/x</source>',
     "not a URL the installer can fetch"),
    (b'<source type="local"/>', b'<source type="nfs">server-without-path</source>',
     "must be server:/path"),
    (b'type="hash"', b'type="md5"', "type must be plaintext or hash"),
    (b'proto="dhcp"', b'proto="auto"', "proto must be static, dhcp or none"),
    (b' proto="dhcp"', b"", '<admin-interface> needs proto="..."'),
    (b'name="eth0" ', b"", 'needs name="eth0" or hwaddr'),
    (b'proto="dhcp"', b'proto="static"', '<admin-interface proto="static"> needs <ipaddr>'),
    (b'proto="dhcp"', b'proto="none"', 'needs protov6='),
    (b'proto="dhcp"', b'proto="dhcp" vlan="5000"', "vlan must be 1 to 4094"),
    (b'guest-storage="yes"', b'guest-storage="maybe"', "guest-storage must be true, false"),
    (b"<keymap>us</keymap>", b"<keymap> </keymap>", "<keymap> is empty"),
    (b"</installation>", b'<script stage="late" type="url">http://x/s.sh</script></installation>',
     "stage must be installation-start"),
    # accepted by the parser, but install.py/backend.py never run that stage
    (b"</installation>", b'<script stage="packages-installed" type="url">http://x/s.sh</script>'
     b"</installation>", "stage must be installation-start, filesystem-populated or"),
    # parseUIConfirmationPrompt is bool(text): "false" would turn the prompt on
    (b"</installation>", b"<ui-confirmation-prompt>false</ui-confirmation-prompt></installation>",
     "turns the prompt ON"),
    (b"</installation>", b'<bootloader>extlinux</bootloader></installation>',
     "only grub2 is supported"),
])
def test_attribute_and_value_errors(old: bytes, new: bytes, expect: str) -> None:
    data = GOOD.replace(old, new, 1)
    assert data != GOOD
    errs = _errors(data)
    assert any(expect in e for e in errs), errs
    assert all(e.startswith("a.xml line ") for e in errs)


def test_static_interface_complete_is_fine_and_lines_are_right() -> None:
    data = GOOD.replace(
        b'<admin-interface name="eth0" proto="dhcp"/>',
        b'<admin-interface name="eth0" proto="static">\n'
        b"    <ipaddr>10.0.0.2</ipaddr>\n    <subnet>255.255.255.0</subnet>\n"
        b"    <gateway>10.0.0.1</gateway>\n  </admin-interface>")
    assert _errors(data) == []
    broken = data.replace(b"    <gateway>10.0.0.1</gateway>\n", b"")
    errs = _errors(broken)
    assert errs == ['a.xml line 8: <admin-interface proto="static"> needs <gateway>']


def test_upgrade_and_restore() -> None:
    up = b'<installation mode="upgrade"><existing-installation>sda</existing-installation>' \
         b'<source type="local"/></installation>'
    assert _errors(up) == []
    assert any("<existing-installation>" in e for e in _errors(
        b'<installation mode="upgrade"><source type="local"/></installation>'))
    assert _errors(b"<restore><backup-disk>sda</backup-disk></restore>") == []


def test_warnings_unknown_elements_and_version_specific_attrs() -> None:
    data = GOOD.replace(b"</installation>", b"  <hostnmae>x</hostnmae>\n</installation>")
    found = af.check(af.parse(data, "a.xml"), "8.3")
    assert found.ok and any("unknown element <hostnmae>" in w for w in found.warnings)
    data82 = GOOD.replace(b'mode="fresh"', b'mode="fresh" gpgcheck="false"')
    w = af.check(af.parse(data82, "a.xml"), "8.2").warnings
    assert any("8.3 attribute" in x and "netinstall-gpg-check" in x for x in w)


def test_other_sr_types_warn_not_fail() -> None:
    """8.3 also takes the large-block SR type its feature file names: a warning only."""
    found = af.check(af.parse(GOOD.replace(b'sr-type="ext"', b'sr-type="largeblock"'),
                              "a.xml"), "8.3")
    assert found.ok and any('sr-type="largeblock"' in w for w in found.warnings)
    on = GOOD.replace(b"</installation>",
                      b"<ui-confirmation-prompt>true</ui-confirmation-prompt></installation>")
    assert _errors(on) == []


def test_validate_summarises_all_problems_on_one_line() -> None:
    bad = b'<installation>\n<source type="cdrom"/>\n</installation>'
    with pytest.raises(InputError) as ei:
        af.validate(bad, "x.xml")
    msg = _one_line(ei)
    assert msg.startswith("x.xml line 1: ") and "more:" in msg and "line 2: " in msg


# ---------------------------------------------------------------------------
# minimal edit


def test_set_root_attributes_changes_only_the_root_tag() -> None:
    a = af.parse(GOOD.replace(b'sr-type="ext"', b"sr-type='ext'"), "a.xml")
    out = af.set_root_attributes(a, {"gpgcheck": "false", "sr-type": "lvm"})
    assert out.count(b"\n") == GOOD.count(b"\n")
    assert b"<!-- unattended install for the lab -->" in out
    assert b"""<installation mode="fresh" sr-type='lvm' gpgcheck="false">""" in out
    assert out.split(b"<installation")[1].split(b">", 1)[1] == \
        GOOD.split(b"<installation")[1].split(b">", 1)[1]
    selfclosing = af.parse(b'<?xml version="1.0"?><installation a=">"/>', "s.xml")
    assert af.set_root_attributes(selfclosing, {"b": "1"}).endswith(
        b'<installation a=">" b="1"/>')


# ---------------------------------------------------------------------------
# planning


def _recipe(tmp_path: Path, body: str, answer: bytes = GOOD) -> recipe.Recipe:
    (tmp_path / "answerfile.xml").write_bytes(answer)
    (tmp_path / "post.sh").write_text("#!/bin/sh\necho done\n")
    return recipe.loads(body, tmp_path)


def _facts(version: str = "8.3.0", extra_dom0: str = "") -> af.IsoAnswerfileFacts:
    iso = ISOLINUX.replace("console=hvc0 console=tty0 ---",
                           f"console=hvc0 console=tty0{extra_dom0} ---")
    grub = GRUB.replace("module2 /boot/vmlinuz console=hvc0 console=tty0\n",
                        f"module2 /boot/vmlinuz console=hvc0 console=tty0{extra_dom0}\n")
    return af.IsoAnswerfileFacts(version, {"isolinux": bootcfg.parse(iso, "isolinux"),
                                           "grub": bootcfg.parse(grub, "grub")})


def test_a_rescue_entry_stays_interactive(tmp_path: Path) -> None:
    """8.99 media have a systemd rescue entry: like shell and safe, not unattended."""
    rescue = ("\nLABEL rescue\n\tKERNEL mboot.c32\n\tAPPEND /boot/xen.gz --- /boot/vmlinuz "
              "console=tty0 systemd.unit=rescue.target --- /install.img\n")
    grub = GRUB + ('\nmenuentry "rescue" {\n    multiboot2 /boot/xen.gz\n'
                   "    module2 /boot/vmlinuz console=tty0 systemd.unit=rescue.target\n"
                   "    module2 /install.img\n}\n")
    facts = af.IsoAnswerfileFacts("8.3.0", {"isolinux": bootcfg.parse(ISOLINUX + rescue,
                                                                      "isolinux"),
                                            "grub": bootcfg.parse(grub, "grub")})
    p = af.plan_answerfile(_recipe(tmp_path, '[answerfile]\nsource = "answerfile.xml"\n'),
                           facts)
    assert "rescue" not in p.entries and "install" in p.entries
    assert "left interactive: safe, shell, rescue" in p.messages[0]


def test_plan_embedded(tmp_path: Path) -> None:
    r = _recipe(tmp_path, '[answerfile]\nsource = "answerfile.xml"\n'
                          '[[answerfile.scripts]]\nsource = "post.sh"\ndest = "/root/post.sh"\n')
    p = af.plan_answerfile(r, _facts())
    assert p.params_to_append == ["install", "answerfile=file:///answerfile.xml"]
    assert "answerfile" in p.params_to_remove and "no-gpgcheck" not in p.params_to_remove
    assert p.entries == ["install", "no-serial", "multipath", "install-alt"]  # not shell, safe
    assert p.embedded == [af.EmbeddedFile("/answerfile.xml", GOOD, 0o644),
                          af.EmbeddedFile("/root/post.sh", b"#!/bin/sh\necho done\n", 0o755)]
    assert p.messages == ["answerfile on boot entries install, no-serial, multipath, "
                          "install-alt; left interactive: safe, shell"]
    assert p.warnings == []  # nothing beyond what the planners report


def test_plan_custom_dest_and_entries(tmp_path: Path) -> None:
    r = _recipe(tmp_path, '[answerfile]\nsource = "answerfile.xml"\n'
                          'dest = "/root/answers.xml"\nentries = ["install", "install-alt"]\n')
    p = af.plan_answerfile(r, _facts())
    assert p.params_to_append == ["install", "answerfile=file:///root/answers.xml"]
    assert p.entries == ["install", "install-alt"]
    assert p.embedded[0].dest == "/root/answers.xml"


@pytest.mark.parametrize("entries, expect", [
    ('["nope"]', "no boot entry 'nope'"),
    ('["memtest"]', "does not boot the installer"),
])
def test_plan_bad_entries(tmp_path: Path, entries: str, expect: str) -> None:
    r = _recipe(tmp_path, f'[answerfile]\nsource = "answerfile.xml"\nentries = {entries}\n')
    with pytest.raises(InputError) as ei:
        af.plan_answerfile(r, _facts())
    assert expect in _one_line(ei)


def test_plan_url(tmp_path: Path) -> None:
    r = _recipe(tmp_path, '[answerfile]\nurl = "http://10.0.0.1/a.xml"\n'
                          'answerfile_device = "eth1"\nnetwork_device = "all"\n')
    p = af.plan_answerfile(r, _facts())
    assert p.params_to_append == ["install", "answerfile=http://10.0.0.1/a.xml",
                                  "answerfile_device=eth1", "network_device=all"]
    assert p.embedded == []
    assert {"answerfile", "answerfile_device", "network_device"} <= set(p.params_to_remove)


@pytest.mark.parametrize("url", ["file:///answerfile.xml", "tftp://srv/a.xml",
                                 "smb://srv/a.xml", "answerfile.xml", "http:///a.xml"])
def test_url_scheme_refused(url: str) -> None:
    with pytest.raises(InputError) as ei:
        af.check_url(url)
    msg = _one_line(ei)
    assert "answerfile.url" in msg and ("http://" in msg or "no server" in msg)


def test_url_scheme_refused_by_recipe_loader(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="only http, https, ftp or nfs"):
        recipe.loads('[answerfile]\nurl = "tftp://srv/a.xml"\n', tmp_path)


@pytest.mark.parametrize("dest, expect", [
    ("answerfile.xml", "absolute path"),
    ("/../answerfile.xml", "stay inside install.img"),
    ("/root/../../etc/x.xml", "stay inside install.img"),
    ("/proc/answerfile.xml", "mounted over at boot"),
    ("/dev/a.xml", "mounted over at boot"),
    ("/root/", "must name a file"),
    ("/my answers.xml", "whitespace"),
])
def test_dest_outside_the_image(dest: str, expect: str) -> None:
    with pytest.raises(InputError) as ei:
        af.check_dest(dest, "answerfile.dest")
    assert expect in _one_line(ei)


def test_recipe_dest_with_dotdot_refused(tmp_path: Path) -> None:
    (tmp_path / "answerfile.xml").write_bytes(GOOD)
    with pytest.raises(InputError, match=r"must not contain '\.\.'"):
        recipe.loads('[answerfile]\nsource = "answerfile.xml"\ndest = "/../a.xml"\n', tmp_path)


def test_plan_invalid_answerfile_is_one_line(tmp_path: Path) -> None:
    r = _recipe(tmp_path, '[answerfile]\nsource = "answerfile.xml"\n',
                answer=b"<installation><source type='local'/></installation>")
    with pytest.raises(InputError) as ei:
        af.plan_answerfile(r, _facts())
    msg = _one_line(ei)
    assert msg.startswith("answerfile.xml line 1: ") and "more:" in msg


def test_gpg_flags_from_recipe_move_into_the_answerfile(tmp_path: Path) -> None:
    r = _recipe(tmp_path, '[boot]\nappend = ["no-gpgcheck", "no-repo-gpgcheck", "atexit=shell"]\n'
                          '[answerfile]\nsource = "answerfile.xml"\n')
    p = af.plan_answerfile(r, _facts())
    assert "no-gpgcheck" in p.params_to_remove and "no-repo-gpgcheck" in p.params_to_remove
    assert "atexit=shell" not in p.params_to_remove
    data = p.embedded[0].data
    assert b'<installation mode="fresh" sr-type="ext" gpgcheck="false" repo-gpgcheck="false">' \
        in data
    a = af.parse(data, "x")
    assert af.check(a).ok
    assert sum("instead of no-gpgcheck" in m for m in p.messages) == 1
    assert sum("instead of no-repo-gpgcheck" in m for m in p.messages) == 1


def test_gpg_flag_already_on_the_iso_moves_too(tmp_path: Path) -> None:
    r = _recipe(tmp_path, '[answerfile]\nsource = "answerfile.xml"\n',
                answer=GOOD.replace(b'mode="fresh"', b'mode="fresh" repo-gpgcheck="true"'))
    p = af.plan_answerfile(r, _facts(extra_dom0=" no-repo-gpgcheck"))
    assert "no-repo-gpgcheck" in p.params_to_remove
    assert b'repo-gpgcheck="false"' in p.embedded[0].data
    assert b'repo-gpgcheck="true"' not in p.embedded[0].data
    assert any("the ISO's isolinux entry 'install'" in m for m in p.messages)
    assert any('repo-gpgcheck="true" overridden' in w for w in p.warnings)
    # the recipe removing the flag itself means nothing has to move
    r2 = _recipe(tmp_path, '[boot]\nremove = ["no-repo-gpgcheck"]\n'
                           '[answerfile]\nsource = "answerfile.xml"\n')
    p2 = af.plan_answerfile(r2, _facts(extra_dom0=" no-repo-gpgcheck"))
    assert p2.embedded[0].data == GOOD and "no-repo-gpgcheck" not in p2.params_to_remove


def test_gpg_flags_from_other_planners(tmp_path: Path) -> None:
    r = _recipe(tmp_path, '[answerfile]\nsource = "answerfile.xml"\n')
    p = af.plan_answerfile(r, _facts(), extra_params=["no-gpgcheck"])
    assert b'gpgcheck="false"' in p.embedded[0].data
    assert any("the repository changes" in m for m in p.messages)


def test_gpg_flags_with_url_answerfile_warn(tmp_path: Path) -> None:
    r = _recipe(tmp_path, '[boot]\nappend = ["no-repo-gpgcheck"]\n'
                          '[answerfile]\nurl = "https://srv/a.xml"\n')
    p = af.plan_answerfile(r, _facts())
    assert "no-repo-gpgcheck" in p.params_to_remove
    assert any('repo-gpgcheck="false"' in w and "https://srv/a.xml" in w for w in p.warnings)


def test_82_uses_netinstall_gpg_check(tmp_path: Path) -> None:
    (tmp_path / "x.rpm").write_bytes(b"rpm")
    r = _recipe(tmp_path, '[packages]\nadd = ["x.rpm"]\n[answerfile]\nsource = "answerfile.xml"\n')
    p = af.plan_answerfile(r, _facts("8.2.1"))
    assert b'netinstall-gpg-check="false"' in p.embedded[0].data
    assert b"repo-gpgcheck" not in p.embedded[0].data
    # nothing changes in the repo and no flags: nothing to set
    r2 = _recipe(tmp_path, '[answerfile]\nsource = "answerfile.xml"\n')
    assert af.plan_answerfile(r2, _facts("8.2.1")).embedded[0].data == GOOD


def test_gpg_signing_mode_with_changed_repo_disables_rpm_checks(tmp_path: Path) -> None:
    (tmp_path / "x.rpm").write_bytes(b"rpm")
    r = _recipe(tmp_path, '[packages]\nadd = ["x.rpm"]\n[signing]\nmode = "gpg"\nkey = "ABCD"\n'
                          '[answerfile]\nsource = "answerfile.xml"\n')
    p = af.plan_answerfile(r, _facts())
    assert b' gpgcheck="false"' in p.embedded[0].data
    assert b"repo-gpgcheck" not in p.embedded[0].data  # the re-signed repodata verifies


def test_unembedded_script_warns(tmp_path: Path) -> None:
    answer = GOOD.replace(b"</installation>", b'  <script stage="filesystem-populated" '
                          b'type="url">file:///root/post.sh</script>\n</installation>')
    r = _recipe(tmp_path, '[answerfile]\nsource = "answerfile.xml"\n', answer)
    p = af.plan_answerfile(r, _facts())
    assert any("file:///root/post.sh" in w and "line 10" in w for w in p.warnings)
    r2 = _recipe(tmp_path, '[answerfile]\nsource = "answerfile.xml"\n'
                           '[[answerfile.scripts]]\nsource = "post.sh"\ndest = "/root/post.sh"\n',
                 answer)
    assert af.plan_answerfile(r2, _facts()).warnings == []


def test_plan_against_the_real_fixture(demo_iso: Path, tmp_path: Path) -> None:
    r = _recipe(tmp_path, '[answerfile]\nsource = "answerfile.xml"\nentries = ["install-alt"]\n')
    with IsoSource.open(demo_iso) as src:
        facts = af.iso_facts(src)
        p = af.plan_answerfile(r, src)
    assert facts.version == "8.3.0" and set(facts.configs) == {"isolinux", "grub"}
    assert p.entries == ["install-alt"] and p.embedded[0].dest == "/answerfile.xml"


# ---------------------------------------------------------------------------
# the built ISO


@pytest.mark.slow
def test_build_embeds_answerfile_and_sets_all_three_configs(demo_iso: Path, tmp_path: Path
                                                            ) -> None:
    r = _recipe(tmp_path, '[boot]\nappend = ["no-repo-gpgcheck"]\n'
                          '[answerfile]\nsource = "answerfile.xml"\n'
                          '[[answerfile.scripts]]\nsource = "post.sh"\ndest = "/root/post.sh"\n')
    out = tmp_path / "auto.iso"
    res = build.build(demo_iso, r, out)
    assert res.verify is not None and res.verify.ok, "\n".join(res.verify.lines())
    img = iso_member(out, "install.img")
    listing = "\n".join(cpio_listing(img))
    assert "answerfile.xml" in listing and "root/post.sh" in listing
    embedded = subprocess.run(["bsdtar", "-xOf", "-", "answerfile.xml"], input=img,
                              capture_output=True, check=True).stdout
    assert b'repo-gpgcheck="false"' in embedded and b"<keymap>us</keymap>" in embedded
    iso_cfg = iso_member(out, "boot/isolinux/isolinux.cfg").decode()
    grub_cfg = iso_member(out, "EFI/xenserver/grub.cfg").decode()
    with IsoSource.open(out) as src:
        off, _ = src.extent("/boot/efiboot.img")
    efi_cfg = subprocess.run(["mtype", "-i", f"{out}@@{off}", "::/EFI/xenserver/grub.cfg"],
                             env=MT_ENV, capture_output=True, check=True).stdout.decode()
    for name, text, kind in (("isolinux", iso_cfg, "isolinux"), ("grub", grub_cfg, "grub"),
                             ("efiboot", efi_cfg, "grub")):
        cfg = bootcfg.parse(text, kind)
        for e in cfg.installer_entries():
            if e.role in ("shell", "safe"):  # left interactive by default
                continue
            assert "install" in e.dom0_args, (name, e.label)
            assert "answerfile=file:///answerfile.xml" in e.dom0_args, (name, e.label)
            assert "no-repo-gpgcheck" not in e.dom0_args, (name, e.label)
    assert "search --file --set /install.img" in efi_cfg
    assert any('repo-gpgcheck="false"' in c for c in res.changes)


@pytest.mark.slow
def test_build_with_bad_answerfile_writes_nothing(demo_iso: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "answerfile.xml").write_bytes(b"<installation><keymap>us</installation>")
    rec = tmp_path / "r.toml"
    rec.write_text('[answerfile]\nsource = "answerfile.xml"\n')
    out = tmp_path / "out.iso"
    code = cli.main(["build", str(demo_iso), "--recipe", str(rec), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert err[-1].startswith("xcptui: error: answerfile.xml line 1")
