"""A small writer of the RPM file format, for rebuilding a meta package (xcp-ng-deps).

An RPM file is: a 96-byte *lead* (legacy, still checked for its magic), a *signature
header* padded to 8 bytes, the main *header*, then the compressed cpio *payload*.
Both headers share one structure: an intro (magic ``8e ad e8 01``, 4 reserved bytes,
the number of index entries, the size of the data store), the index entries (tag, type,
offset, count; big-endian int32s, sorted by tag) and the data store. Packages built by
rpm carry an *immutable region*: the first index entry (tag 63 in the header, 62 in the
signature header, type BIN, count 16) points at a 16-byte trailer at the end of the data
store, which is an index entry again whose negative offset is minus the size of the
region's index (16 x number of entries).

What :func:`rebuild_package` does, and nothing more:

* main header: new release (and the package's own ``name = EVR`` Provides), Requires
  edited (names, RPMSENSE flags and versions kept in their three parallel arrays, sorted
  by name like rpmbuild writes them); every other tag is copied byte for byte, the data
  store is re-laid out with each type's alignment;
* signature header: signatures are dropped (they cannot be valid any more), the header
  SHA1 and SHA256 digests, the header+payload MD5 and the header+payload size are
  recomputed; other entries (payload size, reserved space) are kept;
* lead: the name field gets the new name-[epoch:]version-release;
* payload: copied unchanged, so its own digests in the header stay valid.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from xcptui.engine.errors import InputError
from xcptui.engine.rpm.header import (
    ENTRY_SIZE,
    HEADER_MAGIC,
    LEAD_SIZE,
    SENSE_EQUAL,
    SENSE_GREATER,
    SENSE_LESS,
    SENSE_RPMLIB,
    T_BIN,
    T_INT32,
    T_INT64,
    T_STRING,
    T_STRING_ARRAY,
    TAG_HEADERSIGNATURES,
    TYPE_ALIGN,
    Dep,
    HeaderBlock,
    entry_data_length,
    read_layout,
)

# main header tags used here
TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_PROVIDENAME = 1047
TAG_REQUIREFLAGS = 1048
TAG_REQUIRENAME = 1049
TAG_REQUIREVERSION = 1050
TAG_PROVIDEFLAGS = 1112
TAG_PROVIDEVERSION = 1113

# signature header tags
SIG_DSA = 267
SIG_RSA = 268
SIG_SHA1 = 269
SIG_LONGSIZE = 270
SIG_SHA256 = 273
SIG_FILESIGNATURES = 274
SIG_FILESIGNATURELENGTH = 275
SIG_VERITYSIGNATURES = 276
SIG_VERITYSIGNATUREALGO = 277
SIG_OPENPGP = 278
SIG_SIZE = 1000
SIG_PGP = 1002
SIG_MD5 = 1004
SIG_GPG = 1005
SIG_PGP5 = 1006
SIGNATURE_TAGS = frozenset({
    SIG_DSA, SIG_RSA, SIG_PGP, SIG_GPG, SIG_PGP5, SIG_FILESIGNATURES,
    SIG_FILESIGNATURELENGTH, SIG_VERITYSIGNATURES, SIG_VERITYSIGNATUREALGO, SIG_OPENPGP,
})
DIGEST_TAGS = frozenset({SIG_SHA1, SIG_SHA256, SIG_MD5, SIG_SIZE, SIG_LONGSIZE})

REGION_TRAILER_SIZE = 16
TAG_HEADERIMAGE = 61  # legacy signature-region trailers carry this tag
_COMPARE = SENSE_LESS | SENSE_GREATER | SENSE_EQUAL


@dataclass
class Entry:
    """One header entry with its raw (big-endian) data bytes."""

    tag: int
    type: int
    count: int
    data: bytes


def encode_strings(values: Iterable[str]) -> bytes:
    return b"".join(v.encode("utf-8") + b"\0" for v in values)


def encode_int32(values: Iterable[int]) -> bytes:
    vals = list(values)
    return struct.pack(f">{len(vals)}I", *vals)


class Header:
    """A header as an ordered set of entries inside one immutable region."""

    def __init__(self, entries: list[Entry], region_tag: int) -> None:
        self.region_tag = region_tag
        self._entries: dict[int, Entry] = {}
        for e in entries:
            self._entries[e.tag] = e

    @classmethod
    def from_block(cls, block: HeaderBlock, label: str) -> Header:
        """Take apart a parsed header; it must be one immutable region (as rpm writes)."""
        region = block.region_tag
        if region is None:
            raise InputError(f"{label}: cannot rewrite: its header has no immutable region "
                             "(built by a very old rpm?)")
        tag, ty, off, cnt = block.entries[0]
        if ty != T_BIN or cnt != REGION_TRAILER_SIZE or off + REGION_TRAILER_SIZE > len(
                block.data):
            raise InputError(f"{label}: cannot rewrite: bad region tag {tag}")
        ttag, tty, toff, tcnt = struct.unpack(">iiii", block.data[off:off + 16])
        if tag == TAG_HEADERSIGNATURES and ttag == TAG_HEADERIMAGE:
            ttag = tag  # legacy signature regions name the wrong tag; rpm accepts it too
        ril = -toff // ENTRY_SIZE
        if ttag != tag or tty != T_BIN or tcnt != 16 or -toff % ENTRY_SIZE:
            raise InputError(f"{label}: cannot rewrite: bad region trailer")
        if ril != len(block.entries):
            raise InputError(f"{label}: cannot rewrite: header has entries outside its "
                             f"immutable region ({len(block.entries) - ril})")
        entries = []
        for etag, ety, eoff, ecnt in block.entries[1:]:
            n = entry_data_length(ety, ecnt, block.data, eoff)
            entries.append(Entry(etag, ety, ecnt, block.data[eoff:eoff + n]))
        return cls(entries, region)

    # -- access ------------------------------------------------------------------------

    def tags(self) -> list[int]:
        return sorted(self._entries)

    def get(self, tag: int) -> Entry | None:
        return self._entries.get(tag)

    def remove(self, tag: int) -> None:
        self._entries.pop(tag, None)

    def set(self, tag: int, ty: int, count: int, data: bytes) -> None:
        self._entries[tag] = Entry(tag, ty, count, data)

    def string(self, tag: int) -> str | None:
        e = self._entries.get(tag)
        if e is None:
            return None
        return e.data.split(b"\0", 1)[0].decode("utf-8", "replace")

    def strings(self, tag: int) -> list[str]:
        e = self._entries.get(tag)
        if e is None:
            return []
        return [s.decode("utf-8", "replace") for s in e.data.split(b"\0")[:e.count]]

    def ints(self, tag: int) -> list[int]:
        e = self._entries.get(tag)
        if e is None:
            return []
        if e.type == T_INT32:
            return list(struct.unpack(f">{e.count}I", e.data))
        if e.type == T_INT64:
            return list(struct.unpack(f">{e.count}Q", e.data))
        raise ValueError(f"tag {tag} is not an integer array")

    def set_string(self, tag: int, value: str) -> None:
        self.set(tag, T_STRING, 1, encode_strings([value]))

    def set_strings(self, tag: int, values: list[str]) -> None:
        self.set(tag, T_STRING_ARRAY, len(values), encode_strings(values))

    def set_int32s(self, tag: int, values: list[int]) -> None:
        self.set(tag, T_INT32, len(values), encode_int32(values))

    # -- serialisation -----------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Intro + index + data store, entries sorted by tag, region tag first."""
        index: list[bytes] = []
        store = bytearray()
        for tag in sorted(self._entries):
            e = self._entries[tag]
            pad = -len(store) % TYPE_ALIGN.get(e.type, 1)
            store += b"\0" * pad
            index.append(struct.pack(">iiii", e.tag, e.type, len(store), e.count))
            store += e.data
        il = len(index) + 1
        trailer_off = len(store)
        store += struct.pack(">iiii", self.region_tag, T_BIN, -il * ENTRY_SIZE,
                             REGION_TRAILER_SIZE)
        region = struct.pack(">iiii", self.region_tag, T_BIN, trailer_off, REGION_TRAILER_SIZE)
        intro = HEADER_MAGIC + b"\0\0\0\0" + struct.pack(">ii", il, len(store))
        return intro + region + b"".join(index) + bytes(store)


# --- dependencies -----------------------------------------------------------------------


@dataclass
class RawDep:
    name: str
    flags: int
    version: str

    @property
    def editable(self) -> bool:
        """Plain Requires (not rpmlib(), not a scriptlet-only one)."""
        return not (self.flags & SENSE_RPMLIB) and not (self.flags & ~_COMPARE)


def read_requires(h: Header) -> list[RawDep]:
    names = h.strings(TAG_REQUIRENAME)
    flags = h.ints(TAG_REQUIREFLAGS) if h.get(TAG_REQUIREFLAGS) else [0] * len(names)
    versions = h.strings(TAG_REQUIREVERSION) or [""] * len(names)
    if not (len(names) == len(flags) == len(versions)):
        raise ValueError("Requires arrays differ in length")
    return [RawDep(n, f, v) for n, f, v in zip(names, flags, versions, strict=True)]


def write_requires(h: Header, deps: list[RawDep]) -> None:
    if not deps:
        for t in (TAG_REQUIRENAME, TAG_REQUIREFLAGS, TAG_REQUIREVERSION):
            h.remove(t)
        return
    h.set_strings(TAG_REQUIRENAME, [d.name for d in deps])
    h.set_int32s(TAG_REQUIREFLAGS, [d.flags for d in deps])
    h.set_strings(TAG_REQUIREVERSION, [d.version for d in deps])


def edit_requires(deps: list[RawDep], require: list[Dep], drop: list[str],
                  label: str) -> list[RawDep]:
    """Drop every Requires named in ``drop``; add/replace ``require`` (sorted by name)."""
    out = list(deps)
    for name in drop:
        if not any(d.name == name and not d.flags & SENSE_RPMLIB for d in out):
            raise InputError(f"{label}: deps.drop: it does not require {name!r}")
        out = [d for d in out if d.name != name or d.flags & SENSE_RPMLIB]
    for dep in require:
        out = [d for d in out if not (d.name == dep.name and d.editable)]
        new = RawDep(dep.name, dep.sense, dep.evr)
        key = new.name.encode()
        pos = len(out)
        for i, d in enumerate(out):
            if d.name.encode() > key:
                pos = i
                break
        out.insert(pos, new)
    return out


# --- the rebuild ------------------------------------------------------------------------


@dataclass
class RebuiltRpm:
    path: Path
    name: str
    version: str
    release: str
    arch: str
    requires: list[str]  # as `rpm -qp --requires` prints them


def format_dep(d: RawDep) -> str:
    if not d.flags & _COMPARE or not d.version:
        return d.name
    op = {SENSE_LESS: "<", SENSE_GREATER: ">", SENSE_EQUAL: "=",
          SENSE_LESS | SENSE_EQUAL: "<=", SENSE_GREATER | SENSE_EQUAL: ">="}.get(
        d.flags & _COMPARE, "?")
    return f"{d.name} {op} {d.version}"


def _lead_with_name(lead: bytes, nvr: str) -> bytes:
    name = nvr.encode("utf-8")[:65]
    return lead[:10] + name + b"\0" * (66 - len(name)) + lead[76:]


def rebuild_package(src: Path, dest_dir: Path, *, release: str, require: list[Dep] | None = None,
                    drop: list[str] | None = None, label: str | None = None) -> RebuiltRpm:
    """Write a copy of ``src`` with a new release and edited Requires into ``dest_dir``.

    Returns where it went (named ``name-version-release.arch.rpm``). The source file is
    not modified. InputError when the RPM cannot be rebuilt safely.
    """
    label = label or src.name
    lay = read_layout(src, label)
    if lay.is_source:
        raise InputError(f"{label}: is a source RPM")
    hdr = Header.from_block(lay.header, label)
    sig = Header.from_block(lay.sig, f"{label} (signature header)")
    name, version = hdr.string(TAG_NAME), hdr.string(TAG_VERSION)
    old_release = hdr.string(TAG_RELEASE)
    arch = hdr.string(1022) or "noarch"
    if not name or not version or old_release is None:
        raise InputError(f"{label}: header has no name, version or release")
    if not release or any(c.isspace() or c in "-/" for c in release):
        raise InputError(f"{label}: {release!r} is not a valid release")

    # release and the package's own "name = EVR" provide
    epoch_vals = hdr.ints(TAG_EPOCH) if hdr.get(TAG_EPOCH) else []
    hdr.set_string(TAG_RELEASE, release)
    pnames = hdr.strings(TAG_PROVIDENAME)
    pvers = hdr.strings(TAG_PROVIDEVERSION)
    pflags = hdr.ints(TAG_PROVIDEFLAGS) if hdr.get(TAG_PROVIDEFLAGS) else []
    if pnames and len(pnames) == len(pvers) == len(pflags):
        prefix = f"{epoch_vals[0]}:" if epoch_vals else ""
        olds = {f"{prefix}{version}-{old_release}", f"0:{version}-{old_release}",
                f"{version}-{old_release}"}
        changed = False
        for i, (pn, pv, pf) in enumerate(zip(pnames, pvers, pflags, strict=True)):
            if pn == name and pf & _COMPARE == SENSE_EQUAL and pv in olds:
                keep = pv.split(":", 1)[0] + ":" if ":" in pv else ""
                pvers[i] = f"{keep}{version}-{release}"
                changed = True
        if changed:
            e = hdr.get(TAG_PROVIDEVERSION)
            assert e is not None
            hdr.set(TAG_PROVIDEVERSION, e.type, len(pvers), encode_strings(pvers))

    # Requires
    try:
        deps = read_requires(hdr)
    except ValueError as e:
        raise InputError(f"{label}: cannot rewrite: {e}") from None
    deps = edit_requires(deps, require or [], drop or [], label)
    write_requires(hdr, deps)

    header_bytes = hdr.to_bytes()
    with open(src, "rb") as fp:
        fp.seek(lay.payload_offset)
        payload = fp.read()

    # signature header: drop signatures, recompute digests and sizes
    for tag in list(sig.tags()):
        if tag in SIGNATURE_TAGS or tag in DIGEST_TAGS:
            sig.remove(tag)
    sig.set_string(SIG_SHA1, hashlib.sha1(header_bytes).hexdigest())
    sig.set_string(SIG_SHA256, hashlib.sha256(header_bytes).hexdigest())
    md5 = hashlib.md5(header_bytes)
    md5.update(payload)
    sig.set(SIG_MD5, T_BIN, 16, md5.digest())
    total = len(header_bytes) + len(payload)
    if total < 1 << 32:
        sig.set_int32s(SIG_SIZE, [total])
    else:
        sig.set(SIG_LONGSIZE, T_INT64, 1, struct.pack(">Q", total))
    sig_bytes = sig.to_bytes()
    sig_bytes += b"\0" * (-len(sig_bytes) % 8)

    epoch = f"{epoch_vals[0]}:" if epoch_vals else ""
    lead = _lead_with_name(lay.lead, f"{name}-{epoch}{version}-{release}")  # rpm writes NEVR
    out_name = f"{name}-{version}-{release}.{arch}.rpm"
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_name}.", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(lead)
            out.write(sig_bytes)
            out.write(header_bytes)
            out.write(payload)
        os.chmod(tmp, 0o644)
        final = dest_dir / out_name
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    assert len(lead) == LEAD_SIZE
    return RebuiltRpm(final, name, version, release, arch, [format_dep(d) for d in deps])
