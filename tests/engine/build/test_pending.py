"""The pending-changes summary: kinds, steps, and marks seen through lib -> usr/lib."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xcptui.engine import pending
from xcptui.engine import recipe as r
from xcptui.engine.build.pending import ChangeArea, ChangeStep, Mark
from xcptui.engine.recipe import edits

KVER = "4.19.0+1"


@dataclass
class _E:
    path: str


class FakeImage:
    """An install.img with the real CentOS layout: lib is a symlink to usr/lib."""

    def __init__(self, files: list[str], links: dict[str, str]) -> None:
        self.files, self.links = set(files), links

    def resolve(self, path: str, follow_last: bool = True) -> str | None:
        parts = [p for p in path.split("/") if p]
        out: list[str] = []
        for i, part in enumerate(parts):
            out.append(part)
            cur = "/".join(out)
            if cur in self.links and (follow_last or i < len(parts) - 1):
                out = self.links[cur].split("/")
        return "/".join(out)

    def get(self, path: str) -> object | None:
        p = path.strip("/")
        return p if p in self.files or p in self.links else None

    def walk(self, top: str = "") -> list[_E]:
        t = top.strip("/")
        return [_E(p) for p in sorted(self.files) if p == t or p.startswith(t + "/")]


def real_layout() -> FakeImage:
    mods = f"usr/lib/modules/{KVER}"
    return FakeImage([f"{mods}/kernel/drivers/net/igb/igb.ko.xz", f"{mods}/modules.dep",
                      f"{mods}/modules.order", f"{mods}/kernel/drivers/net/e1000e.ko",
                      "etc/shadow", "usr/lib/firmware/a.bin"],
                     {"lib": "usr/lib"})


def test_driver_dest_default_and_explicit() -> None:
    assert pending.driver_dest(r.Driver(Path("/h/igb.ko.xz")), [KVER]) == \
        f"/lib/modules/{KVER}/updates/igb.ko"
    assert pending.driver_dest(r.Driver(Path("/h/igb.ko")), []) == \
        "/lib/modules/<main kernel>/updates/igb.ko"
    assert pending.driver_dest(r.Driver(Path("/h/igb.ko"), dest="/x/igb.ko"), [KVER]) == \
        "/x/igb.ko"


def test_image_exists_follows_a_symlinked_lib() -> None:
    img = real_layout()
    assert pending.image_exists(img, "/lib/firmware/a.bin")
    assert pending.image_exists(img, "/usr/lib/firmware/a.bin")
    assert not pending.image_exists(img, "/lib/firmware/b.bin")


def test_marks_through_a_symlinked_lib() -> None:
    img = real_layout()
    rec = r.Recipe()
    edits.put_driver(rec, r.Driver(Path("/h/igb.ko")))
    edits.put_installer_file(rec, r.InstallerFile(Path("/h/a.bin"), "/lib/firmware/a.bin"))
    edits.toggle_installer_remove(rec, "/etc/shadow")
    marks = pending.image_marks(rec, [KVER], img)
    mods = f"lib/modules/{KVER}"
    # the new module, under both the path the user sees and the real one
    assert marks[f"/{mods}/updates/igb.ko"] == Mark.ADDED
    assert marks[f"/usr/{mods}/updates/igb.ko"] == Mark.ADDED
    # the old copy the engine removes, and the depmod index it regenerates
    for base in ("", "/usr"):
        assert marks[f"{base}/{mods}/kernel/drivers/net/igb/igb.ko.xz"] == Mark.REMOVED
        assert marks[f"{base}/{mods}/modules.dep"] == Mark.REPLACED
        assert f"{base}/{mods}/modules.order" not in marks  # a depmod input, kept
        assert f"{base}/{mods}/kernel/drivers/net/e1000e.ko" not in marks
    # a file replaced through the symlink is a replacement, not an addition
    assert marks["/lib/firmware/a.bin"] == marks["/usr/lib/firmware/a.bin"] == Mark.REPLACED
    assert marks["/etc/shadow"] == Mark.REMOVED


def test_marks_without_the_image_are_additions_only() -> None:
    rec = r.Recipe()
    edits.put_driver(rec, r.Driver(Path("/h/igb.ko")))
    assert pending.image_marks(rec, [KVER], None) == {
        f"/lib/modules/{KVER}/updates/igb.ko": Mark.ADDED}


def test_changes_kinds_steps_and_areas() -> None:
    rec = r.Recipe()
    edits.put_iso_file(rec, "/EULA", Path("/h/EULA"))
    edits.put_driver(rec, r.Driver(Path("/h/igb.ko"), force=True))
    edits.require(rec, "mytool")
    rec.boot.append = ["atexit=shell"]
    img = real_layout()
    got = pending.changes(rec, lambda p: p == "/EULA",
                          lambda p: pending.image_exists(img, p), [KVER], show_path=str)
    assert [(c.step, c.area, c.kind) for c in got] == [
        (ChangeStep.BROWSE, ChangeArea.ISO_FILES, Mark.REPLACED),
        (ChangeStep.INSTALLER, ChangeArea.INSTALL_IMG, Mark.ADDED),
        (ChangeStep.PACKAGES, ChangeArea.DEPS, Mark.ADDED),
        (ChangeStep.IDENTITY, ChangeArea.BOOT, Mark.ADDED)]
    assert got[1].text == (f"driver igb.ko → /lib/modules/{KVER}/updates/igb.ko "
                           "(main kernel, vermagic check skipped)")
    assert got[0].text == "/EULA  ← /h/EULA"
    assert pending.steps_with_changes(rec) == {"browse", "installer", "packages", "identity"}
    # unknown existence (image not opened yet) is neither added nor replaced
    assert pending.changes(rec, lambda p: None, lambda p: None)[1].kind == Mark.CHANGED


def test_iso_marks() -> None:
    rec = r.Recipe()
    edits.add_package(rec, Path("/h/mytool-1.0-1.x86_64.rpm"))
    edits.toggle_package_remove(rec, "oldpkg")
    rec.boot.timeout = 3
    on_iso = {"/.treeinfo", "/repodata", "/boot/isolinux/isolinux.cfg", "/EFI/xenserver/grub.cfg"}
    marks = pending.iso_marks(rec, on_iso.__contains__, {"oldpkg": "/Packages/oldpkg-1.rpm"})
    assert marks == {
        "/Packages/mytool-1.0-1.x86_64.rpm": Mark.ADDED, "/Packages/oldpkg-1.rpm": Mark.REMOVED,
        "/repodata": Mark.REPLACED, "/.treeinfo": Mark.REPLACED,
        "/boot/isolinux/isolinux.cfg": Mark.REPLACED, "/EFI/xenserver/grub.cfg": Mark.REPLACED}
