"""[signing] installer_gpgcheck: no-gpgcheck on every installer entry (interactive), or
gpgcheck="false" in an embedded answerfile, when the repository changes and stays signed.

Plan-level tests need no gpg; the end-to-end build signs with a throwaway RSA key and
reads the output back with bsdtar, mtools and gpg --list-packets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import iso_member
from xcptui.engine import recipe
from xcptui.engine.boot import config as bootcfg
from xcptui.engine.build import boot_stage
from xcptui.engine.build import runner as build
from xcptui.engine.errors import RecipeError
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.layout import GRUB_CFG, ISOLINUX_CFG

GPG = shutil.which("gpg")
MT_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLSRC=os.devnull)
AF = b"""<?xml version="1.0"?>
<installation mode="fresh" sr-type="ext">
  <primary-disk guest-storage="yes">sda</primary-disk>
  <keymap>us</keymap>
  <root-password type="hash">$6$salt$hash</root-password>
  <source type="local"/>
  <admin-interface name="eth0" proto="dhcp"/>
  <timezone>Europe/Paris</timezone>
</installation>
"""


def _recipe(tmp: Path, signing: str, extra: str = "") -> recipe.Recipe:
    (tmp / "answerfile.xml").write_bytes(AF)
    return recipe.loads(f'[packages]\nremove = ["htop"]\n[signing]\n{signing}\n{extra}', tmp)


def _installer_args(text: bytes, kind: str) -> list[list[str]]:
    cfg = bootcfg.BootConfig.from_bytes(text, kind, "x")
    return [e.dom0_args for e in cfg.installer_entries()]


def _all_have(part: boot_stage.BootPart, param: str) -> None:
    texts = [(part.new_text[ISOLINUX_CFG], "isolinux"), (part.new_text[GRUB_CFG], "grub")]
    assert part.efiboot_grub is not None
    texts.append((part.efiboot_grub, "grub"))
    for text, kind in texts:
        args = _installer_args(text, kind)
        assert args and all(param in a for a in args), (kind, args)


def test_auto_off_when_resigned(demo_iso: Path, tmp_path: Path) -> None:
    r = _recipe(tmp_path, 'mode = "gpg"\nkey = "ABCD1234"')
    with IsoSource.open(demo_iso) as src:
        part = boot_stage.plan_boot(src, r, boot_stage.plan_answerfile(src, r))
    _all_have(part, "no-gpgcheck")
    line = [c for c in part.changes if c.startswith("installer gpgcheck off")]
    assert line and "re-signed with your key" in line[0], part.changes
    assert any("all 3 boot configs" in c and "no-gpgcheck" in c for c in part.changes)


@pytest.mark.parametrize("signing", [
    'mode = "gpg"\nkey = "ABCD1234"\ninstaller_gpgcheck = "keep"',
    'mode = "unsigned"',  # no key listed: the installer checks nothing anyway
])
def test_keep_or_unsigned_adds_nothing(demo_iso: Path, tmp_path: Path, signing: str) -> None:
    r = _recipe(tmp_path, signing)
    with IsoSource.open(demo_iso) as src:
        part = boot_stage.plan_boot(src, r, None)
    assert part == boot_stage.BootPart()


def test_explicit_off(demo_iso: Path, tmp_path: Path) -> None:
    r = _recipe(tmp_path, 'mode = "unsigned"\ninstaller_gpgcheck = "off"')
    with IsoSource.open(demo_iso) as src:
        part = boot_stage.plan_boot(src, r, None)
    _all_have(part, "no-gpgcheck")
    assert any('installer_gpgcheck = "off"' in c for c in part.changes)
    # already asked for in [boot] append: not added twice
    r2 = _recipe(tmp_path, 'mode = "gpg"\nkey = "K"', '[boot]\nappend = ["no-gpgcheck"]\n')
    with IsoSource.open(demo_iso) as src:
        part2 = boot_stage.plan_boot(src, r2, None)
    for args in _installer_args(part2.new_text[ISOLINUX_CFG], "isolinux"):
        assert args.count("no-gpgcheck") == 1
    # [boot] remove = ["no-gpgcheck"]: the user keeps the check, nothing is added
    r3 = _recipe(tmp_path, 'mode = "gpg"\nkey = "K"', '[boot]\nremove = ["no-gpgcheck"]\n')
    with IsoSource.open(demo_iso) as src:
        part3 = boot_stage.plan_boot(src, r3, None)
    assert not any(c.startswith("installer gpgcheck off") for c in part3.changes)


def test_82_has_no_such_flag(iso_factory: Callable[..., Path], tmp_path: Path) -> None:
    r = _recipe(tmp_path, 'mode = "gpg"\nkey = "K"')
    with IsoSource.open(iso_factory(version="8.2", volume_id="XCP-ng 8.2.1")) as src:
        assert boot_stage.gpgcheck_off_reason(src, r) is None
        assert boot_stage.plan_boot(src, r, None) == boot_stage.BootPart()
        off = _recipe(tmp_path, 'mode = "gpg"\nkey = "K"\ninstaller_gpgcheck = "off"')
        part = boot_stage.plan_boot(src, off, None)
    assert part.new_text == {} and part.efiboot_grub is None
    assert any("8.2 has no no-gpgcheck boot flag" in w for w in part.warnings)


def test_answerfile_gets_the_attribute_instead(demo_iso: Path, tmp_path: Path) -> None:
    af_sec = '[answerfile]\nsource = "answerfile.xml"\n'
    for setting, attr in (("", True), ('installer_gpgcheck = "off"\n', True),
                          ('installer_gpgcheck = "keep"\n', False)):
        r = _recipe(tmp_path, f'mode = "gpg"\nkey = "K"\n{setting}', af_sec)
        with IsoSource.open(demo_iso) as src:
            afp = boot_stage.plan_answerfile(src, r)
            assert afp is not None
            part = boot_stage.plan_boot(src, r, afp)
        data = afp.embedded[0].data
        assert (b' gpgcheck="false"' in data) == attr, (setting, data)
        assert any('gpgcheck="false"' in m for m in afp.messages) == attr
        for args in _installer_args(part.new_text[ISOLINUX_CFG], "isolinux"):
            assert "no-gpgcheck" not in args  # the installer refuses it with an answerfile


def test_recipe_key_round_trip(tmp_path: Path) -> None:
    r = recipe.loads('[signing]\nmode = "gpg"\nkey = "K"\ninstaller_gpgcheck = "keep"\n',
                     tmp_path)
    assert r.signing is not None and r.signing.installer_gpgcheck == "keep"
    again = recipe.loads(recipe.dumps(r, tmp_path), tmp_path)
    assert again.signing == r.signing
    with pytest.raises(RecipeError, match="installer_gpgcheck"):
        recipe.loads('[signing]\ninstaller_gpgcheck = "maybe"\n', tmp_path)


# --- end to end, with a real RSA key ------------------------------------------------------


def _gpg(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert GPG is not None
    return subprocess.run([GPG, "--batch", *args], capture_output=True, text=True, check=True,
                          env=dict(os.environ, GNUPGHOME=str(home)))


@pytest.fixture(scope="module")
def keyring() -> Iterator[tuple[Path, str, str]]:
    """(GNUPGHOME, RSA key fingerprint, ed25519 key fingerprint)."""
    if GPG is None:
        pytest.skip("gpg not installed")
    home = Path(tempfile.mkdtemp(prefix="xk", dir="/tmp"))
    os.chmod(home, 0o700)
    nopass = ("--pinentry-mode", "loopback", "--passphrase", "")
    _gpg(home, *nopass, "--quick-gen-key", "rsa <rsa@xcptui.invalid>", "rsa2048", "sign",
         "never")
    _gpg(home, *nopass, "--quick-gen-key", "ecc <ecc@xcptui.invalid>", "ed25519", "sign",
         "never")
    out = _gpg(home, "--with-colons", "--list-secret-keys").stdout
    fprs = [ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:")]
    yield home, fprs[0], fprs[1]
    gpgconf = shutil.which("gpgconf")
    if gpgconf:
        subprocess.run([gpgconf, "--kill", "gpg-agent"], capture_output=True,
                       env=dict(os.environ, GNUPGHOME=str(home)))
    shutil.rmtree(home, ignore_errors=True)


def test_build_signed_with_rsa_and_gpgcheck_off(
        demo_iso: Path, tmp_path: Path, keyring: tuple[Path, str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    home, rsa, ecc = keyring
    monkeypatch.setenv("GNUPGHOME", str(home))
    out = tmp_path / "out.iso"
    res = build.build(demo_iso, _recipe(tmp_path, f'mode = "gpg"\nkey = "{rsa}"'), out)
    assert any(c.startswith("installer gpgcheck off: no-gpgcheck") for c in res.changes)
    # independent readers: bsdtar for the ISO, mtype for efiboot.img, gpg for the signature
    for member, kind in (("boot/isolinux/isolinux.cfg", "isolinux"),
                         ("EFI/xenserver/grub.cfg", "grub")):
        args = _installer_args(iso_member(out, member), kind)
        assert args and all("no-gpgcheck" in a for a in args)
    img = tmp_path / "efiboot.img"
    img.write_bytes(iso_member(out, "boot/efiboot.img"))
    efi = subprocess.run(["mtype", "-i", str(img), "::/EFI/xenserver/grub.cfg"], env=MT_ENV,
                         capture_output=True, check=True).stdout
    assert all("no-gpgcheck" in a for a in _installer_args(efi, "grub"))
    key = iso_member(out, "RPM-GPG-KEY-xcpng")
    assert key.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    asc = tmp_path / "repomd.xml.asc"
    asc.write_bytes(iso_member(out, "repodata/repomd.xml.asc"))
    packets = _gpg(home, "--list-packets", str(asc)).stdout
    assert "digest algo 8" in packets  # SHA256
    assert ":signature packet: algo 1," in packets  # RSA
    # an ed25519 key is refused before anything is written
    bad = tmp_path / "bad.iso"
    with pytest.raises(RecipeError, match=r"is ed25519: the XCP-ng 8.x installer"):
        build.build(demo_iso, _recipe(tmp_path, f'mode = "gpg"\nkey = "{ecc}"'), bad)
    assert not bad.exists()
