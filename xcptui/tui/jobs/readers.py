"""Engine reads the screens need, run inside worker threads (never on the UI loop)."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from xcptui.engine import (
    InputError,
    ModInfo,
    Progress,
    RpmInfo,
    read_modinfo,
    read_rpm,
    validate_answerfile,
)
from xcptui.engine import list_packages as engine_list_packages
from xcptui.tui.state.session import Session

PREVIEW_BYTES = 64 * 1024  # text previews show at most this much
MODINFO_MAX = 64 * 1024 * 1024  # .ko files bigger than this are not parsed for a preview
EDIT_MAX = 8 * 1024 * 1024  # files bigger than this are not offered to $EDITOR
ANSWERFILE_READ_MAX = 4 * 1024 * 1024  # past the engine's answerfile limit: still refused


def rpm_info_host(s: Session, path: Path) -> RpmInfo:
    """RpmInfo of an RPM on the host (cached by path)."""
    key = f"host:{Path(path).resolve()}"
    if key not in s.rpm_headers:
        s.rpm_headers[key] = read_rpm(Path(path), name=Path(path).name)
    return s.rpm_headers[key]


def rpm_info_iso(s: Session, iso_path: str, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> RpmInfo:
    """RpmInfo of an RPM on the ISO: copied to a temporary file (streamed), then read."""
    progress = progress or Progress()
    key = f"iso:{iso_path}"
    if key not in s.rpm_headers:
        with tempfile.TemporaryDirectory(prefix="xcptui-rpm-") as td:
            written = s.iso.extract(iso_path, Path(td), progress, cancel)
            if not written:
                raise InputError(f"{iso_path}: could not be copied out of the ISO")
            name = iso_path.rsplit("/", 1)[-1]
            info = read_rpm(written[0], href=iso_path.lstrip("/"), name=name)
            info.path = None
            s.rpm_headers[key] = info
    return s.rpm_headers[key]


def cached_rpm_info(s: Session, iso_path: str) -> Any | None:
    return s.rpm_headers.get(f"iso:{iso_path}")


def modinfo(data: bytes, label: str) -> ModInfo:
    return read_modinfo(data, label)


def vermagic_verdict(info: Any, kernels: list[str]) -> tuple[str | None, str]:
    """(matching kernel or None, one-line verdict) for a module against the image kernels."""
    built_for = getattr(info, "kernel", "") or ""
    if not kernels:
        return None, f"built for {built_for or '?'}; the image's kernels are not known yet"
    if built_for in kernels:
        which = "main kernel" if built_for == kernels[0] else "kernel-alt"
        return built_for, f"vermagic matches the {which} {built_for}"
    return None, (f"vermagic says {built_for or 'nothing'}: matches none of the image's "
                  f"kernels ({', '.join(kernels)})")


def read_for_edit_iso(s: Session, path: str) -> bytes:
    e = s.iso.entry(path)
    if e.size > EDIT_MAX:
        raise InputError(f"{path}: {e.size} bytes is too big to edit here; extract it instead")
    return s.iso.read(path)


def read_for_edit_img(s: Session, path: str) -> bytes:
    img = s.image()
    e = img.get(path.strip("/"))
    if e is None:
        raise InputError(f"install.img: no such file: {path}")
    if e.size > EDIT_MAX:
        raise InputError(f"install.img:{path}: too big to edit here; extract it instead")
    return bytes(img.read(path.strip("/")))


def list_packages(s: Session, progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> list[Any]:
    progress = progress or Progress()
    if s.packages is None:
        s.packages = list(engine_list_packages(s.iso, progress, cancel))
    return s.packages


def answerfile_problem(path: Path) -> str | None:
    """Why ``path`` cannot be embedded as an answerfile (one line naming it), or None."""
    try:
        with open(path, "rb") as f:
            data = f.read(ANSWERFILE_READ_MAX)
    except OSError as e:
        return f"{path}: cannot read: {e.strerror}"
    try:
        validate_answerfile(data, Path(path).name)
    except InputError as e:
        return str(e)
    return None
