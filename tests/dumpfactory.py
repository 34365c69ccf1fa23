"""Hand-written MediaWiki export dumps for tests (XML built from page dicts)."""
from __future__ import annotations

import bz2
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HEADER = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="{lang}">
  <siteinfo>
    <sitename>Wikipedia</sitename>
    <dbname>{dbname}</dbname>
    <base>https://{lang}.wikipedia.org/wiki/Main_Page</base>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="4" case="first-letter">Wikipedia</namespace>
      <namespace key="6" case="first-letter">File</namespace>
      <namespace key="14" case="first-letter">Category</namespace>
    </namespaces>
  </siteinfo>
"""
FOOTER = "</mediawiki>\n"


def page_xml(title: str, text: str, page_id: int, ns: int = 0, redirect: str | None = None,
             revision_id: int | None = None, timestamp: str = "2020-01-02T03:04:05Z") -> str:
    redirect_el = f"    <redirect title={quoteattr(redirect)} />\n" if redirect else ""
    return (f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n"
            f"{redirect_el}    <revision>\n      <id>{revision_id or page_id * 10}</id>\n"
            f"      <timestamp>{timestamp}</timestamp>\n      <model>wikitext</model>\n"
            f"      <text xml:space=\"preserve\">{escape(text)}</text>\n    </revision>\n  </page>\n")


def dump_bytes(pages: list[str], lang: str = "en", dbname: str = "testwiki") -> bytes:
    return (HEADER.format(lang=lang, dbname=dbname) + "".join(pages) + FOOTER).encode("utf-8")


def write_multistream(folder: Path, pages: list[str], per_stream: int, name: str = "test-multistream",
                      page_ids: list[int] | None = None, titles: list[str] | None = None) -> tuple[Path, Path]:
    """A multistream dump as Wikimedia writes it: header stream, page streams, footer stream, and index."""
    data = folder / f"{name}.xml.bz2"
    index = folder / f"{name}-index.txt.bz2"
    blob = bytearray(bz2.compress(HEADER.format(lang="en", dbname="testwiki").encode()))
    lines = []
    for start in range(0, len(pages), per_stream):
        offset = len(blob)
        for i in range(start, min(start + per_stream, len(pages))):
            lines.append(f"{offset}:{page_ids[i]}:{titles[i]}")
        blob += bz2.compress("".join(pages[start:start + per_stream]).encode())
    blob += bz2.compress(FOOTER.encode())
    data.write_bytes(bytes(blob))
    index.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    return data, index


WIKI_TEXT = ("'''Ada Lovelace''' was an English [[mathematician]]. She was born in [[London]] in 1815. "
             "Lovelace worked with [[Charles Babbage]] on the [[Analytical Engine]].")
GREEK_TEXT = "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και η μεγαλύτερη πόλη της χώρας."


def ingest_small_corpus(root: Path):
    """A warehouse with three wiki pages (one holding personal data, one in Greek under an English
    dump) and the news sample followed by a broken line."""
    from kgpipe.config import IngestConfig
    from kgpipe.datasets import NEWS_SAMPLE
    from kgpipe.stages import StageContext
    from kgpipe.warehouse import Warehouse
    from pipelines.ingest import run_stage
    dump = root / "wiki.xml"
    dump.write_bytes(dump_bytes([
        page_xml("Ada Lovelace", WIKI_TEXT, 1),
        page_xml("Contact", "Write to ada@example.org or call +44 20 7946 0958 for details about Babbage.", 2),
        page_xml("Αθήνα", GREEK_TEXT, 3),
    ], dbname="enwiki"))
    feed = root / "feed.jsonl"
    feed.write_text(NEWS_SAMPLE.read_text() + "{broken json\n")
    warehouse = Warehouse(root / "wh")
    run_stage(IngestConfig(direct_running_mode="in_memory", direct_num_workers=1),
              StageContext(warehouse, "ingest-1", str(root)), [str(dump), str(feed)])
    return warehouse
