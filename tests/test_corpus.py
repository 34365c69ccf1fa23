"""A corpus that accumulates: daily ingest runs merge by key (kgpipe/ingest/merge.py), a revised page replaces
its facts, and ``kgpipe forget`` removes a document and what was derived from it (kgpipe/forget.py).

The Beam-only checks run on a few news stories; one Spark walk (extract and resolve over two small days, a
forget, and an index over hand-made vectors) checks the derived tables and the service."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from kgpipe.config import ExtractConfig, IndexConfig, IngestConfig, ResolveConfig
from kgpipe.datasets import NEWS_SAMPLE
from kgpipe.forget import LEDGER, forget
from kgpipe.manifest import new_run_id
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse

STORIES = [json.loads(line) for line in NEWS_SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
APPLE = STORIES[0]            # kg-0001: Tim Cook, Apple, Cupertino
REVISED = {**STORIES[1], "published": "2024-04-20T10:00:00Z",
           "text": "The exhibition on Marie Curie opened in Warsaw. Marie Curie was born in Warsaw in 1867."}


def write_day(folder: Path, name: str, stories: list[dict]) -> str:
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(story) + "\n" for story in stories), encoding="utf-8")
    return str(path)


def ingest(warehouse: Warehouse, inputs: list[str], **settings):
    from pipelines.ingest import run_stage
    cfg = IngestConfig(direct_running_mode="in_memory", direct_num_workers=1, **settings)
    return run_stage(cfg, StageContext(warehouse, new_run_id(), str(warehouse.root / "_cache")), inputs)


def doc_ids(warehouse: Warehouse, table: str = "documents") -> set[str]:
    return set(warehouse.read(table, ["doc_id"])["doc_id"].to_pylist())


def by_native(warehouse: Warehouse) -> dict[str, str]:
    rows = warehouse.read("documents", ["doc_id", "native_id"]).to_pylist()
    return {row["native_id"]: row["doc_id"] for row in rows}


# --------------------------------------------------------------------------- ingest only (Beam, pyarrow)

def test_daily_runs_accumulate_and_a_rerun_duplicates_nothing(tmp_path: Path):
    warehouse = Warehouse(tmp_path / "wh", keep_versions=2)
    day1 = write_day(tmp_path, "day1", STORIES[:3])
    day2 = write_day(tmp_path, "day2", STORIES[3:5])
    first = ingest(warehouse, [day1])
    assert first.outputs["documents"] == 3 and first.details["merge"]["this_run"] == 3
    second = ingest(warehouse, [day2])
    assert set(by_native(warehouse)) == {s["id"] for s in STORIES[:5]}
    assert second.details["merge"] | {"carried": None} == {
        "mode": "accumulate", "this_run": 2, "blocked": 0, "previous_documents": 3, "added": 2, "reingested": 0,
        "replaced_revisions": 0, "replaced_doc_ids": [], "older_than_committed": 0, "documents": 5, "carried": None}
    # the same day again, then a third day: nothing doubles, keep_versions does not lose a day
    ingest(warehouse, [day2])
    third = ingest(warehouse, [write_day(tmp_path, "day3", STORIES[5:6])])
    assert third.outputs["documents"] == 6 and warehouse.count("documents") == 6
    assert len(doc_ids(warehouse)) == 6


def test_a_revised_page_replaces_its_older_revision_and_an_older_one_does_not(tmp_path: Path):
    warehouse = Warehouse(tmp_path / "wh")
    ingest(warehouse, [write_day(tmp_path, "day1", STORIES[:2])])
    old = by_native(warehouse)[REVISED["id"]]
    record = ingest(warehouse, [write_day(tmp_path, "day2", [REVISED])])
    new = by_native(warehouse)[REVISED["id"]]
    assert new != old and doc_ids(warehouse) == {by_native(warehouse)[APPLE["id"]], new}
    assert record.details["merge"]["replaced_doc_ids"] == [old]
    assert "1 documents replaced" in warehouse.rebuild_requested("resolve")   # the graph holds its facts
    [text] = warehouse.read("documents").filter(pc.field("doc_id") == new)["text"].to_pylist()
    assert "born in Warsaw" in text
    # yesterday's export arriving late does not bring the older revision back
    late = ingest(warehouse, [write_day(tmp_path, "late", [STORIES[1]])])
    assert by_native(warehouse)[REVISED["id"]] == new and late.details["merge"]["older_than_committed"] == 1
    assert warehouse.count("documents") == 2


def test_replace_mode_keeps_this_runs_input_only(tmp_path: Path):
    warehouse = Warehouse(tmp_path / "wh")
    ingest(warehouse, [write_day(tmp_path, "day1", STORIES[:3])], mode="replace")
    ingest(warehouse, [write_day(tmp_path, "day2", STORIES[3:4])], mode="replace")
    assert set(by_native(warehouse)) == {STORIES[3]["id"]}


def test_forget_removes_documents_and_keeps_them_out_of_later_runs(tmp_path: Path, capsys):
    from kgpipe.cli import main
    warehouse = Warehouse(tmp_path / "wh", keep_versions=3)
    day1 = write_day(tmp_path, "day1", STORIES[:3])
    ingest(warehouse, [day1])
    ingest(warehouse, [day1])
    gone = by_native(warehouse)[APPLE["id"]]
    assert main(["forget", "--url", APPLE["url"], "--reason", "takedown request 42",
                 "--warehouse", str(warehouse.root)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["doc_ids"] == [gone] and result["rows_removed"]["documents"] == 1
    assert result["rows_removed"]["links"] == 0 and result["full_resolve_requested"]
    assert gone not in doc_ids(warehouse) and warehouse.count("documents") == 2
    # erasure: no older version of documents holds the text any more
    versions = list((warehouse.root / "_versions" / "documents").iterdir())
    assert [p.name for p in versions if p.is_dir()] == [warehouse.current_version("documents")]
    [entry] = [json.loads(line) for line in (warehouse.root / LEDGER).read_text().splitlines()]
    assert entry["reason"] == "takedown request 42" and entry["urls"] == [APPLE["url"]]
    manifest = json.loads((warehouse.root / "_manifests" / f"{result['run_id']}.json").read_text())
    assert manifest["stages"]["forget"]["details"]["doc_ids"] == [gone]
    assert warehouse.rebuild_requested("resolve")
    # the same export again: the forgotten story stays out
    again = ingest(warehouse, [day1])
    assert gone not in doc_ids(warehouse) and again.details["merge"]["blocked"] == 1
    assert main(["forget", "--warehouse", str(warehouse.root)]) == 2    # names nothing: an error
    nothing = forget(warehouse, "forget-2", doc_ids=["0" * 32])
    assert nothing["doc_ids"] == [] and nothing["rows_removed"] == {}


# --------------------------------------------------------------------------- the derived tables (Spark)

def extract_and_resolve(warehouse: Warehouse, spark, extract: bool = True, **extract_settings) -> dict:
    """Runs extract (unless told not to) and resolve; returns resolve's details and extract's record in
    ``extract``."""
    from jobs.extract import run_stage as run_extract
    from jobs.resolve import run_stage as run_resolve
    extracted = run_extract(ExtractConfig(**extract_settings), StageContext(warehouse, new_run_id(),
                                                                           str(warehouse.root)),
                            spark=spark) if extract else None
    details = run_resolve(ResolveConfig(), StageContext(warehouse, new_run_id(), str(warehouse.root)),
                          spark=spark).details
    return {**details, "extract": extracted}


def evidence_docs(warehouse: Warehouse) -> set[str]:
    return {e["doc_id"] for row in warehouse.read("edges", ["evidence"]).to_pylist() for e in row["evidence"]}


def facts_of(warehouse: Warehouse, doc_id: str) -> dict[str, int]:
    """Rows naming ``doc_id`` in every table that holds a document's rows or facts."""
    counts = {name: doc_ids(warehouse, name).intersection({doc_id}).__len__()
              for name in ("documents", "links", "mentions", "triples_raw", "mention_entities")}
    counts["edges"] = int(doc_id in evidence_docs(warehouse))
    return counts


def index_and_load(warehouse: Warehouse, run_id: str):
    from jobs.index import run_stage
    from kgpipe.serve.kg import KnowledgeGraph
    from tests.test_index import commit_vectors
    ids = warehouse.read("entities", ["entity_id"])["entity_id"].to_pylist()
    vectors = np.random.default_rng(0).normal(size=(len(ids), 4))
    commit_vectors(warehouse, "embeddings", ids, vectors, run_id=run_id, version=run_id)
    predicates = sorted(set(warehouse.read("edges", ["predicate"])["predicate"].to_pylist()))
    commit_vectors(warehouse, "relation_embeddings", predicates, np.ones((len(predicates), 4)), run_id=run_id,
                   version=run_id)
    # the FAISS bundle and graph store only: a text index (where the index stage builds one) is not what is checked
    settings = {"text": False} if "text" in IndexConfig.model_fields else {}
    run_stage(IndexConfig(**settings), StageContext(warehouse, run_id, str(warehouse.root / "_cache")))
    return KnowledgeGraph.load(warehouse.root)


def cited_documents(kg, name: str) -> dict[str, dict]:
    """The documents the service cites for the facts of the entity named ``name``."""
    out = {}
    for hit in kg.search(name, 3):
        card = kg.entity_card(hit["entity_id"], facts_limit=1000) or {}
        out.update({d["doc_id"]: d for d in card.get("documents", ())})
    return out


def test_two_days_a_revision_and_a_forget_through_extract_resolve_and_the_service(tmp_path: Path, spark):
    warehouse = Warehouse(tmp_path / "wh", keep_versions=2)
    ingest(warehouse, [write_day(tmp_path, "day1", STORIES[:2])])
    extract_and_resolve(warehouse, spark)
    day1 = by_native(warehouse)
    apple, old_curie = day1[APPLE["id"]], day1[REVISED["id"]]
    assert apple in evidence_docs(warehouse) and old_curie in evidence_docs(warehouse)

    ingest(warehouse, [write_day(tmp_path, "day2", [STORIES[2], REVISED])])
    # extract.incremental (configs/news-daily.yaml): only the day's two new documents go through spaCy
    details = extract_and_resolve(warehouse, spark, incremental=True)
    assert details["extract"].inputs == {"documents": 2} and details["extract"].details["incremental"]
    day2 = by_native(warehouse)
    new_curie = day2[REVISED["id"]]
    # the union of both days, the revised story once, in its new revision
    assert set(day2) == {APPLE["id"], REVISED["id"], STORIES[2]["id"]} and new_curie != old_curie
    assert "1 documents replaced by a newer revision" in details["full_rebuild_because"]
    assert details["incremental"] is False and not warehouse.rebuild_requested("resolve")
    # every edge's evidence names a document that exists; the old revision's facts are gone everywhere
    assert evidence_docs(warehouse) <= doc_ids(warehouse)
    assert facts_of(warehouse, old_curie) == dict.fromkeys(("documents", "links", "mentions", "triples_raw",
                                                            "mention_entities", "edges"), 0)
    assert new_curie in doc_ids(warehouse, "triples_raw") and new_curie in evidence_docs(warehouse)
    # day 1's fact is still answered, with its title and URL
    kg = index_and_load(warehouse, "idx-1")
    cited = cited_documents(kg, "Apple")
    assert cited[apple]["title"] == APPLE["title"] and cited[apple]["url"] == APPLE["url"]

    # a takedown of day 1's Apple story
    result = forget(warehouse, new_run_id(), doc_ids=[apple], reason="erasure request")
    assert result["doc_ids"] == [apple] and result["rows_removed"]["triples_raw"] > 0
    assert facts_of(warehouse, apple) == dict.fromkeys(("documents", "links", "mentions", "triples_raw",
                                                        "mention_entities", "edges"), 0)
    # forget already took the story's rows out of mentions and triples_raw: extract would write the same
    details = extract_and_resolve(warehouse, spark, extract=False)
    assert details["full_rebuild_because"].startswith("requested") and not warehouse.rebuild_requested("resolve")
    assert evidence_docs(warehouse) <= doc_ids(warehouse) and apple not in evidence_docs(warehouse)
    assert all(row["evidence"] for row in warehouse.read("edges", ["evidence"]).to_pylist())
    kg = index_and_load(warehouse, "idx-2")
    assert apple not in cited_documents(kg, "Apple") and apple not in cited_documents(kg, "Tim Cook")
