"""Ingest logic, engine-free: one input split in, tagged table rows out.

``process_split`` is what a Beam worker runs for each split, and equally what a
plain loop would run: Beam adds distribution, not behaviour. Every record read
ends up in exactly one place: ``documents``, ``redirects``, ``rejects``, or the
skipped-by-rule counts, and the split's closing ``stats`` row says how many
went where (``seen == documents + redirects + skipped + rejects``).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kgpipe.config import IngestConfig
from kgpipe.ids import stable_id
from kgpipe.ingest.dumps import (
    InputError,
    PageChunk,
    RecordError,
    SiteInfo,
    StreamDamage,
    iter_decompressed,
    parse_page,
    salvage_ids,
    scan_pages,
    split_redirect_target,
)
from kgpipe.ingest.infobox import InfoboxCounts, infobox_rows, load_mappings
from kgpipe.ingest.inputs import NEWS_DIR, NEWS_JSONL, UNREADABLE, WARC, InputSplit
from kgpipe.ingest.news import (
    NewsArticle,
    article_from_json,
    is_article_file,
    iter_jsonl_lines,
    read_text_article,
)
from kgpipe.ingest.warc import DAMAGE_REASONS as WARC_DAMAGE_REASONS
from kgpipe.ingest.warc import html_page, read_records
from kgpipe.ingest.webpage import article_from_page
from kgpipe.ingest.wikitext import clean_wikitext, parse_wikitext
from kgpipe.stages import STAGES

STAGE = "ingest"
OUTPUT_TABLES = STAGES[STAGE].writes
#: rejects that say an input, or a part of one, could not be read at all (not that a record in it is bad):
#: the stage still commits what it read, and the command exits with status 3 so that schedulers notice
DAMAGE_REASONS = ("unreadable_input", "unreadable_stream", "missing_from_stream") + WARC_DAMAGE_REASONS
Row = dict[str, Any]
Tagged = tuple[str, Row]


class SplitCounter:
    """Per-input accounting of where each record went."""

    def __init__(self, path: str):
        self.path = path
        self.seen = 0
        self.documents = 0
        self.redirects = 0
        self.links = 0
        self.skipped: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.infobox_rows = 0
        self.infobox = InfoboxCounts()

    def as_row(self) -> Row:
        infobox = {key: getattr(self.infobox, key) for key in ("seen", "facts", "unmapped", "unlinked", "unreadable")}
        return {"input": self.path, "seen": self.seen, "documents": self.documents,
                "redirects": self.redirects, "links": self.links, "infobox_rows": self.infobox_rows,
                "near_duplicates": 0,
                "skipped": dict(self.skipped), "rejects": dict(self.rejected), "infobox": infobox}


#: per-input counts that add up, and counters (dicts) that merge key by key (near_duplicates: documents marked
#: as copies, counted by the pipeline's near-duplicate step in stats rows of their own)
_SUMS = ("seen", "documents", "redirects", "links", "infobox_rows", "near_duplicates")
_COUNTERS = ("skipped", "rejects", "infobox")


def merge_stats(rows) -> Row:
    """Combine stats rows of the same input (associative, for Beam's CombinePerKey)."""
    total: Row = {**{key: 0 for key in _SUMS}, **{key: {} for key in _COUNTERS}}
    for row in rows:
        total["input"] = row.get("input", total.get("input"))
        for key in _SUMS:
            total[key] += row.get(key, 0)
        for key in _COUNTERS:
            merged = Counter(total[key])
            merged.update(row.get(key, {}))
            total[key] = dict(merged)
    return total


class _Emitter:
    def __init__(self, split: InputSplit, cfg: IngestConfig):
        self.cfg = cfg
        self.count = SplitCounter(split.path)
        self.stream_errors: list[str] = []

    def reject(self, input_ref: str, reason: str, detail: str, excerpt: str | bytes | None,
               native_id: str | None = None, title: str | None = None) -> Tagged:
        self.count.rejected[reason] += 1
        if isinstance(excerpt, bytes):
            excerpt = excerpt[: self.cfg.excerpt_chars * 4].decode("utf-8", "replace")
        return "rejects", {"input_ref": input_ref, "stage": STAGE, "reason": reason, "detail": detail,
                           "native_id": native_id, "title": title,
                           "excerpt": (excerpt or "")[: self.cfg.excerpt_chars]}

    def skip(self, reason: str) -> None:
        self.count.skipped[reason] += 1


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    except (ValueError, OverflowError):   # OverflowError: a time UTC cannot hold (year 1 at +05:00)
        return None


def _paragraph_rows(paragraphs) -> list[Row]:
    return [{"start": p.start, "end": p.end, "kind": p.kind, "section": p.section, "level": p.level}
            for p in paragraphs]


# --- wiki ----------------------------------------------------------------------------------

def _wiki_page_rows(chunk: PageChunk, site: SiteInfo, ref: str, out: _Emitter) -> Iterator[Tagged]:
    count = out.count
    if chunk.problem:
        page_id, title = salvage_ids(chunk.data)
        yield out.reject(ref, chunk.problem, chunk.detail or chunk.problem, chunk.data, page_id, title)
        return
    try:
        page = parse_page(chunk.data, site)
    except RecordError as exc:
        page_id, title = salvage_ids(chunk.data)
        yield out.reject(ref, exc.reason, exc.detail, chunk.data, page_id, title)
        return
    if page.namespace != 0:
        out.skip(f"namespace_{page.namespace}")
        return
    if page.redirect_target is not None:
        target, fragment = split_redirect_target(page.redirect_target)
        if not target:
            yield out.reject(ref, "bad_redirect", "redirect without a target title", page.text,
                             page.page_id, page.title)
            return
        count.redirects += 1
        yield "redirects", {"source": site.dbname, "from_title": page.title, "to_title": target,
                            "to_fragment": fragment, "page_id": page.page_id, "input_ref": ref}
        return
    if not page.text.strip():
        yield out.reject(ref, "empty_page", "page has no wikitext", chunk.data, page.page_id, page.title)
        return
    code = parse_wikitext(page.text)
    clean = clean_wikitext(page.text, site.namespaces, code)
    if not clean.text:
        yield out.reject(ref, "empty_after_cleaning", "no prose left after removing markup", page.text,
                         page.page_id, page.title)
        return
    doc_id = stable_id(site.dbname, page.page_id, page.revision_id)
    count.documents += 1
    yield "documents", {
        "doc_id": doc_id, "source": site.dbname, "source_kind": "wiki", "native_id": page.page_id or page.title,
        "revision_id": page.revision_id, "title": page.title, "author": None, "url": site.page_url(page.title),
        "namespace": page.namespace, "language": site.language or out.cfg.default_language,
        "source_timestamp": _timestamp(page.timestamp), "text": clean.text,
        "paragraphs": _paragraph_rows(clean.paragraphs), "input_ref": ref, "duplicate_of": None}
    for link in clean.links:
        count.links += 1
        yield "links", {"doc_id": doc_id, "anchor": link.anchor, "target_title": link.target,
                        "target_fragment": link.fragment, "start": link.start, "end": link.end}
    if code is not None:
        rows = infobox_rows(code, load_mappings(out.cfg.infobox_mappings), site.namespaces)
        count.infobox.add(rows)
        for row in rows:
            count.infobox_rows += 1
            yield "infobox", {"doc_id": doc_id, **row.__dict__}


def _damage_row(split: InputSplit, damage: StreamDamage, out: _Emitter) -> Iterator[Tagged]:
    """An unreadable part of a stream: one reject (from shard 0) naming its compressed byte offset, or, where
    an index names the pages the stream held, ``missing_from_stream`` rejects once the split was read."""
    if split.expected:
        out.stream_errors.append(str(damage))
        return
    if split.shard != 0:
        return
    out.count.seen += 1
    if damage.resumed is None:
        where = f"from compressed byte {damage.offset} on; pages after this point are lost"
    else:
        where = (f"from compressed byte {damage.offset} to {damage.resumed}, where reading resumed at the next "
                 "intact block; pages between are lost")
    yield out.reject(f"{split.path}:{damage.offset}", "unreadable_stream", f"input unreadable {where}: {damage}",
                     None)


def _wiki_range_rows(split: InputSplit, start: int, end: int | None, out: _Emitter,
                     seen_ids: set[str]) -> Iterator[Tagged]:
    """Pages of one byte range: a whole file, a byte-range split, or one multistream stream."""
    count = out.count
    with open(split.path, "rb") as fh:
        fh.seek(start)
        limit = end - start if split.codec != "none" and end is not None else None
        for item in scan_pages(iter_decompressed(fh, split.codec, limit, recover=True), out.cfg.max_page_bytes,
                               skip_leading=True):
            if isinstance(item, StreamDamage):
                yield from _damage_row(split, item, out)
                continue
            if split.codec == "none" and end is not None and start + item.offset >= end:
                return
            if item.ordinal % split.num_shards != split.shard:
                continue
            count.seen += 1
            if split.expected:
                seen_ids.add(salvage_ids(item.data[:2048])[0] or "")
            yield from _wiki_page_rows(item, split.site, f"{split.path}:{start}+{item.offset}", out)


def _wiki_rows(split: InputSplit, out: _Emitter) -> Iterator[Tagged]:
    if split.streams:
        # multistream: every bz2 stream is read on its own, so damage to one loses only its pages
        ends = split.streams[1:] + (split.end,)
        ranges = list(zip(split.streams, ends))
    else:
        ranges = [(split.start, split.end)]
    seen_ids: set[str] = set()
    for start, end in ranges:
        yield from _wiki_range_rows(split, start, end, out, seen_ids)
    errors = "; ".join(out.stream_errors) or "the page was not found in its stream"
    for page_id, title in split.expected:
        if page_id not in seen_ids:
            out.count.seen += 1
            yield out.reject(f"{split.path}:{split.start}", "missing_from_stream",
                             f"listed in the multistream index but not readable: {errors}", None, page_id, title)


# --- news ----------------------------------------------------------------------------------

def _article_rows(article: NewsArticle, ref: str, out: _Emitter) -> Iterator[Tagged]:
    text_parts, paragraphs, pos = [], [], 0
    for paragraph in article.paragraphs:
        if text_parts:
            pos += 2
        paragraphs.append({"start": pos, "end": pos + len(paragraph), "kind": "text", "section": "",
                           "level": 0})
        text_parts.append(paragraph)
        pos += len(paragraph)
    out.count.documents += 1
    yield "documents", {
        "doc_id": stable_id(article.source, article.native_id, article.revision_id),
        "source": article.source, "source_kind": "news", "native_id": article.native_id,
        "revision_id": article.revision_id, "title": article.title, "author": article.author, "url": article.url,
        "namespace": 0, "language": article.language or out.cfg.default_language,
        "source_timestamp": article.published, "text": "\n\n".join(text_parts), "paragraphs": paragraphs,
        "input_ref": ref, "duplicate_of": None}   # duplicate_of: set by the pipeline's near-duplicate step


def _jsonl_rows(split: InputSplit, out: _Emitter) -> Iterator[Tagged]:
    fallback = Path(split.path).name.split(".")[0]
    lines = iter_jsonl_lines(split.path, split.codec, split.start, split.end)
    while True:
        try:
            offset, line = next(lines)
        except StopIteration:
            return
        except InputError as exc:
            out.count.seen += 1
            yield out.reject(split.path, "unreadable_stream",
                             f"input unreadable from here on; lines after this point are lost: {exc}", None)
            return
        if not line.strip():
            continue
        out.count.seen += 1
        ref = f"{split.path}:{offset}"
        if len(line) > out.cfg.max_page_bytes:
            yield out.reject(ref, "record_too_large", f"line is {len(line)} bytes, limit {out.cfg.max_page_bytes}",
                             line)
            continue
        try:
            article = article_from_json(line, fallback)
        except RecordError as exc:
            yield out.reject(ref, exc.reason, exc.detail, line)
            continue
        yield from _article_rows(article, ref, out)


def _text_dir_rows(split: InputSplit, out: _Emitter) -> Iterator[Tagged]:
    root = Path(split.path)
    for relative in split.files:
        out.count.seen += 1
        if not is_article_file(relative):
            out.skip("not_an_article")
            continue
        ref = f"{split.path}/{relative}"
        try:
            article = read_text_article(root, relative)
        except RecordError as exc:
            yield out.reject(ref, exc.reason, exc.detail, (root / relative).read_bytes()[:2048], relative)
            continue
        yield from _article_rows(article, ref, out)


def _warc_rows(split: InputSplit, out: _Emitter) -> Iterator[Tagged]:
    """Every record is seen once: an article, a skip by reason (other record types, non-HTML, no article in
    the page), or a reject (damaged, malformed, oversized)."""
    cfg = out.cfg
    for record in read_records(split.path, split.codec, split.start, split.end, split.members, split.shard,
                               split.num_shards, cfg.max_page_bytes):
        out.count.seen += 1
        ref = record.ref(split.path)
        try:
            if record.reason is not None:
                raise RecordError(record.reason, record.detail or record.reason)
            page = html_page(record, cfg.max_page_bytes)
            if isinstance(page, str):
                out.skip(page)
                continue
            article = article_from_page(page, cfg.warc_min_text_chars)
        except RecordError as exc:
            yield out.reject(ref, exc.reason, exc.detail, record.data, record.target_uri())
            continue
        if article is None:
            out.skip("no_article")
            continue
        yield from _article_rows(article, ref, out)


def process_split(split: InputSplit, cfg: IngestConfig) -> Iterator[Tagged]:
    """All rows of one split, tagged with their table, then one ``("stats", ...)`` row."""
    out = _Emitter(split, cfg)
    if split.kind == UNREADABLE:
        out.count.seen += 1
        rows = iter([out.reject(split.path, "unreadable_input", split.error or "cannot read the input", None)])
    elif split.kind == NEWS_JSONL:
        rows = _jsonl_rows(split, out)
    elif split.kind == NEWS_DIR:
        rows = _text_dir_rows(split, out)
    elif split.kind == WARC:
        rows = _warc_rows(split, out)
    else:
        rows = _wiki_rows(split, out)
    yield from rows
    yield "stats", out.count.as_row()
