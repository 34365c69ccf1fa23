"""Near-duplicate documents (syndicated copies), engine-free: MinHash signatures over word shingles,
LSH band keys, verification of candidate pairs, and the representative of each group.

The Beam pipeline (``pipelines/ingest.py``: :class:`~pipelines.ingest.MarkNearDuplicates`) runs
:meth:`Sketcher.sketch` where each document is made, groups sketches by band key to find candidate
pairs, keeps the pairs whose estimated Jaccard similarity reaches the threshold and joins the pairs
into groups with :func:`representatives`. Every document of a group but its representative gets
``documents.duplicate_of`` = the representative's ``doc_id``.

What is compared: the document's ``text`` (never the title: syndicated copies rewrite headlines),
normalised (NFKC, case-folded, words only: punctuation and spacing do not count), as the set of its
``shingle``-word n-grams. Text shorter than one shingle is one shingle of all its words.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
from datasketch import MinHash, MinHashLSH

from kgpipe.config import NearDuplicateConfig

_WORD = re.compile(r"\w+")
#: MinHash permutations come from this seed, so a signature is the same in every worker and every run
SEED = 1


def shingles(text: str, size: int) -> set[bytes]:
    """The word ``size``-grams of ``text`` after normalisation (NFKC, case-folded, words only)."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text or "").casefold())
    if not words:
        return set()
    if len(words) <= size:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i:i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


@dataclass(frozen=True)
class Sketch:
    """What near-duplicate detection needs of one document: no text, a fixed-size signature."""
    doc_id: str
    input: str
    #: source_timestamp (None sorts last) and doc_id order the members of a group: the first is its representative
    timestamp: datetime | None
    signature: bytes
    bands: tuple[str, ...]

    @property
    def order(self) -> tuple:
        return (self.timestamp is None, self.timestamp or datetime.min, self.doc_id)


class Sketcher:
    """MinHash signatures and LSH band keys for one configuration (``ingest.near_duplicates``)."""

    def __init__(self, cfg: NearDuplicateConfig):
        self.cfg = cfg

    @cached_property
    def _template(self) -> MinHash:
        return MinHash(num_perm=self.cfg.num_perm, seed=SEED)

    @cached_property
    def bands(self) -> tuple[int, int]:
        """(bands, rows per band): datasketch's choice for the threshold (fewest expected false
        positives and negatives, equally weighted)."""
        lsh = MinHashLSH(threshold=self.cfg.threshold, num_perm=self.cfg.num_perm)
        return lsh.b, lsh.r

    def checks(self, row: dict[str, Any]) -> bool:
        """Whether a ``documents`` row takes part (its source_kind is one of ``kinds``)."""
        return row.get("source_kind") in self.cfg.kinds

    def signature(self, text: str) -> np.ndarray:
        m = MinHash(num_perm=self.cfg.num_perm, seed=SEED, permutations=self._template.permutations,
                    scheme=self._template.scheme)
        m.update_batch(sorted(shingles(text, self.cfg.shingle)))
        return m.hashvalues.astype(np.uint32)

    def sketch(self, row: dict[str, Any], input_path: str) -> Sketch:
        sig = self.signature(row["text"])
        b, r = self.bands
        keys = tuple(hashlib.blake2b(i.to_bytes(2, "big") + sig[i * r:(i + 1) * r].tobytes(),
                                     digest_size=12).hexdigest() for i in range(b))
        return Sketch(row["doc_id"], input_path, row.get("source_timestamp"), sig.tobytes(), keys)


def similarity(a: Sketch, b: Sketch) -> float:
    """Estimated Jaccard similarity of two documents' shingle sets: the share of equal MinHash values."""
    return float(np.mean(np.frombuffer(a.signature, np.uint32) == np.frombuffer(b.signature, np.uint32)))


def candidate_pairs(bucket: list[Sketch], threshold: float) -> list[tuple[Sketch, Sketch]]:
    """Pairs of one LSH bucket whose estimated similarity reaches ``threshold``, ordered (earlier, later)."""
    members = sorted({s.doc_id: s for s in bucket}.values(), key=lambda s: s.order)
    return [(a, b) for i, a in enumerate(members) for b in members[i + 1:] if similarity(a, b) >= threshold]


def representatives(pairs) -> dict[str, Sketch]:
    """The groups the verified pairs join (connected components, so a chain of copies is one group):
    ``{doc_id: representative}`` for every document but the representatives themselves. The
    representative is a group's earliest document (source_timestamp, then the smallest doc_id)."""
    parent: dict[str, Sketch] = {}

    def root(s: Sketch) -> Sketch:
        while parent.get(s.doc_id, s).doc_id != s.doc_id:
            s = parent[s.doc_id]
        return s

    for a, b in pairs:
        parent.setdefault(a.doc_id, a)
        parent.setdefault(b.doc_id, b)
        ra, rb = root(a), root(b)
        if ra.doc_id != rb.doc_id:
            first, second = (ra, rb) if ra.order <= rb.order else (rb, ra)
            parent[second.doc_id] = first
    return {doc_id: root(s) for doc_id, s in parent.items() if root(s).doc_id != doc_id}
