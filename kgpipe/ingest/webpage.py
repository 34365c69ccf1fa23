"""Web pages -> news articles: an HTML page's main text and metadata, read with trafilatura.

trafilatura keeps the article and drops navigation, cookie banners, advertisements, related-story lists
and footers; it reads the title, author and publication date from the page's metadata (Open Graph,
JSON-LD, ``<time>``, meta tags). Chosen over Resiliparse, which is about 15x faster but keeps more
boilerplate and reads no metadata; both were measured on trafilatura's annotated benchmark pages
(docs/ingest.md#warc-files).
"""
from __future__ import annotations

import codecs
import logging
import re
from urllib.parse import urlparse

from trafilatura import bare_extraction
from trafilatura.utils import load_html

from kgpipe.ingest.dumps import RecordError
from kgpipe.ingest.news import NewsArticle, content_hash, parse_time
from kgpipe.ingest.warc import HtmlPage

# trafilatura warns about every page it finds no article in; such a page is a counted skip here, not news
logging.getLogger("trafilatura").setLevel(logging.ERROR)

_SPACES = re.compile(r"\s+")
#: a paragraph that ends like a sentence (closing quotes and brackets allowed after the mark)
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"'\u201c\u201d\u2019\u00bb)\]]*$")
_LANGUAGE = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\s*$")
_LANGUAGE_PATHS = ("/html/@lang", "/html/@xml:lang", "//meta[@http-equiv='content-language' or "
                   "@http-equiv='Content-Language']/@content", "//meta[@property='og:locale']/@content")


def _primary_language(value: str | None) -> str | None:
    """``en`` of ``en-GB`` (or of ``en_GB``, Open Graph's form); None for anything else."""
    found = _LANGUAGE.match(value or "")
    return found.group(1).lower() if found else None


def _declared_language(tree) -> str | None:
    """The language the page declares for itself: <html lang>, a content-language meta tag, og:locale."""
    for path in _LANGUAGE_PATHS:
        for value in tree.xpath(path):
            if language := _primary_language(str(value)):
                return language
    return None


def _decoded(page: HtmlPage) -> str | bytes:
    """The page as text when the HTTP header names a known charset; else bytes, for trafilatura to detect
    (from <meta charset>, or by guessing)."""
    if page.charset:
        try:
            return page.html.decode(codecs.lookup(page.charset).name, "replace")
        except LookupError:
            pass
    return page.html


def _date_params(fetched: str | None) -> dict:
    """htmldate settings: the publication date, not the last change; only from the page's markup and URL
    (extensive search guesses from any date in the text); never after the crawl (which also keeps a rerun
    from depending on today's date); with the time where the page gives one."""
    params = {"original_date": True, "extensive_search": False, "outputformat": "%Y-%m-%dT%H:%M:%S%z"}
    crawled = parse_time(fetched)
    if crawled is not None:
        params["max_date"] = crawled.date().isoformat()
    return params


def _paragraphs(text: str, title: str | None) -> tuple[str, ...]:
    """trafilatura's lines, without the headline when the text repeats it first."""
    paragraphs = tuple(p for p in (_SPACES.sub(" ", line).strip() for line in text.split("\n")) if p)
    return paragraphs[1:] if paragraphs and title and paragraphs[0] == title.strip() else paragraphs


def prose_chars(paragraphs: tuple[str, ...]) -> int:
    """Characters in paragraphs that end like sentences: what a section page of headlines, a navigation
    menu the extractor took for text, or a caption lacks."""
    return sum(len(p) for p in paragraphs if _SENTENCE_END.search(p))


def article_from_page(page: HtmlPage, min_chars: int) -> NewsArticle | None:
    """The article of a page, or None when it holds none (an index page, a cookie wall, an error page): no
    main text, or less than ``min_chars`` characters of prose in it. ``doc_id`` parts follow the JSONL rule:
    the URL is the article's id, its publication date the revision (else a hash of its text)."""
    try:
        tree = load_html(_decoded(page))
        if tree is None:
            return None
        language = _declared_language(tree) or _primary_language(page.language)
        doc = bare_extraction(tree, url=page.url, fast=True, with_metadata=True, include_comments=False,
                              include_tables=False, date_extraction_params=_date_params(page.fetched))
    except Exception as exc:  # noqa: BLE001 - any page of the web reaches these parsers: one must not stop the input
        raise RecordError("extraction_failed", f"trafilatura failed on the page: {type(exc).__name__}: {exc}") from None
    if doc is None or not doc.text:
        return None
    paragraphs = _paragraphs(doc.text, doc.title)
    if not paragraphs or prose_chars(paragraphs) < min_chars:
        return None
    return NewsArticle(
        source=f"news:{urlparse(page.url).hostname}", native_id=page.url,
        revision_id=doc.date or content_hash("\n\n".join(paragraphs)),
        title=doc.title.strip() if doc.title else None, url=page.url,
        published=parse_time(doc.date) or parse_time(page.fetched), language=language,
        paragraphs=paragraphs, author=doc.author or None)
