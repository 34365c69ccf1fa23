"""Streaming reader for MediaWiki XML export dumps (schema 0.10 / 0.11).

The reader never holds more than one page (bounded by ``max_page_bytes``) plus a
read chunk in memory. Pages are cut out of the byte stream at their ``<page>`` /
``</page>`` tags (which cannot occur inside escaped wikitext) and parsed one by
one, so a malformed page is rejected on its own and the pages after it survive.
Compressed input is decompressed incrementally, stream after stream, which
covers plain ``.bz2``, multistream ``.bz2`` read from an offset, and ``.gz``.
"""
from __future__ import annotations

import bz2
import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from kgpipe.errors import CommandError
from kgpipe.ingest.bz2blocks import (
    BLOCK_MAGIC,
    MAX_BLOCK_BYTES,
    StreamDamage,
    decompress_all,
    find_magics,
    recover_blocks,
)
from kgpipe.ingest.wikitext import Namespaces, normalize_title

READ_CHUNK = 1 << 20
HEADER_LIMIT = 4 << 20
HEAD_KEEP = 4096
#: gzip: a failed read is decoded again in pieces this size, to keep what precedes the damage
GZIP_SALVAGE_PIECE = 64
_OPEN = b"<page>"
_CLOSE = b"</page>"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class InputError(CommandError):
    """The byte stream itself is unreadable from some point on."""


class RecordError(Exception):
    """One input record (page, JSON line, article file) is bad; it becomes a reject row."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode_record(data: bytes, unit: str) -> str:
    """A record's bytes as text; bad UTF-8 rejects the record (``invalid_utf8``, with where it is)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError("invalid_utf8", f"invalid UTF-8 at byte {exc.start} of the {unit}") from None


@dataclass(frozen=True)
class SiteInfo:
    dbname: str
    language: str | None = None
    base_url: str | None = None
    schema_version: str | None = None
    namespaces: Namespaces = field(default_factory=Namespaces.english_default)

    def page_url(self, title: str) -> str | None:
        if not self.base_url:
            return None
        return self.base_url + title.replace(" ", "_")


@dataclass(frozen=True)
class RawPage:
    title: str
    namespace: int
    page_id: str | None
    revision_id: str | None
    timestamp: str | None
    redirect_target: str | None
    text: str


# --- decompression -------------------------------------------------------------------------

def _decompressor(codec: str):
    if codec == "bz2":
        return bz2.BZ2Decompressor()
    return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)


class _Streams:
    """Streaming decompression of concatenated streams (multistream bz2, multi-member gzip) that knows where
    in the file it is: where the current stream began, where it broke, and where the last good feed of
    data began with how many bytes it yielded (``checkpoint``)."""

    def __init__(self, codec: str, start: int):
        self.codec = codec
        self.decomp = _decompressor(codec)
        self.stream_start = self.broken_at = start
        self.checkpoint = (start, 0)
        self.fed = False

    def feed(self, data: bytes, at: int) -> Iterator[bytes]:
        """Output of ``data``, which starts at file offset ``at``; raises :class:`InputError` on corrupt data,
        after yielding what precedes the damage (bz2: what the feeds before the broken one decoded)."""
        while data:
            self.broken_at, self.fed = at, True
            before = self.decomp.copy() if self.codec == "gzip" else None
            try:
                # bz2: whole blocks only, each checked against its CRC, also when libbzip2 held one back
                out = decompress_all(self.decomp, data)[0] if self.codec == "bz2" else self.decomp.decompress(data)
            except (OSError, EOFError, zlib.error, ValueError) as exc:
                if before is not None:
                    self.broken_at = at + (yield from _gzip_prefix(before, data))
                raise InputError(f"corrupt compressed data: {exc}") from exc
            self.checkpoint = (at, len(out))
            if out:
                yield out
            if not self.decomp.eof:
                return
            at += len(data) - len(self.decomp.unused_data)
            data = self.decomp.unused_data
            self.decomp, self.stream_start, self.checkpoint, self.fed = _decompressor(self.codec), at, (at, 0), False

    def resume(self, fh: BinaryIO) -> tuple[int, int]:
        """Where block-by-block reading takes over after a broken feed, and how many of the bytes it decodes
        first were yielded already: it starts at the block the last good feed began in (or at the stream's
        start); that feed yielded the output of this block and of those after it that ended in the feed."""
        start, done = self.checkpoint
        lo = max(self.stream_start, start - MAX_BLOCK_BYTES)
        fh.seek(lo)
        window = fh.read(start + 7 - lo)
        bits = [8 * lo + bit for bit, magic in find_magics(window, 0, len(window) - 6) if magic == BLOCK_MAGIC]
        return max((bit for bit in bits if bit <= 8 * start), default=8 * self.stream_start), done


def _gzip_prefix(decomp, data: bytes) -> Iterator[bytes]:
    """What a copy of the decompressor from before a broken feed decodes of ``data`` before the damage: zlib
    drops a failed call's output, so the data is fed again in small pieces. Returns the failing piece's
    offset in ``data``."""
    for i in range(0, len(data), GZIP_SALVAGE_PIECE):
        try:
            out = decomp.decompress(data[i:i + GZIP_SALVAGE_PIECE])
        except zlib.error:
            return i
        if out:
            yield out
    return len(data)


def _read(fh: BinaryIO, end: int | None) -> bytes:
    size = READ_CHUNK if end is None else min(READ_CHUNK, end - fh.tell())
    return fh.read(size) if size > 0 else b""


def iter_decompressed(fh: BinaryIO, codec: str, limit: int | None = None,
                      recover: bool = False) -> Iterator[bytes | StreamDamage]:
    """Yield decompressed chunks of ``fh`` from its position on (at most ``limit`` compressed bytes).

    Concatenated streams (multistream bz2, multi-member gzip) are followed. At truncated or corrupt data
    everything before the damage is yielded; then without ``recover`` an :class:`InputError` is raised.
    With ``recover`` a :class:`StreamDamage` item says where the damage is, and bz2 reading goes on at the
    next intact block (:func:`~kgpipe.ingest.bz2blocks.recover_blocks`), so more items may follow; gzip
    has no such points, so its damage item is the last.
    """
    for item in _decompressed(fh, codec, limit):
        if not recover and isinstance(item, StreamDamage):
            raise InputError(str(item))
        yield item


def _decompressed(fh: BinaryIO, codec: str, limit: int | None) -> Iterator[bytes | StreamDamage]:
    """:func:`iter_decompressed` with ``recover``: the streaming decompressor while the data is intact,
    block by block from the block the last good feed began in, less what that feed yielded."""
    end = None if limit is None else fh.tell() + limit
    if codec == "none":
        while raw := _read(fh, end):
            yield raw
        return
    streams = _Streams(codec, fh.tell())
    try:
        while raw := _read(fh, end):
            yield from streams.feed(raw, fh.tell() - len(raw))
        if not streams.fed or streams.decomp.eof:
            return
        streams.broken_at = fh.tell()
        raise InputError("compressed stream ends before its end-of-stream marker (truncated file)")
    except InputError as error:
        if codec != "bz2":
            yield StreamDamage(str(error), streams.broken_at)
            return
    from_bit, skip = streams.resume(fh)
    for item in recover_blocks(fh, from_bit, end):
        if skip and isinstance(item, bytes):
            item, skip = item[skip:], max(0, skip - len(item))
        if item:
            yield item


# --- page scanning -------------------------------------------------------------------------

@dataclass(frozen=True)
class PageChunk:
    """One page cut out of the stream; ``problem`` is set when it is incomplete."""
    ordinal: int
    offset: int
    data: bytes
    problem: str | None = None
    detail: str | None = None
    size: int = 0


@dataclass
class _Tail:
    """The bytes after a damaged part of the stream up to the next ``<page>``: the end of a page whose start
    was lost. Only its first HEAD_KEEP bytes are kept."""
    offset: int
    damage: StreamDamage
    head: bytes = b""
    size: int = 0

    def add(self, data: bytes | bytearray) -> None:
        if len(self.head) < HEAD_KEEP:
            self.head += bytes(data[:HEAD_KEEP - len(self.head)])
        self.size += len(data)

    def chunk(self, ordinal: int) -> PageChunk | None:
        """The tail as a truncated page, or None when it holds only white space and the closing tag."""
        if self.size <= HEAD_KEEP and not self.head.replace(b"</mediawiki>", b"").strip():
            return None
        return PageChunk(ordinal, self.offset, self.head, "truncated",
                         f"the start of this page is in an unreadable part of the stream: {self.damage}", self.size)


class _PageScanner:
    """The state :func:`scan_pages` carries from one chunk to the next: the bytes not yet consumed (``buf``,
    starting at stream offset ``base``) and the page in progress."""

    def __init__(self, max_page_bytes: int, header_sink: list[bytes] | None):
        self.max_page_bytes = max_page_bytes
        self.header_sink = header_sink
        self.buf = bytearray()
        self.base = 0
        self.ordinal = -1
        self.in_page = False
        self.oversize = False
        self.page_size = 0
        self.page_offset = 0
        self.head = b""
        self.search_from = 0
        self.header_done = False
        self.tail: _Tail | None = None

    def feed(self, chunk: bytes) -> Iterator[PageChunk]:
        """The pages that end (or are cut off) within the stream read so far."""
        self.buf += chunk
        if self.tail is not None:
            i = self.buf.find(_OPEN)
            # an opening tag may be split across chunks: its first bytes stay for the next search
            end = i if i >= 0 else max(0, len(self.buf) - (len(_OPEN) - 1))
            self.tail.add(self.buf[:end])
            self._consume(end)
            if i < 0:
                return
            yield from self._end_tail()
        while True:
            if not self.in_page and not self._open_page():
                return
            page = self._cut_page()
            if page is None:
                self._await_close()
                return
            yield page

    def finish(self, error: InputError | None) -> Iterator[PageChunk]:
        """The page the stream ended in, if any, as a truncated one, or the end of a page after a damaged part."""
        if not self.header_done and self.header_sink is not None:
            self.header_sink.append(bytes(self.buf))
        if self.in_page:
            data = self.head if self.oversize else bytes(self.buf)
            reason = "stream ends inside this page" if error is None else f"stream broken inside this page: {error}"
            yield PageChunk(self.ordinal, self.page_offset, data, "truncated", reason, self.page_size + len(self.buf))
        elif self.tail is not None:
            self.tail.add(self.buf)
            yield from self._end_tail()

    def cut(self, damage: StreamDamage) -> Iterator[PageChunk]:
        """A damaged part of the stream: the page in progress is truncated, and what follows the part up to
        the next ``<page>`` is the end of a page whose start is lost."""
        yield from self.finish(damage)
        self._consume(len(self.buf))
        self.in_page, self.oversize, self.search_from, self.header_done = False, False, 0, True
        self.tail = _Tail(self.base, damage)

    def _end_tail(self) -> Iterator[PageChunk]:
        tail, self.tail = self.tail, None
        page = tail.chunk(self.ordinal + 1)
        if page is not None:
            self.ordinal += 1
            yield page

    def _consume(self, n: int) -> None:
        del self.buf[:n]
        self.base += n

    def _open_page(self) -> bool:
        """Move to the next ``<page>``; False when the bytes read so far hold none."""
        i = self.buf.find(_OPEN, self.search_from)
        if i < 0:
            # an opening tag may be split across chunks: its first bytes stay for the next search
            cut = max(0, len(self.buf) - (len(_OPEN) - 1))
            if not self.header_done and self.header_sink is not None:
                if sum(map(len, self.header_sink)) < HEADER_LIMIT:
                    self.header_sink.append(bytes(self.buf[:cut]))
            self._consume(cut)
            self.search_from = 0
            return False
        if not self.header_done:
            if self.header_sink is not None:
                self.header_sink.append(bytes(self.buf[:i]))
            self.header_done = True
        self._consume(i)
        self.in_page, self.oversize, self.page_size = True, False, 0
        self.ordinal += 1
        self.page_offset = self.base
        self.search_from = len(_OPEN)
        return True

    def _cut_page(self) -> PageChunk | None:
        """The page in progress once its end is in the buffer (``</page>``, or the next ``<page>`` when the
        closing tag is lost), else None."""
        buf = self.buf
        j = buf.find(_CLOSE, self.search_from)
        k = buf.find(_OPEN, max(self.search_from, len(_OPEN)) if not self.oversize else self.search_from)
        if k >= 0 and (j < 0 or k < j):
            # a new page starts before this one closed: the file lost a </page>
            page = PageChunk(self.ordinal, self.page_offset, self.head if self.oversize else bytes(buf[:k]),
                             "unterminated_page", "page has no closing </page> before the next <page>",
                             self.page_size + k)
            self._end_page(k)
            return page
        if j < 0:
            return None
        end = j + len(_CLOSE)
        if self.oversize or end > self.max_page_bytes:
            page = PageChunk(self.ordinal, self.page_offset, self.head if self.oversize else bytes(buf[:HEAD_KEEP]),
                             "page_too_large", f"page is {self.page_size + end} bytes, limit {self.max_page_bytes}",
                             self.page_size + end)
        else:
            page = PageChunk(self.ordinal, self.page_offset, bytes(buf[:end]), size=end)
        self._end_page(end)
        return page

    def _end_page(self, end: int) -> None:
        self._consume(end)
        self.in_page, self.search_from = False, 0

    def _await_close(self) -> None:
        """Wait for more bytes of the page in progress; an oversized page is only counted from here on, its
        first HEAD_KEEP bytes kept for the reject, so memory stays bounded."""
        if not self.oversize and len(self.buf) > self.max_page_bytes:
            self.oversize, self.head = True, bytes(self.buf[:HEAD_KEEP])
        if self.oversize:
            cut = max(0, len(self.buf) - (len(_CLOSE) - 1))
            self.page_size += cut
            self._consume(cut)
            self.search_from = 0
        else:
            self.search_from = max(0, len(self.buf) - len(_CLOSE) + 1)


def scan_pages(chunks: Iterator[bytes | StreamDamage], max_page_bytes: int, header_sink: list[bytes] | None = None,
               skip_leading: bool = False) -> Iterator[PageChunk | InputError | StreamDamage]:
    """Cut ``<page>...</page>`` fragments out of a byte stream.

    Yields :class:`PageChunk` objects. A damaged part (a :class:`StreamDamage` item of
    :func:`iter_decompressed` with ``recover``) is passed on after the page in progress, which comes as a
    chunk with ``problem='truncated'``; the bytes after it up to the next ``<page>``, the end of a page
    whose start was lost, are another such chunk. An :class:`InputError` raised by ``chunks`` ends the
    iteration the same way, as its last item. Bytes before the first page are the dump header; they go
    to ``header_sink`` unless ``skip_leading`` (a split that starts mid-file).
    """
    scanner = _PageScanner(max_page_bytes, None if skip_leading else header_sink)
    error: InputError | None = None
    it = iter(chunks)
    while True:
        try:
            chunk = next(it)
        except StopIteration:
            break
        except InputError as exc:
            error = exc
            break
        if isinstance(chunk, StreamDamage):
            yield from scanner.cut(chunk)
            yield chunk
        else:
            yield from scanner.feed(chunk)
    yield from scanner.finish(error)
    if error is not None:
        yield error


# --- header and page parsing ---------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_DBNAME_FROM_FILE = re.compile(r"^([a-z_]+wik[a-z]+)-")


def parse_siteinfo(header: bytes, file_name: str = "") -> SiteInfo:
    """Site information from the bytes before the first page; defaults when absent."""
    start = header.find(b"<mediawiki")
    if start < 0:
        raise InputError("no <mediawiki> root element: not a MediaWiki XML export")
    fallback = _DBNAME_FROM_FILE.match(file_name)
    dbname = fallback.group(1) if fallback else "wiki"
    try:
        root = ET.fromstring(header[start:] + b"</mediawiki>")
    except ET.ParseError as exc:
        raise InputError(f"malformed dump header: {exc}") from exc
    info = {"language": root.get(_XML_LANG), "schema_version": root.get("version")}
    names: dict[int, tuple[str, ...]] = {}
    base_url = None
    for el in root:
        if _local(el.tag) != "siteinfo":
            continue
        for item in el:
            tag = _local(item.tag)
            if tag == "dbname" and item.text:
                dbname = item.text.strip()
            elif tag == "base" and item.text:
                base_url = item.text.strip().rsplit("/", 1)[0] + "/"
            elif tag == "namespaces":
                for ns in item:
                    try:
                        key = int(ns.get("key", "0"))
                    except ValueError:   # a damaged header: the input is unreadable, as for any other damage
                        raise InputError(f"malformed dump header: namespace key {ns.get('key')!r} is not an "
                                         f"integer") from None
                    if ns.text:
                        names[key] = (ns.text.strip(),)
    # canonical names (File:, Category:) are recognised on every wiki in addition to these
    namespaces = Namespaces(names) if names else Namespaces.english_default()
    return SiteInfo(dbname=dbname, language=info["language"], base_url=base_url,
                    schema_version=info["schema_version"], namespaces=namespaces)


_REDIRECT_TEXT = re.compile(r"^\s*#(?:REDIRECT|ΑΝΑΚΑΤΕΥΘΥΝΣΗ|WEITERLEITUNG|REDIRECTION)\s*:?\s*\[\[([^\]|]+)",
                            re.IGNORECASE)


def parse_page(data: bytes, site: SiteInfo) -> RawPage:
    """Parse one ``<page>`` fragment; raise :class:`RecordError` on bad input."""
    text = decode_record(data, "page")
    try:
        el = ET.fromstring(text)
    except ET.ParseError as exc:
        raise RecordError("malformed_xml", f"page XML is not well-formed: {exc}") from None
    title = (el.findtext("title") or "").strip()
    if not title:
        raise RecordError("missing_title", "page has no <title>")
    ns_text = el.findtext("ns")
    try:
        namespace = int(ns_text) if ns_text is not None else site.namespaces.namespace_of(title)[0]
    except ValueError:
        raise RecordError("malformed_xml", f"<ns> is not an integer: {ns_text!r}") from None
    revisions = el.findall("revision")
    revision = revisions[-1] if revisions else None
    wikitext = ""
    revision_id = timestamp = None
    if revision is not None:
        revision_id = revision.findtext("id")
        timestamp = revision.findtext("timestamp")
        wikitext = revision.findtext("text") or ""
    redirect = el.find("redirect")
    target = redirect.get("title") if redirect is not None else None
    if target is None:
        match = _REDIRECT_TEXT.match(wikitext)
        target = match.group(1) if match else None
    return RawPage(title=title, namespace=namespace, page_id=el.findtext("id"), revision_id=revision_id,
                   timestamp=timestamp, redirect_target=target, text=wikitext)


_HEAD_FIELDS = {name: re.compile(rf"<{name}>([^<]{{0,1000}})</{name}>".encode()) for name in ("title", "id")}


def salvage_ids(head: bytes) -> tuple[str | None, str | None]:
    """Best-effort (page id, title) from the start of a damaged page, for its reject row; the end of a page
    whose start was lost (the ids there are its revision's and contributor's) names none."""
    if not head.lstrip().startswith(_OPEN):
        return None, None
    found = {}
    for name, pattern in _HEAD_FIELDS.items():
        m = pattern.search(head)
        found[name] = m.group(1).decode("utf-8", "replace").strip() if m else None
    return found["id"], found["title"]


def split_redirect_target(target: str) -> tuple[str, str | None]:
    title, _, fragment = target.partition("#")
    return normalize_title(title), (fragment.strip() or None)
