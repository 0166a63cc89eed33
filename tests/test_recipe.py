"""Recipe parsing, validation messages and round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from xcptui.engine import recipe
from xcptui.engine.errors import RecipeError

FULL = """
[iso]
volume_id = "XCP-ng 8.3 custom"
build_number = "custom1"

[[iso.files]]
source = "eula.txt"
dest = "/EULA"

[boot]
append = ["sshpassword=secret"]
remove = ["console=tty0"]
default = "install"
timeout = 5

[[installer.drivers]]
source = "igc.ko"
kernel = "4.19.0+1"

[[installer.files]]
source = "preinit"
dest = "/opt/xensource/installer/preinit"
mode = "0755"

[[installer.remove]]
path = "/usr/share/doc"

[[installer.rpms]]
source = "tool.rpm"

[packages]
add = ["tool.rpm"]
remove = ["htop"]
auto_require = true

[deps]
require = ["intel-igc >= 5.0"]
drop = ["xapi-core"]

[signing]
mode = "unsigned"

[answerfile]
source = "answer.xml"
"""


@pytest.fixture
def rdir(tmp_path: Path) -> Path:
    for n in ("eula.txt", "igc.ko", "preinit", "tool.rpm", "answer.xml"):
        (tmp_path / n).write_text("x")
    return tmp_path


def test_full_recipe_round_trips(rdir: Path) -> None:
    (rdir / "r.toml").write_text(FULL)
    r = recipe.load(rdir / "r.toml")
    assert r.iso.volume_id == "XCP-ng 8.3 custom"
    assert r.installer.drivers[0].source == rdir / "igc.ko"
    assert r.installer.files[0].mode == 0o755
    assert r.packages.add == [rdir / "tool.rpm"]
    assert r.answerfile is not None and r.answerfile.dest == "/answerfile.xml"
    assert r.touches_install_img() and r.touches_repo()
    recipe.save(r, rdir / "saved.toml")
    text = (rdir / "saved.toml").read_text()
    assert 'source = "igc.ko"' in text  # relative to the recipe's directory
    r2 = recipe.load(rdir / "saved.toml")
    r2.path = r.path
    assert r2 == r


def test_empty_recipe_is_empty(rdir: Path) -> None:
    assert recipe.loads("", rdir).is_empty()
    assert not recipe.loads('[boot]\nappend = ["x=1"]', rdir).is_empty()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[boot]\nappend = \"x\"", "line 2: boot.append: must be a list"),
        ("[[installer.drivers]]\nsorce = \"igc.ko\"", "line 2: installer.drivers[0].sorce: unknown key"),
        ("[[installer.drivers]]\nsource = \"nope.ko\"", "installer.drivers[0].source: nope.ko: no such file"),
        ("[iso]\nvolume_id = 3", "iso.volume_id: must be a string"),
        ("[bogus]\nx = 1", "bogus: unknown key"),
        ("[boot]\ntimeout = true", "boot.timeout: must be an integer"),
        ("[boot]\nappend = [\"a b\"]", "is not one kernel parameter"),
        ("[[installer.files]]\nsource = \"preinit\"\ndest = \"relative\"", "must be an absolute path"),
        ("[[installer.files]]\nsource = \"preinit\"\ndest = \"/a/../../etc\"", "must not contain '..'"),
        ("[[installer.files]]\nsource = \"preinit\"\ndest = \"/x\"\nmode = \"999\"", "octal mode"),
        ("[signing]\nmode = \"gpg\"", "needs key"),
        ("[answerfile]\nurl = \"file:///x.xml\"", "only http, https, ftp or nfs"),
        ("[deps]\nrequire = [\"foo >=\"]", "is not 'name' or 'name OP version'"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_recipes_name_the_key_and_line(rdir: Path, text: str, needle: str) -> None:
    p = rdir / "bad.toml"
    p.write_text(text)
    with pytest.raises(RecipeError) as ei:
        recipe.load(p)
    msg = str(ei.value)
    assert needle in msg
    assert str(p) in msg
    assert "\n" not in msg


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="no such file"):
        recipe.load(tmp_path / "absent.toml")
