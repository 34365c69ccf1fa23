"""News input: JSONL lines and folders of text articles, bad records rejected with reasons."""
from __future__ import annotations

import json
import tarfile
from collections import Counter
from pathlib import Path

from kgpipe.datasets import NEWS_SAMPLE
from kgpipe.ingest.inputs import NEWS_DIR, NEWS_JSONL, detect, plan_splits
from kgpipe.ingest.news import iter_jsonl_lines, parse_time, split_paragraphs
from tests.conftest import BBC, need_shared
from tests.test_dumps import assert_accounted, run_all

GOOD = {"id": "a1", "url": "https://www.example.com/x", "title": "Headline", "published": "2024-05-01T10:00:00Z",
        "text": "First paragraph.\n\nSecond   paragraph\nstill second."}


def test_jsonl_good_and_bad_lines(tmp_path: Path, cfg):
    path = tmp_path / "feed.jsonl"
    lines = [json.dumps(GOOD).encode(), b"{not json", json.dumps({"id": "a2", "title": "No text"}).encode(),
             json.dumps({"id": "a3", "text": "  \n "}).encode(), b"",
             json.dumps({"id": "a4", "text": "caf\u00e9"}, ensure_ascii=False).encode().replace(b"\xc3\xa9", b"\xe9"),
             b"[1, 2]"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = run_all([path], cfg)
    [doc] = out["documents"]
    assert doc["text"] == "First paragraph.\n\nSecond paragraph still second."
    assert [(p["start"], p["end"]) for p in doc["paragraphs"]] == [(0, 16), (18, 48)]
    assert doc["source"] == "news:www.example.com" and doc["source_kind"] == "news"
    assert doc["source_timestamp"].isoformat() == "2024-05-01T10:00:00+00:00"
    reasons = Counter(r["reason"] for r in out["rejects"])
    assert reasons == {"invalid_json": 2, "missing_text": 1, "empty_text": 1, "invalid_utf8": 1}
    assert out["stats"][0]["seen"] == 6  # the blank line is not a record
    assert_accounted(out["stats"])


def test_jsonl_byte_range_splits_read_every_line_once(tmp_path: Path, cfg):
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": f"Story {i} " * (i % 7 + 1)}) + "\n" for i in range(200)))
    small = cfg.model_copy(update={"split_bytes": 333})
    assert len(plan_splits([path], small)) > 10
    out = run_all([path], small)
    assert sorted(int(d["native_id"]) for d in out["documents"]) == list(range(200))


def test_iter_jsonl_lines_split_exactly_at_a_line_start(tmp_path: Path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"aaa\nbbb\nccc")
    first = list(iter_jsonl_lines(str(path), "none", 0, 4))
    rest = list(iter_jsonl_lines(str(path), "none", 4, None))
    assert first == [(0, b"aaa")] and rest == [(4, b"bbb"), (8, b"ccc")]


def test_text_folder_articles(tmp_path: Path, cfg):
    folder = tmp_path / "stories"
    (folder / "business").mkdir(parents=True)
    (folder / "business" / "001.txt").write_text("Big merger\n\nCompany A bought B.\n\nShares rose.\n")
    (folder / "business" / "002.txt").write_bytes(b"Bad\n\nPrice \xa3 5\n")
    (folder / "README.TXT").write_text("about this corpus")
    (folder / "business" / "003.txt").write_text("Only a headline\n")
    assert detect(folder)[0] == NEWS_DIR
    out = run_all([folder], cfg)
    [doc] = out["documents"]
    assert (doc["title"], doc["text"], doc["native_id"]) == ("Big merger", "Company A bought B.\n\nShares rose.",
                                                             "business/001.txt")
    assert Counter(r["reason"] for r in out["rejects"]) == {"invalid_utf8": 1, "empty_text": 1}
    assert out["stats"][0]["skipped"] == {"not_an_article": 1}
    assert_accounted(out["stats"])


def test_bbc_corpus_every_file_accounted(tmp_path: Path, cfg):
    with tarfile.open(need_shared(BBC)) as tar:
        tar.extractall(tmp_path, filter="data")
    out = run_all([tmp_path / "bbc"], cfg)
    assert len(out["documents"]) == 2224  # 2,225 articles, one (sport/199.txt) has a stray Latin-1 byte
    [reject] = out["rejects"]
    assert reject["reason"] == "invalid_utf8" and reject["native_id"] == "sport/199.txt"
    assert sum(row["skipped"].get("not_an_article", 0) for row in out["stats"]) == 1  # README.TXT
    assert_accounted(out["stats"])


def test_embedded_news_sample_is_clean(cfg):
    assert detect(NEWS_SAMPLE)[0] == NEWS_JSONL
    out = run_all([NEWS_SAMPLE], cfg)
    assert len(out["documents"]) == 8 and "rejects" not in out


def test_helpers():
    assert split_paragraphs("a\n\n\n b  c \n\n") == ("a", "b c")
    assert parse_time(0).isoformat() == "1970-01-01T00:00:00+00:00"
    assert parse_time("2024-01-01T12:00:00+02:00").isoformat() == "2024-01-01T10:00:00+00:00"
    assert parse_time("yesterday") is None
