"""Volume id validation.

ISO 9660 says the volume id is at most 32 "d-characters" (A-Z 0-9 _), but every
real XCP-ng ISO breaks that rule ("XCP-ng 8.3.0"), genisoimage and xorriso
accept it, and firmwares and Linux read it fine. So xcptui accepts printable
ASCII with these exceptions, each for a reason:

* ``" ' ` $ \\`` break the shell quoting of the scripts people feed ids to
  (``-V "$VOLID"`` in create-iso.sh / iso-remaster, udev rules);
* ``/`` cannot appear in the ``/dev/disk/by-label/`` symlink name (udev escapes it
  as ``\\x2f``, so scripts that look for the label by name miss it);
* ``* ?`` are shell wildcards (scripts glob ``/dev/disk/by-label/$ID``) and, with
  ``< > | :``, are reserved in Windows names; USB writers such as Rufus turn the
  id into a Windows drive label;
* leading or trailing spaces do not survive: the descriptor field is padded
  with spaces, so readers strip them.

Non-ASCII is refused (the field is bytes with no declared encoding) and the
id must not be empty. The volume id is cosmetic for XCP-ng: neither the boot
configs nor the installer look the media up by label (facts §2).
"""

from __future__ import annotations

from xcptui.engine.errors import InputError

MAX_VOLUME_ID_BYTES = 32
FORBIDDEN_CHARS = "\"'`$\\/*?<>|:"
RULES = (
    f"at most {MAX_VOLUME_ID_BYTES} printable ASCII characters, not starting or ending with "
    f"a space, without any of {' '.join(FORBIDDEN_CHARS)}"
)


def _shown(volume_id: str) -> str:
    return volume_id if len(volume_id) <= 48 else volume_id[:45] + "..."


def volume_id_problem(volume_id: str) -> str | None:
    """Why ``volume_id`` is not acceptable, or None. For inline validation in the TUI."""
    if not volume_id:
        return "volume id is empty"
    for ch in volume_id:
        if not ch.isascii():
            return f"volume id {_shown(volume_id)!r} contains non-ASCII {ch!r}; use ASCII only"
        if not ch.isprintable():
            return (f"volume id {_shown(volume_id)!r} contains control character "
                    f"{ch!r}")
    size = len(volume_id.encode("ascii"))
    if size > MAX_VOLUME_ID_BYTES:
        return (f"volume id {_shown(volume_id)!r} is {size} bytes; ISO 9660 allows at most "
                f"{MAX_VOLUME_ID_BYTES}")
    bad = sorted({ch for ch in volume_id if ch in FORBIDDEN_CHARS})
    if bad:
        return (f"volume id {volume_id!r} contains {' '.join(bad)}; allowed: {RULES}")
    if volume_id != volume_id.strip(" "):
        return (f"volume id {volume_id!r} starts or ends with a space, which readers strip "
                "(the field is space-padded)")
    return None


def validate_volume_id(volume_id: str) -> str:
    """Return ``volume_id`` unchanged, or raise InputError saying what is wrong."""
    problem = volume_id_problem(volume_id)
    if problem is not None:
        raise InputError(problem)
    return volume_id
