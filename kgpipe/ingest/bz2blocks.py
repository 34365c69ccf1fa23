"""bzip2 below the stream level: blocks found at any bit offset and decoded one by one.

A bzip2 stream is a header (``BZh`` and the level digit), blocks that each start with the 48-bit
magic ``0x314159265359`` and the block's CRC, and an end-of-stream magic ``0x177245385090`` with
the combined CRC. Blocks are not byte-aligned, and libbzip2 gives up on the whole stream at the
first damaged one. :func:`recover_blocks` does what ``bzip2recover`` does: it finds the magics
bit by bit, rebuilds every block as a one-block stream and decodes it on its own, so reading
resumes at the first intact block after the damage. Each decoded block is checked against its own
CRC. The reader keeps at most one block (about 1 MB of compressed bytes) and one read chunk.
"""
from __future__ import annotations

import bz2
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from kgpipe.errors import CommandError

BLOCK_MAGIC = 0x314159265359
EOS_MAGIC = 0x177245385090
_MASK48 = (1 << 48) - 1
#: compressed size a block never reaches: a 900k block of incompressible bytes grows by about 1%
MAX_BLOCK_BYTES = 1_100_000
#: bits between two blocks of consecutive streams: end-of-stream magic, combined CRC, padding, header
STREAM_SEAM_BITS = 48 + 32 + 7 + 32
READ_CHUNK = 1 << 20
_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


class StreamDamage(CommandError):
    """A compressed stream is unreadable from byte ``offset`` (of the file) to byte ``resumed``, where
    reading went on at the next intact block; ``resumed`` is None when nothing after it could be read."""

    def __init__(self, message: str, offset: int, resumed: int | None = None):
        super().__init__(message)
        self.offset = offset
        self.resumed = resumed


def _patterns(magic: int) -> list[tuple[int, bytes]]:
    """(shift, the bytes a magic starting ``shift`` bits into a byte fills completely) for shifts 0-7;
    those bytes start one byte into the 7-byte window that holds the magic."""
    return [(shift, (magic << (8 - shift)).to_bytes(7, "big")[1:6] if shift else magic.to_bytes(6, "big")[1:6])
            for shift in range(8)]


_PATTERNS = {magic: _patterns(magic) for magic in (BLOCK_MAGIC, EOS_MAGIC)}


def find_magics(buf: bytes | bytearray, lo: int, hi: int) -> list[tuple[int, int]]:
    """(bit offset in ``buf``, magic) of every block and end-of-stream magic whose first byte is in
    ``[lo, hi)`` and whose 7-byte window lies inside ``buf``, in order."""
    found = []
    for magic, patterns in _PATTERNS.items():
        for shift, core in patterns:
            i = buf.find(core, lo + 1)
            while i >= 0 and i - 1 < hi:
                k = i - 1
                if k + 7 <= len(buf) and (int.from_bytes(buf[k:k + 7], "big") >> (8 - shift)) & _MASK48 == magic:
                    found.append((8 * k + shift, magic))
                i = buf.find(core, i + 1)
    return sorted(found)


def _bits(buf: bytes | bytearray, start: int, end: int) -> int:
    """Bits ``[start, end)`` of ``buf`` (most significant first) as an integer."""
    first, last = start // 8, (end + 7) // 8
    return (int.from_bytes(buf[first:last], "big") >> (8 * last - end)) & ((1 << (end - start)) - 1)


def block_crc(data: bytes) -> int:
    """bzip2's block CRC (CRC-32 most significant bit first): zlib's reflected CRC-32 of the bit-reversed
    bytes, bit-reversed."""
    return int(f"{zlib.crc32(data.translate(_BIT_REVERSED)):032b}"[::-1], 2)


def block_stream(buf: bytes | bytearray, start: int, end: int) -> bytes:
    """Bits ``[start, end)`` of ``buf`` (a block, from its magic on) as a stream of its own, as
    bzip2recover writes it: header, the block, end-of-stream magic, the block's CRC as combined CRC."""
    size = end - start + 80
    pad = -size % 8
    value = (_bits(buf, start, end) << 80) | (EOS_MAGIC << 32) | _bits(buf, start + 48, start + 80)
    return b"BZh9" + (value << pad).to_bytes((size + pad) // 8, "big")


def decompress_all(decomp: bz2.BZ2Decompressor, data: bytes) -> tuple[bytes, bool]:
    """All the output of feeding ``data``, and whether libbzip2 had held some back: it does when the input
    runs out right where a block ends, until it is fed again; feeding nothing hands it over."""
    out = decomp.decompress(data)
    held = []
    while not decomp.eof and (more := decomp.decompress(b"")):
        held.append(more)
    return out + b"".join(held), bool(held)


def _first_block(stream: bytes) -> tuple[bytes, int]:
    """Output of a stream up to the byte libbzip2 rejects, and that byte. A failed call's output is
    dropped, so the stream is fed in pieces, each failing piece again in pieces 16 times smaller."""
    decomp, out, fed, step = bz2.BZ2Decompressor(), [], 0, 1 << 16
    while fed < len(stream):
        try:
            out.append(decompress_all(decomp, stream[fed:fed + step])[0])
            fed += step
        except (OSError, EOFError, ValueError):
            if step == 1:
                break
            decomp, step = bz2.BZ2Decompressor(), step // 16
            out = [decompress_all(decomp, stream[:fed])[0]]
    return b"".join(out), fed


def decode_block(buf: bytes | bytearray, start: int, end: int) -> tuple[bytes | None, int | None, str]:
    """Decode the block at bit ``start`` of ``buf`` whose bits run to ``end`` (the next magic).

    Returns (data or None, bit where bits that are no block begin or None, why). When the block's
    successor lost its magic the bits up to ``end`` hold more than the block: its own output still
    counts when it matches the block's CRC, and the bits after it are reported as unreadable."""
    stream = block_stream(buf, start, end)
    try:
        return bz2.decompress(stream), None, ""
    except (OSError, EOFError, ValueError) as exc:
        reason = str(exc)
    data, rejected = _first_block(stream)
    if data and block_crc(data) == _bits(buf, start + 48, start + 80):
        # the rebuilt stream's byte j holds the block's bit 8j - 32
        return data, min(end, start + max(0, 8 * rejected - 32)), reason
    return None, None, reason


class _Window:
    """The bytes of ``fh`` from byte ``base`` on (up to byte ``end``), read as needed, with the magics in
    them found once."""

    def __init__(self, fh: BinaryIO, start: int, end: int | None):
        fh.seek(start)
        self.fh, self.base, self.end = fh, start, end
        self.buf = bytearray()
        self.searched = 0          # bytes of buf whose magics are in self.magics
        self.magics: list[tuple[int, int]] = []
        self.eof = False

    @property
    def end_bit(self) -> int:
        return 8 * (self.base + len(self.buf))

    def more(self) -> bool:
        """Read one more chunk; False at the end of the range."""
        size = READ_CHUNK if self.end is None else min(READ_CHUNK, self.end - self.base - len(self.buf))
        raw = self.fh.read(size) if size > 0 else b""
        if not raw:
            self.eof = True
            return False
        self.buf += raw
        hi = len(self.buf) - 6
        self.magics += [(8 * self.base + bit, magic) for bit, magic in find_magics(self.buf, self.searched, hi)]
        self.searched = max(self.searched, hi)
        return True

    def drop(self, before_bit: int) -> None:
        """Forget the bytes before the one holding ``before_bit``."""
        n = min(before_bit // 8 - self.base, self.searched)
        if n > 0:
            del self.buf[:n]
            self.base += n
            self.searched -= n
            self.magics = [m for m in self.magics if m[0] >= 8 * self.base]

    def next_magic(self, after: int, kinds: tuple[int, ...], within: int | None = None) -> int | None:
        """Bit of the first magic of ``kinds`` at or after bit ``after`` (before ``after + within``). Without
        ``within`` the bytes before ``after``, and those searched in vain, are dropped as it reads on."""
        if within is None:
            self.drop(after)
        while True:
            for bit, magic in self.magics:
                if bit >= after and magic in kinds:
                    return bit if within is None or bit < after + within else None
            frontier = 8 * (self.base + self.searched)
            if within is not None and frontier >= after + within:
                return None
            if within is None:
                self.drop(max(after, frontier))
            if not self.more():
                return None

    def block_end(self, start: int) -> tuple[int, int | None]:
        """Where the block at bit ``start`` ends: the next magic and its kind, else the end of the data (kind
        None), at most MAX_BLOCK_BYTES on."""
        stop = self.next_magic(start + 48, (BLOCK_MAGIC, EOS_MAGIC), 8 * MAX_BLOCK_BYTES)
        if stop is None:
            return min(self.end_bit, start + 8 * MAX_BLOCK_BYTES), None
        return stop, next(magic for bit, magic in self.magics if bit == stop)

    def decode(self, start: int, end: int) -> tuple[bytes | None, int | None, str]:
        """:func:`decode_block` at file bit offsets."""
        offset = 8 * self.base
        data, junk, reason = decode_block(self.buf, start - offset, end - offset)
        return data, None if junk is None else junk + offset, reason


_ENDS_EARLY = "compressed stream ends before its end-of-stream marker (truncated file)"


def recover_blocks(fh: BinaryIO, from_bit: int, end: int | None) -> Iterator[bytes | StreamDamage]:
    """Decompressed data of the blocks of ``fh`` from bit ``from_bit`` to byte ``end`` (a block's magic, or
    a stream's start or end), block by block; each unreadable stretch is a :class:`StreamDamage` item."""
    win = _Window(fh, from_bit // 8, end)
    at, lost_from, reason, kind = from_bit, None, "", None
    while (start := win.next_magic(at, (BLOCK_MAGIC,))) is not None:
        if lost_from is None and start - at > STREAM_SEAM_BITS:
            lost_from, reason = at, f"corrupt compressed data: {(start - at) // 8} bytes hold no bzip2 block"
        stop, kind = win.block_end(start)
        data, junk, why = win.decode(start, stop)
        if data is None:
            if lost_from is None:
                lost_from, reason = start, (f"corrupt compressed data: a bzip2 block does not decode ({why})"
                                            if kind else "compressed data ends inside a bzip2 block (truncated "
                                                         "file, or its end is damaged)")
            at = stop
            continue
        # a stretch no longer than the seam between two streams held no block: only framing was damaged
        if lost_from is not None and start - lost_from > STREAM_SEAM_BITS:
            yield StreamDamage(reason, lost_from // 8, start // 8)
        yield data
        at, lost_from = stop, junk
        reason = f"corrupt compressed data: the bits after a bzip2 block are no block ({why})" if kind else _ENDS_EARLY
    if lost_from is None and kind != EOS_MAGIC:
        lost_from = at
        reason = (f"corrupt compressed data: {(win.end_bit - at) // 8} bytes hold no bzip2 block"
                  if win.end_bit - at > STREAM_SEAM_BITS else _ENDS_EARLY)
    if lost_from is not None:
        yield StreamDamage(reason, lost_from // 8)
