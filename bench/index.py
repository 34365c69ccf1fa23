"""Queries per second at recall@10 >= 0.95: the index the stage would choose vs exact NumPy brute force.

The data: ``--n`` synthetic vectors of ``--dim`` dimensions (default 1,000,000 x 128) drawn from a mixture of
``--clusters`` Gaussians, since trained embeddings are clustered (``--clusters 0``: i.i.d. Gaussian, the worst
case for any partitioned index); or, with ``--warehouse DIR``, the ``embeddings`` table there. Queries are
``--queries`` held-out vectors from the same distribution (not in the index).

Brute force: ||x||^2 - 2 q.x over all vectors with one BLAS matrix product per query block, top 10 by
argpartition; its results are the ground truth. The index: ``choose_factory`` (as ``index.factory=auto``),
trained on ``--train-sample`` vectors, then searched at increasing nprobe; the fastest setting with
recall@10 >= 0.95 is compared. Both sides use the same threads (all cores). Build time is reported, not counted.

    .venv/bin/python bench/index.py [--n 1000000] [--dim 128] [--warehouse DIR]

The last line states the ratio and whether the 20x target was met.
"""
from __future__ import annotations

import argparse
import sys
import time

import faiss
import numpy as np

from kgpipe.serve.index import batch_vectors, choose_factory, set_search_params

TARGET = 20.0
K = 10


def synthetic(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    centers = rng.normal(size=(max(clusters, 1), dim)).astype(np.float32) * 3
    for start in range(0, n, 100_000):   # in blocks: float64 temporaries of 1M x 128 would double memory
        rows = min(100_000, n - start)
        block = rng.standard_normal((rows, dim), dtype=np.float32)
        if clusters:
            block += centers[rng.integers(0, clusters, rows)]
        out[start:start + rows] = block
    return out


def brute_force(base: np.ndarray, queries: np.ndarray, block: int = 64) -> tuple[np.ndarray, float]:
    norms = np.einsum("ij,ij->i", base, base)
    found = np.empty((len(queries), K), np.int64)
    started = time.perf_counter()
    for s in range(0, len(queries), block):
        d = norms[None, :] - 2.0 * (queries[s:s + block] @ base.T)
        top = np.argpartition(d, K, axis=1)[:, :K]
        order = np.take_along_axis(d, top, 1).argsort(1)
        found[s:s + block] = np.take_along_axis(top, order, 1)
    return found, len(queries) / (time.perf_counter() - started)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found.tolist(), truth.tolist())]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--train-sample", type=int, default=100_000)
    parser.add_argument("--factory", default="auto")
    parser.add_argument("--exact-max", type=int, default=100_000)
    parser.add_argument("--warehouse", help="use the embeddings table of this warehouse instead")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.warehouse:
        from kgpipe.warehouse import Warehouse
        vectors = batch_vectors(Warehouse(args.warehouse).read("embeddings", ["vector"]))
        rng = np.random.default_rng(args.seed)
        held = rng.choice(len(vectors), size=min(args.queries, len(vectors) // 10 or 1), replace=False)
        queries, base = vectors[held], np.delete(vectors, held, axis=0)
        source = f"embeddings of {args.warehouse}"
    else:
        data = synthetic(args.n + args.queries, args.dim, args.clusters, args.seed)
        base, queries = data[:args.n], np.ascontiguousarray(data[args.n:])
        source = f"synthetic, {args.clusters or 'no'} clusters"
    n, dim = base.shape
    print(f"data: {n:,} x {dim} ({source}); {len(queries)} held-out queries; {faiss.omp_get_max_threads()} threads")

    truth, exact_qps = brute_force(base, queries)
    print(f"numpy brute force: {exact_qps:,.1f} queries/s")

    factory = choose_factory(n, dim, args.factory, args.exact_max, train_sample=args.train_sample)
    started = time.perf_counter()
    index = faiss.index_factory(dim, factory, faiss.METRIC_L2)
    sample = base[np.random.default_rng(args.seed).choice(n, size=min(n, args.train_sample), replace=False)]
    index.train(sample)
    for s in range(0, n, 65_536):
        index.add(base[s:s + 65_536])
    print(f"index {factory}: built in {time.perf_counter() - started:.1f}s")

    ivf = faiss.extract_index_ivf(index) if "IVF" in factory else None
    settings = [p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if ivf is None or p <= ivf.nlist]
    best = None
    for nprobe in settings if ivf is not None else [0]:
        if ivf is not None:
            set_search_params(index, nprobe)
        index.search(queries[:50], K)   # warm-up
        started = time.perf_counter()
        _, found = index.search(queries, K)
        qps = len(queries) / (time.perf_counter() - started)
        r = recall(found, truth)
        print(f"  nprobe {nprobe:>4}: recall@10 {r:.3f}, {qps:,.0f} queries/s, {qps / exact_qps:.1f}x")
        if r >= 0.95:
            best = (nprobe, r, qps)
            break   # larger nprobe is only slower
    if best is None:
        print(f"RESULT: {factory} never reached recall@10 0.95 on {n:,} x {dim}; target {TARGET:.0f}x not met")
        return 1
    nprobe, r, qps = best
    ratio = qps / exact_qps
    print(f"RESULT: {factory} nprobe {nprobe}: {qps:,.0f} q/s at recall@10 {r:.3f} vs numpy {exact_qps:,.1f} q/s "
          f"on {n:,} x {dim}: {ratio:.1f}x, target {TARGET:.0f}x {'met' if ratio >= TARGET else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
