"""One opened ISO and the recipe being built for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from xcptui.engine import InstallImage, IsoFacts, IsoSource, Progress, pending
from xcptui.engine.layout import INSTALL_IMG
from xcptui.tui.state.recipe_state import RecipeState
from xcptui.tui.widgets import fmt


@runtime_checkable
class SessionHost(Protocol):
    """What widgets read of the app (the app implements it; widgets never import it)."""

    session: Session | None
    clock: Callable[[], float]  # tests freeze it
    demo_iso: Callable[[], Path]


@dataclass
class Session(RecipeState):
    """The opened ISO, its facts and caches; the recipe state (keyword-only) is inherited."""

    source: Path
    iso: IsoSource
    facts: IsoFacts
    _image: InstallImage | None = None
    _image_lock: threading.Lock = field(default_factory=threading.Lock)
    rpm_headers: dict[str, Any] = field(default_factory=dict)  # ISO or host path -> header
    packages: list[Any] | None = None  # packages.list_packages(), once loaded

    # -- install.img --------------------------------------------------------------
    @property
    def has_image(self) -> bool:
        return self.iso.exists(INSTALL_IMG)

    @property
    def image_loaded(self) -> bool:
        return self._image is not None

    def image(self, progress: Progress | None = None,
              cancel: threading.Event | None = None) -> InstallImage:
        """The InstallImage (opened once, then cached). Call from a worker thread."""
        progress = progress or Progress()
        with self._image_lock:
            if self._image is None:
                off, size = self.iso.extent(INSTALL_IMG)
                self._image = InstallImage.open(self.iso.path, off, size, name="install.img",
                                                   progress=progress, cancel=cancel)
            return self._image

    def kernels(self) -> list[str]:
        if self._image is not None:
            return list(self._image.kernels())
        return list(self.facts.install_img.get("kernels", []))

    def img_exists(self, path: str) -> bool | None:
        if self._image is None:
            return None
        return pending.image_exists(self._image, path)

    # -- derived ------------------------------------------------------------------
    def changes(self) -> list[pending.Change]:
        return pending.changes(self.recipe, self.iso.exists, self.img_exists, self.kernels(),
                               fmt.display_path)

    def package_files(self) -> dict[str, str]:
        """Removal spec (name and NEVRA) -> /Packages/ path, once packages are listed."""
        out: dict[str, str] = {}
        for p in self.packages or []:
            path = getattr(p, "path", None) or f"/Packages/{getattr(p, 'filename', '')}"
            for key in (getattr(p, "name", None), getattr(p, "nevra", None)):
                if key:
                    out[str(key)] = str(path)
        return out

    def iso_marks(self) -> dict[str, pending.Mark]:
        return pending.iso_marks(self.recipe, self.iso.exists, self.package_files())

    def image_marks(self) -> dict[str, pending.Mark]:
        return pending.image_marks(self.recipe, self.kernels(), self._image)

    def close(self) -> None:
        self.iso.close()
