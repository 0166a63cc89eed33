"""Streaming compressors for a rewritten install.img segment.

* ``GzipEncoder``: one gzip member compressed in parallel pieces, like pigz;
* ``LzmaEncoder``: xz with the CRC32 check the kernel requires (or legacy lzma);
* ``ZstdEncoder``: the ``zstd`` tool, its output drained by a thread;
* ``RawEncoder``: plain newc passes through.

bzip2 is written block by block in ``bzip2blocks``.
"""

from __future__ import annotations

import collections
import contextlib
import lzma
import subprocess
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Protocol

from xcptui.engine.tools import require

_PIPE_CHUNK = 1 << 20


class Encoder(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class RawEncoder:
    """Uncompressed newc: bytes pass straight through."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def write(self, data: bytes) -> None:
        self.out.write(data)

    def close(self) -> None:
        pass


class _PooledEncoder:
    """Compression jobs run on a thread pool; their outputs are written in order.

    At most ``window`` jobs are in flight, which bounds memory.
    """

    def __init__(self, out: BinaryIO, workers: int, window: int, name: str) -> None:
        self.out = out
        self._window = window
        self._ex = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._pending: collections.deque[Future[bytes]] = collections.deque()

    def _queue(self, job: Future[bytes]) -> None:
        self._pending.append(job)
        while len(self._pending) > self._window:
            self.out.write(self._pending.popleft().result())

    def _drain(self) -> None:
        while self._pending:
            self.out.write(self._pending.popleft().result())

    def abort(self) -> None:
        for f in self._pending:
            f.cancel()
        self._pending.clear()
        self._ex.shutdown(wait=True, cancel_futures=True)


class GzipEncoder(_PooledEncoder):
    """One gzip member compressed in parallel pieces, the way pigz does it.

    Each 1 MiB piece is raw deflate primed with the previous 32 KiB as dictionary and
    ended with a sync flush (byte-aligned, not final); an empty final block closes the
    stream. Any gzip reader, the kernel's included, sees one ordinary member.
    """

    PIECE = 1 << 20

    def __init__(self, out: BinaryIO, level: int, workers: int = 2) -> None:
        super().__init__(out, workers, 4, "xcptui-gzip")
        self.level = level
        self._buf = bytearray()
        self._prev = b""
        self._crc = 0
        self._size = 0
        xfl = 2 if level >= 9 else (4 if level <= 1 else 0)
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + bytes([xfl, 3]))

    def _submit(self, piece: bytes) -> None:
        zdict, level = self._prev, self.level

        def work() -> bytes:
            c = (zlib.compressobj(level, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
                 if zdict else zlib.compressobj(level, zlib.DEFLATED, -15, 9))
            return c.compress(piece) + c.flush(zlib.Z_SYNC_FLUSH)

        self._crc = zlib.crc32(piece, self._crc)
        self._size += len(piece)
        self._prev = piece[-32768:]
        self._queue(self._ex.submit(work))

    def write(self, data: bytes) -> None:
        self._buf += data
        while len(self._buf) >= self.PIECE:
            self._submit(bytes(self._buf[:self.PIECE]))
            del self._buf[:self.PIECE]

    def close(self) -> None:
        try:
            if self._buf:
                self._submit(bytes(self._buf))
                self._buf.clear()
            self._drain()
            self.out.write(b"\x03\x00")  # empty final fixed-Huffman block
            self.out.write(self._crc.to_bytes(4, "little") +
                           (self._size & 0xFFFFFFFF).to_bytes(4, "little"))
        finally:
            self.abort()


class LzmaEncoder(_PooledEncoder):
    """xz with CRC32 check (the kernel's XZ decoder does not support CRC64/SHA-256).

    Compression runs on one worker thread so decoding the source overlaps with it.
    """

    def __init__(self, out: BinaryIO, fmt: str = "xz") -> None:
        super().__init__(out, 1, 3, "xcptui-xz")
        if fmt == "xz":
            self._c = lzma.LZMACompressor(lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                                          filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])
        else:
            self._c = lzma.LZMACompressor(lzma.FORMAT_ALONE, preset=6)

    def write(self, data: bytes) -> None:
        self._queue(self._ex.submit(self._c.compress, data))

    def close(self) -> None:
        try:
            self._drain()
            self.out.write(self._c.flush())
        finally:
            self.abort()


class ZstdEncoder:
    """The ``zstd`` tool (one frame, two threads); a reader thread drains its output."""

    def __init__(self, out: BinaryIO, level: int = 9) -> None:
        exe = require("zstd", "write a zstd-compressed install.img")
        self.out = out
        self._proc = subprocess.Popen([exe, "-q", "-c", f"-{level}", "-T2"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
        self._err: list[BaseException] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self._proc.stdout is not None
        try:
            while True:
                data = self._proc.stdout.read(_PIPE_CHUNK)
                if not data:
                    return
                self.out.write(data)
        except BaseException as e:  # surfaced in close()
            self._err.append(e)

    def write(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._reader.join()
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        rc = self._proc.wait()
        self.abort()
        if self._err:
            raise self._err[0]
        if rc != 0:
            raise OSError(f"zstd failed: {err.strip()[:200]}")

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=5)
        for s in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()


def open_encoder(codec: str, out: BinaryIO, level: int = 9) -> GzipEncoder | LzmaEncoder | \
        ZstdEncoder | RawEncoder:
    """A writer producing one segment of ``codec`` into ``out`` (bzip2 is elsewhere)."""
    if codec == "gzip":
        return GzipEncoder(out, level)
    if codec in ("xz", "lzma"):
        return LzmaEncoder(out, codec)
    if codec == "zstd":
        return ZstdEncoder(out)
    if codec == "cpio":
        return RawEncoder(out)
    raise ValueError(codec)


def gzip_level(head: bytes) -> int:
    """Level to re-encode a gzip member with, from its XFL byte (2 = best, 4 = fastest)."""
    if len(head) > 8 and head[8] == 4:
        return 1
    return 9 if len(head) > 8 and head[8] == 2 else 6
