"""bzip2 at the block level: find blocks, decode them in parallel, splice them.

A bzip2 stream is ``BZh`` + a level digit, then blocks, then an end-of-stream
marker. Each block starts with the 48-bit magic 0x314159265359 and its 32-bit CRC;
the end marker is 0x177245385090 followed by the combined CRC and zero bits up to a
byte boundary. Blocks are bit-aligned, not byte-aligned, and nothing in a block
depends on what came before it: the compressor flushes its run-length state at every
block end, so each block decodes on its own to a contiguous slice of the output.

That gives us three things Python's ``bz2`` cannot do alone:

* **parallel decode**: find block starts by searching the magic at all 8 bit shifts
  (``bytes.find`` on precomputed shifted patterns, C speed), wrap each block into a
  one-block stream (its CRC doubles as the combined CRC) and decode them on a
  thread pool (``bz2`` releases the GIL);
* **splicing**: an unchanged block is copied bit for bit into a new stream; only the
  bytes around a change are compressed again. Blocks are re-joined into ONE standard
  stream with a recomputed combined CRC, which the kernel's initramfs unpacker
  accepts (several streams would each have to end on a cpio entry boundary);
* **parallel encode**: pieces compressed independently by ``bz2.compress`` are cut
  back into blocks and joined the same way.
"""

from __future__ import annotations

import bz2
import collections
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from xcptui.engine import limits, units
from xcptui.engine.errors import InputError
from xcptui.engine.initrd.compression import Source, budget_of
from xcptui.engine.limits import DecodeBudget

BLOCK_MAGIC = 0x314159265359
EOS_MAGIC = 0x177245385090
SCAN_CHUNK = 8 << 20
BIG_BLOCK = 8 << 20  # a block decoding to more than this narrows the look-ahead


class BlockError(Exception):
    """A candidate block did not decode (corrupt data or a false magic match)."""


# ---------------------------------------------------------------------------
# bit helpers


def bits_at(buf: bytes, bit: int, n: int) -> int:
    """The ``n``-bit big-endian value starting at bit ``bit`` of ``buf`` (n small)."""
    b0, b1 = bit >> 3, (bit + n + 7) >> 3
    if b1 > len(buf):
        raise IndexError("bits past the end")
    v = int.from_bytes(buf[b0:b1], "big")
    return (v >> (b1 * 8 - bit - n)) & ((1 << n) - 1)


def read_bits(src: Source, bit: int, n: int) -> int | None:
    """Like bits_at on a Source; None when the bits lie past its end."""
    b0 = bit >> 3
    raw = src.pread(((bit + n + 7) >> 3) - b0, b0)
    try:
        return bits_at(raw, bit - b0 * 8, n)
    except IndexError:
        return None


def rotl_xor(combined: int, crc: int) -> int:
    """bzip2's combined CRC update: rotate left by one, xor the block CRC."""
    return (((combined << 1) | (combined >> 31)) & 0xFFFFFFFF) ^ crc


class BitWriter:
    """Append bit strings to a byte sink; bits are buffered only up to one byte.

    ``put_bits`` is the hot path of splicing: it re-aligns a block with one big-int
    shift (or none when the alignments already match), never bit by bit.
    """

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self._acc = 0  # pending bits, fewer than 8
        self._nacc = 0
        self.bits = 0  # total bits written so far

    def put_int(self, value: int, n: int) -> None:
        acc = (self._acc << n) | value
        total = self._nacc + n
        rem = total & 7
        if total >= 8:
            self._write((acc >> rem).to_bytes(total >> 3, "big"))
            acc &= (1 << rem) - 1
        self._acc, self._nacc = acc, rem
        self.bits += n

    def put_bits(self, buf: bytes, bit_off: int, nbits: int) -> None:
        """Append bits [bit_off, bit_off + nbits) of ``buf``."""
        if nbits <= 64:
            if nbits:
                self.put_int(bits_at(buf, bit_off, nbits), nbits)
            return
        b0, r = bit_off >> 3, bit_off & 7
        end = bit_off + nbits
        b1 = (end + 7) >> 3
        t = b1 * 8 - end  # unwanted bits after the range in the last byte
        nacc, acc = self._nacc, self._acc
        total = nacc + nbits
        rem = total & 7
        # Put the pending bits right in front of the range: into the unused top bits
        # of its first byte and, if they do not fit, one extra byte before it.
        first = (buf[b0] & (0xFF >> r)) | ((acc & ((1 << min(nacc, r)) - 1)) << (8 - r))
        prefix = acc >> r if nacc > r else 0
        joined = bytes((prefix, first)) + buf[b0 + 1:b1]
        drop = t + rem  # bits to drop at the end: the garbage and the new pending bits
        nbytes = total >> 3
        if drop & 7 == 0:
            out = joined[:len(joined) - (drop >> 3)][-nbytes:] if nbytes else b""
        else:
            out = (int.from_bytes(joined, "big") >> drop).to_bytes(nbytes, "big")
        self._write(out)
        self._acc = bits_at(buf, end - rem, rem) if rem else 0
        self._nacc = rem
        self.bits += nbits

    def put_bytes(self, data: bytes) -> None:
        if self._nacc == 0:
            self._write(data)
            self.bits += len(data) * 8
        else:
            self.put_bits(data, 0, len(data) * 8)

    def flush(self) -> None:
        """Pad with zero bits to a byte boundary."""
        if self._nacc:
            pad = 8 - self._nacc
            self._write(bytes([self._acc << pad]))
            self.bits += pad
            self._acc = self._nacc = 0


# ---------------------------------------------------------------------------
# finding markers


def _patterns(magic: int) -> list[tuple[int, bytes, int]]:
    """(shift, needle, needle offset) for the 48-bit magic starting at bit ``shift``.

    The magic is placed in a 7-byte window; the bytes it covers completely are the
    needle (6 bytes at shift 0, 5 bytes otherwise). Partial bytes are checked after.
    """
    out = []
    for s in range(8):
        window = (magic << (8 - s)).to_bytes(7, "big")
        if s == 0:
            out.append((s, window[:6], 0))
        else:
            out.append((s, window[1:6], 1))
    return out


_PATTERNS = {BLOCK_MAGIC: _patterns(BLOCK_MAGIC), EOS_MAGIC: _patterns(EOS_MAGIC)}


def find_markers(src: Source, start: int, end: int, magic: int,
                 chunk: int = SCAN_CHUNK) -> Iterator[int]:
    """Bit positions (ascending) of ``magic`` whose first bit lies in bytes [start, end)."""
    pats = _PATTERNS[magic]
    pos = start
    while pos < end:
        n = min(chunk, end - pos)
        buf = src.pread(n + 7, pos)
        found: list[int] = []
        for shift, needle, noff in pats:
            i = buf.find(needle)
            while i != -1:
                k = i - noff  # window start (the byte holding the magic's first bit)
                if 0 <= k < n:
                    found.append(k * 8 + shift)
                i = buf.find(needle, i + 1)
        for bit in sorted(found):
            try:
                if bits_at(buf, bit, 48) == magic:
                    yield pos * 8 + bit
            except IndexError:
                pass  # runs past the end of the data: cannot be a complete marker
        pos += n


# ---------------------------------------------------------------------------
# stream structure


@dataclass(slots=True)
class Block:
    """One compressed block: bits [start, end) of the source, and what it decodes to."""

    start: int  # bit offset of the block magic
    end: int  # bit offset after the block's last bit
    crc: int
    uoff: int = 0  # uncompressed offset (set by whoever decodes the stream)
    ulen: int = 0


@dataclass(slots=True)
class BlockBits:
    """Bits of one block held in memory, ready to be appended to a stream."""

    buf: bytes
    bit_off: int
    nbits: int
    crc: int


def is_stream_header(head: bytes) -> bool:
    return len(head) >= 4 and head[:3] == b"BZh" and 0x31 <= head[3] <= 0x39


class StreamScan:
    """Walk one bzip2 stream starting at byte ``start`` of ``src`` without decoding it.

    ``blocks()`` yields Blocks as their ends are found; afterwards ``end`` (byte
    offset after the stream's padding) and ``crc`` (the stored combined CRC) are set.
    Only block magics are searched for everywhere; the end-of-stream marker is looked
    for only after the last block, which halves the scanning work.
    """

    def __init__(self, src: Source, start: int, name: str = "install.img") -> None:
        head = src.pread(4, start)
        if not is_stream_header(head):
            raise InputError(f"{name}: not a bzip2 stream at offset {start}")
        self.src, self.start, self.name = src, start, name
        self.level = head[3] - 0x30
        self.end = start
        self.crc = 0
        budget_of(src, name).segment(start)

    def blocks(self) -> Iterator[Block]:
        first = (self.start + 4) * 8
        magic = read_bits(self.src, first, 48)
        if magic == EOS_MAGIC:  # an empty stream
            self._set_end(first)
            return
        if magic != BLOCK_MAGIC:
            raise self._truncated(first) if magic is None else InputError(
                f"{self.name}: corrupt bzip2 data at offset {self.start + 4} "
                "(no block header after BZh)")
        cur = first
        count = 0
        for cand in find_markers(self.src, self.start + 5, self.src.size, BLOCK_MAGIC):
            if cand <= cur:
                continue
            count += 1
            if count > limits.MAX_BZIP2_BLOCKS:
                raise InputError(f"{self.name}: bzip2 stream at offset {self.start} has more "
                                 f"than {limits.MAX_BZIP2_BLOCKS} blocks (a bomb?)")
            if cand & 7 == 0 and is_stream_header(self.src.pread(4, (cand >> 3) - 4)):
                eos = self._find_eos(cur, (cand >> 3) - 4)
                if eos is not None:  # the next stream starts here: ours ended before
                    yield Block(cur, eos, self._crc_of(cur))
                    self._set_end(eos)
                    return
            yield Block(cur, cand, self._crc_of(cur))
            cur = cand
        eos = self._find_eos(cur, self.src.size)
        if eos is None:
            raise self._truncated(self.src.size * 8)
        yield Block(cur, eos, self._crc_of(cur))
        self._set_end(eos)

    def _crc_of(self, block_bit: int) -> int:
        crc = read_bits(self.src, block_bit + 48, 32)
        if crc is None:
            raise self._truncated(block_bit)
        return crc

    def _find_eos(self, after_bit: int, limit: int) -> int | None:
        for bit in find_markers(self.src, (after_bit + 80) >> 3, limit, EOS_MAGIC):
            if bit >= after_bit + 80:
                return bit
        return None

    def _set_end(self, eos_bit: int) -> None:
        crc = read_bits(self.src, eos_bit + 48, 32)
        if crc is None:
            raise self._truncated(eos_bit)
        self.crc = crc
        self.end = (eos_bit + 80 + 7) >> 3

    def _truncated(self, bit: int) -> InputError:
        size = self.src.size - self.start
        return InputError(f"{self.name}: compressed data truncated after {units.size(size)} "
                          "(bzip2 end-of-stream marker missing)")


# ---------------------------------------------------------------------------
# decoding


def standalone(bits: BlockBits, level: int) -> bytes:
    """A complete one-block bzip2 stream holding ``bits``."""
    out = bytearray()
    w = BitWriter(out.extend)
    w.put_bytes(b"BZh%d" % level)
    w.put_bits(bits.buf, bits.bit_off, bits.nbits)
    w.put_int(EOS_MAGIC, 48)
    w.put_int(bits.crc, 32)  # combined CRC of a one-block stream = its block CRC
    w.flush()
    return bytes(out)


def block_bits(src: Source, block: Block) -> BlockBits:
    """Read a block's bits from the source."""
    b0 = block.start >> 3
    raw = src.pread(((block.end + 7) >> 3) - b0, b0)
    return BlockBits(raw, block.start - b0 * 8, block.end - block.start, block.crc)


def decode_block(src: Source, block: Block, level: int) -> bytes:
    """Decompress one block on its own (safe to call from worker threads)."""
    try:
        return bz2.decompress(standalone(block_bits(src, block), level))
    except (OSError, ValueError, EOFError) as e:
        raise BlockError(str(e)) from None


def decode_blocks(src: Source, blocks: Iterator[Block], level: int, *, workers: int = 2,
                  window: int = 6, check: Callable[[], None] | None = None,
                  name: str = "install.img",
                  budget: DecodeBudget | None = None) -> Iterator[tuple[Block, bytes]]:
    """Decode blocks on a thread pool; yield (block, data) in stream order.

    A block that fails to decode may have been cut short by a false magic match
    inside its compressed data (about one chance in 10^6 per image): it is merged
    with the following candidate and tried again before the data is declared corrupt.

    One block can decode to ~46 MB (runs of one byte), so the look-ahead starts at one
    block and widens to ``window`` step by step while blocks decode to ordinary sizes: a
    bomb never has more than a few such blocks in memory, and ``budget`` (by default
    the source's) stops it by total size and ratio.
    """
    budget = budget if budget is not None else budget_of(src, name)
    it = iter(blocks)
    q: collections.deque[tuple[Block, Future[bytes]]] = collections.deque()
    ahead = 1  # grows by one per ordinary block, back to one after a huge one
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xcptui-bunzip") as ex:
        try:
            while True:
                while len(q) < ahead:
                    b = next(it, None)
                    if b is None:
                        break
                    q.append((b, ex.submit(decode_block, src, b, level)))
                if not q:
                    return
                if check is not None:
                    check()
                b, fut = q.popleft()
                try:
                    data = fut.result()
                except BlockError:
                    b, data = _merge_retry(src, b, q, it, level, name)
                budget.add(("bzip2", b.start), len(data), (b.end - b.start + 7) >> 3)
                ahead = min(window, ahead + 1) if len(data) <= BIG_BLOCK else 1
                yield b, data
        finally:
            for _, f in q:
                f.cancel()


def _merge_retry(src: Source, b: Block, q: collections.deque[tuple[Block, Future[bytes]]],
                 it: Iterator[Block], level: int, name: str) -> tuple[Block, bytes]:
    merged = b
    for _ in range(3):
        if q:
            nxt, f = q.popleft()
            f.cancel()
        else:
            nxt_opt = next(it, None)
            if nxt_opt is None:
                break
            nxt = nxt_opt
        merged = Block(merged.start, nxt.end, merged.crc)
        try:
            return merged, decode_block(src, merged, level)
        except BlockError:
            continue
    raise InputError(f"{name}: corrupt bzip2 data in the block at offset {b.start >> 3} "
                     "(CRC or Huffman error)")


# ---------------------------------------------------------------------------
# encoding


def nblock_max(level: int) -> int:
    """Most bytes a block of this level holds after bzip2's first run-length stage."""
    return level * 100000 - 19


def safe_piece(level: int) -> int:
    """Input size that always fits one block: the run-length stage grows data by 5/4 at most."""
    return nblock_max(level) * 4 // 5


def split_stream(data: bytes) -> tuple[int, list[BlockBits], int]:
    """Cut a complete bzip2 stream into (level, blocks, combined CRC).

    Raises BlockError when the blocks found do not reproduce the stored combined CRC
    (a false magic match inside compressed data); callers then compress smaller pieces.
    """
    if not is_stream_header(data):
        raise BlockError("not a bzip2 stream")
    level = data[3] - 0x30
    total = len(data) * 8
    eos = -1
    for pad in range(8):
        pos = total - pad - 80
        if pos >= 32 and bits_at(data, pos, 48) == EOS_MAGIC and \
                (pad == 0 or bits_at(data, total - pad, pad) == 0):
            eos = pos
            break
    if eos < 0:
        raise BlockError("no end-of-stream marker")
    combined = bits_at(data, eos + 48, 32)
    if eos == 32:
        return level, [], combined
    first_crc = bits_at(data, 80, 32)
    if first_crc == combined:  # one block: the common case, no scan needed
        return level, [BlockBits(data, 32, eos - 32, first_crc)], combined
    from xcptui.engine.initrd.compression import MemorySource

    starts = [b for b in find_markers(MemorySource(data), 4, (eos >> 3) + 1, BLOCK_MAGIC)
              if b < eos]
    if not starts or starts[0] != 32:
        raise BlockError("first block not where expected")
    out, crc = [], 0
    for s, e in zip(starts, [*starts[1:], eos], strict=True):
        bcrc = bits_at(data, s + 48, 32)
        out.append(BlockBits(data, s, e - s, bcrc))
        crc = rotl_xor(crc, bcrc)
    if crc != combined:
        raise BlockError("block CRCs do not match the stream CRC")
    return level, out, combined


def compress_blocks(data: bytes | memoryview, level: int) -> list[BlockBits]:
    """Compress ``data`` and return its blocks (thread-safe; bz2 releases the GIL)."""
    if not len(data):
        return []
    try:
        return split_stream(bz2.compress(data, level))[1]
    except BlockError:
        if len(data) < 2:
            raise
        half = len(data) // 2
        return compress_blocks(data[:half], level) + compress_blocks(data[half:], level)


class StreamWriter:
    """Join blocks (reused or fresh) into one bzip2 stream written to ``write``."""

    def __init__(self, write: Callable[[bytes], object], level: int) -> None:
        self.bw = BitWriter(write)
        self.bw.put_bytes(b"BZh%d" % level)
        self.combined = 0
        self.blocks = 0

    def add(self, b: BlockBits) -> None:
        self.bw.put_bits(b.buf, b.bit_off, b.nbits)
        self.combined = rotl_xor(self.combined, b.crc)
        self.blocks += 1

    def close(self) -> None:
        self.bw.put_int(EOS_MAGIC, 48)
        self.bw.put_int(self.combined, 32)
        self.bw.flush()
