"""Input fuzzing of the ingest readers: hypothesis damages real-looking inputs and the readers must hold up.

The inputs start whole: a MediaWiki export written with tests/dumpfactory.py (an article with an infobox,
references and a table, a redirect, a page of another namespace, a Greek page), the embedded news sample
(kgpipe/data/news_sample.jsonl) and wikitext of the same kind. Hypothesis then damages them the way files get
damaged: cut short, bytes overwritten, slices dropped or repeated, markup inserted where it does not belong
(page and text tags, template and link brackets, entities, NUL, invalid UTF-8), compressed before or after the
damage; JSONL records also lose fields, get values of the wrong JSON type, or stop being objects.

Each damaged input goes through what a Beam worker runs (``plan_splits`` then ``process_split`` per split,
``kgpipe/ingest/process.py``), with small split sizes and page limits drawn too. Nothing may raise except the
documented ``InputError`` of an input that cannot be read at all; every input's stats must satisfy
``seen = documents + redirects + skipped + rejects`` and agree with the rows emitted (the stage's own
``check_accounting``); and every row must fit its table's Arrow schema, since the stage writes them to
Parquet. Examples are bounded and derandomized (no example database), so a run is the same everywhere.
"""
from __future__ import annotations

import bz2
import gzip
import json
from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from kgpipe.config import IngestConfig
from kgpipe.datasets import NEWS_SAMPLE
from kgpipe.ingest.dumps import InputError
from kgpipe.ingest.infobox import infobox_rows, load_mappings
from kgpipe.ingest.inputs import plan_splits
from kgpipe.ingest.process import merge_stats, process_split
from kgpipe.ingest.wikitext import clean_wikitext, parse_wikitext
from schemas.tables import arrow_schema
from tests.dumpfactory import GREEK_TEXT, WIKI_TEXT, dump_bytes, page_xml

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

ARTICLE = ("{{Infobox scientist\n| name = Ada Lovelace\n| birth_date = {{birth date|1815|12|10}}\n"
           "| birth_place = [[London]], England\n| fields = [[Mathematics]]<br />[[Computing]]\n}}\n"
           + WIKI_TEXT + "<ref>{{cite book|title=Ada}}</ref>\n\n== Work ==\n{| class=\"wikitable\"\n| a || b\n|}\n"
           "* She wrote the first [[algorithm|program]].\n[[Category:Mathematicians]] [[File:Ada.jpg|thumb|Ada]]")
WIKITEXT_SAMPLES = (ARTICLE, GREEK_TEXT, "#REDIRECT [[Ada Lovelace]]",
                    "'''London''' is the capital of [[England]].<!-- a comment --> {{cite web|url=x}}")
XML = dump_bytes([page_xml("Ada Lovelace", ARTICLE, 1), page_xml("Lovelace", "#REDIRECT [[Ada Lovelace]]", 2,
                                                                   redirect="Ada Lovelace"),
                  page_xml("Wikipedia:About", "About this wiki.", 3, ns=4), page_xml("Αθήνα", GREEK_TEXT, 4)],
                 dbname="enwiki")
NEWS = NEWS_SAMPLE.read_bytes()
#: the dump's header and its first page's start tag (damage past it is damage to pages)
HEADER_BYTES = XML.index(b"<page>") + len(b"<page>")

#: what gets inserted: markup in the wrong place, bytes that are not UTF-8, separators
JUNK = (b"<page>", b"</page>", b"<text>", b"</text>", b"<revision>", b"</revision>", b"<title>", b"<ns>",
        b"<ns>x</ns>", b"<id>-1</id>", b"<redirect title=\"\" />", b"</mediawiki>", b"<siteinfo>", b"{{", b"}}",
        b"[[", b"]]", b"{|", b"|}", b"<ref>", b"<!--", b"&bogus;", b"&#0;", b"&lt;", b"\x00", b"\xff", b"\xc3",
        b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r\n", b"\n", b"\n\n", b'"', b"{", b"}", b"[", b":", b",", b"null")
#: JSON values of every type, for fields that expect another
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(),
                        st.text(max_size=12), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                        st.sampled_from(["", "http://[bad", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                                         "2024-13-45", "\ud800", "en", "Z"]))


@st.composite
def damaged(draw, original: bytes, keep: int = 0) -> bytes:
    """``original`` after one to four kinds of damage; three times in four past its first ``keep`` bytes (a
    dump's header: damage there makes the whole input unreadable, which one example in four tests)."""
    data = bytearray(original)
    lowest = draw(st.sampled_from([0, keep, keep, keep]))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "overwrite", "insert", "delete", "repeat"]))
        at = draw(st.integers(min(lowest, len(data)), len(data)))
        if kind == "truncate":
            del data[max(at, lowest + 1):]   # not to nothing: the empty input is one case, not a quarter of them
        elif kind == "overwrite":
            junk = draw(st.binary(min_size=1, max_size=8))
            data[at:at + len(junk)] = junk
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(JUNK) | st.binary(min_size=1, max_size=4))
        else:
            length = draw(st.integers(1, 200))
            piece = bytes(data[at:at + length])
            if kind == "delete":
                del data[at:at + length]
            else:
                data[at:at] = piece
    return bytes(data)


@st.composite
def compressed(draw, data: st.SearchStrategy[bytes], original: bytes, suffix: str) -> tuple[str, bytes]:
    """A file name and its bytes: plain, or bzip2 / gzip compressed before or after the damage."""
    codec = draw(st.sampled_from(["none", "none", "bz2", "gz"]))
    if codec == "none":
        return suffix, draw(data)
    compress = bz2.compress if codec == "bz2" else lambda b: gzip.compress(b, mtime=0)
    if draw(st.booleans()):
        return f"{suffix}.{codec}", compress(draw(data))
    return f"{suffix}.{codec}", draw(damaged(compress(original)))


@st.composite
def jsonl_records(draw) -> bytes:
    """The news sample's records with fields dropped or of the wrong type, some lines no object at all."""
    lines = []
    for line in NEWS.splitlines():
        record = json.loads(line)
        for _ in range(draw(st.integers(0, 3))):
            field = draw(st.sampled_from(sorted(record) + ["source", "author", "published_at", "date", "lang"]))
            if draw(st.booleans()):
                record.pop(field, None)
            else:
                record[field] = draw(JSON_VALUES)
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["[]", "42", "null", '"text"', "{}", "{", "\ufeff{}"])))
        else:
            lines.append(json.dumps(record, ensure_ascii=draw(st.booleans())))
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


#: odd values of a page's fields, each as the export would hold it (escaped by page_xml)
ODD_FIELDS = {
    "title": st.sampled_from(["", " ", "Talk:", ":Ada", "Wikipedia:About", "a" * 300, "[[x]]", "Ada#Life", "\u0085"]),
    "page_id": st.sampled_from([0, -1, "x", "", "1.5", 10**30]),
    "ns": st.sampled_from([0, 4, -2, 14, "x", "", 10**30]),
    "revision_id": st.sampled_from([None, -1, "x", 10**30]),
    "timestamp": st.sampled_from(["", "x", "2020-02-30T00:00:00Z", "0001-01-01T00:00:00+05:00",
                                  "9999-12-31T23:59:59-05:00", "2020-01-02", "2020-01-02T03:04:05+25:00"]),
    "redirect": st.sampled_from([None, "", " ", "#Section", "Ada Lovelace#Life", "Talk:Ada"]),
}


@st.composite
def odd_pages(draw) -> bytes:
    """A dump whose pages have odd field values (empty titles, ids that are not numbers, timestamps a datetime
    cannot hold, redirects without a target), with wikitext of the samples."""
    pages = []
    for number in range(draw(st.integers(1, 4))):
        fields = {"title": f"Page {number}", "page_id": number + 1, "ns": 0, "revision_id": None,
                  "timestamp": "2020-01-02T03:04:05Z", "redirect": None}
        for name in draw(st.lists(st.sampled_from(sorted(ODD_FIELDS)), max_size=3, unique=True)):
            fields[name] = draw(ODD_FIELDS[name])
        pages.append(page_xml(fields.pop("title"), draw(st.sampled_from(WIKITEXT_SAMPLES)), **fields))
    return dump_bytes(pages, dbname="enwiki")


def ingest(tmp_path, name: str, data: bytes, cfg: IngestConfig) -> list[dict] | None:
    """What the stage's workers make of one input: its merged stats row, after checking rows against counts
    and schemas; None when the input cannot be read at all (the documented InputError)."""
    from pipelines.ingest import check_accounting

    path = tmp_path / f"input{name}"
    path.write_bytes(data)
    try:
        splits = plan_splits([path], cfg)
    except InputError as exc:
        if currently_in_test_context():
            event(f"InputError: {str(exc).removeprefix(f'cannot read {path}: ')[:40]}")
        return None
    rows: dict[str, list[dict]] = {}
    stats = []
    for split in splits:
        for table, row in process_split(split, cfg):
            (stats if table == "stats" else rows.setdefault(table, [])).append(row)
    total = merge_stats(stats)
    if currently_in_test_context():   # --hypothesis-show-statistics lists what the examples reached
        for reason in sorted({**total["skipped"], **total["rejects"]}):
            event(reason)
    placed = total["documents"] + total["redirects"] + sum(total["skipped"].values()) + sum(total["rejects"].values())
    assert placed == total["seen"], total
    counts = Counter({table: len(found) for table, found in rows.items()})
    check_accounting([total], {table: counts[table] for table in ("documents", "redirects", "links", "rejects",
                                                                 "infobox")})
    for table, found in rows.items():   # what the stage writes to Parquet must fit the table's schema
        schema = arrow_schema(table)
        pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in found], schema=schema)
    return total


def configs() -> st.SearchStrategy[IngestConfig]:
    return st.builds(lambda split_bytes, max_page: IngestConfig(
        direct_running_mode="in_memory", direct_num_workers=1, excerpt_chars=80, split_bytes=split_bytes,
        max_page_bytes=max_page), st.sampled_from([64 << 20, 700, 97]), st.sampled_from([8 << 20, 600]))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def test_the_whole_inputs_are_read_as_expected(folder):
    cfg = IngestConfig(direct_running_mode="in_memory", direct_num_workers=1)
    wiki = ingest(folder, "-whole.xml", XML, cfg)
    assert (wiki["seen"], wiki["documents"], wiki["redirects"], wiki["skipped"], wiki["rejects"]) == (
        4, 2, 1, {"namespace_4": 1}, {})
    assert wiki["infobox"]["facts"] >= 2
    news = ingest(folder, "-whole.jsonl", NEWS, cfg)
    assert (news["seen"], news["documents"], news["rejects"]) == (8, 8, {})


@FUZZ
@given(file=compressed(damaged(XML, HEADER_BYTES), XML, ".xml"), cfg=configs())
def test_damaged_mediawiki_xml(folder, file, cfg):
    ingest(folder, *file, cfg)


@FUZZ
@given(data=odd_pages(), cfg=configs())
def test_pages_with_odd_field_values(folder, data, cfg):
    ingest(folder, ".xml", data, cfg)


@FUZZ
@given(file=compressed(st.one_of(damaged(NEWS), jsonl_records().flatmap(damaged)), NEWS, ".jsonl"), cfg=configs())
def test_damaged_jsonl(folder, file, cfg):
    ingest(folder, *file, cfg)


@FUZZ
@given(data=jsonl_records(), cfg=configs())
def test_jsonl_records_with_missing_fields_and_wrong_types(folder, data, cfg):
    ingest(folder, ".jsonl", data, cfg)


@FUZZ
@given(text=st.sampled_from(WIKITEXT_SAMPLES).flatmap(lambda t: damaged(t.encode()))
       .map(lambda b: b.decode("utf-8", "replace")))
def test_damaged_wikitext_cleans_to_consistent_text(text):
    code = parse_wikitext(text)
    clean = clean_wikitext(text, None, code)
    for link in clean.links:
        assert 0 <= link.start <= link.end <= len(clean.text), (link, clean.text)
    for paragraph in clean.paragraphs:
        assert 0 <= paragraph.start <= paragraph.end <= len(clean.text), (paragraph, clean.text)
    if code is not None:
        infobox_rows(code, load_mappings(), None)


@pytest.mark.parametrize("name, data, placed", [
    # what the fuzzing found: an exception that escaped the reader, or a row its table's schema refuses (a
    # number for language); the line nested 100,000 deep (RecursionError) was found reading the code it led to
    (".jsonl", b'{"text": "A story.", "published": 1e20}\n{"text": "B.", "published": NaN}\n', {"documents": 2}),
    (".jsonl", b'{"text": "A story.", "published": "0001-01-01T00:00:00+05:00", "url": "http://[bad"}\n',
     {"documents": 1}),
    (".jsonl", b'{"text": "A story.", "language": 5, "source": {"a": 1}}\n', {"documents": 1}),
    (".jsonl", b'{"text": "An emoji cut in two: \\ud83d."}\n{"text": "Whole: \\ud83d\\ude00."}\n'
     + b"[" * 100_000 + b"\n", {"documents": 1, "invalid_utf8": 1, "invalid_json": 1}),
    (".xml", dump_bytes([page_xml("Ada", WIKI_TEXT, 1, timestamp="9999-12-31T23:59:59-05:00")]), {"documents": 1}),
])
def test_what_the_fuzzing_found(folder, name, data, placed):
    total = ingest(folder, name, data, IngestConfig(direct_running_mode="in_memory", direct_num_workers=1))
    assert {key: value for key, value in {"documents": total["documents"], **total["rejects"]}.items() if value} \
        == placed


def test_a_header_with_a_namespace_key_that_is_no_number_is_an_unreadable_input(folder):
    data = XML.replace(b'<namespace key="4"', b'<namespace key="{{4"')
    assert ingest(folder, "-header.xml", data, IngestConfig(direct_running_mode="in_memory")) is None
