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
from kgpipe.ingest.wikitext import Namespaces, normalize_title

READ_CHUNK = 1 << 20
HEADER_LIMIT = 4 << 20
HEAD_KEEP = 4096
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


def iter_decompressed(fh: BinaryIO, codec: str, limit: int | None = None) -> Iterator[bytes]:
    """Yield decompressed chunks of ``fh`` (at most ``limit`` compressed bytes).

    Concatenated streams (multistream bz2, multi-member gzip) are followed. A
    truncated or corrupt stream raises :class:`InputError` after everything
    before the damage has been yielded.
    """
    remaining = limit
    decomp = _decompressor(codec) if codec != "none" else None
    fed = False
    while True:
        size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
        raw = fh.read(size) if size > 0 else b""
        if not raw:
            if decomp is not None and fed and not decomp.eof:
                raise InputError("compressed stream ends before its end-of-stream marker (truncated file)")
            return
        if remaining is not None:
            remaining -= len(raw)
        if decomp is None:
            yield raw
            continue
        data = raw
        while data:
            try:
                out = decomp.decompress(data)
            except (OSError, EOFError, zlib.error, ValueError) as exc:
                raise InputError(f"corrupt compressed data: {exc}") from exc
            fed = True
            if out:
                yield out
            if not decomp.eof:
                break
            data = decomp.unused_data
            decomp = _decompressor(codec)
            fed = False


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

    def feed(self, chunk: bytes) -> Iterator[PageChunk]:
        """The pages that end (or are cut off) within the stream read so far."""
        self.buf += chunk
        while True:
            if not self.in_page and not self._open_page():
                return
            page = self._cut_page()
            if page is None:
                self._await_close()
                return
            yield page

    def finish(self, error: InputError | None) -> Iterator[PageChunk]:
        """The page the stream ended in, if any, as a truncated one."""
        if not self.header_done and self.header_sink is not None:
            self.header_sink.append(bytes(self.buf))
        if self.in_page:
            data = self.head if self.oversize else bytes(self.buf)
            reason = "stream ends inside this page" if error is None else f"stream broken inside this page: {error}"
            yield PageChunk(self.ordinal, self.page_offset, data, "truncated", reason, self.page_size + len(self.buf))

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


def scan_pages(chunks: Iterator[bytes], max_page_bytes: int, header_sink: list[bytes] | None = None,
               skip_leading: bool = False) -> Iterator[PageChunk | InputError]:
    """Cut ``<page>...</page>`` fragments out of a byte stream.

    Yields :class:`PageChunk` objects; an unreadable stream ends the iteration
    with the :class:`InputError` as the last item (the page in progress, if
    any, comes first as a chunk with ``problem='truncated'``). Bytes before the
    first page are the dump header; they go to ``header_sink`` unless
    ``skip_leading`` (a split that starts mid-file).
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
                    key = int(ns.get("key", "0"))
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
    """Best-effort (page id, title) from the start of a damaged page, for its reject row."""
    found = {}
    for name, pattern in _HEAD_FIELDS.items():
        m = pattern.search(head)
        found[name] = m.group(1).decode("utf-8", "replace").strip() if m else None
    return found["id"], found["title"]


def split_redirect_target(target: str) -> tuple[str, str | None]:
    title, _, fragment = target.partition("#")
    return normalize_title(title), (fragment.strip() or None)
