"""Triple datasets (folder or .tar.gz of train/valid/test TSVs), id maps and known-true indexes."""
from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SPLITS = ("train", "valid", "test")


def parse_triples(text: str) -> list[tuple[str, str, str]]:
    """head<TAB>relation<TAB>tail lines; CR stripped, blank lines skipped, anything else malformed is an error."""
    out = []
    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"line {lineno}: expected 3 tab-separated fields, got {len(parts)}")
        out.append((parts[0], parts[1], parts[2]))
    return out


def _read_splits(path: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    if path.is_dir():
        for split in SPLITS:
            f = path / f"{split}.txt"
            if f.exists():
                texts[split] = f.read_text(encoding="utf-8")
    elif path.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                stem = name[:-4] if name.endswith(".txt") else None
                if member.isfile() and stem in SPLITS:
                    texts[stem] = tar.extractfile(member).read().decode("utf-8")
    else:
        raise ValueError(f"{path}: expected a folder or a .tar.gz of train/valid/test .txt")
    if "train" not in texts:
        raise ValueError(f"{path}: no train.txt")
    return texts


@dataclass
class KGDataset:
    """Id-mapped splits: int64 tensors of shape (n, 3) with columns head, relation, tail."""

    entities: list[str]
    relations: list[str]
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def all_triples(self) -> torch.Tensor:
        return torch.cat([self.train, self.valid, self.test])

    def known(self) -> "KnownTriples":
        return KnownTriples(self.all_triples(), self.num_entities, self.num_relations)


def from_labeled(splits: dict[str, list[tuple[str, str, str]]]) -> KGDataset:
    """Entity and relation ids are positions in the sorted label lists (deterministic across runs)."""
    ents = sorted({x for rows in splits.values() for h, _, t in rows for x in (h, t)})
    rels = sorted({r for rows in splits.values() for _, r, _ in rows})
    eid = {e: i for i, e in enumerate(ents)}
    rid = {r: i for i, r in enumerate(rels)}

    def tensor(rows):
        arr = np.array([(eid[h], rid[r], eid[t]) for h, r, t in rows], dtype=np.int64).reshape(-1, 3)
        return torch.from_numpy(arr)

    return KGDataset(ents, rels, *(tensor(splits.get(s, [])) for s in SPLITS))


def load_dataset(path: str | Path) -> KGDataset:
    texts = _read_splits(Path(path))
    return from_labeled({s: parse_triples(texts.get(s, "")) for s in SPLITS})


class CSRIndex:
    """Sorted key -> values lists (CSR): which answers are known for each query key."""

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        order = np.lexsort((values, keys))
        keys, values = keys[order], values[order]
        self.keys, starts = np.unique(keys, return_index=True)
        self.offsets = np.append(starts, len(keys)).astype(np.int64)
        self.values = values.astype(np.int64)

    def lookup(self, qkeys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols): query row i knows answer cols[j] for each j with rows[j] == i (vectorised)."""
        qkeys = np.asarray(qkeys, dtype=np.int64)
        if len(self.keys) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pos = np.minimum(np.searchsorted(self.keys, qkeys), len(self.keys) - 1)
        found = self.keys[pos] == qkeys
        start = self.offsets[pos]
        count = np.where(found, self.offsets[pos + 1] - start, 0)
        rows = np.repeat(np.arange(len(qkeys)), count)
        within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        return rows, self.values[np.repeat(start, count) + within]


class KnownTriples:
    """Known-true tails per (h, r) and heads per (r, t), for filtered ranking."""

    def __init__(self, triples: torch.Tensor, num_entities: int, num_relations: int):
        t = triples.cpu().numpy().astype(np.int64)
        self.num_entities, self.num_relations = num_entities, num_relations
        self.tails = CSRIndex(t[:, 0] * num_relations + t[:, 1], t[:, 2])
        self.heads = CSRIndex(t[:, 2] * num_relations + t[:, 1], t[:, 0])

    def tail_mask(self, h: np.ndarray, r: np.ndarray):
        return self.tails.lookup(np.asarray(h) * self.num_relations + np.asarray(r))

    def head_mask(self, r: np.ndarray, t: np.ndarray):
        return self.heads.lookup(np.asarray(t) * self.num_relations + np.asarray(r))
