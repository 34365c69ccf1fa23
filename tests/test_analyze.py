"""The analyze stage on a hand-made graph: degrees, components, communities, PageRank."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kgpipe.config import AnalyzeConfig
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from schemas import arrow_schema

# Group A: hub a0 and a1..a4, each pair linked (undirected: K5). Every a_i links to a0 and a0 to
# every a_i, but each a_i has 2-3 out-links to share its rank, a0 sends each a_i only a quarter.
# Group B: b1..b4, every pair linked from the smaller to the larger id (undirected: K4).
# z: no edges. Nothing links A and B.
A_EDGES = [("a1", "a0"), ("a2", "a0"), ("a3", "a0"), ("a4", "a0"),
           ("a0", "a1"), ("a0", "a2"), ("a0", "a3"), ("a0", "a4"),
           ("a1", "a2"), ("a2", "a3"), ("a3", "a4"), ("a4", "a1"), ("a1", "a3"), ("a2", "a4")]
B_EDGES = [("b1", "b2"), ("b1", "b3"), ("b1", "b4"), ("b2", "b3"), ("b2", "b4"), ("b3", "b4")]
ENTITIES = ["a0", "a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "z"]


def _commit(warehouse: Warehouse, name: str, rows: list[dict], folder: Path) -> None:
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(name)), folder / "part-0.parquet")
    warehouse.commit(name, folder, "v1")


def _edge(edge_id: str, subject: str, obj: str | None, literal: str | None = None) -> dict:
    return {"edge_id": edge_id, "subject_id": subject, "predicate": "link to", "object_id": obj,
            "object_literal": literal, "object_type": "entity" if obj else "date", "support_count": 1,
            "confidence": 0.9, "evidence_count": 1}


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("analyze")
    warehouse = Warehouse(root / "wh")
    _commit(warehouse, "entities", [{"entity_id": e, "canonical_name": e.upper(), "mention_count": 1}
                                    for e in ENTITIES], root / "entities")
    edges = [_edge(f"e{i}", s, o) for i, (s, o) in enumerate(A_EDGES + B_EDGES)]
    edges += [_edge("lit", "z", None, "1815"),       # a literal: no graph edge, z stays isolated
              _edge("ghost-object", "b1", "ghost"),  # endpoints that are no entity: left out, counted
              _edge("ghost-subject", "ghost", "a0")]
    _commit(warehouse, "edges", edges, root / "edges")
    from jobs.analyze import run_stage
    record = run_stage(AnalyzeConfig(), StageContext(warehouse, "analyze-1", str(root)), spark=spark)
    stats = {row["entity_id"]: row for row in warehouse.read("entity_stats").to_pylist()}
    return warehouse, record, stats


def test_one_row_per_entity_matching_the_schema(analyzed):
    warehouse, record, stats = analyzed
    assert sorted(stats) == ENTITIES
    assert record.outputs == {"entity_stats": 10}
    assert Warehouse.check_schema("entity_stats", warehouse.table_path("entity_stats")) == 10


def test_degrees_count_entity_edges_only(analyzed):
    _, _, stats = analyzed
    degrees = {e: (row["in_degree"], row["out_degree"]) for e, row in stats.items()}
    assert degrees == {"a0": (4, 4), "a1": (2, 3), "a2": (2, 3), "a3": (3, 2), "a4": (3, 2),
                       "b1": (0, 3), "b2": (1, 2), "b3": (2, 1), "b4": (3, 0), "z": (0, 0)}


def test_components_are_named_by_their_smallest_entity_id(analyzed):
    _, _, stats = analyzed
    components = {e: (row["component_id"], row["component_size"]) for e, row in stats.items()}
    assert components == {**{a: ("a0", 5) for a in ENTITIES[:5]}, **{b: ("b1", 4) for b in ENTITIES[5:9]},
                          "z": ("z", 1)}


def test_two_cliques_are_two_communities_and_the_isolated_entity_its_own(analyzed):
    _, _, stats = analyzed
    assert {e: row["community_id"] for e, row in stats.items()} == {
        **{a: "a0" for a in ENTITIES[:5]}, **{b: "b1" for b in ENTITIES[5:9]}, "z": "z"}


def test_pagerank_puts_the_hub_first(analyzed):
    _, record, stats = analyzed
    ranks = {e: row["pagerank"] for e, row in stats.items()}
    assert max(ranks, key=ranks.get) == "a0"
    # nothing points at z or b1: both keep only the reset share, the smallest rank there is
    assert ranks["z"] == pytest.approx(ranks["b1"]) == pytest.approx(min(ranks.values()))
    assert sum(ranks.values()) == pytest.approx(len(ENTITIES))  # GraphX scales ranks to sum to N
    assert record.details["top_pagerank"][0] == {"entity_id": "a0", "pagerank": ranks["a0"]}
    assert len(record.details["top_pagerank"]) == 5


def test_record_summarizes_the_graph_and_counts_left_out_edges(analyzed):
    _, record, _ = analyzed
    assert record.details["components"] == 3 and record.details["largest_component_size"] == 5
    assert record.details["communities"] == 3
    assert record.details["edges_used"] == len(A_EDGES) + len(B_EDGES)
    assert record.details["edges_left_out"] == {"unknown_object": 1, "unknown_subject": 1}
    assert record.rejects == 2
    assert record.inputs == {"entities": 10, "edges": len(A_EDGES) + len(B_EDGES) + 3}


def test_missing_input_table_is_a_clear_error(tmp_path):
    from jobs.analyze import run_stage
    with pytest.raises(FileNotFoundError, match="kgpipe resolve"):
        run_stage(AnalyzeConfig(), StageContext(Warehouse(tmp_path), "analyze-x", str(tmp_path)), spark=object())
