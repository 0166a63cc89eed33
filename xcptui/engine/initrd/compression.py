"""Codec detection by magic bytes, byte sources, and streaming (de)compressors.

install.img may be bzip2 (XCP-ng 8.x), gzip (old XenServer), xz or zstd (XCP-ng 9
dev images), and the kernel also accepts plain newc and several of these
concatenated. bzip2 has its own block-parallel code in ``bzip2blocks``; this module
holds what every codec needs:

* ``FileRegion``: a byte range of a host file (install.img inside the ISO) read with
  ``os.pread``, so threads can read it concurrently without sharing a file position;
* ``detect``: the codec of a segment from its first bytes;
* ``SeqDecoder``: decompress one segment (gzip member, xz stream, zstd frame) as a
  stream of chunks, reporting where the segment ends;
* ``open_encoder`` (in ``encoders``, re-exported): the matching writer;
* ``OrderedPool``: run tasks on a small thread pool with a bounded window and get the
  results back in submission order (the bz2, zlib and lzma modules release the GIL).
"""

from __future__ import annotations

import bz2
import collections
import contextlib
import lzma
import os
import stat
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from xcptui.engine import limits, units
from xcptui.engine.errors import InputError
from xcptui.engine.initrd.encoders import (  # noqa: F401 (re-exported: the writers)
    Encoder,
    GzipEncoder,
    LzmaEncoder,
    RawEncoder,
    ZstdEncoder,
    gzip_level,
    open_encoder,
)
from xcptui.engine.layout import Codec
from xcptui.engine.limits import DecodeBudget
from xcptui.engine.tools import require

CHUNK = 1 << 20
MAX_OUT = 8 << 20  # cap on one decompress call's output (a bomb stays bounded)

# codec -> magic. "cpio" is an uncompressed newc archive (e.g. early microcode).
MAGICS: tuple[tuple[Codec, bytes], ...] = (
    (Codec.BZIP2, b"BZh"),
    (Codec.GZIP, b"\x1f\x8b"),
    (Codec.XZ, b"\xfd7zXZ\x00"),
    (Codec.ZSTD, b"\x28\xb5\x2f\xfd"),
    (Codec.LZMA, b"\x5d\x00\x00"),
    (Codec.CPIO, b"070701"),
    (Codec.CPIO, b"070702"),
    (Codec.LZ4, b"\x02\x21\x4c\x18"),
    (Codec.LZO, b"\x89LZO"),
)
SUPPORTED = (Codec.BZIP2, Codec.GZIP, Codec.XZ, Codec.ZSTD, Codec.LZMA, Codec.CPIO)


class Source(Protocol):
    """Random-access bytes: what the decoders read from."""

    size: int

    def pread(self, n: int, pos: int) -> bytes: ...


class FileRegion:
    """[offset, offset + size) of a host file, read with os.pread (safe across threads)."""

    def __init__(self, path: Path, offset: int = 0, size: int | None = None,
                 name: str = "install.img") -> None:
        self.path, self.offset, self.name = Path(path), offset, name
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
            st = os.fstat(self._fd)
        except OSError as e:
            raise InputError(f"{name}: cannot open {path}: {e.strerror}") from None
        total = st.st_size
        if stat.S_ISDIR(st.st_mode):
            os.close(self._fd)
            raise InputError(f"{name}: {path} is a directory")
        if size is None:
            size = max(0, total - offset)
        if offset < 0 or offset + size > total:
            os.close(self._fd)
            raise InputError(f"{name}: region {offset}+{size} lies outside {path} "
                             f"({total} bytes)")
        self.size = size

    def pread(self, n: int, pos: int) -> bytes:
        n = max(0, min(n, self.size - pos))
        if n == 0:
            return b""
        try:
            return os.pread(self._fd, n, self.offset + pos)
        except OSError as e:
            raise InputError(f"{self.name}: read error at offset {pos}: {e.strerror}") from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class MemorySource:
    """Bytes in memory behaving like a FileRegion (tests, freshly compressed blocks)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def pread(self, n: int, pos: int) -> bytes:
        return self.data[pos:pos + max(0, n)]


def detect(head: bytes) -> str | None:
    """Codec name for a segment starting with ``head`` (at least 6 bytes), else None."""
    for name, magic in MAGICS:
        if head.startswith(magic):
            if name == "bzip2" and not (len(head) > 3 and 0x31 <= head[3] <= 0x39):
                continue
            return name
    return None


def hex_head(head: bytes, n: int = 8) -> str:
    return " ".join(f"{b:02x}" for b in head[:n])


# ---------------------------------------------------------------------------
# ordered thread pool

T = TypeVar("T")


class OrderedPool(Generic[T]):
    """Submit callables; ``results()`` yields their results in submission order.

    At most ``window`` tasks are queued or running, which bounds memory. Feed it with
    ``run(tasks)`` (an iterator of callables); closing cancels what has not started.
    """

    def __init__(self, workers: int = 2, window: int = 6) -> None:
        self._ex = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xcptui-codec")
        self._window = max(1, window)
        self._q: collections.deque[Future[T]] = collections.deque()

    def run(self, tasks: Iterator[Callable[[], T]],
            check: Callable[[], None] | None = None) -> Iterator[T]:
        for task in tasks:
            if check is not None:
                check()
            self._q.append(self._ex.submit(task))
            if len(self._q) >= self._window:
                yield self._q.popleft().result()
        while self._q:
            if check is not None:
                check()
            yield self._q.popleft().result()

    def close(self) -> None:
        for f in self._q:
            f.cancel()
        self._q.clear()
        self._ex.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> OrderedPool[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------
# sequential decoders


def zstd_frame_end(src: Source, start: int, name: str) -> int:
    """Offset just after the zstd frame at ``start``, found from the block headers alone.

    Frame = magic, frame header, blocks (3-byte headers: last flag, type, size), then an
    optional 4-byte checksum. Walking the headers is cheap and lets a frame be handed to
    the ``zstd`` tool as an exact byte range.
    """
    head = src.pread(18, start)
    if len(head) < 6:
        raise InputError(f"{name}: zstd frame truncated at offset {start}")
    fhd = head[4]
    fcs_flag, single, has_sum, did_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
    pos = start + 5 + (0 if single else 1) + (0, 1, 2, 4)[did_flag]
    pos += (1 if single else 0, 2, 4, 8)[fcs_flag]
    for _ in range(limits.MAX_ZSTD_BLOCKS):
        bh = src.pread(3, pos)
        if len(bh) < 3:
            raise InputError(f"{name}: zstd data truncated after {units.size(pos - start)}")
        v = int.from_bytes(bh, "little")
        last, btype, bsize = v & 1, (v >> 1) & 3, v >> 3
        if btype == 3:
            raise InputError(f"{name}: corrupt zstd block header at offset {pos}")
        pos += 3 + (1 if btype == 1 else bsize)
        if last:
            break
    else:
        raise InputError(f"{name}: zstd frame at offset {start} has more than "
                         f"{limits.MAX_ZSTD_BLOCKS} blocks (a bomb?)")
    pos += 4 if has_sum else 0
    if pos > src.size:
        raise InputError(f"{name}: zstd data truncated after {units.size(src.size - start)}")
    return pos


class SeqDecoder:
    """Decompress one segment starting at ``start`` of ``src`` as a stream of chunks.

    After ``chunks()`` is exhausted, ``end`` is the offset just after the segment.
    Errors become one-line InputErrors naming the image. No chunk is larger than
    MAX_OUT, and ``budget`` (by default the source's own, see ``budget_of``) stops a
    compression bomb by total size and expansion ratio.
    """

    def __init__(self, codec: str, src: Source, start: int, name: str = "install.img",
                 budget: DecodeBudget | None = None) -> None:
        if codec not in ("gzip", "xz", "lzma", "zstd", "bzip2"):
            raise ValueError(codec)
        self.codec, self.src, self.start, self.name = codec, src, start, name
        self.end = start
        self.budget = budget if budget is not None else budget_of(src, name)
        self.budget.segment(start)

    def chunks(self) -> Iterator[bytes]:
        if self.codec == "zstd":
            yield from self._zstd()
            return
        d = _decompressor(self.codec)
        pos = self.start
        buf = b""  # input read but not yet handed to the decompressor
        produced = 0
        at_end = False
        while not d.eof:
            if d.needs_input or buf:
                if not buf:
                    buf = self.src.pread(CHUNK, pos)
                    pos += len(buf)
                    at_end = not buf  # zlib may still hold output: one more call decides
                data, buf = buf, b""
            else:
                data = b""  # the decompressor still holds output: drain it first
            try:
                out = d.decompress(data, MAX_OUT)
            except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as e:
                raise InputError(f"{self.name}: corrupt {self.codec} data near offset "
                                 f"{pos - len(data)} ({e})") from None
            buf = d.unconsumed_tail
            if out:
                produced += len(out)
                self.budget.add((self.codec, self.start), produced,
                                pos - self.start - len(buf))
                yield out
            elif at_end:
                raise InputError(f"{self.name}: {self.codec} data truncated after "
                                 f"{units.size(pos - self.start)}")
            elif not data:
                d.stalled()
        self.end = pos - len(d.unused_data) - len(buf)

    def _zstd(self) -> Iterator[bytes]:
        exe = require("zstd", "read a zstd-compressed install.img")
        self.end = zstd_frame_end(self.src, self.start, self.name)
        proc = subprocess.Popen([exe, "-d", "-c", "-q"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        feeder = threading.Thread(target=_feed_pipe, daemon=True,
                                  args=(proc, self.src, self.start, self.end))
        feeder.start()
        produced = 0
        try:
            assert proc.stdout is not None
            while True:
                out = proc.stdout.read(CHUNK)
                if not out:
                    break
                produced += len(out)
                # The frame's size stands for what was consumed: the tool reads ahead.
                self.budget.add(("zstd", self.start), produced, self.end - self.start)
                yield out
            feeder.join()
            err = proc.stderr.read(4096).decode(errors="replace") if proc.stderr else ""
            if proc.wait() != 0:
                raise InputError(f"{self.name}: corrupt zstd data ({err.strip()[:200]})")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            feeder.join(timeout=5)
            for s in (proc.stdout, proc.stderr):
                if s is not None:
                    s.close()


def budget_of(src: Source, name: str) -> DecodeBudget:
    """The decode budget shared by every decoder reading ``src`` (made on first use).

    Keeping it on the source makes the caps apply to the whole install.img, across its
    segments; updates are keyed, so decoding a segment again never counts twice.
    """
    b = getattr(src, "budget", None)
    if not isinstance(b, DecodeBudget):
        b = DecodeBudget(name)
        with contextlib.suppress(AttributeError):
            src.budget = b  # type: ignore[attr-defined]
    return b


def _feed_pipe(proc: subprocess.Popen[bytes], src: Source, start: int, end: int) -> None:
    assert proc.stdin is not None
    try:
        pos = start
        while pos < end:
            data = src.pread(min(CHUNK, end - pos), pos)
            if not data:
                break
            proc.stdin.write(data)
            pos += len(data)
    except (BrokenPipeError, OSError, InputError):
        pass
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()


class _ZlibAdapter:
    """zlib.decompressobj with the attribute names of the bz2/lzma decompressors.

    zlib hands back the input it did not use (``unconsumed_tail``) and the caller
    feeds it again; bz2/lzma keep it inside and ask for b"" (``needs_input`` False).
    """

    def __init__(self) -> None:
        self._d = zlib.decompressobj(31)  # gzip wrapper only

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(data, max_length)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def needs_input(self) -> bool:
        return True  # pending output, if any, comes out with the next input

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    @property
    def unconsumed_tail(self) -> bytes:
        return self._d.unconsumed_tail

    def stalled(self) -> None:
        pass


class _LzmaAdapter:
    """LZMA/BZ2 decompressor; output past max_length is drained by feeding b"" again."""

    def __init__(self, d: lzma.LZMADecompressor | bz2.BZ2Decompressor) -> None:
        self._d = d
        self._stuck = False

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if data:
            self._stuck = False
        return self._d.decompress(data, max_length)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def needs_input(self) -> bool:
        return self._stuck or self._d.needs_input

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    @property
    def unconsumed_tail(self) -> bytes:
        return b""

    def stalled(self) -> None:
        # Drained nothing though it said it had more: give it input next time rather
        # than spin (cannot happen with CPython's modules, but cheap to rule out).
        self._stuck = True


def _decompressor(codec: str) -> _ZlibAdapter | _LzmaAdapter:
    if codec == "gzip":
        return _ZlibAdapter()
    if codec == "xz":
        return _LzmaAdapter(lzma.LZMADecompressor(lzma.FORMAT_XZ))
    if codec == "lzma":
        return _LzmaAdapter(lzma.LZMADecompressor(lzma.FORMAT_ALONE))
    return _LzmaAdapter(bz2.BZ2Decompressor())

