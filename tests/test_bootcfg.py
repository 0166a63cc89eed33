"""bootcfg: parse the real XCP-ng menus and edit them with minimal, exact diffs."""

from __future__ import annotations

import difflib
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from xcptui.engine.boot import config as bootcfg
from xcptui.engine.boot.config import BootConfig, parse
from xcptui.engine.errors import InputError, XcptuiError

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "xcpng"
AF = "answerfile=file:///answerfile.xml"


def data(version: str, name: str) -> str:
    return (resources.files("xcptui.demoiso") / "data" / version / name).read_text()


def iso(version: str = "8.3") -> BootConfig:
    return parse(data(version, "isolinux.cfg"), "isolinux")


def grub(version: str = "8.3") -> BootConfig:
    return parse(data(version, "grub.cfg"), "grub")


def efigrub() -> BootConfig:
    return parse(data("8.3", "efiboot-grub.cfg"), "grub", "efiboot.img:/EFI/xenserver/grub.cfg")


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed lines, added lines) between two texts, line endings included."""
    old, new = [], []
    for d in difflib.ndiff(before.splitlines(True), after.splitlines(True)):
        if d.startswith("- "):
            old.append(d[2:])
        elif d.startswith("+ "):
            new.append(d[2:])
    return old, new


# ---------------------------------------------------------------------------
# parsing the real menus


def test_parse_83_isolinux() -> None:
    c = iso()
    assert c.kind == "isolinux"
    assert c.name == "boot/isolinux/isolinux.cfg"
    assert c.labels == ["install", "no-serial", "safe", "multipath", "install-alt", "shell",
                        "memtest"]
    assert [e.role for e in c.entries] == c.labels
    assert c.default == "install" and c.default_entry() is c.entries[0]
    assert c.timeout == 5.0
    inst = c.entries[0]
    assert inst.hypervisor == "/boot/xen.gz"
    assert inst.xen_args == ["dom0_max_vcpus=1-16", "dom0_mem=max:8192M", "com1=115200,8n1",
                             "console=com1,vga"]
    assert inst.kernel_path == "/boot/vmlinuz"
    assert inst.dom0_args == ["console=hvc0", "console=tty0"]
    assert inst.initrd == "/install.img"
    assert inst.is_installer
    alt = c.find("install-alt")
    assert alt.kernel_path == "/boot/alt/vmlinuz" and alt.dom0_args[-1] == "kernel-alt"
    assert "nosmp" in c.find("safe").xen_args
    mem = c.find("memtest")
    assert not mem.is_installer and mem.kernel_path == "/boot/memtest.bin"
    assert [e.label for e in c.installer_entries()] == c.labels[:-1]


def test_parse_83_grub() -> None:
    c = grub()
    assert c.labels == ["install", "no-serial", "safe", "multipath",
                        "install with alternate/debug kernel (kernel-alt)", "shell", "memtest"]
    assert [e.role for e in c.entries] == ["install", "no-serial", "safe", "multipath",
                                           "install-alt", "shell", "memtest"]
    assert [e.grub_id for e in c.entries] == [str(i) for i in range(7)]
    assert c.default == "0" and c.default_entry() is c.entries[0]
    assert c.timeout == 5.0
    assert c.entries[1].dom0_args == ["console=tty0"]
    assert c.entries[1].xen_args == ["dom0_max_vcpus=1-16", "dom0_mem=max:8192M", "console=vga"]
    assert c.find("memtest").kernel_path == "/boot/memtest.efi"
    assert not c.find("memtest").is_installer


def test_parse_82_order_and_missing_memtest() -> None:
    i, g = iso("8.2"), grub("8.2")
    assert i.labels[1] == "install-alt"
    assert g.labels[1] == "install with alternate kernel (kernel-alt)"
    assert "memtest" not in g.labels
    assert bootcfg.compare({"isolinux": i, "grub": g}) == []
    pairs = {a.label: b.label for a, b in bootcfg.match_entries(i, g) if a and b}
    assert pairs["install-alt"] == "install with alternate kernel (kernel-alt)"
    assert "memtest" not in pairs


def test_parse_899_grub_skips_commented_entry() -> None:
    c = parse(GRUB_899, "grub")
    assert c.labels == [
        "Install XCP-ng 8.99 WiP pre-alpha unfinished really-barely-working", "rescue",
        "no-serial", "safe", "multipath", "shell", "memtest"]
    assert [e.role for e in c.entries] == ["install", "rescue", "no-serial", "safe", "multipath",
                                           "shell", "memtest"]
    assert all("selinux=0" in e.dom0_args for e in c.installer_entries())
    assert c.find("install").label.startswith("Install XCP-ng 8.99")  # by role
    new = c.append_params([AF])
    old, added = changed_lines(c.text, new.text)
    assert len(old) == len(added) == 6
    assert all(ln.rstrip("\n").endswith(f"selinux=0 {AF}") or
               ln.rstrip("\n").endswith(f"rescue.target {AF}") for ln in added)
    assert "# menuentry" in new.text and "#     module2 /boot/alt/vmlinuz console=hvc0 " \
        "console=tty0 kernel-alt\n" in new.text


def test_submenu_ids_and_default() -> None:
    c = parse(GRUB_HOST_INSTALLER, "grub")
    cc = c.find("common-criteria-prep")
    assert cc.grub_id == "5>0" and cc.is_installer and cc.role == "common-criteria-prep"
    new = c.set_default("common-criteria-prep")
    assert new.text.startswith('set default="5>0"\n')
    d = new.default_entry()
    assert d is not None and d.label == "common-criteria-prep"
    appended = c.append_params(["install"], ["common-criteria-prep"])
    assert "        module2 /boot/vmlinuz console=hvc0 console=tty0 cc-preparations install\n" \
        in appended.text


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared reference data not present")
def test_embedded_and_packaged_copies_match_reference() -> None:
    assert (REFERENCE / "create-install-image/8.99/grub.cfg").read_text() == GRUB_899
    assert (REFERENCE / "host-installer/bootloader-grub.cfg").read_text() == GRUB_HOST_INSTALLER
    for v in ("8.2", "8.3"):
        for n in ("isolinux.cfg", "grub.cfg"):
            assert data(v, n) == (REFERENCE / "create-install-image" / v / n).read_text()
    derived = "create-install-image/8.3/efiboot.img--EFI-xenserver-grub.cfg.derived"
    assert data("8.3", "efiboot-grub.cfg") == (REFERENCE / derived).read_text()


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared reference data not present")
def test_host_installer_isolinux_template() -> None:
    c = parse((REFERENCE / "host-installer/bootloader-isolinux.cfg").read_text(), "isolinux")
    assert c.find("common-criteria-prep").role == "common-criteria-prep"
    mem = c.find("memtest")
    assert mem.kernel_path == "memtest" and not mem.is_installer


# ---------------------------------------------------------------------------
# appending parameters


def test_append_isolinux_exact_text() -> None:
    c = iso()
    new = c.append_params([AF, "install"])
    expected = c.text.replace(" --- /install.img", f" {AF} install --- /install.img")
    assert new.text == expected
    assert expected.count(f"{AF} install --- /install.img") == 6


@pytest.mark.parametrize("version", ["8.2", "8.3"])
def test_append_grub_exact_text(version: str) -> None:
    c = grub(version)
    new = c.append_params([AF, "install"])
    expected = re.sub(r"^( +module2 /boot(/alt)?/vmlinuz .*)$", rf"\1 {AF} install", c.text,
                      flags=re.M)
    assert new.text == expected
    assert new.text.count(f" {AF} install\n") == 6


def test_append_is_idempotent_and_keeps_xen_and_memtest() -> None:
    for c in (iso(), grub(), efigrub()):
        once = c.append_params([AF, "install", "no-gpgcheck"])
        twice = once.append_params([AF, "install", "no-gpgcheck"])
        assert twice.text == once.text
        for before, after in zip(c.entries, once.entries, strict=True):
            assert after.xen_args == before.xen_args
            assert after.initrd == before.initrd
            assert after.kernel_path == before.kernel_path
            if before.is_installer:
                assert after.dom0_args == [*before.dom0_args, AF, "install", "no-gpgcheck"]
            else:
                assert after.dom0_args == before.dom0_args
        mem_line = c.text.splitlines()[c.find("memtest").line + 1]
        assert mem_line in once.text.splitlines()


def test_entry_specific_params_stay() -> None:
    new = iso().append_params(["install"])
    assert new.find("shell").dom0_args == ["console=hvc0", "console=tty0", "bash-shell",
                                           "install"]
    assert new.find("install-alt").dom0_args[-2:] == ["kernel-alt", "install"]
    assert new.find("multipath").dom0_args[-2:] == ["device_mapper_multipath=enabled",
                                                    "install"]


def test_key_value_replaced_not_duplicated() -> None:
    a = iso().append_params(["answerfile=http://a/x.xml", "install"])
    b = a.append_params(["answerfile=http://b/y.xml"])
    for e in b.installer_entries():
        assert [p for p in e.dom0_args if p.startswith("answerfile=")] == ["answerfile=http://b/y.xml"]
        # replaced in place: still before "install"
        assert e.dom0_args.index("answerfile=http://b/y.xml") < e.dom0_args.index("install")
    old, new = changed_lines(a.text, b.text)
    assert [ln.replace("http://a/x.xml", "http://b/y.xml") for ln in old] == new


def test_console_is_repeatable() -> None:
    new = iso().append_params(["console=ttyS0"])
    assert new.find("install").dom0_args == ["console=hvc0", "console=tty0", "console=ttyS0"]
    assert new.append_params(["console=ttyS0"]).text == new.text


def test_append_to_chosen_entries_and_mapping() -> None:
    i, g = iso(), grub()
    ni = i.append_params([AF], ["install", "install-alt"])
    assert [e.label for e in ni.entries if AF in e.dom0_args] == ["install", "install-alt"]
    # isolinux labels resolve on grub through the pairing (via) or by role name
    for ng in (g.append_params([AF], ["install", "install-alt"], via=i),
               g.append_params([AF], ["install", "install-alt"])):
        assert [e.label for e in ng.entries if AF in e.dom0_args] == [
            "install", "install with alternate/debug kernel (kernel-alt)"]
    # and grub titles resolve on isolinux
    ni2 = i.append_params([AF], ["install with alternate/debug kernel (kernel-alt)"], via=g)
    assert [e.label for e in ni2.entries if AF in e.dom0_args] == ["install-alt"]
    # 8.2: same roles, different positions
    g82 = grub("8.2").append_params([AF], ["shell"], via=iso("8.2"))
    assert [e.label for e in g82.entries if AF in e.dom0_args] == ["shell"]


def test_empty_inputs() -> None:
    c = iso()
    assert c.append_params([]) is c and c.remove_params([]) is c
    assert c.append_params(["install"], []).text == c.append_params(["install"]).text
    assert bootcfg.edit(c) is c


def test_unknown_or_non_installer_entry() -> None:
    with pytest.raises(InputError) as ei:
        iso().append_params([AF], ["nope"])
    msg = str(ei.value)
    assert msg.startswith("boot/isolinux/isolinux.cfg: no boot entry 'nope'")
    assert "'install', 'no-serial', 'safe'" in msg and "\n" not in msg
    with pytest.raises(InputError, match="does not boot the installer"):
        grub().append_params([AF], ["memtest"])


def test_no_installer_entry() -> None:
    c = parse("DEFAULT memtest\nLABEL memtest\n\tLINUX /boot/memtest.bin\n", "isolinux")
    with pytest.raises(InputError, match="no installer entry"):
        c.append_params([AF])


# ---------------------------------------------------------------------------
# removing parameters


def test_remove_by_name_and_exact() -> None:
    c = iso()
    by_exact = c.remove_params(["console=tty0"])
    assert by_exact.find("install").dom0_args == ["console=hvc0"]
    assert by_exact.find("no-serial").dom0_args == []
    assert by_exact.find("shell").dom0_args == ["console=hvc0", "bash-shell"]
    by_name = c.remove_params(["console"])
    assert by_name.find("install").dom0_args == []
    assert "--- /boot/vmlinuz --- /install.img" in by_name.text
    assert by_name.find("install").xen_args == c.find("install").xen_args  # console=com1,vga
    assert c.remove_params(["absent", "absent=1"]).text == c.text
    g = grub().remove_params(["console"])
    assert "    module2 /boot/vmlinuz\n" in g.text
    assert "    module2 /boot/alt/vmlinuz kernel-alt\n" in g.text


def test_edit_removes_then_appends() -> None:
    c = bootcfg.edit(iso(), remove=["console"], append=["console=ttyS0,115200"])
    assert c.find("install").dom0_args == ["console=ttyS0,115200"]
    assert c.find("shell").dom0_args == ["bash-shell", "console=ttyS0,115200"]


# ---------------------------------------------------------------------------
# default and timeout


def test_set_default_isolinux_and_grub() -> None:
    i = iso().set_default("install-alt")
    assert "\nDEFAULT install-alt\n" in i.text and i.default_entry() is not None
    old, new = changed_lines(iso().text, i.text)
    assert old == ["DEFAULT install\n"] and new == ["DEFAULT install-alt\n"]
    g = grub().set_default("install-alt", via=iso())
    assert g.text.startswith('set default="4"\n')
    assert grub("8.2").set_default("install-alt").text.startswith('set default="1"\n')
    assert grub().set_default("shell").default == "5"
    assert grub().set_default("install with alternate/debug kernel (kernel-alt)").default == "4"


def test_unknown_default_lists_labels() -> None:
    with pytest.raises(InputError) as ei:
        grub().set_default("bogus")
    assert str(ei.value) == (
        "EFI/xenserver/grub.cfg: no boot entry 'bogus' (entries: 'install', 'no-serial', "
        "'safe', 'multipath', 'install with alternate/debug kernel (kernel-alt)', 'shell', "
        "'memtest')")


def test_set_timeout() -> None:
    assert "\nTIMEOUT 100\n" in iso().set_timeout(10).text
    assert iso().set_timeout(10).timeout == 10.0
    # TIMEOUT 0 would wait forever in SYSLINUX: "at once" is one tenth of a second
    assert "\nTIMEOUT 1\n" in iso().set_timeout(0).text
    g = grub().set_timeout(12)
    old, new = changed_lines(grub().text, g.text)
    assert old == ["set timeout=5\n"] and new == ["set timeout=12\n"]
    assert grub().set_timeout(0).timeout == 0.0
    with pytest.raises(InputError):
        grub().set_timeout(-1)
    with pytest.raises(InputError):
        iso().set_timeout(3601)


def test_default_and_timeout_inserted_when_missing() -> None:
    text = "SERIAL 0 115200\nPROMPT 1\n\nLABEL install\n\tKERNEL mboot.c32\n" \
           "\tAPPEND /boot/xen.gz --- /boot/vmlinuz --- /install.img\n"
    c = parse(text, "isolinux").set_default("install").set_timeout(3)
    assert c.text == text.replace("PROMPT 1\n", "PROMPT 1\nDEFAULT install\nTIMEOUT 30\n")
    g = parse('menuentry "x" {\n multiboot2 /boot/xen.gz\n module2 /boot/vmlinuz\n'
              ' module2 /install.img\n}', "grub")
    g2 = g.set_default("x").set_timeout(2)
    assert g2.text.startswith('set default="0"\nset timeout=2\nmenuentry "x" {')
    assert g2.default_entry() is g2.entries[0] and g2.timeout == 2.0


def test_ontimeout_follows_default() -> None:
    text = "DEFAULT install\nONTIMEOUT install\nTIMEOUT 50\nLABEL install\n\tKERNEL mboot.c32\n" \
           "\tAPPEND /boot/xen.gz --- /boot/vmlinuz --- /install.img\nLABEL shell\n" \
           "\tKERNEL mboot.c32\n\tAPPEND /boot/xen.gz --- /boot/vmlinuz bash-shell --- " \
           "/install.img\n"
    new = parse(text, "isolinux").set_default("shell")
    assert new.text.startswith("DEFAULT shell\nONTIMEOUT shell\n")


# ---------------------------------------------------------------------------
# byte-for-byte preservation


def test_crlf_tabs_comments_blank_lines_kept() -> None:
    text = data("8.3", "isolinux.cfg").replace("LABEL install\n",
                                               "# local comment\n\nlabel install\n", 1)
    text = text.replace("\n", "\r\n")
    c = parse(text, "isolinux")
    new = bootcfg.edit(c, append=[AF], default="shell", timeout=7)
    old, added = changed_lines(text, new.text)
    assert len(old) == 8  # DEFAULT, TIMEOUT, six APPEND lines
    assert all(ln.endswith("\r\n") for ln in added)
    assert new.text.count("\r\n") == text.count("\r\n") and "\n" not in new.text.replace(
        "\r\n", "")
    assert "# local comment\r\n\r\nlabel install\r\n\tKERNEL mboot.c32\r\n" in new.text
    assert new.text.count("\t") == text.count("\t")


def test_text_help_block_and_case_insensitive_keywords() -> None:
    text = ("default shell\ntimeout 20\nLabel shell\n  kernel mboot.c32\n"
            "  append /boot/xen.gz x=1 --- /boot/vmlinuz bash-shell --- /install.img\n"
            "  TEXT HELP\n  LABEL fake\n  APPEND nothing\n  ENDTEXT\n")
    c = parse(text, "isolinux")
    assert c.labels == ["shell"] and c.timeout == 2.0 and c.default_entry() is c.entries[0]
    new = c.append_params(["install"])
    assert "  append /boot/xen.gz x=1 --- /boot/vmlinuz bash-shell install --- /install.img\n" \
        in new.text
    assert "  APPEND nothing\n" in new.text


def test_no_trailing_newline() -> None:
    text = data("8.3", "grub.cfg").rstrip("\n")
    new = parse(text, "grub").append_params(["install"]).set_timeout(1)
    assert not new.text.endswith("\n") and new.text.endswith("chainloader /boot/memtest.efi\n}")


def test_bytes_round_trip_keeps_odd_bytes() -> None:
    raw = data("8.3", "isolinux.cfg").encode().replace(b"PROMPT 1", b"# caf\xe9\nPROMPT 1")
    c = BootConfig.from_bytes(raw, "isolinux")
    assert c.to_bytes() == raw
    assert c.append_params(["install"]).to_bytes().startswith(raw[:40])


# ---------------------------------------------------------------------------
# grub quoting and parameter validation


def test_grub_quotes_special_characters() -> None:
    p = "network_config=static:ip=10.0.0.2;netmask=255.255.255.0;gateway=10.0.0.1"
    g = grub().append_params([p])
    assert f"console=tty0 '{p}'\n" in g.text
    assert g.find("install").dom0_args[-1] == p  # grub unquotes it
    assert g.append_params([p]).text == g.text
    i = iso().append_params([p])
    assert f"console=tty0 {p} --- /install.img" in i.text
    assert bootcfg.compare({"isolinux": i, "grub": g}) == []
    assert bootcfg.grub_quote("a$b") == "'a$b'" and bootcfg.grub_quote("a=b,c:/d") == "a=b,c:/d"


def test_grub_words_parsing() -> None:
    c = parse('menuentry \'x y\' --class z {\n multiboot2 /boot/xen.gz "a b" c\\ d\n'
              ' module2 --nounzip /boot/vmlinuz e "f;g" ; echo hi\n module2 /install.img\n}\n',
              "grub")
    e = c.entries[0]
    assert e.label == "x y"
    assert e.xen_args == ["a b", "c d"]
    assert e.dom0_args == ["e", "f;g"] and e.is_installer
    new = c.append_params(["install"])
    assert ' module2 --nounzip /boot/vmlinuz e "f;g" install ; echo hi\n' in new.text


@pytest.mark.parametrize(("param", "why"), [
    ("", "empty"), ("a b", "whitespace"), ("a\tb", "whitespace"), ("x---y", "'---'"),
    ("---", "'---'"), ('a="b c"', "quoting"), ("a=\"b\"", "quoting"), ("caf\u00e9", "ASCII"),
    ("a\x01", "ASCII"),
])
def test_invalid_params(param: str, why: str) -> None:
    with pytest.raises(InputError, match=re.escape(why)):
        iso().append_params([param])
    with pytest.raises(InputError):
        grub().remove_params([param])


def test_dom0_command_line_limit() -> None:
    with pytest.raises(InputError, match="Xen passes at most 1023"):
        iso().append_params(["x=" + "a" * 1000])
    iso().append_params(["x=" + "a" * 900])  # fits


# ---------------------------------------------------------------------------
# comparing the three copies


def test_compare_real_copies_agree() -> None:
    configs = {"isolinux": iso(), "grub": grub(), "efiboot": efigrub()}
    assert "search --file --set /install.img" in configs["efiboot"].text
    assert bootcfg.compare(configs) == []


def test_compare_reports_stale_copies() -> None:
    i = iso().append_params([AF, "install"])
    g = grub().append_params([AF, "install"])
    e = efigrub()
    lines = bootcfg.compare({"isolinux": i, "grub": g, "efiboot": e})
    assert len(lines) == 6
    assert f"install: efiboot lacks dom0 params '{AF} install' that isolinux has" in lines
    assert ("install-alt / install with alternate/debug kernel (kernel-alt): efiboot lacks "
            f"dom0 params '{AF} install' that isolinux has") in lines
    assert not any("grub" in ln.split(":")[1] for ln in lines)  # grub agrees
    e2 = efigrub().append_params([AF, "install"])
    assert bootcfg.compare({"isolinux": i, "grub": g, "efiboot": e2}) == []


def test_compare_default_timeout_order_xen_initrd() -> None:
    i, g = iso(), grub()
    assert bootcfg.compare({"isolinux": i.set_default("shell"), "grub": g}) == [
        "default: isolinux boots 'shell', grub boots 'install'"]
    assert bootcfg.compare({"isolinux": i.set_timeout(30), "grub": g}) == [
        "timeout: isolinux 30 s, grub 5 s"]
    # 0 s: isolinux can only say 0.1 s; not a difference
    assert bootcfg.compare({"isolinux": i.set_timeout(0), "grub": g.set_timeout(0)}) == []
    swapped = g.text.replace("console=hvc0 console=tty0\n", "console=tty0 console=hvc0\n", 1)
    out = bootcfg.compare({"isolinux": i, "grub": parse(swapped, "grub")})
    assert out == ["install: dom0 params in a different order: isolinux "
                   "'console=hvc0 console=tty0', grub 'console=tty0 console=hvc0'"]
    xen = g.text.replace("com1=115200,8n1 console=com1,vga\n    module2 /boot/vmlinuz "
                         "console=hvc0 console=tty0\n", "com1=115200,8n1 console=com1,vga "
                         "loglvl=all\n    module2 /boot/vmlinuz console=hvc0 console=tty0\n", 1)
    assert bootcfg.compare({"isolinux": i, "grub": parse(xen, "grub")}) == [
        "install: grub has extra Xen args 'loglvl=all'"]
    moved = i.text.replace("bash-shell --- /install.img", "bash-shell --- /boot/install.img")
    assert bootcfg.compare({"isolinux": parse(moved, "isolinux"), "grub": g}) == [
        "shell: initrd /boot/install.img in isolinux, /install.img in grub"]
    initrd = i.text.replace("bash-shell --- /install.img", "bash-shell --- /other.img")
    out = bootcfg.compare({"isolinux": parse(initrd, "isolinux"), "grub": g})
    assert "shell: installer entry in grub has no match in isolinux" in out
    assert bootcfg.compare({"isolinux": i}) == []


# ---------------------------------------------------------------------------
# effect preview and summary


def test_describe_effect() -> None:
    before = grub()
    after = bootcfg.edit(before, append=[AF], remove=["console=tty0"], entries=["install"],
                         default="shell", timeout=10)
    assert bootcfg.describe_effect(before, after) == [
        f"install: console=hvc0 console=tty0  ->  console=hvc0 {AF}",
        "default: install  ->  shell",
        "timeout: 5 s  ->  10 s",
    ]
    lines = bootcfg.describe_effect(before.text, after.text, unchanged=True)
    assert lines[1] == "no-serial: console=tty0  (unchanged)"
    assert len(lines) == 8
    eff = bootcfg.effects(before, after)[0]
    assert eff.added == [AF] and eff.removed == ["console=tty0"] and eff.changed
    assert bootcfg.describe_effect(before, before) == []


def test_summary_is_json() -> None:
    s = iso().summary()
    json.dumps(s)
    assert s["default"] == "install" and s["timeout"] == 5.0
    assert s["entries"][0] == {
        "label": "install", "role": "install", "installer": True, "kernel": "/boot/vmlinuz",
        "dom0_args": "console=hvc0 console=tty0",
        "xen_args": "dom0_max_vcpus=1-16 dom0_mem=max:8192M com1=115200,8n1 console=com1,vga",
        "initrd": "/install.img"}
    assert grub().summary()["default"] == "install"


def test_detect_kind_and_bad_kind() -> None:
    assert bootcfg.detect_kind(data("8.3", "grub.cfg")) == "grub"
    assert bootcfg.detect_kind(data("8.3", "isolinux.cfg")) == "isolinux"
    with pytest.raises(InputError):
        bootcfg.detect_kind("hello\n")
    with pytest.raises(XcptuiError):
        parse("", "lilo")


def test_plain_linux_isolinux_entry() -> None:
    text = "LABEL x\n\tKERNEL /boot/vmlinuz\n\tAPPEND initrd=/install.img console=tty0\n"
    c = parse(text, "isolinux")
    e = c.entries[0]
    assert e.is_installer and e.initrd == "/install.img" and e.dom0_args == ["console=tty0"]
    new = c.append_params(["install"]).remove_params(["initrd"])
    assert new.text == text.replace("console=tty0", "console=tty0 install")


# xcp-ng/create-install-image 8.99 templates/iso/.../EFI/xenserver/grub.cfg (verbatim)
GRUB_899 = """\
set default="0"

function load_video {
  insmod efi_gop
  insmod efi_uga
  insmod video_bochs
  insmod video_cirrus
  insmod all_video
}

load_video
set gfxpayload=keep
insmod gzio
insmod part_gpt
insmod ext2

set timeout=5

menuentry "Install XCP-ng 8.99 WiP pre-alpha unfinished really-barely-working" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M com1=115200,8n1 console=com1,vga
    module2 /boot/vmlinuz console=hvc0 console=tty0 selinux=0
    module2 /install.img
}

menuentry "rescue" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M com1=115200,8n1 console=com1,vga vga=keep
    module2 /boot/vmlinuz console=hvc0 console=tty0 selinux=0 systemd.unit=rescue.target
    module2 /install.img
}

menuentry "no-serial" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M console=vga
    module2 /boot/vmlinuz console=tty0 selinux=0
    module2 /install.img
}

menuentry "safe" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M nosmp noreboot noirqbalance no-mce no-bootscrub no-numa no-hap no-mmcfg max_cstate=0 nmi=ignore allow_unsafe com1=115200,8n1 console=com1,vga vga=keep
    module2 /boot/vmlinuz console=hvc0 console=tty0 selinux=0
    module2 /install.img
}

menuentry "multipath" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M com1=115200,8n1 console=com1,vga
    module2 /boot/vmlinuz console=hvc0 console=tty0 device_mapper_multipath=enabled selinux=0
    module2 /install.img
}

# menuentry "install with alternate/debug kernel (kernel-alt)" {
#     multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M com1=115200,8n1 console=com1,vga
#     module2 /boot/alt/vmlinuz console=hvc0 console=tty0 kernel-alt
#     module2 /install.img
# }

menuentry "shell" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M com1=115200,8n1 console=com1,vga
    module2 /boot/vmlinuz console=hvc0 console=tty0 bash-shell selinux=0
    module2 /install.img
}

menuentry "memtest" {
    chainloader /boot/memtest.efi
}
"""


# xcp-ng/host-installer bootloader/grub.cfg (verbatim)
GRUB_HOST_INSTALLER = """\
set default="0"

function load_video {
  insmod efi_gop
  insmod efi_uga
  insmod video_bochs
  insmod video_cirrus
  insmod all_video
}

load_video
set gfxpayload=keep
insmod gzio
insmod part_gpt
insmod ext2

set timeout=5

menuentry "install" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M com1=115200,8n1 console=com1,vga
    module2 /boot/vmlinuz console=hvc0 console=tty0
    module2 /install.img
}

menuentry "no-serial" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M console=vga
    module2 /boot/vmlinuz console=tty0
    module2 /install.img
}

menuentry "safe" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M nosmp noreboot noirqbalance no-mce no-bootscrub no-numa no-hap no-mmcfg max_cstate=0 nmi=ignore allow_unsafe com1=115200,8n1 console=com1,vga vga=keep
    module2 /boot/vmlinuz console=hvc0 console=tty0
    module2 /install.img
}

menuentry "multipath" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M com1=115200,8n1 console=com1,vga
    module2 /boot/vmlinuz console=hvc0 console=tty0 device_mapper_multipath=enabled
    module2 /install.img
}

menuentry "shell" {
    multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M com1=115200,8n1 console=com1,vga
    module2 /boot/vmlinuz console=hvc0 console=tty0 bash-shell
    module2 /install.img
}

submenu "advanced-options" {
    menuentry "common-criteria-prep" {
        multiboot2 /boot/xen.gz dom0_max_vcpus=1-16 dom0_mem=max:8192M com1=115200,8n1 console=com1,vga
        module2 /boot/vmlinuz console=hvc0 console=tty0 cc-preparations
        module2 /install.img
    }
}
"""
