"""Dump reader and ingest logic on hand-written dumps: every page lands in exactly one place."""
from __future__ import annotations

import bz2
import gzip
import io
import random
from collections import Counter
from pathlib import Path

import pytest

from kgpipe.ingest import dumps
from kgpipe.ingest.bz2blocks import BLOCK_MAGIC, StreamDamage, block_crc, block_stream, find_magics
from kgpipe.ingest.dumps import (
    InputError,
    PageChunk,
    iter_decompressed,
    parse_siteinfo,
    scan_pages,
)
from kgpipe.ingest.inputs import plan_splits
from kgpipe.ingest.process import process_split
from tests.dumpfactory import dump_bytes, page_xml, write_multistream

ARTICLE = "'''Ada Lovelace''' was an English [[mathematician]] born in [[London]].{{Infobox person}}"


def run_all(paths, cfg) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for split in plan_splits(paths, cfg):
        for tag, row in process_split(split, cfg):
            out.setdefault(tag, []).append(row)
    return out


def assert_accounted(stats_rows):
    for row in stats_rows:
        placed = row["documents"] + row["redirects"] + sum(row["skipped"].values()) + sum(row["rejects"].values())
        assert placed == row["seen"], row


def test_pages_go_to_documents_redirects_or_skips(tmp_path: Path, cfg):
    dump = tmp_path / "small.xml"
    dump.write_bytes(dump_bytes([
        page_xml("Ada Lovelace", ARTICLE, 1),
        page_xml("Lovelace", "#REDIRECT [[Ada Lovelace#Early life]]", 2, redirect="Ada Lovelace#Early life"),
        page_xml("Wikipedia:About", "Project page", 3, ns=4),
        page_xml("Old redirect", "#redirect [[ada_lovelace]]", 4),
    ]))
    out = run_all([dump], cfg)
    [doc] = out["documents"]
    assert doc["title"] == "Ada Lovelace"
    assert doc["text"] == "Ada Lovelace was an English mathematician born in London."
    assert doc["url"] == "https://en.wikipedia.org/wiki/Ada_Lovelace"
    assert doc["source"] == "testwiki" and doc["language"] == "en"
    assert doc["source_timestamp"].isoformat() == "2020-01-02T03:04:05+00:00"
    assert sorted((r["from_title"], r["to_title"], r["to_fragment"]) for r in out["redirects"]) == [
        ("Lovelace", "Ada Lovelace", "Early life"), ("Old redirect", "Ada lovelace", None)]
    assert sorted((l["anchor"], l["target_title"]) for l in out["links"]) == [
        ("London", "London"), ("mathematician", "Mathematician")]
    for link in out["links"]:
        assert doc["text"][link["start"]:link["end"]] == link["anchor"]
    [stats] = out["stats"]
    assert stats["seen"] == 4 and stats["skipped"] == {"namespace_4": 1}
    assert_accounted(out["stats"])


def test_doc_ids_are_deterministic_and_depend_on_revision(tmp_path: Path, cfg):
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_bytes(dump_bytes([page_xml("X", "Some text here.", 7, revision_id=100)]))
    b.write_bytes(dump_bytes([page_xml("X", "Some text here.", 7, revision_id=101)]))
    first = run_all([a], cfg)["documents"][0]["doc_id"]
    assert run_all([a], cfg)["documents"][0]["doc_id"] == first
    assert run_all([b], cfg)["documents"][0]["doc_id"] != first


def test_bad_pages_are_rejected_one_by_one_and_the_rest_survive(tmp_path: Path, cfg):
    good = [page_xml(f"Good {i}", f"Paragraph number {i}.", 10 + i) for i in range(3)]
    malformed = page_xml("Broken", "text", 20).replace("</title>", "</titel>")
    bad_utf8 = page_xml("Bad bytes", "caf\u00e9 text", 21).encode().replace("caf\u00e9".encode(), b"caf\xe9")
    empty = page_xml("Empty", "   ", 22)
    only_markup = page_xml("Markup only", "{{Infobox}}<ref>x</ref>[[Category:Things]]", 23)
    raw = dump_bytes([good[0], malformed, good[1]]).replace(b"</mediawiki>", b"")
    raw += bad_utf8 + (empty + only_markup + good[2]).encode() + b"</mediawiki>"
    path = tmp_path / "bad.xml"
    path.write_bytes(raw)
    out = run_all([path], cfg)
    assert sorted(d["title"] for d in out["documents"]) == ["Good 0", "Good 1", "Good 2"]
    reasons = Counter(r["reason"] for r in out["rejects"])
    assert reasons == {"malformed_xml": 1, "invalid_utf8": 1, "empty_page": 1, "empty_after_cleaning": 1}
    by_reason = {r["reason"]: r for r in out["rejects"]}
    assert by_reason["malformed_xml"]["native_id"] == "20"
    assert by_reason["invalid_utf8"]["title"] == "Bad bytes"
    assert all(r["stage"] == "ingest" and r["detail"] and r["input_ref"].startswith(str(path))
               for r in out["rejects"])
    assert out["stats"][0]["seen"] == 7
    assert_accounted(out["stats"])


def test_oversize_and_unterminated_pages_are_rejected_without_buffering(tmp_path: Path, cfg):
    cfg = cfg.model_copy(update={"max_page_bytes": 2000})
    huge = page_xml("Huge", "word " * 5000, 30)
    unterminated = page_xml("Cut", "text", 31).replace("</page>", "")
    path = tmp_path / "big.xml"
    path.write_bytes(dump_bytes([page_xml("Small", "Fine text.", 29), huge, unterminated,
                                 page_xml("After", "Still read.", 32)]))
    out = run_all([path], cfg)
    assert sorted(d["title"] for d in out["documents"]) == ["After", "Small"]
    rejects = {r["reason"]: r for r in out["rejects"]}
    assert set(rejects) == {"page_too_large", "unterminated_page"}
    assert rejects["page_too_large"]["title"] == "Huge" and rejects["page_too_large"]["native_id"] == "30"
    assert len(rejects["page_too_large"]["excerpt"]) <= 200
    assert_accounted(out["stats"])


def test_scanner_holds_at_most_the_page_limit(tmp_path: Path):
    page = page_xml("Huge", "x" * 3_000_000, 1).encode()
    chunks = (page[i:i + 65536] for i in range(0, len(page), 65536))
    [item] = list(scan_pages(chunks, max_page_bytes=100_000, skip_leading=True))
    assert item.problem == "page_too_large" and item.size == len(page.strip()) and len(item.data) <= 4096


def test_truncated_bz2_keeps_earlier_pages_and_rejects_the_rest(tmp_path: Path, cfg):
    # varied text, so the compressed file has several bz2 blocks and the first ones stay readable
    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghij") for _ in range(6)) for _ in range(2000)]
    pages = [page_xml(f"P{i}", " ".join(rng.choice(words) for _ in range(3000)), i + 1) for i in range(100)]
    data = bz2.compress(dump_bytes(pages))
    path = tmp_path / "cut.xml.bz2"
    path.write_bytes(data[: len(data) * 2 // 3])
    cfg = cfg.model_copy(update={"shards_per_compressed_file": 1})
    out = run_all([path], cfg)
    assert 0 < len(out["documents"]) < 100
    reasons = Counter(r["reason"] for r in out["rejects"])
    assert reasons["unreadable_stream"] == 1
    assert set(reasons) <= {"unreadable_stream", "truncated"}
    assert_accounted(out["stats"])


def test_sharded_reading_of_a_compressed_dump_equals_a_single_reader(tmp_path: Path, cfg):
    pages = [page_xml(f"P{i}", f"Text {i}.", i + 1) for i in range(25)]
    path = tmp_path / "d.xml.gz"
    path.write_bytes(gzip.compress(dump_bytes(pages)))
    one = run_all([path], cfg.model_copy(update={"shards_per_compressed_file": 1}))
    three = run_all([path], cfg.model_copy(update={"shards_per_compressed_file": 3}))
    assert len(three["stats"]) == 3
    assert sorted(d["doc_id"] for d in three["documents"]) == sorted(d["doc_id"] for d in one["documents"])
    assert len(one["documents"]) == 25


def test_byte_range_splits_of_plain_xml_read_each_page_once(tmp_path: Path, cfg):
    pages = [page_xml(f"P{i}", f"Text {i}. " * (i + 1), i + 1) for i in range(30)]
    path = tmp_path / "d.xml"
    path.write_bytes(dump_bytes(pages))
    splits = plan_splits([path], cfg.model_copy(update={"split_bytes": 700}))
    assert len(splits) > 5
    out = run_all([path], cfg.model_copy(update={"split_bytes": 700}))
    assert sorted(int(d["native_id"]) for d in out["documents"]) == list(range(1, 31))


def test_multistream_corrupt_stream_loses_only_its_pages(tmp_path: Path, cfg):
    ids = list(range(100, 112))
    titles = [f"Page {i}" for i in ids]
    pages = [page_xml(t, f"Body of {t}.", i) for t, i in zip(titles, ids)]
    data, index = write_multistream(tmp_path, pages, per_stream=3, page_ids=ids, titles=titles)
    offsets = sorted({int(line.split(":")[0]) for line in bz2.decompress(index.read_bytes()).decode().splitlines()})
    blob = bytearray(data.read_bytes())
    blob[offsets[1] + 40] ^= 0xFF  # damage the second page stream (pages 103-105)
    data.write_bytes(bytes(blob))
    splits = plan_splits([data], cfg.model_copy(update={"pages_per_split": 6}))
    # 12 pages, one worker: at least 4 splits per worker beats pages_per_split=6, so one stream each
    assert [len(s.streams) for s in splits] == [1, 1, 1, 1] and splits[0].site.dbname == "testwiki"
    out = run_all([data], cfg.model_copy(update={"pages_per_split": 6}))
    assert sorted(int(d["native_id"]) for d in out["documents"]) == [i for i in ids if i not in (103, 104, 105)]
    missing = sorted(int(r["native_id"]) for r in out["rejects"] if r["reason"] == "missing_from_stream")
    assert missing == [103, 104, 105]
    assert all("corrupt" in r["detail"] for r in out["rejects"])
    assert_accounted(out["stats"])


def test_damage_in_a_multistream_stream_of_several_blocks_costs_only_its_block(tmp_path: Path, cfg):
    ids = list(range(1, 51))
    titles = [f"Page {i}" for i in ids]
    # prose-like pages of about 50 kB: 40 to a stream make three 900k blocks
    pages = [page_xml(t, _varied_text(50_000, seed=i).decode(), i) for t, i in zip(titles, ids)]
    data, index = write_multistream(tmp_path, pages, per_stream=40, page_ids=ids, titles=titles)
    blob = bytearray(data.read_bytes())
    offsets = sorted({int(line.split(":")[0]) for line in bz2.decompress(index.read_bytes()).decode().splitlines()})
    magics = [bit // 8 for bit, magic in find_magics(blob, offsets[0], offsets[1]) if magic == BLOCK_MAGIC]
    assert len(magics) == 3
    blob[magics[1] + 1000] ^= 0xFF    # the second block of the first page stream
    data.write_bytes(bytes(blob))
    out = run_all([data], cfg)
    kept = {int(d["native_id"]) for d in out["documents"]}
    reasons = {int(r["native_id"]): r["reason"] for r in out["rejects"] if r["native_id"]}
    assert set(range(41, 51)) <= kept and 0 < len(kept & set(range(1, 41))) < 40
    assert kept | set(reasons) == set(ids) and not kept & set(reasons)
    assert Counter(reasons.values())["truncated"] == 1 and "missing_from_stream" in reasons.values()
    # the end of the page the damaged block cut off names no page
    assert Counter(r["reason"] for r in out["rejects"] if not r["native_id"]) == {"truncated": 1}
    assert_accounted(out["stats"])


def test_iter_decompressed_follows_concatenated_streams():
    data = bz2.compress(b"first ") + bz2.compress(b"second")
    assert b"".join(iter_decompressed(__import__("io").BytesIO(data), "bz2")) == b"first second"


def test_iter_decompressed_reports_truncation():
    data = bz2.compress(b"x" * 100_000)[:-10]
    with pytest.raises(InputError, match="truncated"):
        b"".join(iter_decompressed(__import__("io").BytesIO(data), "bz2"))


def _varied_text(size: int, seed: int = 7) -> bytes:
    """Text that compresses like prose, so that bz2 at level 1 (100k blocks) writes several blocks."""
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghij") for _ in range(6)) for _ in range(2000)]
    return " ".join(rng.choice(words) for _ in range(size // 7)).encode()


@pytest.mark.parametrize("read_end", range(-3, 9))
def test_no_block_is_yielded_twice_whichever_read_the_damage_is_found_in(monkeypatch, read_end: int):
    """Block 2's magic is overwritten; reads end around it (``read_end`` bytes after the byte holding block
    1's last bit), so block 1 comes out of the read before the broken one, of the broken one, or is held
    back by libbzip2 until the next read."""
    plain = _varied_text(300_000)
    data = bytearray(bz2.compress(plain, 1))
    magics = [bit for bit, magic in find_magics(data, 0, len(data) - 6) if magic == BLOCK_MAGIC]
    assert len(magics) >= 3
    first, second = (bz2.decompress(block_stream(data, magics[i], magics[i + 1])) for i in (0, 1))
    for i in range(magics[1] // 8 + 1, magics[1] // 8 + 5):
        data[i] ^= 0xFF       # inside block 2's magic, clear of block 1's bits
    monkeypatch.setattr(dumps, "READ_CHUNK", (magics[1] - 1) // 8 + 1 + read_end)
    items = list(iter_decompressed(io.BytesIO(bytes(data)), "bz2", recover=True))
    [damage] = [item for item in items if isinstance(item, StreamDamage)]
    i = items.index(damage)
    assert damage.resumed == magics[2] // 8 and magics[1] // 8 <= damage.offset <= magics[1] // 8 + 2
    assert b"".join(items[:i]) == first and b"".join(items[i + 1:]) == plain[len(first) + len(second):]


def test_bzip2_block_crc_is_the_one_the_stream_stores():
    data = bz2.compress(b"kgpipe " * 1000)
    [(bit, _), _] = find_magics(data, 0, len(data) - 6)
    assert block_crc(b"kgpipe " * 1000) == int.from_bytes(data[(bit + 48) // 8:(bit + 80) // 8], "big")


def test_scanner_rejects_both_ends_of_a_page_cut_by_damage():
    pages = [page_xml(f"P{i}", f"Text {i}.", i) for i in range(1, 6)]
    head = dump_bytes([]).replace(b"</mediawiki>\n", b"") + pages[0].encode() + pages[1].encode()[:40]
    middle = pages[2].encode()[30:] + pages[3].encode()
    chunks = [head, StreamDamage("corrupt", 100, 200), middle, StreamDamage("corrupt", 300, 400),
              b"\n  " + pages[4].encode() + b"</mediawiki>\n", StreamDamage("truncated", 500)]
    items = list(scan_pages(iter(chunks), 1 << 20, skip_leading=True))
    kinds = [(i.problem, i.data[:30]) if isinstance(i, PageChunk) else i.offset for i in items]
    start = [page.encode().lstrip()[:30] for page in pages]
    # the pages before the damage, the one it cuts, the damage, that page's end, the next pages; the blank
    # stretch after the second damage is no page
    assert kinds == [(None, start[0]), ("truncated", start[1]), 100, ("truncated", pages[2].encode()[30:60]),
                     (None, start[3]), 300, (None, start[4]), 500]
    assert len({i.ordinal for i in items if isinstance(i, PageChunk)}) == 5
    assert dumps.salvage_ids(items[3].data) == (None, None) and dumps.salvage_ids(items[1].data)[1] == "P2"


def test_siteinfo_defaults_without_siteinfo_block():
    site = parse_siteinfo(b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" xml:lang="de">\n',
                          "dewiki-latest-pages-articles.xml.bz2")
    assert site.dbname == "dewiki" and site.language == "de" and site.base_url is None
    assert site.namespaces.namespace_of("Category:X")[0] == 14


def test_header_that_is_not_mediawiki_is_an_input_error():
    with pytest.raises(InputError, match="not a MediaWiki"):
        parse_siteinfo(b"<html><body>", "x.xml")
