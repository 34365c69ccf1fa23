"""WARC news input: articles out of crawled HTML pages, every other record skipped by reason, damage rejected
per record, and splits that together read every record once. The files are written with warcio
(tests/warcfactory.py); nothing is fetched."""
from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from kgpipe.cli import EXIT_DAMAGED_INPUT, main
from kgpipe.ids import stable_id
from kgpipe.ingest.inputs import WARC, detect, plan_splits
from kgpipe.ingest.news import content_hash
from tests.test_dumps import assert_accounted, run_all
from tests.warcfactory import (
    ARTICLES,
    BOILERPLATE,
    CAFE,
    CRAWLED,
    CURIE,
    WEB,
    WEBB,
    ZUGSPITZE,
    Warc,
    article_html,
    news_crawl,
)

#: what news_crawl() holds besides the five articles
SKIPPED = {"warc_warcinfo": 1, "warc_request": 5, "warc_metadata": 1, "warc_revisit": 1, "not_html": 2,
           "no_article": 2, "http_redirect": 1, "http_error": 1}
RECORDS = 5 + sum(SKIPPED.values())


def _docs(out) -> dict[str, dict]:
    return {doc["url"]: doc for doc in out.get("documents", [])}


def _offsets(out) -> dict[str, int]:
    """url -> file offset of the record (gzip: of its member) the document came from."""
    return {doc["url"]: int(doc["input_ref"].rsplit(":", 1)[1]) for doc in out["documents"]}


def test_a_news_crawl_becomes_articles_and_counted_skips(tmp_path: Path, cfg):
    path = news_crawl().write(tmp_path / "crawl.warc.gz")
    assert detect(path) == (WARC, "gzip")
    out = run_all([path], cfg)
    docs = _docs(out)
    assert set(docs) == {a.url for a in ARTICLES}
    for article in ARTICLES:
        doc = docs[article.url]
        # the article's paragraphs and nothing else: no headline, menu, banner, advertisement or footer
        assert doc["text"] == "\n\n".join(article.paragraphs), article.url
        assert [doc["text"][p["start"]:p["end"]] for p in doc["paragraphs"]] == list(article.paragraphs)
        assert (doc["title"], doc["author"], doc["language"]) == (article.headline, article.author, article.lang)
        assert doc["source"] == "news:" + article.url.split("/")[2] and doc["source_kind"] == "news"
        assert doc["native_id"] == article.url
        assert doc["doc_id"] == stable_id(doc["source"], doc["native_id"], doc["revision_id"])
        assert not any(phrase in doc["text"] for phrase in BOILERPLATE)
    # the publication time from the page's metadata, in UTC; a page without one: the crawl time
    assert docs[CURIE.url]["source_timestamp"].isoformat() == "2024-02-10T09:30:00+00:00"
    assert docs[ZUGSPITZE.url]["source_timestamp"].isoformat() == "2024-01-15T06:00:00+00:00"
    assert docs[WEBB.url]["source_timestamp"].date().isoformat() == "2023-12-25"
    assert docs[WEB.url]["source_timestamp"].isoformat() == CRAWLED.replace("Z", "+00:00")
    assert docs[WEB.url]["revision_id"] == content_hash(docs[WEB.url]["text"])
    assert "Café Central" in docs[CAFE.url]["text"] and "Ringstraße" in docs[CAFE.url]["text"]  # windows-1252
    [stats] = out["stats"]
    assert (stats["seen"], stats["documents"], stats["skipped"], stats["rejects"]) == (RECORDS, 5, SKIPPED, {})
    assert "rejects" not in out
    assert_accounted(out["stats"])


def test_doc_ids_are_stable_and_an_uncompressed_warc_reads_the_same(tmp_path: Path, cfg):
    first = run_all([news_crawl().write(tmp_path / "a.warc.gz")], cfg)
    # written again: new record ids and dates in the file, the same articles
    again = run_all([news_crawl().write(tmp_path / "b.warc.gz")], cfg)
    plain = run_all([news_crawl().write(tmp_path / "c.warc", gzip=False)], cfg)
    ids = {url: doc["doc_id"] for url, doc in _docs(first).items()}
    assert ids == {url: doc["doc_id"] for url, doc in _docs(again).items()}
    assert ids == {url: doc["doc_id"] for url, doc in _docs(plain).items()}
    assert plain["stats"][0]["skipped"] == SKIPPED and plain["stats"][0]["seen"] == RECORDS


def _big_crawl() -> Warc:
    crawl = Warc().warcinfo()
    for i in range(12):
        for article in ARTICLES:
            crawl.page(replace(article, url=f"{article.url}?page={i}"))
    return crawl.response("https://www.example.com/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(300), "image/png")


@pytest.mark.parametrize("name, gzip_it", [("big.warc.gz", True), ("big.warc", False)])
def test_splits_together_read_every_record_once(tmp_path: Path, cfg, name: str, gzip_it: bool):
    path = _big_crawl().write(tmp_path / name, gzip=gzip_it)
    whole = run_all([path], cfg)
    small = cfg.model_copy(update={"split_bytes": 7000})
    splits = plan_splits([path], small)
    assert len(splits) > 4 and all(split.members == gzip_it for split in splits)
    out = run_all([path], small)
    refs = sorted(doc["input_ref"] for doc in out["documents"])
    assert len(refs) == len(set(refs)) == 60
    assert refs == sorted(doc["input_ref"] for doc in whole["documents"])
    assert sum(row["seen"] for row in out["stats"]) == whole["stats"][0]["seen"] == 1 + 12 * 10 + 1
    assert sum(row["skipped"].get("warc_request", 0) for row in out["stats"]) == 60
    assert_accounted(out["stats"])


def test_a_warc_gzipped_as_one_stream_is_read_by_shards(tmp_path: Path, cfg):
    plain = _big_crawl().write(tmp_path / "big.warc", gzip=False)
    path = tmp_path / "whole.warc.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    three = cfg.model_copy(update={"shards_per_compressed_file": 3})
    splits = plan_splits([path], three)
    assert [(s.num_shards, s.members) for s in splits] == [(3, False)] * 3
    out = run_all([path], three)
    assert sorted(d["input_ref"].rsplit(":", 1)[1] for d in out["documents"]) == \
        sorted(d["input_ref"].rsplit(":", 1)[1] for d in run_all([plain], cfg)["documents"])
    assert sum(row["seen"] for row in out["stats"]) == 122
    # cut: the records before the cut are kept, the one it is in is rejected, and the stream's end is reported
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    cut = run_all([path], cfg)
    assert 10 < len(cut["documents"]) < 60
    assert Counter(r["reason"] for r in cut["rejects"]) == {"truncated_record": 1, "unreadable_stream": 1}
    assert_accounted(cut["stats"])


@pytest.mark.parametrize("name, gzip_it", [("cut.warc.gz", True), ("cut.warc", False)])
def test_a_file_cut_inside_a_record_keeps_the_records_before(tmp_path: Path, cfg, name: str, gzip_it: bool):
    path = news_crawl().write(tmp_path / name, gzip=gzip_it)
    cut_at = _offsets(run_all([path], cfg))[CAFE.url] + 700
    path.write_bytes(path.read_bytes()[:cut_at])
    out = run_all([path], cfg)
    assert set(_docs(out)) == {a.url for a in ARTICLES if a is not CAFE}
    [reject] = out["rejects"]
    assert reject["reason"] == "truncated_record" and reject["native_id"] == CAFE.url
    assert reject["input_ref"] == f"{path}:{cut_at - 700}" and "ends inside" in reject["detail"]
    assert out["stats"][0]["seen"] == 1 + 2 * 5  # warcinfo, four pages, the cut request's response
    assert_accounted(out["stats"])


def test_a_corrupt_gzip_member_is_one_reject_and_reading_goes_on(tmp_path: Path, cfg):
    path = news_crawl().write(tmp_path / "damaged.warc.gz")
    at = _offsets(run_all([path], cfg))[CURIE.url] + 400
    data = bytearray(path.read_bytes())
    data[at:at + 8] = b"\x00" * 8
    path.write_bytes(bytes(data))
    out = run_all([path], cfg)
    assert set(_docs(out)) == {a.url for a in ARTICLES if a is not CURIE}
    [reject] = out["rejects"]
    assert reject["reason"] == "corrupt_gzip_member" and "reading resumed at the next member" in reject["detail"]
    assert out["stats"][0]["seen"] == RECORDS and out["stats"][0]["skipped"] == SKIPPED
    assert_accounted(out["stats"])


def test_garbage_between_records_and_a_wrong_content_length_are_rejected(tmp_path: Path, cfg):
    path = news_crawl().write(tmp_path / "bad.warc", gzip=False)
    data = path.read_bytes()
    offsets = _offsets(run_all([path], cfg))
    curie, web = offsets[CURIE.url], offsets[WEB.url]
    # garbage where the Curie page's request begins; the Web page's response claims 50 bytes more than it has
    web_header = data[web:data.index(b"\r\n\r\n", web)]
    length = int(web_header.split(b"Content-Length: ")[1])
    bad = web_header.replace(b"Content-Length: %d" % length, b"Content-Length: %d" % (length + 50))
    request = data.rindex(b"WARC/1.0", 0, curie)
    path.write_bytes(data[:request] + b"<html>stray bytes\r\n" * 20 + data[request:web] + bad + data[web +
                                                                                                      len(web_header):])
    out = run_all([path], cfg)
    assert Counter(r["reason"] for r in out["rejects"]) == {"unreadable_stream": 1, "malformed_record": 1}
    assert set(_docs(out)) == {a.url for a in ARTICLES if a is not WEB}
    assert "reading resumed" in next(r["detail"] for r in out["rejects"] if r["reason"] == "unreadable_stream")
    assert_accounted(out["stats"])


@pytest.mark.parametrize("gzip_it", [True, False])
def test_oversized_records_are_rejected_with_their_size(tmp_path: Path, cfg, gzip_it: bool):
    path = news_crawl().write(tmp_path / ("big.warc.gz" if gzip_it else "big.warc"), gzip=gzip_it)
    out = run_all([path], cfg.model_copy(update={"max_page_bytes": 3000}))
    too_large = [r for r in out["rejects"] if r["reason"] == "record_too_large"]
    assert {r["native_id"] for r in too_large} >= {a.url for a in ARTICLES if a is not WEB}
    assert all("limit 3000" in r["detail"] for r in too_large)
    assert_accounted(out["stats"])


def test_payload_encodings_and_a_page_without_content_type(tmp_path: Path, cfg):
    path = tmp_path / "encoded.warc.gz"
    body = gzip.compress(article_html(WEBB).encode())
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 500]), body[i:i + 500]) for i in range(0, len(body), 500))
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, payload, fields in [
            (WEBB.url, chunked + b"0\r\n\r\n", [("Content-Type", "text/html"), ("Content-Encoding", "gzip"),
                                                ("Transfer-Encoding", "chunked")]),
            (CURIE.url, article_html(CURIE).encode(), []),
        ]:
            headers = StatusAndHeaders("200 OK", fields, protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(payload),
                                                          http_headers=headers))
    out = run_all([path], cfg)
    docs = _docs(out)
    assert docs[WEBB.url]["text"] == "\n\n".join(WEBB.paragraphs)
    assert docs[CURIE.url]["text"] == "\n\n".join(CURIE.paragraphs)


def test_warc_is_recognised_by_content(tmp_path: Path):
    path = news_crawl().write(tmp_path / "crawl.data", gzip=False)
    assert detect(path) == (WARC, "none")


def test_cli_ingests_a_warc_and_exits_3_when_it_was_cut(tmp_path: Path, cfg, capsys):
    path = news_crawl().write(tmp_path / "news.warc.gz")
    cut_at = _offsets(run_all([path], cfg))[CAFE.url] + 700
    path.write_bytes(path.read_bytes()[:cut_at])
    wh = tmp_path / "wh"
    rc = main(["--quiet", "--set", "ingest.direct_running_mode=in_memory", "--set", "ingest.direct_num_workers=1",
               "ingest", "--input", str(path), "--warehouse", str(wh)])
    out, err = capsys.readouterr()
    assert rc == EXIT_DAMAGED_INPUT == 3
    assert f"input {path}: seen 11 = documents 4 + redirects 0 + skipped 6 + rejects 1" in out
    assert "rejects: truncated_record 1" in out
    docs = pq.read_table(wh / "documents").to_pylist()
    assert {d["author"] for d in docs} == {WEBB.author, CURIE.author, None, ZUGSPITZE.author}
    manifest = json.loads((wh / "_manifests" / "latest.json").read_text())
    assert manifest["stages"]["ingest"]["details"]["damaged_inputs"] == [str(path)]
    per_input = manifest["stages"]["ingest"]["inputs"]["per_input"][str(path)]
    assert per_input["skipped_by_reason"] == {"warc_warcinfo": 1, "warc_request": 5}



def test_a_page_the_extractor_fails_on_is_a_reject_not_a_crash(tmp_path: Path, cfg, monkeypatch):
    import kgpipe.ingest.webpage as webpage

    def broken(tree, **_):
        if tree.xpath("//html/@lang") == ["de"]:
            raise RecursionError("maximum recursion depth exceeded")
        return real(tree, **_)
    real = webpage.bare_extraction
    monkeypatch.setattr(webpage, "bare_extraction", broken)
    out = run_all([news_crawl().write(tmp_path / "crawl.warc.gz")], cfg)
    [reject] = out["rejects"]
    assert (reject["reason"], reject["native_id"]) == ("extraction_failed", ZUGSPITZE.url)
    assert "RecursionError" in reject["detail"] and len(out["documents"]) == 4
    assert_accounted(out["stats"])
