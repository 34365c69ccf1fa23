"""WARC files (web archives, Common Crawl's CC-NEWS): records cut out of the file, damage reported per record.

kgpipe frames the records itself and hands each one to warcio's parser (WARC and HTTP headers, chunked and
compressed payloads). warcio and FastWARC both iterate a file from its start and stop for good at a corrupt
gzip member, and both return a record the file ends inside as if it were complete; framing here lets a
worker start at its own byte range, reject exactly the damaged record and go on with the next one.

Three ways to read a file, chosen when the input is planned:

- uncompressed: records are found by following ``Content-Length`` from header to header; a split starts
  at a record (the planner found the offsets) and owns the records that start before its end.
- gzip with one record per member (what the WARC standard recommends and crawlers write): a split is a byte
  range and owns the records whose member starts in it; a worker finds its first member by decompressing
  candidates at ``1f 8b 08`` until one holds a WARC header. A corrupt member is one reject, and reading
  resumes at the next member.
- any other compression (a whole file gzipped at once): one stream, read by every shard of the file, each
  taking every n-th record, with :func:`~kgpipe.ingest.dumps.iter_decompressed`'s damage handling.
"""
from __future__ import annotations

import io
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from urllib.parse import urlparse

from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord, ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeadersParserException

from kgpipe.ingest.bz2blocks import StreamDamage
from kgpipe.ingest.dumps import RecordError, iter_decompressed

WARC_HEADER = re.compile(rb"^WARC/1\.[01]\r?\n")
GZIP_MAGIC = b"\x1f\x8b\x08"
READ_CHUNK = 64 * 1024
#: a record header (WARC fields, not the HTTP ones) longer than this is not one
HEADER_LIMIT = 64 * 1024
HEAD_KEEP = 4096
#: rejects that say the file itself is damaged (exit status 3, like unreadable_stream)
TRUNCATED, CORRUPT_MEMBER = "truncated_record", "corrupt_gzip_member"
DAMAGE_REASONS = (TRUNCATED, CORRUPT_MEMBER)
_CONTENT_LENGTH = re.compile(rb"\r?\ncontent-length:[ \t]*(\d+)[ \t]*\r?\n", re.IGNORECASE)
_TARGET_URI = re.compile(rb"\r?\nWARC-Target-URI:[ \t]*<?([^\s>]+)", re.IGNORECASE)
_NEXT_HEADER = re.compile(rb"\nWARC/1\.[01]\r?\n")
_BLANK = re.compile(rb"[\r\n]*")


@dataclass(frozen=True)
class RawRecord:
    """One record's bytes (header and block) at ``offset`` in the file (gzip: its member's offset;
    ``index`` counts the records of a member that holds several); with ``reason`` set, only the head of
    what could be read, for the reject row."""
    offset: int
    data: bytes
    reason: str | None = None
    detail: str | None = None
    index: int = 0

    def ref(self, path: str) -> str:
        return f"{path}:{self.offset}" + (f"+{self.index}" if self.index else "")

    def target_uri(self) -> str | None:
        found = _TARGET_URI.search(self.data[:HEADER_LIMIT])
        return found.group(1).decode("utf-8", "replace") if found else None


def is_warc(head: bytes) -> bool:
    return WARC_HEADER.match(head) is not None


def _content_length(header: bytes) -> int:
    found = _CONTENT_LENGTH.search(header)
    if found is None:
        raise ValueError("the record header has no Content-Length")
    return int(found.group(1))


# --- framing -------------------------------------------------------------------------------

class _Cutter:
    """Records out of a byte stream read with ``read``, whose first byte is at ``offset`` of the file. A block
    that holds a ``WARC/1.x`` line and is not followed by one has a Content-Length too large: the record is
    rejected and reading resumes at that line, so the records it swallowed are read. Bytes where a header
    should be are skipped to the next header line."""

    def __init__(self, read: Callable[[int], bytes], offset: int, max_bytes: int):
        self.read, self.offset, self.max_bytes = read, offset, max_bytes
        self.buf = bytearray()
        self.eof = False

    def _fill(self, n: int) -> bool:
        while len(self.buf) < n and not self.eof:
            chunk = self.read(READ_CHUNK)
            if chunk:
                self.buf += chunk
            else:
                self.eof = True
        return len(self.buf) >= n

    def _consume(self, n: int) -> None:
        del self.buf[:n]
        self.offset += n

    def records(self) -> Iterator[RawRecord]:
        while True:
            while self._fill(1) and (blank := _BLANK.match(self.buf).end()):
                self._consume(blank)
            if not self.buf:
                return
            self._fill(HEAD_KEEP)
            if not is_warc(bytes(self.buf[:12])):
                yield self._resync("unreadable_stream", "no WARC record header here")
                continue
            end = self._header_end()
            if end is None:
                yield self._cut_off() if self.eof else self._resync("malformed_record", "record header too long")
                continue
            try:
                length = _content_length(bytes(self.buf[:end]))
            except ValueError as exc:
                yield self._resync("malformed_record", str(exc))
                continue
            yield from self._record(end, length)

    def _header_end(self) -> int | None:
        searched = 0
        while True:
            i = self.buf.find(b"\r\n\r\n", max(0, searched - 3))
            if i >= 0:
                return i + 4
            searched = len(self.buf)
            if searched > HEADER_LIMIT or not self._fill(searched + 1):
                return None

    def _record(self, end: int, length: int) -> Iterator[RawRecord]:
        if length > self.max_bytes:
            yield self._skip_block(end, length)
            return
        if not self._fill(end + length):
            yield self._cut_off()
            return
        self._fill(end + length + 16)
        after = bytes(self.buf[end + length:end + length + 16]).lstrip(b"\r\n")
        if after and not b"WARC/".startswith(after[:5]) and _NEXT_HEADER.search(self.buf, end, end + length):
            # the block runs into the next record: its Content-Length is too large. (Without a header line
            # inside, the record is whole and what follows it is damage, met as such by the next round.)
            yield self._resync("malformed_record", f"Content-Length {length} runs past the record's end")
            return
        record = RawRecord(self.offset, bytes(self.buf[:end + length]))
        self._consume(end + length)
        yield record

    def _skip_block(self, end: int, length: int) -> RawRecord:
        """An oversized record: its block is read past, only the head kept, so memory stays bounded."""
        start, head, left = self.offset, bytes(self.buf[:HEAD_KEEP]), end + length
        while left and self._fill(1):
            n = min(left, len(self.buf))
            self._consume(n)
            left -= n
        if left:
            return RawRecord(start, head, TRUNCATED, f"the file ends {left} bytes before this record's end")
        return RawRecord(start, head, "record_too_large", f"record block is {length} bytes, limit {self.max_bytes}")

    def _cut_off(self) -> RawRecord:
        record = RawRecord(self.offset, bytes(self.buf[:HEAD_KEEP]), TRUNCATED,
                           f"the file ends inside this record, after {len(self.buf)} of its bytes")
        self._consume(len(self.buf))
        return record

    def _resync(self, reason: str, why: str) -> RawRecord:
        """A place that is not a readable record: reading resumes at the next ``WARC/1.x`` line after it; the
        bytes between are dropped as they are searched, so memory stays bounded."""
        start, head = self.offset, bytes(self.buf[:HEAD_KEEP])
        searched = 1
        while True:
            found = _NEXT_HEADER.search(self.buf, max(0, searched - 12))
            if found is not None:
                self._consume(found.start() + 1)
                return RawRecord(start, head, reason, f"{why}; reading resumed at byte {self.offset}, the next "
                                                      "WARC header line")
            keep = min(len(self.buf), 12)
            self._consume(len(self.buf) - keep)
            searched = keep
            if not self._fill(keep + 1):
                self._consume(len(self.buf))
                return RawRecord(start, head, reason, f"{why}; no record header after it")


def record_starts(path: str) -> list[int]:
    """Offsets of the records of an uncompressed WARC, found by following Content-Length from header to header
    (the blocks are skipped, not read). Stops at the first place without a record header: the worker that
    reads the last split meets that damage and reports it."""
    starts: list[int] = []
    with open(path, "rb") as fh:
        pos = 0
        while True:
            fh.seek(pos)
            head = fh.read(8192)
            skipped = len(head) - len(head.lstrip(b"\r\n"))
            head = head[skipped:]
            end = head.find(b"\r\n\r\n")
            if end < 0 and is_warc(head[:12]):
                head += fh.read(HEADER_LIMIT)
                end = head.find(b"\r\n\r\n")
            if end < 0 or not is_warc(head[:12]):
                return starts
            try:
                length = _content_length(head[:end + 4])
            except ValueError:
                return starts
            starts.append(pos + skipped)
            pos += skipped + end + 4 + length


@dataclass(frozen=True)
class _Member:
    offset: int
    data: bytes
    size: int
    end: int | None
    reason: str | None = None
    detail: str | None = None


def _read_member(fh, offset: int, keep: int) -> _Member:
    """The gzip member at ``offset``: at most ``keep`` bytes of its content (the rest is decompressed and
    counted, not kept), and where the next member starts; ``end`` is None when it is corrupt or cut off."""
    fh.seek(offset)
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out, size, at = bytearray(), 0, offset
    while raw := fh.read(READ_CHUNK):
        data = raw
        while data:
            try:
                piece = decomp.decompress(data, READ_CHUNK)
            except zlib.error as exc:
                return _Member(offset, bytes(out), size, None, CORRUPT_MEMBER,
                               f"corrupt gzip data in the member at byte {offset} (zlib: {exc})")
            size += len(piece)
            out += piece[:max(0, keep - len(out))]
            if decomp.eof:
                return _Member(offset, bytes(out), size, at + len(raw) - len(decomp.unused_data))
            data = decomp.unconsumed_tail
        at += len(raw)
    return _Member(offset, bytes(out), size, None, TRUNCATED, f"the file ends inside the gzip member at byte {offset}")


def _holds_warc(fh, offset: int) -> bool:
    fh.seek(offset)
    try:
        return is_warc(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(fh.read(1024), 12))
    except zlib.error:
        return False


def _next_member(fh, offset: int) -> int | None:
    """The first offset at or after ``offset`` where a gzip member holding a WARC header starts. Inside a
    member's compressed bytes ``1f 8b 08`` may occur by chance, but they do not decompress to a header (only
    a payload that is itself a gzipped WARC, which deflate would store as it is, could fool this)."""
    while True:
        fh.seek(offset)
        chunk = fh.read(READ_CHUNK)
        if len(chunk) < len(GZIP_MAGIC):
            return None
        i = chunk.find(GZIP_MAGIC)
        while i >= 0:
            if _holds_warc(fh, offset + i):
                return offset + i
            i = chunk.find(GZIP_MAGIC, i + 1)
        offset += len(chunk) - (len(GZIP_MAGIC) - 1)


def _member_records(fh, start: int, end: int | None, max_bytes: int) -> Iterator[RawRecord]:
    """Records of the members that start in [start, end) of a gzip WARC with one record per member."""
    pos = start if start == 0 else _next_member(fh, start)
    while pos is not None and (end is None or pos < end):
        fh.seek(pos)
        if not fh.read(1):
            return
        member = _read_member(fh, pos, max_bytes + 1)
        if member.reason is not None:
            resumed = _next_member(fh, pos + 1) if member.reason == CORRUPT_MEMBER else None
            yield RawRecord(pos, member.data[:HEAD_KEEP], member.reason, member.detail + (
                f"; reading resumed at the next member, byte {resumed}" if resumed is not None else
                "; no member after it"))
            pos = resumed
            continue
        if member.size > max_bytes:
            yield RawRecord(pos, member.data[:HEAD_KEEP], "record_too_large",
                            f"gzip member holds {member.size} bytes, limit {max_bytes}")
        else:
            for index, record in enumerate(_Cutter(io.BytesIO(member.data).read, pos, max_bytes).records()):
                yield _in_member(record, index, pos)
        pos = member.end


def _in_member(record: RawRecord, index: int, offset: int) -> RawRecord:
    """A record cut from a complete member: it belongs to the member's offset, and a record the member's end
    cuts off is malformed (its Content-Length is wrong), not a sign of a damaged file."""
    reason, detail = record.reason, record.detail
    if reason in (TRUNCATED, "unreadable_stream"):
        reason, detail = "malformed_record", f"in the gzip member at byte {offset}: {detail}"
    return RawRecord(offset, record.data, reason, detail, index)


class _StreamReader:
    """``read`` over :func:`iter_decompressed` with recovery: at damage it reads as the end of the data and
    keeps the :class:`StreamDamage`, so that the record in progress is cut off and the damage reported."""

    def __init__(self, chunks: Iterator[bytes | StreamDamage]):
        self.chunks = chunks
        self.damage: StreamDamage | None = None

    def read(self, _size: int) -> bytes:
        if self.damage is None:
            for item in self.chunks:
                if isinstance(item, StreamDamage):
                    self.damage = item
                    break
                if item:
                    return item
        return b""


def _stream_records(fh, codec: str, shard: int, num_shards: int, max_bytes: int) -> Iterator[RawRecord]:
    """Every ``num_shards``-th record (from ``shard``) of a file compressed as one stream; shard 0 reports
    damage that ends the readable data, as one ``unreadable_stream`` reject at its compressed offset."""
    reader = _StreamReader(iter_decompressed(fh, codec, recover=True))
    for ordinal, record in enumerate(_Cutter(reader.read, 0, max_bytes).records()):
        if ordinal % num_shards == shard:
            yield record
    if reader.damage is not None and shard == 0:
        yield RawRecord(reader.damage.offset, b"", "unreadable_stream",
                        f"input unreadable from compressed byte {reader.damage.offset} on; records after this point "
                        f"are lost: {reader.damage}")


def read_records(path: str, codec: str, start: int = 0, end: int | None = None, members: bool = False,
                 shard: int = 0, num_shards: int = 1, max_bytes: int = 8 << 20) -> Iterator[RawRecord]:
    """The records of one split, each with its offset; damaged or oversized ones with a reject reason."""
    with open(path, "rb") as fh:
        if members:
            yield from _member_records(fh, start, end, max_bytes)
        elif codec != "none":
            yield from _stream_records(fh, codec, shard, num_shards, max_bytes)
        else:
            fh.seek(start)
            for record in _Cutter(fh.read, start, max_bytes).records():
                if end is not None and record.offset >= end:
                    return
                yield record


def one_record_per_member(path: str, max_bytes: int) -> bool:
    """Whether a gzip WARC can be split at member starts: the part of its first member that could be read
    holds one record (complete or not), not the start of a second one."""
    with open(path, "rb") as fh:
        member = _read_member(fh, 0, max_bytes + 1)
    if member.size > max_bytes:
        return False
    return len(list(islice(_Cutter(io.BytesIO(member.data).read, 0, max_bytes).records(), 2))) == 1


# --- records to HTML pages -----------------------------------------------------------------

_LOADER = ArcWarcRecordLoader()
HTML_TYPES = ("text/html", "application/xhtml+xml")
RECORD_TYPES = ("warcinfo", "request", "metadata", "revisit", "resource", "conversion", "continuation")
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class HtmlPage:
    url: str
    fetched: str | None
    html: bytes
    charset: str | None
    language: str | None


def _parse(raw: RawRecord) -> ArcWarcRecord:
    try:
        return _LOADER.parse_record_stream(io.BytesIO(raw.data), known_format="warc")
    except (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError) as exc:
        raise RecordError("malformed_record", f"not a readable WARC record: {exc}") from None


def _content_type(value: str | None) -> tuple[str | None, str | None]:
    """(media type, charset) of a Content-Type header."""
    if not value:
        return None, None
    mime, *params = (part.strip() for part in value.split(";"))
    charset = next((p.split("=", 1)[1].strip("\"' ") for p in params if p.lower().startswith("charset=")), None)
    return mime.lower() or None, charset or None


def html_page(raw: RawRecord, max_bytes: int) -> HtmlPage | str:
    """The HTML page a ``response`` record holds, or the reason the record is skipped: ``warc_<type>`` for the
    other record types, ``not_http``, ``http_redirect`` (3xx), ``http_error`` (any other status but 2xx),
    ``not_html`` (another media type, or none and a payload that does not start like HTML). A record warcio
    cannot parse, or whose payload cannot be decoded, raises :class:`RecordError`."""
    record = _parse(raw)
    if record.rec_type != "response":
        return f"warc_{record.rec_type if record.rec_type in RECORD_TYPES else 'other'}"
    if record.http_headers is None:
        return "not_http"
    status = record.http_headers.get_statuscode() or ""
    if not status.startswith("2"):
        return "http_redirect" if status.startswith("3") else "http_error"
    url = record.rec_headers.get_header("WARC-Target-URI")
    if not url or not urlparse(url.strip("<>")).hostname:
        raise RecordError("malformed_record", f"response record without a usable WARC-Target-URI: {url!r}")
    mime, charset = _content_type(record.http_headers.get_header("Content-Type"))
    if mime is not None and mime not in HTML_TYPES:
        return "not_html"
    try:
        body = record.content_stream().read(max_bytes)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise RecordError("malformed_record", f"the HTTP payload cannot be decoded: {exc}") from None
    if mime is None and not _HTML_START.match(body[:4096]):
        return "not_html"
    return HtmlPage(url.strip("<>"), record.rec_headers.get_header("WARC-Date"), body, charset,
                    record.http_headers.get_header("Content-Language"))
