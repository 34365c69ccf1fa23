"""Memory per vector and recall@10 of FAISS codes (Flat, SQ, PQ, IVF) on real knowledge-graph embeddings.

The vectors: entity embeddings trained with kgpipe's own trainer (``kgpipe.embed``) on the real benchmark graphs
(``--dataset``, default FB15k-237 and WN18RR from ``../shared/data/kg``; TransE, dim 100, a few epochs on the
CPU, with the filtered test MRR printed so it is visible that the vectors learned something), or the
``embeddings`` table of a warehouse (``--warehouse DIR``). ``--queries`` entity vectors are held out and serve
as queries (a ``similar`` request asks with an entity's own vector), the rest are indexed.

The competitor is exact search (``Flat``: float32, d * 4 bytes a vector); its top 10 are the ground truth.
Each setting is built on the same vectors and measured:

- bytes per vector: ``len(faiss.serialize_index(index)) / ntotal``, i.e. everything the index keeps
  (codes, codebooks, IVF ids and centroids), not the nominal code size;
- recall@10: mean |found top 10 & exact top 10| / 10 over the held-out queries;
- for IVF settings: the smallest power-of-two nprobe whose recall@10 reaches 0.95 (the stage's
  ``index.target_recall`` rule in ``kgpipe/serve/index.py``), else the best seen up to nprobe 256.

Settings: ``SQfp16``, ``SQ8`` (the stage's default codes), ``SQ6``, ``SQ4``, ``PQ{m}np`` for m = d/2, d/4, d/8
(largest divisor of d not above; ``np``: no polysemous training), and the two IVF structures the stage chooses
for large graphs, ``IVF{nlist}_HNSW32,SQ8`` and ``IVF{nlist}_HNSW32,PQ{d/4}np``. (OPQ rotations were left out:
their training takes many minutes on 2 shared cores for these sizes.)

Trained vectors are cached (``--cache``, default ``$KGPIPE_CACHE/bench-quantization`` or
``~/.cache/kgpipe/bench-quantization``), keyed by dataset file, model, dim, epochs and seed, so a rerun measures
without training again.

    .venv/bin/python bench/quantization.py [--dataset PATH ...] [--epochs 10] [--warehouse DIR] [--cache DIR]

Target (the reason SQ8 is the stage's default): SQ8 keeps recall@10 >= 0.95 at no more than a third of Flat's
bytes on every input. The last line states the ratios and whether the target was met.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from kgpipe.serve.index import MODEL_METRIC, choose_factory, set_search_params

K = 10
TARGET_RECALL = 0.95
TARGET_MEMORY_SHARE = 1 / 3
SHARED_KG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kg"
DEFAULT_DATASETS = [SHARED_KG / "FB15k-237.tar.gz", SHARED_KG / "WN18RR.tar.gz"]
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def cached_vectors(cache: Path, path: Path, model: str, dim: int, epochs: int, threads: int,
                   seed: int) -> tuple[np.ndarray, str]:
    """train_vectors, or its saved result for the same dataset bytes and settings."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    stem = cache / f"{path.name.split('.')[0]}-{digest}-{model}-d{dim}-e{epochs}-s{seed}"
    vectors_file, label_file = stem.with_suffix(".npy"), stem.with_suffix(".txt")
    if vectors_file.exists() and label_file.exists():
        return np.load(vectors_file), label_file.read_text(encoding="utf-8").strip() + " (cached)"
    vectors, label = train_vectors(path, model, dim, epochs, threads, seed)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(vectors_file, vectors)
    label_file.write_text(label, encoding="utf-8")
    return vectors, label


def train_vectors(path: Path, model: str, dim: int, epochs: int, threads: int, seed: int) -> tuple[np.ndarray, str]:
    """Entity vectors of a benchmark graph from kgpipe's trainer, and a line describing the run."""
    from kgpipe.embed.config import KGEConfig
    from kgpipe.embed.data import load_dataset
    from kgpipe.embed.evaluate import evaluate
    from kgpipe.embed.train import Trainer

    data = load_dataset(path)
    # the train stage's CPU defaults (kgpipe/config.py TrainConfig): lazy row-wise Adam, lr 0.01
    cfg = KGEConfig(model=model, dim=dim, epochs=epochs, sparse=True, lr=0.01, seed=seed,
                    num_threads=threads, device="cpu")
    trainer = Trainer(cfg, data)
    started = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - started
    test = evaluate(trainer.model, data.test, trainer.known, cfg.eval_batch_size, trainer.device)
    vectors = trainer.model.entity.weight.detach().cpu().numpy().astype(np.float32)
    name = path.name.split(".")[0]
    return np.ascontiguousarray(vectors), (f"{name}: {data.num_entities:,} entities, {model} dim {dim}, "
                                           f"{epochs} epochs in {seconds:.0f}s, filtered test MRR {test['mrr']:.3f}")


def warehouse_vectors(root: str) -> tuple[np.ndarray, str, str]:
    from kgpipe.serve.index import batch_vectors
    from kgpipe.warehouse import Warehouse

    table = Warehouse(root).read("embeddings")
    vectors = batch_vectors(table)
    model = table.column("model")[0].as_py() if "model" in table.column_names and len(table) else None
    return vectors, f"embeddings of {root}: {len(vectors):,} vectors", MODEL_METRIC.get((model or "").lower(), "l2")


def divisor_at_most(dim: int, limit: int) -> int:
    return max(d for d in range(1, dim + 1) if dim % d == 0 and d <= max(1, limit))


def settings_for(n: int, dim: int) -> list[str]:
    quarter, eighth, half = (divisor_at_most(dim, dim // f) for f in (4, 8, 2))
    out = ["Flat", "SQfp16", "SQ8", "SQ6", "SQ4"]
    out += [f"PQ{m}np" for m in dict.fromkeys((half, quarter, eighth))]
    # the stage's large-graph structures at this n (force past exact_max so auto picks IVF)
    out.append(choose_factory(n, dim, "auto", exact_max=0))
    out.append(choose_factory(n, dim, "auto", exact_max=0, codes="pq"))
    return out


def exact_top(base: np.ndarray, queries: np.ndarray, metric: int) -> np.ndarray:
    index = faiss.IndexFlat(base.shape[1], metric)
    index.add(base)
    return index.search(queries, K)[1]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found.tolist(), truth.tolist())]))


def measure(factory: str, base: np.ndarray, queries: np.ndarray, truth: np.ndarray, metric: int) -> dict:
    started = time.perf_counter()
    index = faiss.index_factory(base.shape[1], factory, metric)
    index.train(base)
    index.add(base)
    build = time.perf_counter() - started
    size = len(faiss.serialize_index(index))
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:
        ivf = None
    nprobe, best = None, (-1.0, 0.0, None)
    for probe in ([p for p in NPROBES if p <= ivf.nlist] if ivf is not None else [None]):
        if probe is not None:
            set_search_params(index, probe)
        t0 = time.perf_counter()
        found = index.search(queries, K)[1]
        qps = len(queries) / (time.perf_counter() - t0)
        r = recall(found, truth)
        if r > best[0]:
            best = (r, qps, probe)
        if r >= TARGET_RECALL:
            break   # a larger nprobe only costs time
    r, qps, nprobe = best
    return {"factory": factory, "dim": base.shape[1], "bytes": size / index.ntotal, "recall": r, "qps": qps, "nprobe": nprobe,
            "build_s": build}


def run_one(label: str, vectors: np.ndarray, metric_name: str, n_queries: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    held = rng.choice(len(vectors), size=min(n_queries, len(vectors) // 10 or 1), replace=False)
    queries = np.ascontiguousarray(vectors[held])
    base = np.ascontiguousarray(np.delete(vectors, held, axis=0))
    metric = faiss.METRIC_L2 if metric_name == "l2" else faiss.METRIC_INNER_PRODUCT
    truth = exact_top(base, queries, metric)
    n, dim = base.shape
    print(f"\n{label}; {n:,} indexed x {dim}, {len(queries):,} held-out queries, metric {metric_name}", flush=True)
    print("| setting | bytes/vector | vs Flat | recall@10 | nprobe | queries/s |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [measure(f, base, queries, truth, metric) for f in settings_for(n, dim)]
    flat = rows[0]["bytes"]
    for row in rows:
        row["share"] = row["bytes"] / flat
        print(f"| `{row['factory']}` | {row['bytes']:,.1f} | {row['share']:.3f} | {row['recall']:.3f} | "
              f"{row['nprobe'] or '-'} | {row['qps']:,.0f} |", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", action="append", type=Path,
                        help="train/valid/test TSV folder or .tar.gz (repeatable); default FB15k-237 and WN18RR")
    parser.add_argument("--warehouse", help="also measure the embeddings table of this warehouse")
    parser.add_argument("--model", default="transe", choices=sorted(MODEL_METRIC))
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("KGPIPE_CACHE", Path.home() / ".cache" / "kgpipe"))
                        / "bench-quantization", help="folder for trained vectors")
    args = parser.parse_args(argv)

    datasets = args.dataset or ([] if args.warehouse else DEFAULT_DATASETS)
    missing = [str(p) for p in datasets if not p.exists()]
    if missing:
        parser.error(f"dataset not found: {', '.join(missing)}")
    faiss.omp_set_num_threads(args.threads)

    results: list[tuple[str, list[dict]]] = []
    for path in datasets:
        vectors, label = cached_vectors(args.cache, path, args.model, args.dim, args.epochs, args.threads, args.seed)
        results.append((path.name.split(".")[0], run_one(label, vectors, MODEL_METRIC[args.model],
                                                         args.queries, args.seed)))
    if args.warehouse:
        vectors, label, metric = warehouse_vectors(args.warehouse)
        results.append(("warehouse", run_one(label, vectors, metric, args.queries, args.seed)))

    sq8 = {name: next(r for r in rows if r["factory"] == "SQ8") for name, rows in results}
    # the stage's index.codes=pq code size: m = d/4 sub-quantizers
    pq = {name: next(r for r in rows if r["factory"] == f"PQ{divisor_at_most(r['dim'], r['dim'] // 4)}np")
          for name, rows in results}
    met = all(r["recall"] >= TARGET_RECALL and r["share"] <= TARGET_MEMORY_SHARE for r in sq8.values())
    parts = "; ".join(f"{name} SQ8 {1 / sq8[name]['share']:.1f}x smaller than Flat at recall@10 "
                      f"{sq8[name]['recall']:.3f}, {pq[name]['factory']} {1 / pq[name]['share']:.1f}x at "
                      f"{pq[name]['recall']:.3f}" for name, _ in results)
    print(f"\nRESULT: {parts}: target (SQ8 recall@10 >= {TARGET_RECALL} at <= 1/3 of Flat's bytes) "
          f"{'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
