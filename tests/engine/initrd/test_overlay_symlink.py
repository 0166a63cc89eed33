"""A later install.img segment that turns a directory into a symlink (to "/", or out
of the tree): the merged view follows it safely, extract writes nothing outside DEST,
and an edit through it either lands inside the image or is one clear error."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from tests.installimg_util import demo_img, put
from xcptui.demoiso.newc import S_IFLNK, Node, write_newc
from xcptui.engine.errors import InputError
from xcptui.engine.initrd import installimg as ii
from xcptui.engine.initrd.extract import extract
from xcptui.engine.initrd.planner import plan


@pytest.mark.parametrize("target", ["/", "../../..", "etc"])
def test_directory_replaced_by_a_symlink(tmp_path: Path, target: str) -> None:
    overlay = write_newc([Node("etc", S_IFLNK | 0o777, target.encode())])
    p = put(tmp_path, demo_img() + gzip.compress(overlay))
    with ii.InstallImage.open(p) as img:
        e = img.get("etc")
        assert e is not None and e.type == "symlink" and e.segment == 1
        list(img.entries())
        img.resolve("etc/passwd")  # terminates, whatever it names
        dest = tmp_path / "out"
        dest.mkdir()
        outside = set(os.listdir(tmp_path))
        try:
            extract(img, "/", dest)
        except InputError as err:
            assert "\n" not in str(err)
        assert set(os.listdir(tmp_path)) == outside  # nothing written next to DEST
        for root, dirs, files in os.walk(dest):
            for n in dirs + files:
                q = Path(root) / n
                assert q.is_symlink() or q.resolve().is_relative_to(dest.resolve())
        if target == "etc":  # a loop: one line naming it
            with pytest.raises(InputError, match="too many symlinks resolving etc"):
                plan(img, [ii.AddFile("/etc/newfile", b"x\n")])
        else:  # the link is followed inside the image (clamped at its root), as at boot
            p2 = plan(img, [ii.AddFile("/etc/newfile", b"x\n")])
            assert p2.changes[0].startswith("add newfile (2 B"), p2.changes
            p2.close()
