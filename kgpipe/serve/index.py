"""FAISS index bundles over entity embeddings, and link prediction as nearest-neighbour search.

A bundle is a folder ``<warehouse>/indexes/<run_id>/``:

- ``index.faiss``: the index; FAISS row i is the i-th vector added, so no id map lives inside it;
- ``ids.parquet``: ``entity_id`` per FAISS row (the id map);
- ``relations.parquet``: a copy of ``relation_embeddings`` (predicate, vector), so link prediction needs
  nothing but the bundle;
- ``manifest.json``: factory string, metric, dimension, count, embedding model and run id, recall@10 against
  exact search, build seconds (and, written by jobs/index.py, ``format_version`` and ``text_index``);
- ``store/`` (kgpipe/serve/store.py) and, from format 2 on, ``text/`` (kgpipe/serve/text.py).

``<warehouse>/indexes/CURRENT`` names the bundle readers load; it is replaced (``rename(2)``) only after the
bundle folder is complete, so a service holding the old bundle keeps working while a new one is built.

Index structure (``index.factory``): ``auto`` is exact (``Flat``) up to ``index.exact_max`` vectors; above,
``IVF{nlist}_HNSW32,SQ8`` (or ``,PQ{m}np`` with ``index.codes=pq``), nlist about 4 sqrt(n). SQ8 is the default
because it keeps recall@10 near exact search at a quarter of the memory (d bytes a vector); PQ with m = d/4
sub-quantizers is 16x smaller than float32 but loses recall on embeddings without strong cluster structure.
The lists searched per query (nprobe) are tuned at build time: the smallest power of two whose recall@10 on the
held-out queries reaches ``index.target_recall`` is stored in the manifest and used by every reader.

Link prediction (tail for a (head, relation) query), per model, the query vector q and the search metric:

- TransE, score -||h + r - t||: q = h + r, L2 (exact for p=2; for p=1 the L2 order is an approximation);
- DistMult, score <h, r, t>: q = h * r, inner product;
- ComplEx, score Re(<h, r, conj(t)>), rows [real | imaginary]: q = h * r (complex product), and
  Re(<q, conj(t)>) = q_re . t_re + q_im . t_im, so inner product over the stored halves;
- RotatE, score -sum_k |h_k r_k - t_k| with r_k = exp(i phase_k): q = h rotated by the phases, searched with L2
  over [real | imaginary]; the true score sums complex moduli (an L1 over pairs), so the L2 order is an
  approximation of the model's ranking.

Vectors for ``similar`` and ``predict`` come from the index (``reconstruct``): exact for ``Flat``, decoded
(approximate) for SQ8/PQ codes.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from kgpipe.errors import CommandError

log = logging.getLogger(__name__)

INDEXES = "indexes"
CURRENT = "CURRENT"
#: the bundle layout: 1 index, id map, relations and store; 2 adds the text index ``text/``
#: (kgpipe/serve/text.py). A reader loads either: a bundle without ``text/`` answers in graph mode only.
BUNDLE_FORMAT = 2
#: the metric under which each model's link-prediction score is a nearest-neighbour search
MODEL_METRIC = {"transe": "l2", "rotate": "l2", "distmult": "ip", "complex": "ip"}
_FAISS_METRIC = {"l2": faiss.METRIC_L2, "ip": faiss.METRIC_INNER_PRODUCT}


class BundleError(CommandError, ValueError):
    """A bundle cannot answer the request (unknown id, wrong metric for the model, ...)."""


@dataclass(frozen=True)
class BuildSettings:
    factory: str = "auto"
    exact_max: int = 100_000
    codes: str = "sq8"
    metric: str = "auto"
    train_sample: int = 100_000
    batch_rows: int = 65_536
    recall_queries: int = 1_000
    nprobe: int = 32
    target_recall: float = 0.95
    use_gpu: bool = True
    seed: int = 0


def choose_factory(n: int, dim: int, factory: str = "auto", exact_max: int = 100_000, codes: str = "sq8",
                   train_sample: int = 100_000) -> str:
    if factory != "auto":
        return factory
    if n <= exact_max:
        return "Flat"
    # k-means wants ~39 points a centroid: more lists than the sample can train are wasted
    nlist = max(1, min(int(4 * math.sqrt(n)), max(1, min(n, train_sample) // 39)))
    if codes == "pq":
        m = max(d for d in range(1, dim + 1) if dim % d == 0 and d <= max(1, dim // 4))
        # "np": no polysemous training, which only serves Hamming pre-filtering and triples PQ training time
        return f"IVF{nlist}_HNSW32,PQ{m}np"
    return f"IVF{nlist}_HNSW32,SQ8"


def resolve_metric(metric: str, model: str | None) -> str:
    if metric != "auto":
        return metric
    return MODEL_METRIC.get((model or "").lower(), "l2")


def set_search_params(index: faiss.Index, nprobe: int) -> None:
    ivf = _ivf(index)
    if ivf is not None:
        ivf.nprobe = min(nprobe, ivf.nlist)
        # the HNSW coarse quantizer must look at least at nprobe lists to return them
        quantizer = faiss.downcast_index(ivf.quantizer)
        if isinstance(quantizer, faiss.IndexHNSW):
            quantizer.hnsw.efSearch = max(quantizer.hnsw.efSearch, 2 * ivf.nprobe)


def _ivf(index: faiss.Index):
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def batch_vectors(batch: pa.RecordBatch | pa.Table, dim: int | None = None) -> np.ndarray:
    """The ``vector`` column of a batch as an (n, d) float32 matrix; every row must have d values."""
    column = batch.column("vector")
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    rows = len(column)
    lengths = pc.list_value_length(column)
    if rows and pc.min_max(lengths)["min"].as_py() != pc.min_max(lengths)["max"].as_py():
        raise ValueError("embedding vectors of different lengths in one table")
    width = lengths[0].as_py() if rows else (dim or 0)
    if dim is not None and rows and width != dim:
        raise ValueError(f"embedding vectors of length {width}, expected {dim}")
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return np.ascontiguousarray(flat.reshape(rows, width))


def _sample_rows(dataset: ds.Dataset, rows: np.ndarray, batch_rows: int) -> np.ndarray:
    """Vectors at the sorted row numbers ``rows``, in that order, one batch in memory at a time."""
    out, start = [], 0
    for batch in dataset.to_batches(columns=["vector"], batch_size=batch_rows):
        end = start + batch.num_rows
        lo, hi = np.searchsorted(rows, [start, end])
        if hi > lo:
            out.append(batch_vectors(batch)[rows[lo:hi] - start])
        start = end
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _to_gpu(index: faiss.Index, use_gpu: bool):
    if not (use_gpu and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0):
        return index, None
    try:
        resources = faiss.StandardGpuResources()
        return faiss.index_cpu_to_gpu(resources, 0, index), resources
    except (RuntimeError, AttributeError) as exc:   # e.g. an HNSW quantizer has no GPU version
        log.warning("index: GPU build not possible for this structure (%s); building on CPU", exc)
        return index, None


def build_bundle(embeddings: ds.Dataset, relations: pa.Table | None, folder: Path,
                 settings: BuildSettings = BuildSettings()) -> dict[str, Any]:
    """Write a complete bundle into ``folder`` (created) and return its manifest.

    Two passes over ``embeddings``: one reads the training and query samples, one fills the index and
    computes the exact neighbours of the queries batch by batch, so beyond the index only one batch of
    vectors (plus the samples) is held.
    """
    started = time.monotonic()
    n = embeddings.count_rows()
    if n == 0:
        raise ValueError("the embeddings table is empty")
    # an empty file can come first in a multi-file table
    first = next(b for b in embeddings.to_batches(columns=["model", "run_id", "vector"], batch_size=1)
                 if b.num_rows)
    model, run_id = first.column("model")[0].as_py(), first.column("run_id")[0].as_py()
    dim = batch_vectors(first).shape[1]
    metric = resolve_metric(settings.metric, model)
    factory = choose_factory(n, dim, settings.factory, settings.exact_max, settings.codes, settings.train_sample)

    rng = np.random.default_rng(settings.seed)
    n_queries = min(settings.recall_queries, n)
    n_train = min(settings.train_sample, n - n_queries) if n > n_queries else n
    picked = rng.choice(n, size=min(n, n_queries + n_train), replace=False)
    # queries held out of the training sample: recall is not measured on points k-means was fitted to
    query_rows, train_rows = np.sort(picked[:n_queries]), np.sort(picked[n_queries:n_queries + n_train])
    if not len(train_rows):
        train_rows = query_rows
    both = np.union1d(query_rows, train_rows)
    sample = _sample_rows(embeddings, both, settings.batch_rows)
    queries = sample[np.searchsorted(both, query_rows)]
    train = sample[np.searchsorted(both, train_rows)]
    del sample

    cpu_index = faiss.index_factory(dim, factory, _FAISS_METRIC[metric])
    index, _resources = _to_gpu(cpu_index, settings.use_gpu)
    gpu = index is not cpu_index
    if not index.is_trained:
        index.train(train)
    del train

    k = min(10, n)
    heap = faiss.ResultHeap(len(queries), k, keep_max=(metric == "ip"))
    folder.mkdir(parents=True, exist_ok=True)
    added = 0
    with pq.ParquetWriter(folder / "ids.parquet", pa.schema([("entity_id", pa.string())])) as ids:
        for batch in embeddings.to_batches(columns=["entity_id", "vector"], batch_size=settings.batch_rows):
            if not batch.num_rows:
                continue
            vectors = batch_vectors(batch, dim)
            index.add(vectors)
            distances, rows = faiss.knn(queries, vectors, min(k, len(vectors)), metric=_FAISS_METRIC[metric])
            if distances.shape[1] < k:   # a batch smaller than k: pad so the heap sees k columns
                pad = k - distances.shape[1]
                fill = -np.inf if metric == "ip" else np.inf
                distances = np.hstack([distances, np.full((len(queries), pad), fill, np.float32)])
                rows = np.hstack([rows, np.full((len(queries), pad), -1 - added, np.int64)])
            heap.add_result(distances, rows + added)
            ids.write_table(pa.table({"entity_id": batch.column("entity_id")}))
            added += batch.num_rows
    heap.finalize()
    if gpu:
        cpu_index = faiss.index_gpu_to_cpu(index)
    index = cpu_index
    nprobe, recall = tune_nprobe(index, queries, heap.I, settings.nprobe, settings.target_recall)

    faiss.write_index(index, str(folder / "index.faiss"))
    if relations is not None and relations.num_rows:
        pq.write_table(relations.select(["predicate", "vector"]), folder / "relations.parquet")
    manifest = {"factory": factory, "metric": metric, "dimension": dim, "count": added,
                "embedding_model": model, "embedding_run_id": run_id, "nprobe": nprobe,
                "recall_at_10": round(recall, 4), "recall_queries": len(queries), "train_sample": n_train,
                "gpu": gpu, "build_seconds": round(time.monotonic() - started, 3),
                "faiss_version": faiss.__version__}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def recall_at(index: faiss.Index, queries: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    _, found = index.search(queries, k)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found.tolist(), truth.tolist())]))


def tune_nprobe(index: faiss.Index, queries: np.ndarray, truth: np.ndarray, nprobe: int,
                target: float) -> tuple[int, float]:
    """The smallest power-of-two nprobe whose recall@k reaches ``target`` (the fastest setting that is good
    enough: how well lists separate neighbours depends on the embeddings, so it is measured, not assumed),
    or the most lists if none does; ``target`` 0 keeps ``nprobe``. Returns (nprobe, recall)."""
    ivf = _ivf(index)
    if ivf is None or target <= 0:
        set_search_params(index, nprobe)
        return nprobe, recall_at(index, queries, truth)
    candidate = 1
    while True:
        set_search_params(index, candidate)
        recall = recall_at(index, queries, truth)
        if recall >= target or candidate >= ivf.nlist:
            return min(candidate, ivf.nlist), recall
        candidate *= 2


def publish(indexes: Path, staged: Path, version: str, keep_versions: int) -> Path:
    """Move a complete bundle to ``indexes/<version>``, point CURRENT at it, prune the oldest."""
    indexes.mkdir(parents=True, exist_ok=True)
    final = indexes / version
    if final.exists():
        shutil.rmtree(final)
    os.replace(staged, final)
    tmp = indexes / f".{CURRENT}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, indexes / CURRENT)
    bundles = sorted((p for p in indexes.iterdir() if p.is_dir() and not p.name.startswith(".") and p != final),
                     key=lambda p: p.stat().st_mtime)
    for old in bundles[: max(0, len(bundles) - keep_versions)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def current_bundle(path: str | os.PathLike) -> Path:
    """A bundle folder from a bundle folder, an ``indexes`` folder or a warehouse root."""
    path = Path(path)
    if (path / "manifest.json").exists():
        return path
    for indexes in (path, path / INDEXES):
        if (indexes / CURRENT).exists():
            return indexes / (indexes / CURRENT).read_text(encoding="utf-8").strip()
    raise FileNotFoundError(f"no index bundle in {path}: run `kgpipe index` first")


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = x.shape[-1] // 2
    return x[..., :d], x[..., d:]


def link_query(model: str, head: np.ndarray, relation: np.ndarray) -> tuple[np.ndarray, str]:
    """The query vector whose nearest neighbours are the best tails, and the metric that search needs."""
    model = model.lower()
    if model == "transe":
        return head + relation, "l2"
    if model == "distmult":
        return head * relation, "ip"
    if model == "complex":
        (hr, hi), (rr, ri) = _split(head), _split(relation)
        return np.concatenate([hr * rr - hi * ri, hr * ri + hi * rr], -1), "ip"
    if model == "rotate":
        hr, hi = _split(head)
        if relation.shape[-1] != hr.shape[-1]:
            raise BundleError(f"rotate: relation has {relation.shape[-1]} phases, head {hr.shape[-1]} complex dims")
        c, s = np.cos(relation), np.sin(relation)
        return np.concatenate([hr * c - hi * s, hr * s + hi * c], -1), "l2"
    raise BundleError(f"no nearest-neighbour form of link prediction for model {model!r}; "
                      f"supported: {', '.join(MODEL_METRIC)}")


class IndexBundle:
    """A loaded bundle: ``similar``, ``predict`` and ``search`` return [(entity_id, score)], best first;
    scores are higher-is-better (minus the L2 distance, or the inner product)."""

    def __init__(self, folder: Path, index: faiss.Index, ids: list[str], manifest: dict,
                 relations: dict[str, np.ndarray]):
        self.folder, self.index, self.ids, self.manifest, self.relations = folder, index, ids, manifest, relations
        self.row = {entity_id: i for i, entity_id in enumerate(ids)}
        self.metric = manifest["metric"]

    @classmethod
    def load(cls, path: str | os.PathLike) -> IndexBundle:
        folder = current_bundle(path)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        index = faiss.read_index(str(folder / "index.faiss"))
        set_search_params(index, manifest.get("nprobe", 32))
        ivf = _ivf(index)
        if ivf is not None:
            ivf.make_direct_map()   # reconstruct(row) for similar/predict
        ids = pq.read_table(folder / "ids.parquet")["entity_id"].to_pylist()
        relations: dict[str, np.ndarray] = {}
        if (folder / "relations.parquet").exists():
            table = pq.read_table(folder / "relations.parquet")
            if table.num_rows:
                relations = dict(zip(table["predicate"].to_pylist(), batch_vectors(table)))
        return cls(folder, index, ids, manifest, relations)

    @property
    def version(self) -> str:
        return self.folder.name

    def vector(self, entity_id: str) -> np.ndarray:
        try:
            return self.index.reconstruct(self.row[entity_id])
        except KeyError:
            raise BundleError(f"unknown entity {entity_id!r}") from None

    def search(self, vector, k: int = 10, exclude: str | None = None) -> list[tuple[str, float]]:
        query = np.asarray(vector, np.float32).reshape(1, -1)
        if query.shape[1] != self.index.d:
            raise BundleError(f"query has {query.shape[1]} dimensions, the index {self.index.d}")
        want = min(k + (exclude is not None), self.index.ntotal)
        if want <= 0:
            return []
        distances, rows = self.index.search(query, want)
        out = []
        for distance, row in zip(distances[0].tolist(), rows[0].tolist()):
            if row < 0 or self.ids[row] == exclude:
                continue
            score = float(distance) if self.metric == "ip" else -math.sqrt(max(float(distance), 0.0))
            out.append((self.ids[row], score))
        return out[:k]

    def similar(self, entity_id: str, k: int = 10) -> list[tuple[str, float]]:
        return self.search(self.vector(entity_id), k, exclude=entity_id)

    def predict(self, head_id: str, predicate: str, k: int = 10) -> list[tuple[str, float]]:
        model = self.manifest.get("embedding_model") or ""
        try:
            relation = self.relations[predicate]
        except KeyError:
            raise BundleError(f"unknown relation {predicate!r}") from None
        query, metric = link_query(model, self.vector(head_id), relation)
        if metric != self.metric:
            raise BundleError(f"{model} link prediction needs a {metric} index; this bundle is {self.metric} "
                              f"(build with index.metric=auto or {metric})")
        return self.search(query, k)
