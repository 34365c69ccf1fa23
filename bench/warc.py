"""WARC input: pages/s of the main-text extractors kgpipe could use, and records/s of its whole WARC path.

Extraction is what a WARC record costs (parsing the record is a small part of it), so the extractor was
chosen by measuring it: trafilatura (kgpipe's, with its metadata: title, author, date) against Resiliparse's
main-content extractor (text only). Both read the same HTML pages: by default the article pages the tests
write (tests/warcfactory.py, with a section front page and a cookie wall), or every ``*.html`` file of
``--html DIR`` (such as trafilatura's annotated benchmark pages, tests/cache and tests/eval of its
repository). The whole path is ``process_split`` over a gzip WARC (one record per member) holding the pages
as a crawler writes them: request, response. Each figure is the best of ``--rounds`` rounds.

    .venv/bin/python bench/warc.py [--html DIR] [--eval DIR] [--rounds 3]

``--eval DIR`` scores both on an annotated set, as trafilatura's evaluation does: snippets that must be in the
text and snippets (navigation, footers) that must not; trafilatura's repository ships 990 such pages (tests/).

Resiliparse is not a kgpipe dependency: ``pip install -e .[bench]`` brings it.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kgpipe.config import IngestConfig
from kgpipe.ingest.inputs import plan_splits
from kgpipe.ingest.process import process_split
from kgpipe.ingest.warc import HtmlPage
from kgpipe.ingest.webpage import article_from_page

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.warcfactory import ARTICLES, Warc, article_html, cookie_wall_html, section_front_html  # noqa: E402


def test_pages() -> list[tuple[str, bytes]]:
    pages = [(a.url, article_html(a).encode()) for a in ARTICLES]
    return pages + [("https://www.example.com/science/", section_front_html().encode()),
                     ("https://consent.example.org/", cookie_wall_html().encode())]


def folder_pages(folder: Path) -> list[tuple[str, bytes]]:
    return [(f"https://bench.example/{path.name}", path.read_bytes()) for path in sorted(folder.glob("*.html"))]


def extractors() -> dict[str, Callable[[str, bytes], str]]:
    """name -> main text of (url, html), as kgpipe would get it from each library."""
    def trafilatura_text(url: str, html: bytes) -> str:
        article = article_from_page(HtmlPage(url, "2024-03-05T12:00:00Z", html, None, None), 0)
        return "\n".join(article.paragraphs) if article else ""
    found = {"trafilatura (kgpipe: text, title, author, date)": trafilatura_text}
    try:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree
    except ImportError:
        print("resiliparse: not installed (pip install -e .[bench])")
        return found
    found["resiliparse (main content, text only)"] = lambda url, html: extract_plain_text(
        HTMLTree.parse_from_bytes(html), main_content=True, links=False, alt_texts=False, list_bullets=False)
    return found


def best_rate(count: int, run: Callable[[], object], rounds: int) -> float:
    best = None
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return count / best


def kgpipe_path(pages: list[tuple[str, bytes]], folder: Path) -> tuple[int, Callable[[], None]]:
    crawl = Warc().warcinfo()
    for url, html in pages:
        crawl.request(url).response(url, html)
    path = crawl.write(folder / "bench.warc.gz")
    cfg = IngestConfig(direct_running_mode="in_memory", direct_num_workers=1)
    splits = plan_splits([path], cfg)

    def run() -> None:
        for split in splits:
            for _ in process_split(split, cfg):
                pass
    return 1 + 2 * len(pages), run


def speed(pages: list[tuple[str, bytes]], rounds: int) -> None:
    copies = max(1, 60 // len(pages))   # a few dozen pages at least, so that timer noise does not dominate
    pages = [(f"{url}?copy={k}", html) for k in range(copies) for url, html in pages]
    print(f"{len(pages)} pages, {sum(len(h) for _, h in pages) / 1e6:.1f} MB of HTML")
    for name, extract in extractors().items():
        rate = best_rate(len(pages), lambda: [extract(url, html) for url, html in pages], rounds)
        print(f"{name:48s} {rate:8.1f} pages/s")
    with tempfile.TemporaryDirectory() as tmp:
        records, run = kgpipe_path(pages, Path(tmp))
        print(f"{'kgpipe WARC path (frame, parse, extract, rows)':48s} {best_rate(records, run, rounds):8.1f} "
              f"records/s ({records} records: warcinfo, a request and a response per page)")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def quality(folder: Path) -> None:
    """Scored as trafilatura's own evaluation scores: a 'with' snippet in the text is a true positive (else a
    false negative), a 'without' snippet in it a false positive."""
    annotated = json.loads((folder / "evaldata.json").read_text(encoding="utf-8"))
    items = [(url, path.read_bytes(), item) for url, item in annotated.items()
             for path in [folder / "cache" / item["file"], folder / "eval" / item["file"]] if path.is_file()]
    print(f"{len(items)} annotated pages")
    for name, extract in extractors().items():
        tp = fn = fp = 0
        started = time.perf_counter()
        for url, html, item in items:
            text = _norm(extract(url, html) or "")
            found = [_norm(w) in text for w in item["with"]]
            tp, fn = tp + sum(found), fn + len(found) - sum(found)
            fp += sum(_norm(w) in text for w in item["without"])
        rate = len(items) / (time.perf_counter() - started)
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        print(f"{name:48s} precision {precision:.3f} recall {recall:.3f} "
              f"F1 {2 * precision * recall / (precision + recall):.3f} ({rate:.1f} pages/s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=None, help="a folder of HTML pages (default: the test pages)")
    parser.add_argument("--eval", type=Path, default=None,
                        help="also score the extractors on an annotated folder: evaldata.json with cache/ and eval/ "
                             "beside it (trafilatura's repository, tests/)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    speed(folder_pages(args.html) if args.html else test_pages(), args.rounds)
    if args.eval:
        quality(args.eval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
