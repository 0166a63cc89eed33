"""A persistent index of install.img, so the image is decoded once per content, ever.

What the one decoding pass learns (segments, bzip2 block map, every header) is kept
under ``$XDG_CACHE_HOME/xcptui/index`` (``XCPTUI_INDEX_DIR`` overrides it,
``XCPTUI_INDEX_CACHE=off`` disables it), one file per content, named by a cheap
fingerprint: the extent's size and sixteen sampled 64 KiB blocks.

Why a stale entry can never be used: the fingerprint only finds a candidate. Each
entry stores the sha256 of the whole extent it was made from, and a candidate is used
only after that digest is confirmed, either by hashing the extent now (~0.3 s for
110 MB, no decode) or by a "seen" memo: the (dev, inode, size, mtime, ctime, offset)
of a file whose extent was hashed to that digest. The kernel updates ctime on every
write and no unprivileged call can set it, so an unchanged identity means unchanged
bytes; a memo is recorded only when the file's ctime was RACY_SECONDS older than the
hashing (git's "racy clean" rule), so a write in the same timestamp tick cannot hide.

Files are JSON + zlib (never pickle), versioned, written atomically (tempfile +
rename), validated on load (``index_codec``) and ignored (then rewritten) when
corrupt or from another version; the directory is bounded (LRU by mtime) and safe
to delete at any time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xcptui.engine.events import check

FORMAT = 1  # bump whenever the scan learns something new or the layout changes
MAGIC = b"XCPTIDX\0"
_HEAD = struct.Struct(">8sIII")  # magic, format, summary length, body length
BOUND = 256 << 20  # bytes for the whole directory
SAMPLES, SAMPLE = 16, 64 << 10
RACY_SECONDS = 3.0
MAX_SEEN = 16
SUFFIX = ".xidx"


class IndexCorrupt(ValueError):
    """An index file that does not parse or does not describe a sane image."""


def cache_root() -> Path | None:
    if os.environ.get("XCPTUI_INDEX_CACHE", "").lower() in ("0", "off", "no", "false"):
        return None
    env = os.environ.get("XCPTUI_INDEX_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "xcptui" / "index"


def fingerprint(region: Any) -> str:
    """size + sampled blocks (first, last, evenly spaced): finds a candidate, proves nothing."""
    size = region.size
    h = hashlib.sha256(b"xcptui-index-fp-1")
    h.update(size.to_bytes(8, "big"))
    if size <= SAMPLES * SAMPLE:
        h.update(region.pread(size, 0))
    else:
        for k in range(SAMPLES):
            h.update(region.pread(SAMPLE, (size - SAMPLE) * k // (SAMPLES - 1)))
    return h.hexdigest()[:40]


def extent_sha256(region: Any, cancel: threading.Event | None = None) -> str:
    h = hashlib.sha256()
    pos = 0
    while pos < region.size:
        check(cancel)
        data = region.pread(4 << 20, pos)
        if not data:
            break
        h.update(data)
        pos += len(data)
    return h.hexdigest()


def identity(region: Any) -> list[int] | None:
    """What a "seen" memo records about the file holding ``region``."""
    try:
        st = os.fstat(region._fd)  # the very file we read, not whatever the path is now
    except (OSError, AttributeError):
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
            region.offset, region.size]


class IndexCache:
    """The index directory. Every failure to read or write it is silent: it is a cache."""

    def __init__(self, root: Path, bound: int = BOUND) -> None:
        self.root, self.bound = root, bound

    @classmethod
    def default(cls) -> IndexCache | None:
        root = cache_root()
        return cls(root) if root is not None else None

    def path_for(self, fp: str) -> Path:
        return self.root / f"{fp}{SUFFIX}"

    # -- reading -------------------------------------------------------------

    def lookup(self, region: Any, cancel: threading.Event | None = None,
               sha256: str | None = None) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(summary, body) of the entry for ``region``'s content, confirmed by digest.

        ``sha256`` is the extent's digest when the caller already has it.
        """
        fp = fingerprint(region)
        path = self.path_for(fp)
        try:
            summary, body = read_file(path)
        except FileNotFoundError:
            return None
        except (OSError, IndexCorrupt):
            self._drop(path)
            return None
        if summary.get("fp") != fp or summary.get("size") != region.size:
            self._drop(path)
            return None
        ident = identity(region)
        if sha256 is None and (ident is None or ident not in self._seen(fp)):
            started = time.time()
            sha256 = extent_sha256(region, cancel)
            if sha256 == summary.get("sha256"):
                self.remember(fp, region, started)
        if sha256 is not None and sha256 != summary.get("sha256"):
            return None  # same samples, other bytes: the caller's full scan replaces it
        with contextlib.suppress(OSError):
            os.utime(path)  # LRU
        return summary, body

    def summaries(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Every readable entry's summary (small: read without the body)."""
        try:
            paths = sorted(self.root.glob(f"*{SUFFIX}"))
        except OSError:
            return
        for p in paths:
            try:
                with open(p, "rb") as f:
                    head = f.read(_HEAD.size)
                    slen = _check_head(head)[0]
                    yield p, _unpack(f.read(slen))
            except (OSError, IndexCorrupt):
                continue

    def _seen(self, fp: str) -> list[list[int]]:
        try:
            data = json.loads(self.path_for(fp).with_suffix(".seen").read_text())
        except (OSError, ValueError):
            return []
        return [x for x in data if isinstance(x, list)] if isinstance(data, list) else []

    def remember(self, fp: str, region: Any, hashed_at: float) -> None:
        """Record that the file holding ``region`` hashed to the entry's digest."""
        ident = identity(region)
        if ident is None or ident[4] / 1e9 > hashed_at - RACY_SECONDS:
            return  # changed too recently: a write in the same tick could go unseen
        seen = [s for s in self._seen(fp) if s != ident][-(MAX_SEEN - 1):] + [ident]
        self._atomic(self.path_for(fp).with_suffix(".seen"), json.dumps(seen).encode())

    # -- writing -------------------------------------------------------------

    def store(self, region: Any, summary: dict[str, Any], body: dict[str, Any],
              sha256: str, hashed_at: float) -> None:
        fp = fingerprint(region)
        summary = {**summary, "v": FORMAT, "fp": fp, "size": region.size, "sha256": sha256}
        s = zlib.compress(json.dumps(summary, separators=(",", ":")).encode(), 6)
        b = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 6)
        blob = _HEAD.pack(MAGIC, FORMAT, len(s), len(b)) + s + b
        if len(blob) > self.bound // 4:
            return  # a pathological image: not worth a quarter of the cache
        if self._atomic(self.path_for(fp), blob):
            self.remember(fp, region, hashed_at)
            self.enforce_bound(keep=self.path_for(fp))

    def _atomic(self, path: Path, data: bytes) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            return False
        return True

    def enforce_bound(self, keep: Path | None = None) -> None:
        """Delete the least recently used entries until the directory fits ``bound``."""
        try:
            files = [(p.stat().st_mtime, p.stat().st_size, p)
                     for p in self.root.glob(f"*{SUFFIX}")]
        except OSError:
            return
        total = sum(s for _, s, _ in files)
        for _, size, p in sorted(files, key=lambda t: t[0]):
            if total <= self.bound:
                break
            if p == keep:
                continue
            self._drop(p)
            total -= size

    def drop_entry(self, region: Any) -> None:
        self._drop(self.path_for(fingerprint(region)))

    def _drop(self, path: Path) -> None:
        for p in (path, path.with_suffix(".seen")):
            with contextlib.suppress(OSError):
                p.unlink()


def _check_head(head: bytes) -> tuple[int, int]:
    if len(head) < _HEAD.size:
        raise IndexCorrupt("short header")
    magic, fmt, slen, blen = _HEAD.unpack(head[:_HEAD.size])
    if magic != MAGIC or fmt != FORMAT:
        raise IndexCorrupt("other format")
    return slen, blen


def _unpack(raw: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(zlib.decompress(raw))
    except (zlib.error, ValueError, RecursionError) as e:
        raise IndexCorrupt(str(e)) from None
    if not isinstance(obj, dict):
        raise IndexCorrupt("not an object")
    return obj


def read_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    raw = path.read_bytes()
    slen, blen = _check_head(raw)
    if len(raw) != _HEAD.size + slen + blen:
        raise IndexCorrupt("truncated")
    summary = _unpack(raw[_HEAD.size:_HEAD.size + slen])
    if summary.get("v") != FORMAT:
        raise IndexCorrupt("other format")
    return summary, _unpack(raw[_HEAD.size + slen:])
