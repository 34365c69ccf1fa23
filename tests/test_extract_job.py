"""The Spark extraction job in local mode: tables, provenance, rejects, reruns, partitioning."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from kgpipe.config import ExtractConfig
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from tests.dumpfactory import ingest_small_corpus


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Warehouse:
    return ingest_small_corpus(tmp_path_factory.mktemp("extract"))


@pytest.fixture(scope="module")
def extracted(ingested, spark):
    from jobs.extract import run_stage
    record = run_stage(ExtractConfig(), StageContext(ingested, "extract-1", str(ingested.root)), spark=spark)
    return ingested, record


def test_tables_match_their_schemas_and_counts(extracted):
    warehouse, record = extracted
    for name in ("mentions", "triples_raw", "rejects"):
        assert Warehouse.check_schema(name, warehouse.table_path(name)) == record.outputs[name] > 0
    assert record.inputs == {"documents": 11}  # 3 wiki pages and 8 news stories


def test_link_anchors_are_mentions_with_their_target(extracted):
    warehouse, _ = extracted
    docs = {d["doc_id"]: d for d in warehouse.read("documents").to_pylist()}
    mentions = warehouse.read("mentions").to_pylist()
    linked = {(m["text"], m["link_target"]) for m in mentions if m["origin"] == "link"}
    assert {("mathematician", "Mathematician"), ("Analytical Engine", "Analytical Engine")} <= linked
    for m in mentions:
        assert docs[m["doc_id"]]["text"][m["start"]:m["end"]] == m["text"]


def test_facts_with_provenance(extracted):
    warehouse, _ = extracted
    triples = warehouse.read("triples_raw").to_pylist()
    facts = {(t["subject"], t["predicate"], t["object"]) for t in triples}
    # "X founded Y" is the vocabulary's founder(Y, X); the surface predicate stays beside it
    assert {("Apple", "founder", "Steve Jobs"), ("Apple", "founder", "Steve Wozniak"),
            ("Apple", "founder", "Ronald Wayne")} <= facts
    assert {t["surface_predicate"] for t in triples if t["predicate"] == "founder"} == {"found"}
    [born] = [t for t in triples if t["predicate"] == "birthPlace" and t["object"] == "London"]
    assert dict(born["qualifiers"]) == {"time": "1815"}
    assert born["sentence_text"] == "She was born in London in 1815."
    assert born["extractor"] == "kgpipe-dep" and 0 < born["confidence"] <= 1
    assert all(0 <= t["confidence"] <= 1 for t in triples)


def test_personal_data_is_masked_in_everything_extract_stores(extracted):
    warehouse, _ = extracted
    stored = json.dumps(warehouse.read("mentions").to_pylist() + warehouse.read("triples_raw").to_pylist(),
                        default=str)
    assert "ada@example.org" not in stored and "7946" not in stored


def test_rejects_keep_ingest_rows_and_add_extract_rows(extracted, spark):
    warehouse, _ = extracted
    reasons = Counter((r["stage"], r["reason"]) for r in warehouse.read("rejects").to_pylist())
    assert reasons[("ingest", "invalid_json")] == 1
    assert reasons[("extract", "unsupported_script")] == 1  # Greek text in a dump that says xml:lang="en"
    from jobs.extract import run_stage
    run_stage(ExtractConfig(), StageContext(warehouse, "extract-2", str(warehouse.root)), spark=spark)
    again = Counter((r["stage"], r["reason"]) for r in warehouse.read("rejects").to_pylist())
    assert again == reasons  # a rerun replaces its own rows, it does not add to them


def test_rerun_reproduces_ids(extracted, spark):
    warehouse, _ = extracted
    before = sorted(warehouse.read("triples_raw", ["triple_id"]).column("triple_id").to_pylist())
    from jobs.extract import run_stage
    run_stage(ExtractConfig(), StageContext(warehouse, "extract-3", str(warehouse.root)), spark=spark)
    assert sorted(warehouse.read("triples_raw", ["triple_id"]).column("triple_id").to_pylist()) == before


def test_partitions_are_sized_by_text_length(spark):
    from pyspark.sql import functions as F

    from jobs.extract import balance_by_length
    rows = [(f"d{i}", "x" * (50_000 if i < 2 else 500)) for i in range(200)]  # two huge docs, many small
    df = spark.createDataFrame(rows, "doc_id string, text string").repartition(3)
    balanced = balance_by_length(df, "text", 50_000)
    sizes = (balanced.select(F.spark_partition_id().alias("p"), F.length("text").alias("n"))
             .groupBy("p").agg(F.sum("n").alias("chars")).collect())
    total = sum(r["chars"] for r in sizes)
    assert total == 2 * 50_000 + 198 * 500 and len(sizes) >= 3
    assert max(r["chars"] for r in sizes) <= 2 * 50_000
    assert balanced.count() == 200


def test_missing_input_table_is_a_clear_error(tmp_path: Path, spark):
    from jobs.extract import run_stage
    with pytest.raises(FileNotFoundError, match="run `kgpipe ingest` first"):
        run_stage(ExtractConfig(), StageContext(Warehouse(tmp_path), "x", str(tmp_path)), spark=spark)
