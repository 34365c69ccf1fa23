"""Partitioned training for graphs whose embedding tables do not fit in memory: the pieces that are
ready, and the plan (docs/train.md, "Graphs larger than memory").

As in PyTorch-BigGraph (Lerer et al., 2019): entity rows are cut into P partitions; a triple
belongs to bucket (partition of head, partition of tail); training visits the P*P buckets one at
a time with only the bucket's two partitions (and every relation, which are few) in memory, and
samples negatives from those partitions. Consecutive buckets share a partition, so each switch
swaps one partition out to storage and one in.

Ready here: the partitioning of entity rows, bucketing of triples, the bucket visiting order and
the storage interface. Not implemented yet: the loop that, per bucket, loads the two partitions
(rows and lazy-Adam state) into a Trainer over the bucket's locally renumbered triples
(:func:`local_rows`), trains, and writes them back; and the distributed variant in which
processes train disjoint buckets (no shared partition) at once, PBG's lock server.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Partitioning:
    """P contiguous, near-equal ranges of entity rows (id maps are sorted, so rows are as good as
    random with respect to the graph's structure)."""

    num_entities: int
    num_partitions: int

    def __post_init__(self):
        if not 1 <= self.num_partitions <= max(1, self.num_entities):
            raise ValueError(f"num_partitions must be in 1..{max(1, self.num_entities)}, got {self.num_partitions}")

    def bounds(self) -> np.ndarray:
        """(P + 1,) row offsets: partition p holds rows bounds[p]:bounds[p + 1]."""
        return (np.arange(self.num_partitions + 1, dtype=np.int64) * self.num_entities) // self.num_partitions

    def partition_of(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bounds(), np.asarray(rows, dtype=np.int64), side="right") - 1


@dataclass
class Buckets:
    """Triples sorted by bucket: bucket (i, j) is triples[offsets[k]:offsets[k + 1]], k = i * P + j."""

    triples: np.ndarray
    offsets: np.ndarray
    num_partitions: int

    def get(self, i: int, j: int) -> np.ndarray:
        k = i * self.num_partitions + j
        return self.triples[self.offsets[k]:self.offsets[k + 1]]


def bucket_triples(triples: np.ndarray, partitioning: Partitioning) -> Buckets:
    p = partitioning.num_partitions
    key = partitioning.partition_of(triples[:, 0]) * p + partitioning.partition_of(triples[:, 2])
    order = np.argsort(key, kind="stable")
    offsets = np.searchsorted(key[order], np.arange(p * p + 1))
    return Buckets(triples[order], offsets, p)


def bucket_order(num_partitions: int) -> list[tuple[int, int]]:
    """Every bucket once, consecutive buckets sharing a partition (so each switch swaps one partition).

    Shell n (the buckets that involve partition n with 0..n) runs (n, n-1), ..., (n, 0), (n, n),
    (0, n), ..., (n-1, n): it starts beside where shell n-1 ended, (n-2, n-1).
    """
    order = [(0, 0)]
    for n in range(1, num_partitions):
        order += [(n, m) for m in range(n - 1, -1, -1)] + [(n, n)] + [(m, n) for m in range(n)]
    return order


def local_rows(bucket: np.ndarray, i: int, j: int, partitioning: Partitioning) -> tuple[np.ndarray, int]:
    """Renumber a bucket's entity rows into the in-memory table [partition i ; partition j] (one copy
    when i == j); returns the renumbered triples and the table's row count."""
    bounds = partitioning.bounds()
    size_i = int(bounds[i + 1] - bounds[i])
    out = bucket.copy()
    out[:, 0] = bucket[:, 0] - bounds[i]
    out[:, 2] = bucket[:, 2] - bounds[j] + (size_i if i != j else 0)
    return out, size_i + (int(bounds[j + 1] - bounds[j]) if i != j else 0)


class EmbeddingStore(Protocol):
    """Where partitions live between buckets (local disk, a shared file system, an object store):
    entity rows of one partition, with the optimizer state that belongs to them."""

    def load(self, partition: int) -> dict[str, np.ndarray]:
        """{"weight": (rows, width), plus optimizer state of the same shape, e.g. "exp_avg"}."""

    def save(self, partition: int, state: dict[str, np.ndarray]) -> None:
        ...
