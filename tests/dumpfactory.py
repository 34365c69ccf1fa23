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
