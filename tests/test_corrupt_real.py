"""Corrupted copies of the real dumps, made here: rejects are counted and explained, nothing vanishes."""
from __future__ import annotations

import bz2
from collections import Counter
from pathlib import Path

from kgpipe.cli import main
from kgpipe.ingest.inputs import find_index, read_index
from tests.test_dumps import assert_accounted, run_all


def test_truncated_english_dump(enwiki: Path, tmp_path: Path, cfg):
    data = enwiki.read_bytes()
    cut = tmp_path / "enwiki-cut.xml.bz2"
    cut.write_bytes(data[: len(data) // 2])
    out = run_all([cut], cfg)
    assert 20 < len(out["documents"]) < 106
    reasons = Counter(r["reason"] for r in out["rejects"])
    assert reasons["unreadable_stream"] == 1 and set(reasons) <= {"unreadable_stream", "truncated"}
    assert_accounted(out["stats"])


def test_flipped_bytes_in_the_english_dump(enwiki: Path, tmp_path: Path, cfg):
    data = bytearray(enwiki.read_bytes())
    for pos in range(len(data) * 3 // 5, len(data) * 3 // 5 + 64):
        data[pos] ^= 0x5A
    broken = tmp_path / "enwiki-flipped.xml.bz2"
    broken.write_bytes(bytes(data))
    out = run_all([broken], cfg)
    clean_titles = {d["title"] for d in run_all([enwiki], cfg)["documents"]}
    titles = {d["title"] for d in out["documents"]}
    assert titles < clean_titles and len(titles) > 30
    assert any("corrupt" in r["detail"] for r in out["rejects"])
    assert_accounted(out["stats"])


def test_bad_utf8_in_one_real_page(enwiki: Path, tmp_path: Path, cfg):
    xml = bz2.decompress(enwiki.read_bytes())
    marker = b"<title>Anarchism</title>"
    start = xml.index(marker)
    text_at = xml.index(b"<text", start) + 200
    damaged = xml[:text_at] + b"\xff\xfe" + xml[text_at:]
    path = tmp_path / "enwiki-bad-utf8.xml.bz2"
    path.write_bytes(bz2.compress(damaged))
    out = run_all([path], cfg)
    [reject] = out["rejects"]
    assert (reject["reason"], reject["title"], reject["native_id"]) == ("invalid_utf8", "Anarchism", "12")
    assert len(out["documents"]) == 105
    assert_accounted(out["stats"])


def test_one_corrupt_stream_of_the_greek_multistream(elwiki: Path, tmp_path: Path, cfg):
    entries = read_index(find_index(elwiki))
    lost = {page_id for offset, page_id, _ in entries if offset == 4735}
    data = bytearray(elwiki.read_bytes())
    data[4735 + 100] ^= 0xFF
    folder = tmp_path / "el"
    folder.mkdir()
    copy = folder / elwiki.name
    copy.write_bytes(bytes(data))
    (folder / find_index(elwiki).name).write_bytes(find_index(elwiki).read_bytes())
    out = run_all([copy], cfg)
    assert {r["native_id"] for r in out["rejects"]} == lost and len(lost) == 5
    assert {r["reason"] for r in out["rejects"]} == {"missing_from_stream"}
    assert len(out["documents"]) == 16 - 5
    assert_accounted(out["stats"])


def test_cli_unreadable_file_is_a_one_line_error(tmp_path: Path, capsys):
    junk = tmp_path / "junk.xml.bz2"
    junk.write_bytes(b"BZh9" + bytes(range(256)) * 4)
    rc = main(["--quiet", "ingest", "--input", str(junk), "--warehouse", str(tmp_path / "wh")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("kgpipe: error: cannot read") and str(junk) in err[-1]
    assert not (tmp_path / "wh" / "documents").exists()
