"""The recipe: the one language of change.

``model`` holds the dataclasses and what a recipe touches, ``toml_io`` the TOML
load/save with every key checked, ``edits`` the rules for changing a recipe one
step at a time (what the TUI does). ``from xcptui.engine import recipe`` gives all.
"""

from xcptui.engine.recipe import edits
from xcptui.engine.recipe.model import (
    AnswerfileScript,
    AnswerfileSection,
    BootSection,
    DepsSection,
    Driver,
    DriverDisk,
    DriversSection,
    InstallerFile,
    InstallerRemove,
    InstallerRpm,
    InstallerSection,
    IsoFile,
    IsoRemove,
    IsoSection,
    PackagesSection,
    Recipe,
    SigningSection,
)
from xcptui.engine.recipe.toml_io import dumps, load, loads, save

__all__ = [
    "AnswerfileScript", "AnswerfileSection", "BootSection", "DepsSection", "Driver",
    "DriverDisk", "DriversSection", "InstallerFile", "InstallerRemove", "InstallerRpm",
    "InstallerSection", "IsoFile",
    "IsoRemove", "IsoSection", "PackagesSection", "Recipe", "SigningSection",
    "dumps", "edits", "load", "loads", "save",
]
