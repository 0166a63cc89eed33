"""Shared fixtures: small XCP-ng-like ISOs built the way XCP-ng builds them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from xcptui.demoiso.builder import DemoOptions, build_demo_iso

_CACHE: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def _own_index_cache(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets an empty install.img index cache (never the user's), outside
    its tmp_path (tests list that)."""
    monkeypatch.setenv("XCPTUI_INDEX_DIR", str(tmp_path_factory.mktemp("index") / "idx"))


@pytest.fixture(scope="session")
def iso_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Build (once per option set) a demo ISO; returns its path. Treat it as read-only."""
    root = tmp_path_factory.mktemp("isos")

    def make(**kw: object) -> Path:
        opts = DemoOptions(**kw)  # type: ignore[arg-type]
        key = hashlib.sha1(repr(sorted(kw.items())).encode()).hexdigest()[:12]
        if key not in _CACHE:
            _CACHE[key] = build_demo_iso(root / f"demo-{key}.iso", opts)
        return _CACHE[key]

    return make


@pytest.fixture(scope="session")
def demo_iso(iso_factory: Callable[..., Path]) -> Path:
    """The default fixture: XCP-ng 8.3 layout, signed repo, bzip2 install.img, UEFI hybrid."""
    return iso_factory()
