"""boot/config.py is the public face of the split boot-menu modules."""

from __future__ import annotations

from xcptui.engine.boot import answerfile, compare, config, grub, isolinux, model, parse

GRUB_TEXT = """set default="0"
set timeout=5
menuentry "install" {
    multiboot2 /boot/xen.gz dom0_mem=2048M
    module2 /boot/vmlinuz console=hvc0 console=tty0
    module2 /install.img
}
"""


def test_config_reexports_the_split_modules() -> None:
    assert config.BootConfig is model.BootConfig and config.BootEntry is model.BootEntry
    assert config.parse is parse.parse and config.compare is compare.compare
    assert config.match_entries is compare.match_entries
    assert config.ISOLINUX == isolinux.ISOLINUX and config.GRUB == grub.GRUB
    for name in config.__all__:
        assert hasattr(config, name), name
    for name in answerfile.__all__:
        assert hasattr(answerfile, name), name


def test_edit_keeps_every_other_byte() -> None:
    cfg = config.parse(GRUB_TEXT, config.GRUB)
    new = cfg.append_params(["console=ttyS0", "install", "a;b"]).remove_params(["console=tty0"])
    assert new.text == GRUB_TEXT.replace(
        "console=hvc0 console=tty0\n", "console=hvc0 console=ttyS0 install 'a;b'\n")
    e = new.installer_entries()[0]
    assert e.dom0_args == ["console=hvc0", "console=ttyS0", "install", "a;b"]
    assert config.describe_effect(cfg, new) == [
        "install: console=hvc0 console=tty0  ->  console=hvc0 console=ttyS0 install a;b"]
