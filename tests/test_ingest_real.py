"""Ingest of the real dumps in ../shared/data: counts must equal MANIFEST.md."""
from __future__ import annotations

from pathlib import Path

import pytest

from kgpipe.config import IngestConfig
from kgpipe.datasets import NEWS_SAMPLE
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from pipelines.ingest import run_stage

# MANIFEST.md: 206 pages, 205 in ns 0 and 1 in ns 4; 100 redirects. The ns-4 page is itself a
# redirect ("Wikipedia:Adding Wikipedia articles to Nupedia"), so ns 0 holds 99 redirects and
# 205 - 99 = 106 articles.
ENWIKI_COUNTS = {"pages_seen": 206, "documents": 106, "redirects": 99, "skipped_by_rule": 1, "rejects": 0}
# MANIFEST.md: 17 pages, 16 in ns 0 and one category page, no redirects.
ELWIKI_COUNTS = {"pages_seen": 17, "documents": 16, "redirects": 0, "skipped_by_rule": 1, "rejects": 0}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    from tests.conftest import ELWIKI, ENWIKI, need_shared
    need_shared(ENWIKI), need_shared(ELWIKI)
    root = tmp_path_factory.mktemp("real")
    warehouse = Warehouse(root / "wh")
    # the production configuration: two Beam worker processes
    cfg = IngestConfig(direct_running_mode="multi_processing", direct_num_workers=2)
    record = run_stage(cfg, StageContext(warehouse, "real-1", str(root / "cache")),
                       [str(ENWIKI), str(ELWIKI), str(NEWS_SAMPLE)])
    return warehouse, record


def _per_input(record, path: Path) -> dict:
    row = record.inputs["per_input"][str(path)]
    return {key: row[key] for key in ENWIKI_COUNTS}


def test_counts_match_the_manifest(real_run, enwiki, elwiki):
    warehouse, record = real_run
    assert _per_input(record, enwiki) == ENWIKI_COUNTS
    assert _per_input(record, elwiki) == ELWIKI_COUNTS
    assert record.inputs["per_input"][str(elwiki)]["skipped_by_reason"] == {"namespace_14": 1}
    assert record.outputs["documents"] == 106 + 16 + 8
    assert record.outputs["redirects"] == 99 and record.outputs["rejects"] == 0
    assert warehouse.count("documents") == record.outputs["documents"]


def test_infobox_parameters_are_all_accounted_for_and_checked_values_read_right(real_run, enwiki):
    from kgpipe.evaluate.infobox import evaluate_warehouse
    warehouse, record = real_run
    box = record.inputs["per_input"][str(enwiki)]["infobox_parameters"]
    assert box["seen"] > 1000 and box["seen"] == box["facts"] + box["unmapped"] + box["unlinked"] + box["unreadable"]
    assert warehouse.count("infobox") == record.outputs["infobox"]
    rows = warehouse.read("infobox").to_pylist()
    titles = {d["doc_id"]: d["title"] for d in warehouse.read("documents", ["doc_id", "title"]).to_pylist()}
    einstein = {(r["predicate"], r["target_title"] or r["value"]) for r in rows
                if titles[r["doc_id"]] == "Albert Einstein" and r["status"] == "fact"}
    assert {("birthPlace", "Ulm"), ("birthDate", "1879-03-14"), ("doctoralAdvisor", "Alfred Kleiner")} <= einstein
    # the hand-checked values of kgpipe/data/eval/infobox-gold.jsonl (44 pages of this dump)
    result = evaluate_warehouse(warehouse)
    assert result["pages"] == 44 and result["precision"] >= 0.95 and result["recall"] >= 0.9


def test_cleaned_text_of_a_known_article(real_run):
    warehouse, _ = real_run
    docs = {d["title"]: d for d in warehouse.read("documents").to_pylist()}
    anarchism = docs["Anarchism"]
    assert anarchism["url"] == "https://en.wikipedia.org/wiki/Anarchism" and anarchism["language"] == "en"
    assert anarchism["text"].startswith("Anarchism is a political philosophy")
    for doc in docs.values():
        for marker in ("{{", "}}", "[[", "]]", "<ref", "{|"):
            assert marker not in doc["text"], (doc["title"], marker)
    headings = [p for p in anarchism["paragraphs"] if p["kind"] == "heading"]
    assert "History" in [anarchism["text"][p["start"]:p["end"]] for p in headings]
    greek = [d for d in docs.values() if d["source"] == "elwikivoyage"]
    assert len(greek) == 16 and all(d["language"] == "el" for d in greek)


def test_links_point_into_document_text(real_run):
    warehouse, _ = real_run
    texts = {d["doc_id"]: d["text"] for d in warehouse.read("documents", ["doc_id", "text"]).to_pylist()}
    links = warehouse.read("links").to_pylist()
    assert len(links) > 10_000
    assert all(texts[l["doc_id"]][l["start"]:l["end"]] == l["anchor"] for l in links)
    targets = {(texts[l["doc_id"]][:9], l["target_title"]) for l in links}
    assert ("Anarchism", "Political philosophy") in targets


def test_spark_reads_the_tables_with_the_derived_schema(real_run, spark):
    from schemas.spark import spark_schema
    warehouse, record = real_run
    for name in ("documents", "links", "redirects", "rejects"):
        df = spark.read.parquet(str(warehouse.table_path(name)))
        derived = spark_schema(name)
        assert [(f.name, f.dataType) for f in df.schema] == [(f.name, f.dataType) for f in derived]
        assert df.count() == record.outputs[name]


def test_in_process_runner_gives_the_same_tables(real_run, enwiki, elwiki, tmp_path):
    warehouse, record = real_run
    other = Warehouse(tmp_path / "wh")
    cfg = IngestConfig(direct_running_mode="in_memory", direct_num_workers=1)
    again = run_stage(cfg, StageContext(other, "real-2", str(tmp_path)), [str(enwiki), str(elwiki), str(NEWS_SAMPLE)])
    assert again.outputs == record.outputs
    for name, key in (("documents", "doc_id"), ("redirects", "from_title")):
        assert sorted(other.read(name, [key]).column(key).to_pylist()) == \
            sorted(warehouse.read(name, [key]).column(key).to_pylist())
