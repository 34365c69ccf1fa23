"""News input: JSONL (one article per line) and folders of plain-text articles (WARC files: warc.py, webpage.py)."""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

from kgpipe.ingest.dumps import RecordError, decode_record, iter_decompressed

_BLANK_LINES = re.compile(r"\n\s*\n")
#: a JSON escape of a UTF-16 surrogate: only lines with one can decode to strings UTF-8 cannot hold
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: the fields of a JSONL record that end up in rows
_FIELDS = ("text", "url", "source", "id", "title", "author", "language", "lang", "published", "published_at", "date")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class NewsArticle:
    source: str
    native_id: str
    revision_id: str
    title: str | None
    url: str | None
    published: datetime | None
    language: str | None
    paragraphs: tuple[str, ...]
    author: str | None = None


def split_paragraphs(text: str) -> tuple[str, ...]:
    """Blank lines separate paragraphs; whitespace inside one collapses to single spaces."""
    paragraphs = (_SPACES.sub(" ", p).strip() for p in _BLANK_LINES.split(text.replace("\r\n", "\n")))
    return tuple(p for p in paragraphs if p)


def parse_time(value) -> datetime | None:
    """ISO 8601 strings (a trailing Z allowed) or epoch seconds, as aware UTC datetimes; None for anything else,
    and for times a datetime cannot hold (NaN, 1e20 seconds, year 1 at +05:00 is year 0 in UTC)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=timezone.utc)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _string(obj: dict, *keys: str) -> str | None:
    """The first of these fields that holds a non-empty string; a value of another JSON type counts as absent."""
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _hostname(url: str | None) -> str | None:
    try:
        return urlparse(url).hostname if url else None
    except ValueError:   # "http://[bad": an unclosed IPv6 bracket
        return None


def article_from_json(line: bytes, fallback_source: str) -> NewsArticle:
    raw = decode_record(line, "line")
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RecordError("invalid_json", f"line is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RecordError("invalid_json", f"line is JSON {type(obj).__name__}, not an object")
    if _SURROGATE_ESCAPE.search(raw):
        _check_unicode(obj)
    text = obj.get("text")
    if not isinstance(text, str):
        raise RecordError("missing_text", "record has no 'text' string")
    paragraphs = split_paragraphs(text)
    if not paragraphs:
        raise RecordError("empty_text", "record's text is empty")
    url = obj.get("url") if isinstance(obj.get("url"), str) else None
    site = _string(obj, "source") or _hostname(url) or fallback_source
    published_raw = obj.get("published") or obj.get("published_at") or obj.get("date")
    native_id = obj.get("id") if obj.get("id") not in (None, "") else (url or content_hash(text))
    title, author = obj.get("title"), obj.get("author")
    return NewsArticle(
        source=f"news:{site}", native_id=str(native_id),
        revision_id=str(published_raw) if published_raw else content_hash(text),
        title=title.strip() if isinstance(title, str) else None, url=url,
        published=parse_time(published_raw), language=_string(obj, "language", "lang"),
        paragraphs=paragraphs, author=(author.strip() or None) if isinstance(author, str) else None)


def _check_unicode(obj: dict) -> None:
    """JSON may escape half of a surrogate pair (``"\\ud83d"``: an emoji cut in two), which decodes to a string
    no UTF-8 file can hold: a record with one in a field it uses is bad UTF-8 like any other, not a crash when
    the table is written."""
    for name in _FIELDS:
        value = obj.get(name)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise RecordError("invalid_utf8", f"the record's {name!r} holds an unpaired surrogate "
                                                  f"(\\u{ord(value[exc.start]):04x}, escaped in the JSON)") from None


def iter_jsonl_lines(path: str, codec: str, start: int, end: int | None) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) for lines that start in [start, end); compressed files are read whole."""
    with open(path, "rb") as fh:
        if start:
            fh.seek(start - 1)
        chunks = iter_decompressed(fh, codec)
        pos = start - 1 if start else 0
        buf = b""
        skip_first = bool(start)
        for chunk in chunks:
            lines = (buf + chunk).split(b"\n")
            buf = lines.pop()
            for line in lines:
                line_start, pos = pos, pos + len(line) + 1
                if skip_first:
                    # the byte before `start` decides: a newline there means a line starts at `start`
                    skip_first = False
                    continue
                if end is not None and line_start >= end:
                    return
                yield line_start, line
        if buf and not skip_first and (end is None or pos < end):
            yield pos, buf


def read_text_article(root: Path, relative: str) -> NewsArticle:
    """A plain-text article: headline on the first line, then paragraphs separated by blank lines."""
    path = root / relative
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordError("unreadable_file", f"cannot read file: {exc.strerror or exc}") from None
    text = decode_record(data, "file")
    headline, _, body = text.lstrip("\ufeff").partition("\n")
    paragraphs = split_paragraphs(body)
    if not paragraphs:
        raise RecordError("empty_text", "article has no text after its headline")
    return NewsArticle(source=f"news:{root.name}", native_id=relative, revision_id=content_hash(text),
                       title=headline.strip() or None, url=None, published=None, language=None,
                       paragraphs=paragraphs)


def is_article_file(relative: str) -> bool:
    name = Path(relative).name
    return not (name.startswith(".") or name.upper().startswith("README"))

