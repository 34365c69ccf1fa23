"""The index stage: a FAISS bundle over hand-made embeddings answers nearest-neighbour and link-prediction
queries, measures its own recall, and is versioned through indexes/CURRENT."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.index import run_stage
from kgpipe.config import IndexConfig
from kgpipe.serve.index import BundleError, IndexBundle, choose_factory, link_query
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from schemas import arrow_schema


def commit_vectors(warehouse: Warehouse, name: str, keys: list[str], vectors, model: str = "transe",
                   run_id: str = "train-1", version: str = "v1") -> None:
    vectors = np.asarray(vectors, np.float32).reshape(len(keys), -1) if keys else np.zeros((0, 0), np.float32)
    schema = arrow_schema(name)
    table = pa.Table.from_arrays([pa.array(keys, pa.string()),
                                  pa.array([list(map(float, v)) for v in vectors], pa.list_(pa.float32())),
                                  pa.array([model] * len(keys), pa.string()),
                                  pa.array([run_id] * len(keys), pa.string())], schema=schema)
    folder = warehouse.root / "_staging" / "test" / name
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-0.parquet")
    warehouse.commit(name, folder, version)


def build(tmp_path, run_id: str = "idx-1", keep_versions: int = 2, **settings):
    warehouse = Warehouse(tmp_path, keep_versions=keep_versions)
    return run_stage(IndexConfig(**settings), StageContext(warehouse, run_id, str(tmp_path / "cache")))


def small_graph(tmp_path, model: str = "transe"):
    """Five entities on a line, 'next' moves one step to the right (x + 1)."""
    warehouse = Warehouse(tmp_path)
    ids = ["e:a", "e:b", "e:c", "e:d", "e:far"]
    vectors = [[0, 0], [1, 0], [2, 0], [3, 0], [50, 50]]
    commit_vectors(warehouse, "embeddings", ids, vectors, model)
    commit_vectors(warehouse, "relation_embeddings", ["next", "back"], [[1, 0], [-1, 0]], model)
    return warehouse


def test_exact_search_returns_the_known_neighbours_and_ids_map_back(tmp_path):
    small_graph(tmp_path)
    record = build(tmp_path, batch_rows=2)   # several batches: row numbers must carry across them
    assert record.outputs == {"index_vectors": 5}
    assert record.details["factory"] == "Flat" and record.details["metric"] == "l2"
    assert record.details["recall_at_10"] == 1.0
    assert record.details["bundle"] == "indexes/idx-1"
    bundle = IndexBundle.load(tmp_path)
    assert bundle.ids == ["e:a", "e:b", "e:c", "e:d", "e:far"]
    assert [e for e, _ in bundle.similar("e:b", 2)] in (["e:a", "e:c"], ["e:c", "e:a"])
    assert bundle.similar("e:a", 1) == [("e:b", -1.0)]
    assert [e for e, _ in bundle.search([2.9, 0.1], 3)] == ["e:d", "e:c", "e:b"]
    manifest = json.loads((tmp_path / "indexes" / "idx-1" / "manifest.json").read_text())
    assert manifest["count"] == 5 and manifest["dimension"] == 2
    assert manifest["embedding_model"] == "transe" and manifest["embedding_run_id"] == "train-1"
    with pytest.raises(BundleError, match="unknown entity"):
        bundle.similar("e:nobody")


def test_transe_prediction_ranks_the_planted_tail_first(tmp_path):
    small_graph(tmp_path)
    build(tmp_path)
    bundle = IndexBundle.load(tmp_path / "indexes")
    assert bundle.predict("e:b", "next", 1) == [("e:c", 0.0)]
    assert bundle.predict("e:d", "back", 1) == [("e:c", 0.0)]
    with pytest.raises(BundleError, match="unknown relation"):
        bundle.predict("e:b", "sideways")


def test_distmult_and_complex_queries_score_as_the_models_do():
    rng = np.random.default_rng(1)
    h, r, t = rng.normal(size=(3, 8)).astype(np.float32)
    query, metric = link_query("distmult", h, r)
    assert metric == "ip" and np.isclose(query @ t, np.sum(h * r * t), atol=1e-5)
    query, metric = link_query("complex", h, r)
    hc, rc, tc = (v[:4] + 1j * v[4:] for v in (h, r, t))
    assert metric == "ip" and np.isclose(query @ t, np.real(np.sum(hc * rc * np.conj(tc))), atol=1e-5)
    with pytest.raises(BundleError, match="no nearest-neighbour form"):
        link_query("tucker", h, r)


def test_distmult_needs_an_inner_product_bundle(tmp_path):
    small_graph(tmp_path, model="distmult")
    record = build(tmp_path, metric="l2")
    assert record.details["metric"] == "l2"
    with pytest.raises(BundleError, match="needs a ip index"):
        IndexBundle.load(tmp_path).predict("e:a", "next")
    record = build(tmp_path, run_id="idx-2")   # auto: inner product for DistMult
    assert record.details["metric"] == "ip"
    assert IndexBundle.load(tmp_path).predict("e:d", "next", 1)[0][0] == "e:far"   # largest <h*r, t>


def test_ivf_pq_reports_plausible_recall(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 16)) * 5
    vectors = centers[rng.integers(0, 20, 4000)] + rng.normal(size=(4000, 16))
    commit_vectors(Warehouse(tmp_path), "embeddings", [f"e:{i}" for i in range(4000)], vectors)
    record = build(tmp_path, exact_max=1000, codes="pq", recall_queries=200, batch_rows=1000)
    factory = record.details["factory"]
    assert factory == choose_factory(4000, 16, exact_max=1000, codes="pq") == "IVF102_HNSW32,PQ4np"
    manifest = json.loads((tmp_path / "indexes" / "idx-1" / "manifest.json").read_text())
    assert manifest["recall_queries"] == 200 and manifest["count"] == 4000
    assert 0.5 < manifest["recall_at_10"] <= 1.0
    assert manifest["nprobe"] in (1, 2, 4, 8, 16, 32, 64, 102)   # tuned towards recall 0.95
    bundle = IndexBundle.load(tmp_path)
    assert len(bundle.similar("e:7", 5)) == 5

    record = build(tmp_path, run_id="idx-2", exact_max=1000, recall_queries=200, target_recall=0, nprobe=3)
    assert record.details["factory"] == "IVF102_HNSW32,SQ8"
    manifest = json.loads((tmp_path / "indexes" / "idx-2" / "manifest.json").read_text())
    assert manifest["nprobe"] == 3 and 0.5 < manifest["recall_at_10"] <= 1.0
    assert IndexBundle.load(tmp_path).index.nprobe == 3


def test_auto_factory_by_size():
    assert choose_factory(100_000, 128) == "Flat"
    assert choose_factory(1_000_000, 128) == "IVF2564_HNSW32,SQ8"   # nlist capped by the 100k sample / 39
    assert choose_factory(1_000_000, 128, train_sample=1_000_000) == "IVF4000_HNSW32,SQ8"
    assert choose_factory(1_000_000, 128, codes="pq") == "IVF2564_HNSW32,PQ32np"
    assert choose_factory(10, 4, factory="HNSW32") == "HNSW32"


def test_new_bundle_switches_current_and_old_ones_are_pruned(tmp_path):
    small_graph(tmp_path)
    for run in ("idx-1", "idx-2", "idx-3"):
        build(tmp_path, run_id=run, keep_versions=1)
        assert (tmp_path / "indexes" / "CURRENT").read_text().strip() == run
        assert IndexBundle.load(tmp_path).version == run
    assert sorted(p.name for p in (tmp_path / "indexes").iterdir()) == ["CURRENT", "idx-2", "idx-3"]
    assert not list((tmp_path / "_staging").glob("idx-*"))


def test_empty_embeddings_skip_and_keep_the_current_bundle(tmp_path):
    small_graph(tmp_path)
    build(tmp_path, run_id="idx-1")
    commit_vectors(Warehouse(tmp_path), "embeddings", [], [], version="v2")
    record = build(tmp_path, run_id="idx-2")
    assert record.outputs == {"index_vectors": 0} and "empty" in record.details["skipped"]
    assert sorted(p.name for p in (tmp_path / "indexes").iterdir()) == ["CURRENT", "idx-1"]
    assert IndexBundle.load(tmp_path).similar("e:a", 1)[0][0] == "e:b"   # the old bundle still serves
    with pytest.raises(FileNotFoundError, match="kgpipe index"):
        IndexBundle.load(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="kgpipe train"):
        build(tmp_path / "nothing")
