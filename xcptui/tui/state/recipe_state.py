"""The recipe being built and what was last saved, to tell when it has unsaved edits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xcptui.engine import recipe as recipe_mod


@dataclass(kw_only=True)
class RecipeState:
    recipe: recipe_mod.Recipe = field(default_factory=recipe_mod.Recipe)
    saved_path: Path | None = None  # where the user last saved (or loaded) the recipe
    _saved_text: str = ""  # the recipe's TOML as last saved; "" until __post_init__

    def __post_init__(self) -> None:
        if not self._saved_text:
            self._saved_text = recipe_mod.dumps(recipe_mod.Recipe())

    def recipe_text(self) -> str:
        return recipe_mod.dumps(self.recipe)

    @property
    def dirty(self) -> bool:
        """True when the recipe differs from what was last saved or loaded."""
        return self.recipe_text() != self._saved_text

    def mark_saved(self, path: Path | None) -> None:
        self.saved_path = path
        self._saved_text = self.recipe_text()
