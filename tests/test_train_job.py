"""The train stage: edges in, embeddings that join back to entities out; held-out MRR; distributed
training through TorchDistributor (2 gloo processes) learns as well as one process."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.train import run_stage
from kgpipe.config import TrainConfig
from kgpipe.embed.graph import graph_triples, holdout, holdout_sizes
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from tests.graphfactory import write_table

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def entity(entity_id: str) -> dict:
    return {"entity_id": entity_id, "canonical_name": entity_id.upper(), "entity_type": "THING", "aliases": [],
            "wiki_title": None, "mention_count": 1, "first_seen": None, "last_seen": None}


def edge(s: str, p: str, o: str | None, support: int = 2, confidence: float = 0.9, literal: str | None = None,
         qualifiers: dict | None = None) -> dict:
    return {"edge_id": f"{s}|{p}|{o or literal}|{sorted((qualifiers or {}).items())}", "subject_id": s,
            "predicate": p, "object_id": o, "object_literal": literal,
            "object_type": "entity" if o else "string", "qualifiers": list((qualifiers or {}).items()),
            "support_count": support, "confidence": confidence, "first_seen": None, "last_seen": None,
            "evidence": [], "evidence_count": support}


def triangles(m: int) -> list[dict]:
    """m disjoint triangles a -f-> b -g-> c, a -h-> c: a held-out edge follows from its triangle's others."""
    return [edge(f"{x}{i:03d}", p, f"{y}{i:03d}") for i in range(m)
            for x, p, y in (("a", "f", "b"), ("b", "g", "c"), ("a", "h", "c"))]


def warehouse_with(tmp_path, edges: list[dict], entity_ids: list[str]) -> Warehouse:
    warehouse = Warehouse(tmp_path / "wh", keep_versions=1)
    write_table(warehouse, "entities", [entity(e) for e in entity_ids])
    write_table(warehouse, "edges", edges)
    return warehouse


def ctx(warehouse: Warehouse, run_id: str) -> StageContext:
    return StageContext(warehouse, run_id, str(warehouse.root / "cache"))


#: learns the triangles in a few seconds on one thread
FAST = dict(dim=8, p=2, gamma=0.0, normalize_entities=False, margin=1.0, num_negs=16, chunk_size=8, batch_size=32,
            lr=0.05, sampler="bernoulli", epochs=40, num_threads=1, device="cpu", holdout_min_triples=100,
            test_share=0.05)


def test_graph_triples_id_maps_duplicates_and_unknown_entities():
    edges = pa.Table.from_pylist([
        {"edge_id": "1", "subject_id": "q2", "predicate": "born_in", "object_id": "q1"},
        {"edge_id": "2", "subject_id": "q2", "predicate": "born_in", "object_id": "q1"},   # other qualifiers
        {"edge_id": "3", "subject_id": "q1", "predicate": "capital_of", "object_id": "q10"},
        {"edge_id": "4", "subject_id": "q1", "predicate": "named", "object_id": None},     # a literal
        {"edge_id": "5", "subject_id": "ghost", "predicate": "born_in", "object_id": "q1"},
    ])
    g = graph_triples(edges, pa.array(["q1", "q10", "q2", "q3"]))
    assert g.entities.to_pylist() == ["q1", "q10", "q2"]       # byte order; q3 has no edge
    assert g.relations.to_pylist() == ["born_in", "capital_of"]
    assert g.triples.tolist() == [[0, 1, 1], [2, 0, 0]]
    assert g.duplicates == 1
    assert g.rejected.to_pylist() == [{"edge_id": "5", "subject_id": "ghost", "predicate": "born_in",
                                       "object_id": "q1", "reason": "unknown_entity"}]


def test_holdout_keeps_every_held_out_triple_covered_by_training():
    # a 3-cycle with a chord, and an isolated edge 3 -r1-> 4: only 2 of the 4 cycle edges can go
    # (the rest must still touch 0, 1 and 2), never 3 -> 4
    triples = np.array([[0, 0, 1], [1, 0, 2], [2, 0, 0], [0, 0, 2], [3, 1, 4]], dtype=np.int64)
    for seed in range(6):
        valid, test, train = holdout(triples, 5, 2, (1, 3), seed=seed)
        assert (len(valid), len(test), len(train)) == (1, 1, 3)
        held = np.concatenate([valid, test])
        assert [3, 1, 4] in train.tolist()
        assert set(held[:, [0, 2]].ravel()) <= set(train[:, [0, 2]].ravel())
        assert set(held[:, 1]) <= set(train[:, 1])
        assert sorted(np.concatenate([held, train]).tolist()) == sorted(triples.tolist())
    assert [len(x) for x in holdout(triples, 5, 2, (0, 7))] == [0, 2, 3]
    assert holdout_sizes(1000, 0.05, 0.02, 200, 30) == (20, 30)
    assert holdout_sizes(150, 0.05, 0.02, 200, 30) == (0, 0)


def test_stage_writes_embeddings_that_join_entities(tmp_path):
    edges = triangles(40) + [
        edge("a000", "f", "b000", qualifiers={"time": "2011"}),     # same triple again: merged
        edge("a001", "f", "ghost"),                                  # unknown entity: rejected
        edge("a002", "named", None, literal="Ann"),                  # literal: not trained on
        edge("a003", "g", "c004", support=1),                        # below min_support
        edge("a003", "h", "c005", confidence=0.1),                   # below min_confidence
    ]
    ids = sorted({e["subject_id"] for e in triangles(40)} | {e["object_id"] for e in triangles(40)})
    warehouse = warehouse_with(tmp_path, edges, ids + ["lonely"])
    cfg = TrainConfig(**FAST, min_support=2, min_confidence=0.5)
    record = run_stage(cfg, ctx(warehouse, "r1"))

    d = record.details
    assert d["left_out"] == {"edges": 125, "literal_object": 1, "below_min_support_or_confidence": 2,
                             "unknown_entity": 1, "duplicate_triples_merged": 1}
    assert d["triples"] == {"train": 114, "valid": 0, "test": 6}    # 120 triples, 5% held out
    assert (d["entities"], d["relations"], d["processes"], d["device"]) == (120, 3, 1, "cpu")
    assert d["test"]["num_ranks"] == 12 and d["test"]["mrr"] > 0.5, d["test"]   # random ranking: about 0.04
    assert d["triples_per_second"] > 0 and d["epochs_run"] == 40
    assert record.outputs["embeddings"] == 120 and record.outputs["relation_embeddings"] == 3
    assert record.rejects == 1

    emb = warehouse.read("embeddings")
    assert sorted(emb["entity_id"].to_pylist()) == ids                  # 'lonely' has no edge, no vector
    assert set(emb["entity_id"].to_pylist()) <= set(warehouse.read("entities")["entity_id"].to_pylist())
    assert {len(v) for v in emb["vector"].to_pylist()} == {8}
    assert set(emb["model"].to_pylist()) == {"transe"} and set(emb["run_id"].to_pylist()) == {"r1"}
    rel = warehouse.read("relation_embeddings")
    assert rel["predicate"].to_pylist() == ["f", "g", "h"]
    rejects = warehouse.read("rejects").to_pylist()
    assert [(r["stage"], r["reason"], r["native_id"]) for r in rejects] == [("train", "unknown_entity",
                                                                              edges[121]["edge_id"])]

    model = warehouse.root / "models" / "r1"
    assert sorted(p.name for p in model.iterdir()) == ["checkpoint.pt", "config.json", "entity_ids.parquet",
                                                       "metrics.json", "relation_ids.parquet", "triples.npz"]
    assert d["model_dir"] == "models/r1"
    # row i of the checkpoint is entity_ids[i]; the table carries the same vector for that id
    import torch
    state = torch.load(model / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 40
    rows = pq.read_table(model / "entity_ids.parquet").to_pylist()
    by_id = dict(zip(emb["entity_id"].to_pylist(), emb["vector"].to_pylist()))
    for row in (rows[0], rows[77]):
        assert np.allclose(state["model"]["entity.weight"][row["row"]].numpy(), by_id[row["entity_id"]])
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["test"] == d["test"] and len(metrics["history"]) == 40
    assert metrics["history"][-1]["loss"] == d["final_loss"] < metrics["history"][0]["loss"] / 2

    # same seed, same graph: the same vectors (a new run id, the older model folder kept)
    again = run_stage(cfg, ctx(warehouse, "r2"))
    emb2 = warehouse.read("embeddings")
    assert emb2["vector"].to_pylist() == emb["vector"].to_pylist()
    assert again.details["test"]["mrr"] == d["test"]["mrr"]
    assert sorted(p.name for p in (warehouse.root / "models").iterdir()) == ["r1", "r2"]


def test_stage_without_entity_edges_writes_empty_tables(tmp_path):
    warehouse = warehouse_with(tmp_path, [edge("a", "named", None, literal="A")], ["a"])
    record = run_stage(TrainConfig(**FAST), ctx(warehouse, "r1"))
    assert record.outputs == {"embeddings": 0, "relation_embeddings": 0, "rejects": 0}
    assert "no entity-to-entity edges" in record.details["message"]
    assert record.details["left_out"]["literal_object"] == 1
    assert warehouse.count("embeddings") == 0 and not (warehouse.root / "models").exists()


def test_stage_without_edges_table_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="kgpipe resolve"):
        run_stage(TrainConfig(**FAST), ctx(Warehouse(tmp_path), "r1"))


def test_tiny_graph_trains_without_held_out_slice(tmp_path):
    warehouse = warehouse_with(tmp_path, [edge("a", "knows", "b"), edge("b", "knows", "a")], ["a", "b"])
    record = run_stage(TrainConfig(**{**FAST, "epochs": 3}), ctx(warehouse, "r1"))
    assert record.outputs["embeddings"] == 2 and record.details["triples"]["test"] == 0
    assert "no held-out slice" in record.details["test"]


def test_two_gloo_processes_learn_as_well_as_one(tmp_path, spark):
    """TorchDistributor (local mode) starts 2 CPU processes; each takes half of every global batch."""
    warehouse = warehouse_with(tmp_path, triangles(60), sorted({e["subject_id"] for e in triangles(60)}
                                                                | {e["object_id"] for e in triangles(60)}))
    one = run_stage(TrainConfig(**FAST), ctx(warehouse, "one"), spark=spark).details
    two = run_stage(TrainConfig(**FAST, num_processes=2, backend="gloo"), ctx(warehouse, "two"), spark=spark).details
    assert two["processes"] == 2 and one["processes"] == 1
    assert two["triples"] == one["triples"] == {"train": 171, "valid": 0, "test": 9}
    assert two["replicas_identical"] is True
    assert one["test"]["mrr"] > 0.6 and two["test"]["mrr"] > one["test"]["mrr"] - 0.1, (one["test"], two["test"])


def test_configuration_does_not_load_torch():
    out = subprocess.run([sys.executable, "-c", "import sys, kgpipe.config; print(sorted(m for m in sys.modules "
                          "if m == 'torch' or m.startswith('torch.')))"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
