"""WARC files for tests, written with warcio from article pages laid out the way news sites lay them out.

The pages are written for this project (no real page ships in an installed package, and real data stays in
../shared/data): each wraps an article in what a boilerplate remover has to drop (navigation, a cookie
banner, advertisements, a newsletter box, related stories, a footer) and gives its metadata the ways sites
do (Open Graph and article: meta tags, JSON-LD, a <time> element, a byline). The articles state facts one
can check.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

#: text that is on every page but in no article: none of it may reach documents.text
BOILERPLATE = ("We use cookies", "Accept all cookies", "Subscribe to our newsletter", "Advertisement",
               "All rights reserved", "Most read", "Skip to content", "Privacy policy")
CRAWLED = "2024-03-05T12:00:00Z"


@dataclass(frozen=True)
class Article:
    url: str
    site: str
    headline: str
    author: str | None
    published: str | None          # ISO time in the page's metadata, None: the page gives no date
    paragraphs: tuple[str, ...]
    lang: str = "en"
    layout: str = "article"        # article: <article>; story: div.story-body; main: <main> with sections


WEBB = Article(
    "https://www.example.com/science/2023/12/25/webb-telescope-two-years", "The Example Times",
    "Two years on, the Webb telescope keeps rewriting the early universe", "Maria Lopez", "2023-12-25T08:00:00+00:00",
    ("The James Webb Space Telescope was launched on 25 December 2021 from Kourou in French Guiana aboard an "
     "Ariane 5 rocket.",
     "The observatory is a joint project of NASA, the European Space Agency and the Canadian Space Agency. It "
     "orbits the Sun near the second Lagrange point, about 1.5 million kilometres from Earth.",
     "The telescope is named after James E. Webb, who led NASA from 1961 to 1968. Its primary mirror consists "
     "of 18 hexagonal segments of gold-plated beryllium and measures 6.5 metres across.",
     "Astronomers say the infrared images have revealed galaxies that formed only a few hundred million years "
     "after the Big Bang, earlier than most models had predicted."))
CURIE = Article(
    "https://news.example.org/history/marie-curie-notebooks", "Example Herald",
    "Why Marie Curie's notebooks are still kept in lead-lined boxes", "James Okafor", "2024-02-10T09:30:00+00:00",
    ("Marie Curie was born in Warsaw on 7 November 1867. She moved to Paris in 1891 to study at the University "
     "of Paris.",
     "In 1903 she shared the Nobel Prize in Physics with Pierre Curie and Henri Becquerel. She won the Nobel "
     "Prize in Chemistry in 1911 for the discovery of polonium and radium.",
     "Her laboratory notebooks are kept at the Bibliotheque nationale de France in Paris. Because they are "
     "still radioactive, readers must sign a waiver and wear protective clothing.",
     "Curie died in 1934 at a sanatorium in Passy, in the French Alps."),
    layout="story")
WEB = Article(
    "https://herald.example.net/tech/web-at-35", "Example Daily",
    "The World Wide Web turns 35", None, None,
    ("Tim Berners-Lee proposed the World Wide Web in March 1989 while working at CERN near Geneva.",
     "The first website went online at CERN in 1991, and CERN put the web software in the public domain on 30 "
     "April 1993.",
     "Berners-Lee founded the World Wide Web Consortium in 1994 at the Massachusetts Institute of Technology. "
     "He was knighted by Queen Elizabeth II in 2004."),
    layout="main")
ZUGSPITZE = Article(
    "https://www.example.de/reise/zugspitze", "Beispiel Zeitung",
    "Die Zugspitze im Winter", "Anna Becker", "2024-01-15T07:00:00+01:00",
    ("Die Zugspitze ist mit 2962 Metern der höchste Berg Deutschlands. Sie liegt im Wettersteingebirge an der "
     "Grenze zu Österreich.",
     "Auf den Gipfel führen drei Seilbahnen und die Bayerische Zugspitzbahn, eine Zahnradbahn, die seit 1930 "
     "von Garmisch-Partenkirchen aus fährt.",
     "Im Winter ist das Zugspitzplatt das höchstgelegene Skigebiet Deutschlands."),
    lang="de")
#: served as windows-1252, named only in the HTTP header (the page has no <meta charset>)
CAFE = Article(
    "https://www.example.com/travel/vienna-cafes", "The Example Times",
    "A morning in Vienna's café culture", "Lena Hofer", "2024-03-01T10:00:00+00:00",
    ("The Viennese coffee house culture was added to Austria's list of intangible cultural heritage by UNESCO "
     "in 2011.",
     "Café Central in Vienna opened in 1876 and was frequented by Sigmund Freud and Leon Trotsky. Its waiters "
     "still serve a glass of water with every Melange.",
     "The city counts more than 800 coffee houses, from grand cafés on the Ringstraße to small Kaffeehäuser in "
     "the suburbs."))
ARTICLES = (WEBB, CURIE, WEB, ZUGSPITZE, CAFE)


def _head(article: Article, charset_meta: bool) -> str:
    meta = [f'<meta property="og:title" content="{escape(article.headline)}">',
            '<meta property="og:type" content="article">',
            f'<meta property="og:site_name" content="{escape(article.site)}">',
            f'<meta property="og:url" content="{article.url}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">']
    if article.author:
        meta.append(f'<meta name="author" content="{escape(article.author)}">')
    if article.published:
        meta.append(f'<meta property="article:published_time" content="{article.published}">')
        ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": article.headline,
              "datePublished": article.published, "publisher": {"@type": "Organization", "name": article.site}}
        if article.author:
            ld["author"] = {"@type": "Person", "name": article.author}
        meta.append(f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>')
    charset = '<meta charset="utf-8">' if charset_meta else ""
    return (f"<head>{charset}<title>{escape(article.headline)} | {escape(article.site)}</title>"
            + "".join(meta) + '<link rel="stylesheet" href="/static/site.css">'
            "<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}</script>"
            "</head>")


_NAV = ('<a class="skip" href="#content">Skip to content</a><header class="site-header"><a class="logo" href="/">'
        '{site}</a><nav class="main-nav"><ul><li><a href="/world">World</a></li><li><a href="/politics">Politics'
        '</a></li><li><a href="/business">Business</a></li><li><a href="/science">Science</a></li><li><a href="'
        '/travel">Travel</a></li><li><a href="/opinion">Opinion</a></li></ul></nav><form class="search" action="/'
        'search"><input name="q" placeholder="Search"></form></header>')
_COOKIES = ('<div id="cookie-banner" class="consent-banner" role="dialog"><p>We use cookies and similar '
            'technologies to personalise content and ads and to analyse our traffic. You can change your choices at '
            'any time in our Privacy policy.</p><button id="accept">Accept all cookies</button><button id="reject">'
            'Reject</button></div>')
_AD = '<div class="ad-slot" data-slot="{slot}"><span class="ad-label">Advertisement</span></div>'
_ASIDE = ('<aside class="newsletter"><h3>Subscribe to our newsletter</h3><p>The day\'s top stories, every morning.'
          '</p><input type="email" placeholder="Email address"><button>Sign up</button></aside>'
          '<aside class="most-read"><h3>Most read</h3><ol><li><a href="/a">Markets slip as oil prices climb</a>'
          '</li><li><a href="/b">Ten walks to take this spring</a></li><li><a href="/c">The week in pictures</a>'
          '</li></ol></aside>')
_FOOTER = ('<footer class="site-footer"><ul><li><a href="/about">About us</a></li><li><a href="/contact">Contact'
           '</a></li><li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use</a></li></ul>'
           '<p>&copy; 2024 {site}. All rights reserved.</p></footer>')


def _body(article: Article) -> str:
    paragraphs = "".join(f"<p>{escape(p)}</p>" + (_AD.format(slot="mid") if i == 1 else "")
                         for i, p in enumerate(article.paragraphs))
    byline = f'<p class="byline">By <a rel="author" href="/authors/x">{escape(article.author)}</a></p>' \
        if article.author else ""
    when = f'<time datetime="{article.published}">{article.published[:10]}</time>' if article.published else ""
    heading = f"<h1>{escape(article.headline)}</h1>{byline}{when}"
    if article.layout == "story":
        story = f'<div class="story"><div class="story-header">{heading}</div><div class="story-body">' \
                f'{paragraphs}</div></div>'
    elif article.layout == "main":
        story = f'<main id="content"><section class="headline">{heading}</section><section class="content">' \
                f'{paragraphs}</section></main>'
    else:
        story = f'<article id="content" class="article">{heading}<div class="article-body">{paragraphs}</div>' \
                f'</article>'
    return (f"<body>{_COOKIES}{_NAV.format(site=escape(article.site))}{_AD.format(slot='top')}"
            f'<div class="page"><div class="col-main">{story}</div><div class="col-side">{_ASIDE}'
            f"{_AD.format(slot='side')}</div></div>{_FOOTER.format(site=escape(article.site))}</body>")


def article_html(article: Article, charset_meta: bool = True) -> str:
    return f'<!DOCTYPE html><html lang="{article.lang}">{_head(article, charset_meta)}{_body(article)}</html>'


def section_front_html() -> str:
    """A section page: headlines and one-line teasers, no article."""
    teasers = "".join(f'<div class="teaser"><h3><a href="{a.url}">{escape(a.headline)}</a></h3><p>{escape(a.site)}'
                      f"</p></div>" for a in ARTICLES)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Science | The Example Times</title>'
            f"</head><body>{_COOKIES}{_NAV.format(site='The Example Times')}<main><h1>Science</h1>{teasers}</main>"
            f"{_FOOTER.format(site='The Example Times')}</body></html>")


def cookie_wall_html() -> str:
    """What a crawler gets from a site that shows nothing before consent."""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Before you continue</title></head>'
            f"<body>{_COOKIES}<noscript>Please enable JavaScript to continue.</noscript></body></html>")


# --- WARC records --------------------------------------------------------------------------

class Warc:
    """Records in the order they are added, written as one WARC file (gzip: one member per record)."""

    def __init__(self):
        self.records: list[tuple] = []

    def warcinfo(self) -> Warc:
        self.records.append(("warcinfo",))
        return self

    def request(self, url: str) -> Warc:
        self.records.append(("request", url))
        return self

    def response(self, url: str, body: bytes | str, content_type: str | None = "text/html; charset=utf-8",
                 status: str = "200 OK", extra: tuple = (), date: str = CRAWLED) -> Warc:
        body = body.encode("utf-8") if isinstance(body, str) else body
        self.records.append(("response", url, body, content_type, status, extra, date))
        return self

    def page(self, article: Article) -> Warc:
        """A request and its response, as a crawler writes them."""
        if article is CAFE:
            return self.request(article.url).response(article.url, article_html(article, False).encode("cp1252"),
                                                      "text/html; charset=windows-1252")
        return self.request(article.url).response(article.url, article_html(article))

    def metadata(self, url: str) -> Warc:
        self.records.append(("metadata", url))
        return self

    def revisit(self, url: str) -> Warc:
        self.records.append(("revisit", url))
        return self

    def write(self, path: Path, gzip: bool = True) -> Path:
        with open(path, "wb") as fh:
            writer = WARCWriter(fh, gzip=gzip)
            for record in self.records:
                writer.write_record(_record(writer, *record))
        return path


def _record(writer: WARCWriter, kind: str, url: str = "", *args):
    dated = {"WARC-Date": CRAWLED}
    if kind == "warcinfo":
        return writer.create_warcinfo_record("test.warc.gz", {"software": "kgpipe tests", "format": "WARC 1.0"})
    if kind == "request":
        headers = StatusAndHeaders("GET / HTTP/1.1", [("Host", url.split("/")[2]), ("User-Agent", "test")],
                                   is_http_request=True)
        return writer.create_warc_record(url, "request", payload=io.BytesIO(b""), http_headers=headers,
                                         warc_headers_dict=dated)
    if kind == "response":
        body, content_type, status, extra, date = args
        fields = ([("Content-Type", content_type)] if content_type else []) + list(extra)
        headers = StatusAndHeaders(status, fields, protocol="HTTP/1.1")
        return writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers,
                                         warc_headers_dict={"WARC-Date": date})
    if kind == "metadata":
        return writer.create_warc_record(url, "metadata", payload=io.BytesIO(b"fetchTimeMs: 120\r\n"),
                                         warc_content_type="application/warc-fields", warc_headers_dict=dated)
    if kind == "revisit":
        return writer.create_revisit_record(url, "sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", url, CRAWLED)
    raise ValueError(kind)


def news_crawl() -> Warc:
    """A crawl as CC-NEWS writes it: every article, and what is not one."""
    crawl = Warc().warcinfo()
    for article in ARTICLES:
        crawl.page(article)
    return (crawl.metadata(WEBB.url)
            .response("https://www.example.com/img/webb.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(600),
                      "image/jpeg")
            .response("https://www.example.com/feed.json", b'{"items": []}', "application/json")
            .response("https://www.example.com/science/", section_front_html())
            .response("https://consent.example.org/", cookie_wall_html())
            .response("http://www.example.com/science/2023/12/25/webb-telescope-two-years", b"",
                      None, "301 Moved Permanently", (("Location", WEBB.url),))
            .response("https://www.example.com/missing", "<html><body><h1>Not found</h1></body></html>",
                      status="404 Not Found")
            .revisit(CURIE.url))
