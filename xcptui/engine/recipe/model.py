"""The recipe: the one language of change.

A recipe is a TOML file. The TUI builds one, the CLI replays it, the build
applies it. Paths in a recipe are relative to the recipe file. Every key is
checked: an unknown key, a wrong type or a missing source file is a
RecipeError naming the recipe file, the line and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class IsoSection:
    volume_id: str | None = None  # None: keep the source's
    build_number: str | None = None  # .treeinfo [build] number
    product_version: str | None = None  # .treeinfo product version (rebranding)
    files: list[IsoFile] = field(default_factory=list)  # add/replace files on the ISO
    remove: list[IsoRemove] = field(default_factory=list)  # remove files/dirs from the ISO


@dataclass
class IsoFile:
    source: Path
    dest: str  # absolute path on the ISO, e.g. "/EULA"


@dataclass
class IsoRemove:
    path: str


@dataclass
class BootSection:
    append: list[str] = field(default_factory=list)  # dom0 params for every installer entry
    remove: list[str] = field(default_factory=list)  # dom0 params removed (name or name=value)
    default: str | None = None  # label of the default entry
    timeout: int | None = None  # seconds
    #: efiboot.img's grub.cfg searches for /.xcptui-<build id> instead of /install.img
    unique_search: bool = False


@dataclass
class Driver:
    source: Path
    kernel: str | None = None  # kernel version tree; None: main kernel
    dest: str | None = None  # default lib/modules/<kver>/updates/<name>.ko
    force: bool = False  # skip the vermagic and symbol-CRC checks
    #: kernel trees it goes into: "main", "alt", "all" or unames; empty: kernel, else main
    kernels: list[str] = field(default_factory=list)


@dataclass
class DriverDisk:
    """A driver disk (ISO) or driver RPM: its modules into install.img, its RPMs into
    Packages/ and required from xcp-ng-deps."""

    source: Path
    kernels: list[str] = field(default_factory=list)  # empty: the trees it has modules for
    force: bool = False  # a vermagic or symbol-CRC mismatch only warns


@dataclass
class DriversSection:
    disk: list[DriverDisk] = field(default_factory=list)


@dataclass
class InstallerFile:
    source: Path
    dest: str
    mode: int | None = None  # None: keep (replace) or 0644/0755 (new)
    uid: int | None = None
    gid: int | None = None


@dataclass
class InstallerRemove:
    path: str


@dataclass
class InstallerRpm:
    source: Path


@dataclass
class InstallerSection:
    drivers: list[Driver] = field(default_factory=list)
    files: list[InstallerFile] = field(default_factory=list)
    remove: list[InstallerRemove] = field(default_factory=list)
    rpms: list[InstallerRpm] = field(default_factory=list)


@dataclass
class PackagesSection:
    add: list[Path] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)  # name or name-version-release.arch
    downgrade: bool = False
    auto_require: bool = False
    force: bool = False  # build even if the dependency closure is broken


@dataclass
class DepsSection:
    require: list[str] = field(default_factory=list)  # "name" or "name >= 1.2"
    drop: list[str] = field(default_factory=list)


@dataclass
class SigningSection:
    mode: str = "unsigned"  # "unsigned" | "gpg"
    key: str | None = None  # gpg key id for mode = "gpg"
    #: "keep" | "off" | None (auto: "off" when mode = "gpg" and the repository changes)
    installer_gpgcheck: str | None = None


@dataclass
class AnswerfileScript:
    source: Path
    dest: str


@dataclass
class AnswerfileSection:
    source: Path | None = None
    dest: str = "/answerfile.xml"
    #: labels; empty: every installer entry but shell and safe; ["all"]: every one
    entries: list[str] = field(default_factory=list)
    url: str | None = None
    answerfile_device: str | None = None
    network_device: str | None = None
    scripts: list[AnswerfileScript] = field(default_factory=list)


@dataclass
class Recipe:
    iso: IsoSection = field(default_factory=IsoSection)
    boot: BootSection = field(default_factory=BootSection)
    installer: InstallerSection = field(default_factory=InstallerSection)
    packages: PackagesSection = field(default_factory=PackagesSection)
    deps: DepsSection = field(default_factory=DepsSection)
    drivers: DriversSection = field(default_factory=DriversSection)
    signing: SigningSection | None = None  # None: only touched when the repo changes
    answerfile: AnswerfileSection | None = None
    path: Path | None = None  # the file it was loaded from (for messages)

    def is_empty(self) -> bool:
        """True when applying this recipe changes nothing."""
        return self == Recipe(path=self.path)

    def touches_install_img(self) -> bool:
        i = self.installer
        af = self.answerfile
        return bool(
            i.drivers or i.files or i.remove or i.rpms or self.drivers.disk
            or (af is not None and af.source is not None)
        )

    def touches_repo(self) -> bool:
        p, d = self.packages, self.deps
        return bool(p.add or p.remove or d.require or d.drop or self.drivers.disk)
