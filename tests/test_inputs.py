"""Input detection by content and name, and splitting of the real multistream sample."""
from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from kgpipe.ingest.dumps import InputError
from kgpipe.ingest.inputs import (
    NEWS_JSONL,
    UNREADABLE,
    WIKI,
    detect,
    find_index,
    plan_splits,
    read_index,
)
from tests.dumpfactory import dump_bytes, page_xml


def test_detects_by_content_not_extension(tmp_path: Path):
    dump = tmp_path / "no-extension"
    dump.write_bytes(bz2.compress(dump_bytes([page_xml("A", "b", 1)])))
    assert detect(dump) == (WIKI, "bz2")
    feed = tmp_path / "feed.data"
    feed.write_text('{"text": "x"}\n')
    assert detect(feed) == (NEWS_JSONL, "none")


@pytest.mark.parametrize("content, message", [
    (b"BZh91AY&SY" + b"\x00" * 200, "cannot read"),
    (b"plain words, nothing we know", "not a MediaWiki XML dump"),
])
def test_unreadable_file_fails_with_one_line_naming_it(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "broken.xml.bz2"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        detect(path)
    assert str(path) in str(err.value) and message in str(err.value) and "\n" not in str(err.value)


def test_xml_that_is_not_a_mediawiki_export_is_named(tmp_path: Path, cfg):
    path = tmp_path / "feed.xml"
    path.write_text('<?xml version="1.0"?>\n<rss><channel><title>x</title></channel></rss>\n')
    with pytest.raises(InputError, match=f"cannot read {path}: no <mediawiki> root"):
        plan_splits([path], cfg)


def test_missing_file(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        detect(tmp_path / "nope.xml")


def test_greek_multistream_is_split_by_stream_offsets(elwiki: Path, cfg):
    index = find_index(elwiki)
    assert index is not None and index.name.endswith("multistream-index.xml.bz2")
    entries = read_index(index)
    assert len(entries) == 17
    assert sorted({offset for offset, _, _ in entries}) == [718, 4735, 8475, 12237]
    splits = plan_splits([elwiki], cfg.model_copy(update={"pages_per_split": 5}))
    assert [s.streams for s in splits] == [(718,), (4735,), (8475,), (12237,)]
    assert splits[0].site.dbname == "elwikivoyage" and splits[0].site.language == "el"
    assert splits[0].site.schema_version == "0.11"
    assert sum(len(s.expected) for s in splits) == 17


def test_explicit_index_argument_is_paired_not_ingested(elwiki: Path, cfg):
    splits = plan_splits([elwiki, find_index(elwiki)], cfg)
    assert {s.path for s in splits} == {str(elwiki)}
    assert all(s.streams for s in splits)


def test_an_unreadable_input_is_a_reject_and_the_others_go_on(tmp_path: Path, cfg):
    from tests.test_dumps import assert_accounted, run_all
    good = tmp_path / "good.xml.bz2"
    good.write_bytes(bz2.compress(dump_bytes([page_xml("A", "Some text.", 1)])))
    junk = tmp_path / "junk.xml.bz2"
    junk.write_bytes(b"BZh9" + bytes(range(256)) * 4)
    empty, folder = tmp_path / "empty.jsonl", tmp_path / "no-files"
    empty.write_bytes(b"\n")
    folder.mkdir()
    missing = tmp_path / "missing.xml"
    inputs = [missing, junk, good, empty, folder]
    splits = plan_splits(inputs, cfg)
    assert [s.path for s in splits if s.kind == UNREADABLE] == [str(missing), str(junk), str(empty), str(folder)]
    out = run_all(inputs, cfg)
    assert [d["title"] for d in out["documents"]] == ["A"]
    rejects = {r["input_ref"]: r for r in out["rejects"]}
    assert {r["reason"] for r in rejects.values()} == {"unreadable_input"}
    assert "no such file" in rejects[str(missing)]["detail"] and "corrupt" in rejects[str(junk)]["detail"]
    assert "empty" in rejects[str(empty)]["detail"] and "no files" in rejects[str(folder)]["detail"]
    assert all(r["detail"].startswith(f"cannot read {path}") for path, r in rejects.items())
    assert {row["input"]: row["seen"] for row in out["stats"]} == {str(p): 1 for p in inputs}
    assert_accounted(out["stats"])


def test_unreadable_input_fails_the_run_when_configured_or_when_nothing_is_readable(tmp_path: Path, cfg):
    good = tmp_path / "good.xml"
    good.write_bytes(dump_bytes([page_xml("A", "Some text.", 1)]))
    missing = tmp_path / "missing.xml"
    with pytest.raises(InputError, match=f"cannot read {missing}: no such file"):
        plan_splits([good, missing], cfg.model_copy(update={"on_unreadable_input": "fail"}))
    with pytest.raises(InputError, match=f"cannot read {missing}: no such file"):
        plan_splits([missing], cfg)
