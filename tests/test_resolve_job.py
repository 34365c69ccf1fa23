"""The resolve stage on Spark + GraphFrames: hand-made batches with known merges and no-merges,
the Spark aggregations against the pure rules, and incremental runs."""
from __future__ import annotations

import shutil

import pyarrow.compute as pc
import pytest

from kgpipe.config import ResolveConfig
from kgpipe.graph.resolve import (
    alias_rows,
    edge_key,
    entity_id_for,
    evidence_sample,
    noisy_or,
)
from kgpipe.ids import stable_id
from kgpipe.manifest import new_run_id
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from tests.graphfactory import (
    document,
    link,
    make_warehouse,
    mention,
    triple,
    write_table,
)

pytestmark = pytest.mark.usefixtures("spark")


def run(spark, warehouse, **settings):
    from jobs.resolve import run_stage
    ctx = StageContext(warehouse, new_run_id(), str(warehouse.root / "_cache"))
    return run_stage(ResolveConfig(**settings), ctx, spark=spark)


def table(warehouse, name):
    return warehouse.read(name).to_pylist()


def entity_of(warehouse) -> dict[str, str]:
    return {r["mention_id"]: r["entity_id"] for r in table(warehouse, "mention_entities")}


# mentions of the first batch, by name
A = "docA"   # a wiki article about Sherlock Holmes
B = "docB"   # a news story on Apple and Tim Cook
C = "docC"   # a wiki article about James Cook
sherlock = mention(A, "Sherlock Holmes", "PERSON", 0)
holmes = mention(A, "Holmes", "PERSON", 40, sentence=1)
london = mention(A, "London", "GPE", 60, link="London", sentence=1)
baker = mention(A, "Baker Street", "FAC", 80, sentence=1)
a_date = mention(A, "1887", "DATE", 100, sentence=1)
apple_link = mention(A, "Apple", "ORG", 120, link="Apple Inc", sentence=2)
apple_b = mention(B, "Apple", "ORG", 0)
fruit_b = mention(B, "apple", "ORG", 30, sentence=1)          # an NER slip on the fruit
tim = mention(B, "Tim Cook", "PERSON", 50, sentence=2)
cook_b = mention(B, "Cook", "PERSON", 80, sentence=3)
london_b = mention(B, "London", "GPE", 90, sentence=3)
james = mention(C, "James Cook", "PERSON", 0)
cook_c = mention(C, "Cook", "PERSON", 30, sentence=1)
baker_c = mention(C, "Baker Street", "FAC", 50, sentence=1)
ibm_long = mention(C, "International Business Machines", "ORG", 70, sentence=2)
ibm_b = mention(B, "IBM", "ORG", 100, sentence=4)
MENTIONS = [sherlock, holmes, london, baker, a_date, apple_link, apple_b, fruit_b, tim, cook_b, london_b,
            james, cook_c, baker_c, ibm_long, ibm_b]
LINKS = [link(A, "London", "London", 60), link(A, "Apple", "Apple_Inc", 120),
         link(C, "the capital", "London", 70)]
REDIRECTS = [("Apple Inc", "Apple Inc."), ("Apple_Computer", "Apple Inc")]   # a double redirect
DOCUMENTS = [document(A, "A Study in Scarlet", day=1), document(B, "Apple news", kind="news", day=5),
             document(C, "James Cook", day=3)]
TRIPLES = [triple(sherlock, "live in", london), triple(holmes, "live in", london, confidence=0.5),
           triple(holmes, "live in", baker, sentence=1),
           triple(tim, "ceo of", apple_b, confidence=0.7), triple(cook_b, "ceo of", apple_b, confidence=0.9),
           triple(tim, "born in", "1960", object_type="date", qualifiers={"time": "1960"}),
           triple(james, "visit", london_b),                        # cross-document object
           triple(a_date, "precede", london)]                       # a literal as subject: rejected


@pytest.fixture(scope="module")
def resolved(spark, tmp_path_factory):
    warehouse = make_warehouse(tmp_path_factory.mktemp("resolve"), DOCUMENTS, MENTIONS, TRIPLES,
                               LINKS, REDIRECTS)
    record = run(spark, warehouse)
    return warehouse, record


def test_merges_and_non_merges(resolved):
    warehouse, _ = resolved
    ids = entity_of(warehouse)
    assert ids[sherlock["mention_id"]] == ids[holmes["mention_id"]]              # short form, in-document
    assert ids[tim["mention_id"]] == ids[cook_b["mention_id"]]
    assert ids[james["mention_id"]] == ids[cook_c["mention_id"]]
    assert ids[cook_b["mention_id"]] != ids[cook_c["mention_id"]]               # one surname, two people
    assert ids[london["mention_id"]] == ids[london_b["mention_id"]] == entity_id_for("London")
    # the company: an anchor through a double redirect, and a plain "Apple" linked by the alias table
    assert ids[apple_link["mention_id"]] == ids[apple_b["mention_id"]] == entity_id_for("Apple Inc.")
    assert ids[fruit_b["mention_id"]] != ids[apple_b["mention_id"]]              # lowercase: not a name
    assert ids[baker["mention_id"]] == ids[baker_c["mention_id"]]               # N:LOC:baker street
    assert a_date["mention_id"] not in ids                                      # literals are no entity


def test_mention_links_say_how(resolved):
    warehouse, _ = resolved
    rows = {r["mention_id"]: r for r in table(warehouse, "mention_entities")}
    assert rows[london["mention_id"]]["link_method"] == "anchor"
    assert rows[fruit_b["mention_id"]]["link_method"] == "unlinked"
    assert rows[apple_b["mention_id"]]["link_method"] == "alias"
    assert rows[apple_b["mention_id"]]["wiki_title"] == "Apple Inc."
    assert rows[london_b["mention_id"]]["link_method"] == "alias"
    assert rows[holmes["mention_id"]]["link_method"] == "unlinked"
    assert rows[holmes["mention_id"]]["link_score"] is None


def test_aliases_match_the_reference_rule(resolved):
    warehouse, _ = resolved
    expected = alias_rows([(x["anchor"], x["target_title"]) for x in LINKS],
                          [d["title"] for d in DOCUMENTS if d["source_kind"] == "wiki"], REDIRECTS)
    got = sorted((r["alias_key"], r["target_title"], r["count"], round(r["commonness"], 9))
                 for r in table(warehouse, "aliases"))
    assert got == sorted((r.alias_key, r.target_title, r.count, round(r.commonness, 9)) for r in expected)


def test_entities(resolved):
    warehouse, _ = resolved
    ents = {r["entity_id"]: r for r in table(warehouse, "entities")}
    ids = entity_of(warehouse)
    holmes_entity = ents[ids[holmes["mention_id"]]]
    assert holmes_entity["canonical_name"] == "Sherlock Holmes" and holmes_entity["entity_type"] == "PER"
    assert holmes_entity["wiki_title"] is None and holmes_entity["mention_count"] == 2
    assert sorted((a["alias"], a["count"]) for a in holmes_entity["aliases"]) == [("Holmes", 1), ("Sherlock Holmes", 1)]
    london_entity = ents[entity_id_for("London")]
    assert london_entity["canonical_name"] == "London" and london_entity["entity_type"] == "LOC"
    assert london_entity["mention_count"] == 2
    assert london_entity["first_seen"].day == 1 and london_entity["last_seen"].day == 5
    cook = ents[ids[cook_b["mention_id"]]]
    assert cook["canonical_name"] == "Tim Cook"                 # the long form, not the short one
    assert len(ents) == len(set(ids.values()))


def test_edges_are_deduplicated_with_evidence(resolved):
    warehouse, record = resolved
    ids = entity_of(warehouse)
    edges = {(r["subject_id"], r["predicate"], r["object_id"] or r["object_literal"]): r
             for r in table(warehouse, "edges")}
    lives = edges[(ids[sherlock["mention_id"]], "live in", entity_id_for("London"))]
    # two sentences say it: support 2, noisy-or of 0.6 and 0.5
    assert lives["support_count"] == 2 and lives["evidence_count"] == 2
    assert lives["confidence"] == pytest.approx(noisy_or([0.6, 0.5]))
    assert lives["edge_id"] == edge_key(ids[sherlock["mention_id"]], "live in", entity_id_for("London"), "entity")
    assert {e["doc_id"] for e in lives["evidence"]} == {A}
    ceo = edges[(ids[tim["mention_id"]], "ceo of", entity_id_for("Apple Inc."))]
    assert ceo["support_count"] == 2 and ceo["confidence"] == pytest.approx(noisy_or([0.7, 0.9]))
    born = edges[(ids[tim["mention_id"]], "born in", "1960")]
    assert born["object_id"] is None and born["object_type"] == "date" and born["qualifiers"] == [("time", "1960")]
    assert born["edge_id"] == edge_key(ids[tim["mention_id"]], "born in", "1960", "date", {"time": "1960"})
    assert (ids[james["mention_id"]], "visit", entity_id_for("London")) in edges
    assert len(edges) == 5
    # the literal-subject triple is a counted, explained reject, not a silent loss
    rejects = [r for r in table(warehouse, "rejects") if r["stage"] == "resolve"]
    assert [r["reason"] for r in rejects] == ["subject_not_entity"]
    assert record.rejects == 1 and record.details["rejects_by_reason"] == {"subject_not_entity": 1}
    assert sum(e["evidence_count"] for e in edges.values()) + len(rejects) == len(TRIPLES)


def test_spark_evidence_sample_and_noisy_or_equal_the_rules(spark):
    from pyspark.sql import functions as F

    from jobs.resolve import bottom_k, noisy_or_col
    from schemas.spark import spark_schema
    evidence = [{"doc_id": f"d{i % 4}", "sentence_index": i, "start": i, "end": i + 3, "sentence_text": "s"}
                for i in range(12)]
    evidence += evidence[:3]                                    # duplicates count once
    element = spark_schema("edges")["evidence"].dataType
    df = spark.createDataFrame([(evidence, [0.3, 0.9, 0.05, 0.5])],
                               f"ev {element.simpleString()}, c array<double>")
    row = df.select(bottom_k(F.col("ev"), 4).alias("s"), noisy_or_col(F.col("c")).alias("p")).first()
    assert [e.asDict() for e in row["s"]] == evidence_sample(evidence, 4)
    assert row["p"] == noisy_or([0.3, 0.9, 0.05, 0.5])


def test_rerun_changes_nothing(spark, resolved):
    warehouse, _ = resolved
    names = ("entities", "edges", "mention_entities", "aliases", "entity_keys")
    before = {name: sorted(map(repr, table(warehouse, name))) for name in names}
    versions = {name: warehouse.table_path(name).resolve() for name in names}
    record = run(spark, warehouse)
    assert record.details["incremental"] and record.details["new_mentions"] == 0
    assert record.status == "unchanged" and record.outputs["entities"] == len(before["entities"])
    assert {name: warehouse.table_path(name).resolve() for name in names} == versions   # nothing recommitted
    after = {name: sorted(map(repr, table(warehouse, name))) for name in names}
    assert after == before


def test_increment_equals_resolving_everything_at_once(spark, tmp_path, resolved):
    """Batch 2 is a story that writes "International Business Machines" and then "IBM" (an
    acronym: it merges two entities of batch 1) and mentions Tim Cook again. The increment
    merges into the existing graph and ends where resolving both batches at once ends."""
    D = "docD"
    ibm_long_d = mention(D, "International Business Machines", "ORG", 0)
    ibm_d = mention(D, "IBM", "ORG", 40, sentence=1)
    tim_d = mention(D, "Tim Cook", "PERSON", 60, sentence=1)
    batch2 = {"documents": [document(D, "IBM and Apple", kind="news", day=9)],
              "mentions": [ibm_long_d, ibm_d, tim_d],
              "triples_raw": [triple(tim_d, "visit", ibm_d, confidence=0.8),
                              triple(tim_d, "born in", "1960", object_type="date", qualifiers={"time": "1960"})],
              "links": []}
    # batch 1 resolved is the module's warehouse (tables are relative links, so a copy is a warehouse)
    incremental = Warehouse(tmp_path / "inc")
    shutil.copytree(resolved[0].root, incremental.root, symlinks=True)
    first_ids = entity_of(incremental)
    assert first_ids[ibm_long["mention_id"]] != first_ids[ibm_b["mention_id"]]
    for name, rows in batch2.items():
        write_table(incremental, name, rows, "v2")
    record = run(spark, incremental)
    assert record.details["incremental"] and record.details["new_mentions"] == 3
    assert record.details["merged_entities"] == 1

    together = make_warehouse(tmp_path / "all", DOCUMENTS + batch2["documents"], MENTIONS + batch2["mentions"],
                              TRIPLES + batch2["triples_raw"], LINKS, REDIRECTS)
    run(spark, together)
    inc_ids, all_ids = entity_of(incremental), entity_of(together)
    assert inc_ids == all_ids
    assert inc_ids[ibm_long["mention_id"]] == inc_ids[ibm_b["mention_id"]] == inc_ids[ibm_d["mention_id"]]
    assert inc_ids[tim_d["mention_id"]] == first_ids[tim["mention_id"]]          # stable id, counts updated

    def view(w, name, columns):
        return sorted(tuple(round(r[c], 12) if isinstance(r[c], float) else repr(r[c]) for c in columns)
                      for r in table(w, name))
    edge_columns = ["edge_id", "subject_id", "object_id", "support_count", "evidence_count", "confidence",
                    "evidence", "first_seen", "last_seen"]
    assert view(incremental, "edges", edge_columns) == view(together, "edges", edge_columns)
    entity_columns = ["entity_id", "canonical_name", "entity_type", "aliases", "type_votes", "mention_count",
                      "first_seen", "last_seen"]
    assert view(incremental, "entities", entity_columns) == view(together, "entities", entity_columns)
    born = [r for r in table(incremental, "edges") if r["predicate"] == "born in"]
    assert len(born) == 1 and born[0]["support_count"] == 2
    tim_entity = [r for r in table(incremental, "entities") if r["entity_id"] == inc_ids[tim_d["mention_id"]]]
    assert tim_entity[0]["mention_count"] == 3 and tim_entity[0]["last_seen"].day == 9


def test_oversized_component_is_split(spark, tmp_path):
    """Eight documents each say "Acme" and "Acme Corp" (same-name keys); with max 4 vertices per
    entity the guard drops the cross-document name edges and keeps each document's own merge."""
    docs, mentions = [], []
    for i in range(8):
        d = f"doc{i}"
        docs.append(document(d, f"Story {i}", kind="news"))
        mentions += [mention(d, "Acme Corp", "ORG", 0), mention(d, "Acme", "ORG", 20)]
    warehouse = make_warehouse(tmp_path, docs, mentions, [])
    record = run(spark, warehouse, max_component_size=4)
    ids = entity_of(warehouse)
    assert record.details["largest_entity_vertices"] <= 4
    for i in range(8):
        d = f"doc{i}"
        assert ids[stable_id(d, 0, 9)] == ids[stable_id(d, 20, 24)]
    assert len(set(ids.values())) > 1


def test_missing_input_is_a_clear_error(spark, tmp_path):
    from kgpipe.warehouse import Warehouse
    with pytest.raises(FileNotFoundError, match="run `kgpipe ingest` and `kgpipe extract` first"):
        run(spark, Warehouse(tmp_path))


def test_linked_share_figures(resolved):
    warehouse, record = resolved
    methods = record.details["link_methods"]
    assert sum(methods.values()) == len(MENTIONS) - 1                # all but the date
    assert pc.sum(warehouse.read("entities").column("mention_count")).as_py() == len(MENTIONS) - 1
