"""Build small real RPMs with rpmbuild for demo and test ISOs.

Payloads are gzip or xz compressed (what EL7's rpm reads; Debian's rpm would
default to zstd).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from xcptui.engine.tools import require


@dataclass
class RpmSpec:
    name: str
    version: str
    release: str
    arch: str = "noarch"
    summary: str = ""
    requires: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    obsoletes: list[str] = field(default_factory=list)
    # payload: absolute path in the installed system -> (mode, content); content None = dir
    files: dict[str, tuple[int, bytes | None]] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    epoch: int | None = None
    post: str = ""

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}.rpm"


def _spec_text(s: RpmSpec, buildroot_list: list[str]) -> str:
    lines = [
        f"Name: {s.name}",
        f"Version: {s.version}",
        f"Release: {s.release}",
        f"Summary: {s.summary or s.name + ' (xcptui demo package)'}",
        "License: GPLv2",
        f"BuildArch: {s.arch}",
        "AutoReqProv: no",
    ]
    if s.epoch is not None:
        lines.append(f"Epoch: {s.epoch}")
    lines += [f"Requires: {r}" for r in s.requires]
    lines += [f"Provides: {p}" for p in s.provides]
    lines += [f"Conflicts: {c}" for c in s.conflicts]
    lines += [f"Obsoletes: {o}" for o in s.obsoletes]
    lines += [
        "",
        "%description",
        f"{s.name}: a small package made by xcptui for its demo and test ISOs.",
        "",
        "%install",
        "cp -a %{_sourcedir}/root/. %{buildroot}/",
        "",
        "%files",
        "%defattr(-,root,root,-)",
        *buildroot_list,
    ]
    if s.post:
        lines += ["", "%post", s.post]
    return "\n".join(lines) + "\n"


def build_rpms(specs: list[RpmSpec], outdir: Path, payload: str = "gzip") -> list[Path]:
    """Build every spec into ``outdir``; return the RPM paths in order."""
    rpmbuild = require("rpmbuild", "build the demo ISO's RPMs")
    outdir.mkdir(parents=True, exist_ok=True)
    payload_macro = {"gzip": "w9.gzdio", "xz": "w6.xzdio"}[payload]
    results: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="xcptui-rpmbuild-") as td:
        top = Path(td)
        for s in specs:
            work = top / s.name
            src = work / "SOURCES" / "root"
            src.mkdir(parents=True)
            flist: list[str] = []
            for path, (mode, content) in sorted(s.files.items()):
                dest = src / path.lstrip("/")
                if content is None:
                    dest.mkdir(parents=True, exist_ok=True)
                    flist.append(f"%dir %attr({mode:o},root,root) {path}")
                else:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(content)
                    flist.append(f"%attr({mode:o},root,root) {path}")
            for path, target in sorted(s.symlinks.items()):
                dest = src / path.lstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, dest)
                flist.append(path)
            spec = work / f"{s.name}.spec"
            spec.write_text(_spec_text(s, flist))
            cmd = [
                rpmbuild, "-bb", "--quiet",
                "--define", f"_topdir {work}",
                "--define", f"_binary_payload {payload_macro}",
                "--define", "_build_id_links none",
                "--define", "_buildhost xcptui-demo",
                "--define", "__os_install_post %{nil}",
                "--define", "_binary_filedigest_algorithm 8",
                "--define", "use_source_date_epoch_as_buildtime 1",
                "--define", "clamp_mtime_to_source_date_epoch 1",
                str(spec),
            ]
            env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", LC_ALL="C")
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise RuntimeError(f"rpmbuild failed for {s.name}: {proc.stderr.strip()}")
            built = next((work / "RPMS").rglob("*.rpm"))
            rpm_path = outdir / built.name
            shutil.move(str(built), str(rpm_path))
            results.append(rpm_path)
    return results
