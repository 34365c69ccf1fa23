"""From the graph's ``edges`` to training input: id maps, triples, held-out slices, the bundle folder.

Torch-free (pyarrow and numpy), so the job can prepare a run before any trainer process starts.
A *bundle* is the folder one training run reads and writes; every process of a distributed run
opens the same one (docs/train.md):

    config.json          {"trainer": KGEConfig settings, "backend": "auto" | "gloo" | "nccl"}
    entity_ids.parquet   row (int64), entity_id: row i of every entity table is this entity
    relation_ids.parquet row (int64), predicate
    triples.npz          train, valid, test: int64 arrays (n, 3) of rows (head, relation, tail)
    -- written by training (kgpipe.embed.distributed.train_bundle) --
    checkpoint.pt        Trainer.save_checkpoint: resumable state
    metrics.json         counts, speed, device, losses, held-out filtered MRR
    entity_vectors.npy, relation_vectors.npy   float32 rows in id-map order (best parameters)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

EDGE_COLUMNS = ["edge_id", "subject_id", "predicate", "object_id", "support_count", "confidence"]
SPLITS = ("train", "valid", "test")


def edge_filter(min_support: int, min_confidence: float) -> ds.Expression:
    """Entity-to-entity edges with enough support and confidence (pushed down into the Parquet scan)."""
    return (pc.field("object_id").is_valid() & (pc.field("support_count") >= min_support)
            & (pc.field("confidence") >= min_confidence))


@dataclass
class GraphTriples:
    """Distinct (subject, predicate, object) triples as rows of sorted id maps."""

    entities: pa.Array            # entity ids, sorted: row i is entities[i]
    relations: pa.Array           # predicates, sorted
    triples: np.ndarray           # int64 (n, 3): head row, relation row, tail row; sorted, distinct
    duplicates: int = 0           # edges that repeated a triple (other qualifiers): merged
    rejected: pa.Table = field(default_factory=lambda: pa.table({c: pa.array([], pa.string()) for c in
                                                                 ("edge_id", "subject_id", "predicate",
                                                                  "object_id", "reason")}))

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)


def _sorted_unique(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    unique = pc.unique(values)
    return unique.take(pc.sort_indices(unique))


def graph_triples(edges: pa.Table, known_entities: pa.Array | pa.ChunkedArray | None = None) -> GraphTriples:
    """Id maps and distinct triples from entity-to-entity edges (columns as EDGE_COLUMNS).

    Ids are positions in the byte-wise sorted ids, so the same graph always gives the same rows.
    Where `known_entities` is given, an edge naming an entity outside it is rejected (reason
    ``unknown_entity``) instead of giving an embedding that joins to nothing.
    """
    edges = edges.filter(pc.is_valid(edges["object_id"]))
    if known_entities is not None:
        known = pc.unique(known_entities)
        ok = pc.and_(pc.is_in(edges["subject_id"], value_set=known),
                     pc.is_in(edges["object_id"], value_set=known))
        bad = edges.filter(pc.invert(ok))
        edges = edges.filter(ok)
    else:
        bad = edges.slice(0, 0)
    rejected = pa.table({
        "edge_id": bad["edge_id"], "subject_id": bad["subject_id"], "predicate": bad["predicate"],
        "object_id": bad["object_id"], "reason": pa.array(["unknown_entity"] * bad.num_rows, pa.string())})
    entities = _sorted_unique(pa.chunked_array(edges["subject_id"].chunks + edges["object_id"].chunks,
                                               type=pa.string()))
    relations = _sorted_unique(edges["predicate"])
    columns = [pc.index_in(edges[name], value_set=values).to_numpy(zero_copy_only=False)
               for name, values in (("subject_id", entities), ("predicate", relations), ("object_id", entities))]
    triples = np.stack(columns, 1).astype(np.int64).reshape(-1, 3)
    distinct = np.unique(triples, axis=0)
    return GraphTriples(entities, relations, distinct, duplicates=len(triples) - len(distinct), rejected=rejected)


def holdout(triples: np.ndarray, num_entities: int, num_relations: int, sizes: tuple[int, ...],
            seed: int = 0) -> list[np.ndarray]:
    """Split off slices of the given sizes, then the rest (training) last.

    A triple is held out only if its head, tail and relation still occur in the remaining
    triples, so every held-out triple is about things the model was trained on; slices can come
    out smaller than asked when the graph has too few such triples.
    """
    rng = np.random.default_rng(seed)
    entity_degree = np.bincount(triples[:, [0, 2]].ravel(), minlength=num_entities)
    relation_degree = np.bincount(triples[:, 1], minlength=num_relations)
    want = sum(sizes)
    taken: list[int] = []
    for i in rng.permutation(len(triples)):
        if len(taken) >= want:
            break
        h, r, t = triples[i]
        entity_degree[h] -= 1
        entity_degree[t] -= 1
        relation_degree[r] -= 1
        if entity_degree[h] > 0 and entity_degree[t] > 0 and relation_degree[r] > 0:
            taken.append(i)
        else:
            entity_degree[h] += 1
            entity_degree[t] += 1
            relation_degree[r] += 1
    taken_idx = np.array(taken, dtype=np.int64)
    slices, start = [], 0
    for size in sizes:
        slices.append(np.sort(taken_idx[start:start + size]))
        start += size
    rest = np.setdiff1d(np.arange(len(triples)), taken_idx, assume_unique=True)
    return [triples[s] for s in slices] + [triples[rest]]


def holdout_sizes(n: int, test_share: float, valid_share: float, min_triples: int,
                  max_triples: int) -> tuple[int, int]:
    """(valid, test) sizes: none below `min_triples` triples, each slice capped at `max_triples`."""
    if n < max(min_triples, 1):
        return 0, 0
    return min(int(n * valid_share), max_triples), min(int(n * test_share), max_triples)


# --- the bundle folder -------------------------------------------------------------------
def write_bundle(folder: str | Path, trainer_settings: dict, entities: pa.Array, relations: pa.Array,
                 splits: dict[str, np.ndarray], backend: str = "auto") -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"trainer": trainer_settings, "backend": backend}, indent=2),
                                        encoding="utf-8")
    for name, column, values in (("entity_ids", "entity_id", entities), ("relation_ids", "predicate", relations)):
        pq.write_table(pa.table({"row": pa.array(np.arange(len(values), dtype=np.int64)), column: values}),
                       folder / f"{name}.parquet")
    np.savez(folder / "triples.npz", **{s: np.asarray(splits.get(s, np.zeros((0, 3))), np.int64).reshape(-1, 3)
                                        for s in SPLITS})
    return folder


@dataclass
class Bundle:
    folder: Path
    trainer_settings: dict
    backend: str
    entities: pa.Array
    relations: pa.Array
    splits: dict[str, np.ndarray]


def read_bundle(folder: str | Path) -> Bundle:
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    entities = pq.read_table(folder / "entity_ids.parquet")["entity_id"].combine_chunks()
    relations = pq.read_table(folder / "relation_ids.parquet")["predicate"].combine_chunks()
    with np.load(folder / "triples.npz") as npz:
        splits = {s: npz[s] for s in SPLITS}
    return Bundle(folder, config["trainer"], config.get("backend", "auto"), entities, relations, splits)
