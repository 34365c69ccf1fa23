"""The query-side graph store: entities, facts with evidence, search names and documents, as
memory-mapped Arrow IPC files inside an index bundle.

The service answers from an index bundle, never from the raw warehouse: ``jobs/index.py`` calls
:func:`build_store` into ``<bundle>/store/`` before the bundle is published, so one ``indexes/CURRENT``
switch swaps the FAISS index and the graph it describes together.

Files (Arrow IPC "Feather v2", uncompressed so that ``pyarrow.memory_map`` reads them without copying;
each sorted for binary search, so a lookup touches O(log n) rows and the operating system pages in only
what is read):

- ``entities.arrow``: one row per entity with its ``entity_stats`` (nulls where analyze has not run),
  sorted by ``entity_id``;
- ``facts.arrow``: ``edges`` (kind ``extracted``, evidence with the source document's title and url
  joined in at build time) and ``inferred_edges`` (kind ``inferred``: rule and supporting edge ids, no
  evidence), subject and object names denormalized, sorted by ``subject_id`` then extracted before
  inferred, support and confidence descending: the outgoing facts of an entity are one contiguous run;
- ``facts_by_object.arrow``: (``object_id``, ``row``) sorted by object id: incoming facts;
- ``facts_by_edge.arrow``: (``edge_id``, ``row``) sorted by edge id: one fact by id;
- ``names.arrow``: search keys, one row per (normalized name, entity), from canonical names, aliases and
  wiki titles, sorted by key and then mention count: exact and prefix matches are binary searches;
- ``documents.arrow``: doc id, title, url, source and time of every document (no text), sorted by doc id;
- ``store.json``: format version and row counts.

Names are normalized with :func:`kgpipe.graph.resolve.normalize_surface` (wiki titles with ``title_key``),
the function resolve builds its alias keys with, so "apple inc." finds what resolve calls ``apple``.
Fuzzy matching uses RapidFuzz (C++ edit-distance scorers with a top-k extractor; difflib is pure Python
and two orders of magnitude slower over tens of thousands of names).

The build reads the graph tables into memory with pyarrow (columnar, vectorized joins by ``index_in`` and
``take``): it runs on the single machine that will serve the bundle, and the store it writes is at most
the size of those columns. Opening a store reads only ``store.json`` and maps the files.
"""
from __future__ import annotations

import bisect
import functools
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgpipe.errors import CommandError
from kgpipe.graph.resolve import normalize_surface, title_key

FORMAT_VERSION = 1
EXTRACTED, INFERRED = "extracted", "inferred"
#: kinds of search names, best first: which surface an entity matched through
NAME_KINDS = ("canonical", "wiki_title", "alias")
#: similarity (RapidFuzz, 0..100) below which a name is not a fuzzy match: low enough for one or two typos
#: in a short name ("lincon" -> "abraham lincoln" scores 75), high enough to keep unrelated names out
FUZZY_CUTOFF = 75.0
#: a match on a word tail of a name ("einstein" of "albert einstein") counts a little less than one on the
#: whole name, so that of two equally close names the one that is all the query wins
TAIL_WEIGHT = 0.95
#: queries shorter than this (normalized) get no fuzzy matches: partial ratios of one or two letters
#: match almost every name
FUZZY_MIN_CHARS = 3
#: after the last key that starts with the query: every key with that prefix sorts below it
_PREFIX_END = "\U0010ffff"

EVIDENCE_OUT = pa.struct([("doc_id", pa.string()), ("title", pa.string()), ("url", pa.string()),
                          ("sentence_text", pa.string()), ("sentence_index", pa.int32())])

ENTITIES_SCHEMA = pa.schema([
    ("entity_id", pa.string()), ("name", pa.string()), ("type", pa.string()), ("wiki_title", pa.string()),
    ("aliases", pa.list_(pa.string())), ("mention_count", pa.int64()), ("pagerank", pa.float64()),
    ("in_degree", pa.int64()), ("out_degree", pa.int64()), ("community_id", pa.string()),
    ("component_id", pa.string()), ("component_size", pa.int64()),
    ("first_seen", pa.string()), ("last_seen", pa.string()),
])
FACTS_SCHEMA = pa.schema([
    ("edge_id", pa.string()), ("subject_id", pa.string()), ("subject", pa.string()),
    ("predicate", pa.string()), ("object_id", pa.string()), ("object", pa.string()),
    ("object_type", pa.string()), ("object_entity_type", pa.string()), ("kind", pa.string()),
    ("confidence", pa.float64()), ("support_count", pa.int64()), ("evidence_count", pa.int64()),
    ("qualifiers", pa.map_(pa.string(), pa.string())), ("evidence", pa.list_(EVIDENCE_OUT)),
    ("rule", pa.string()), ("supporting_edge_ids", pa.list_(pa.string())), ("depth", pa.int32()),
])
NAMES_SCHEMA = pa.schema([
    ("key", pa.string()), ("entity_id", pa.string()), ("surface", pa.string()), ("kind", pa.string()),
    ("mention_count", pa.int64()), ("pagerank", pa.float64()),
])
DOCUMENTS_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("title", pa.string()), ("url", pa.string()), ("source", pa.string()),
    ("source_kind", pa.string()), ("language", pa.string()), ("source_timestamp", pa.string()),
])
_BRIEF = ("entity_id", "name", "type", "mention_count", "pagerank")   # what GraphStore.entities returns

_FILES = {"entities": ENTITIES_SCHEMA, "facts": FACTS_SCHEMA, "names": NAMES_SCHEMA,
          "documents": DOCUMENTS_SCHEMA,
          "facts_by_object": pa.schema([("object_id", pa.string()), ("row", pa.int64())]),
          "facts_by_edge": pa.schema([("edge_id", pa.string()), ("row", pa.int64())])}


class StoreError(CommandError, ValueError):
    """A store cannot be built from these tables or opened from this folder."""


# --------------------------------------------------------------------------- build

def _iso(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Timestamps as ISO-8601 strings: what JSON answers carry, independent of Arrow's time zones."""
    return pa.array([v.isoformat() if v is not None else None for v in values.to_pylist()], pa.string())


def _column(table: pa.Table, name: str, type_: pa.DataType) -> pa.Array:
    if name in table.column_names:
        return table.column(name).combine_chunks().cast(type_)
    return pa.nulls(table.num_rows, type_)


def _lookup(keys: pa.Array, value_set: pa.Array, values: pa.Array) -> pa.Array:
    """``values[i]`` where ``value_set[i] == key`` for every key (null where absent): a vectorized
    left join of one column that works for nested types too (Acero's hash join does not carry lists)."""
    positions = pc.index_in(keys, value_set=value_set)
    return values.take(positions)


def _write(folder: Path, name: str, table: pa.Table) -> None:
    table = table.cast(_FILES[name])
    # record batches of bounded size keep random access cheap; no compression so the file maps as is
    with pa.OSFile(str(folder / f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=64 * 1024)


def _read_optional(warehouse, name: str, columns: list[str]) -> pa.Table | None:
    return warehouse.read(name, columns=columns) if warehouse.exists(name) else None


def _entities_table(entities: pa.Table, stats: pa.Table | None) -> pa.Table:
    aliases = entities.column("aliases").combine_chunks()
    alias_lists = []
    for row in aliases.to_pylist():   # most frequent surface first
        ordered = sorted(row or [], key=lambda a: (-(a["count"] or 0), a["alias"] or ""))
        alias_lists.append([a["alias"] for a in ordered if a["alias"]])
    ids = entities.column("entity_id").combine_chunks()
    out = {"entity_id": ids, "name": entities.column("canonical_name").combine_chunks(),
           "type": entities.column("entity_type").combine_chunks(),
           "wiki_title": entities.column("wiki_title").combine_chunks(),
           "aliases": pa.array(alias_lists, pa.list_(pa.string())),
           "mention_count": entities.column("mention_count").combine_chunks()}
    for name, type_ in (("pagerank", pa.float64()), ("in_degree", pa.int64()), ("out_degree", pa.int64()),
                        ("community_id", pa.string()), ("component_id", pa.string()),
                        ("component_size", pa.int64())):
        if stats is None or not stats.num_rows:
            out[name] = pa.nulls(len(ids), type_)
        else:
            out[name] = _lookup(ids, stats.column("entity_id").combine_chunks(), _column(stats, name, type_))
    out["first_seen"] = _iso(entities.column("first_seen"))
    out["last_seen"] = _iso(entities.column("last_seen"))
    table = pa.table(out)
    duplicated = len(ids) - len(pc.unique(ids))
    if duplicated:
        raise StoreError(f"entities: {duplicated} duplicated entity ids; the table must have one row per entity")
    return table.sort_by([("entity_id", "ascending")])


def _evidence_with_documents(evidence: pa.Array, documents: pa.Table) -> pa.Array:
    """Each edge's evidence list with the document title and url joined in (null where the document is
    no longer in ``documents``), keeping each list's order and length."""
    evidence = evidence.combine_chunks() if isinstance(evidence, pa.ChunkedArray) else evidence
    n = len(evidence)
    flat = pc.list_flatten(evidence)
    doc_ids = flat.field("doc_id")
    doc_keys = documents.column("doc_id").combine_chunks()
    title = _lookup(doc_ids, doc_keys, documents.column("title").combine_chunks())
    url = _lookup(doc_ids, doc_keys, documents.column("url").combine_chunks())
    items = pa.StructArray.from_arrays(
        [doc_ids, title, url, flat.field("sentence_text"), flat.field("sentence_index")],
        fields=list(EVIDENCE_OUT))
    lengths = pc.fill_null(pc.list_value_length(evidence), 0).to_numpy(zero_copy_only=False)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), items)


def _facts_table(edges: pa.Table | None, inferred: pa.Table | None, entities: pa.Table,
                 documents: pa.Table) -> pa.Table:
    ids = entities.column("entity_id").combine_chunks()
    names = entities.column("name").combine_chunks()
    types = entities.column("type").combine_chunks()
    parts = []
    if edges is not None and edges.num_rows:
        n = edges.num_rows
        subject_id = edges.column("subject_id").combine_chunks()
        object_id = edges.column("object_id").combine_chunks()
        object_name = pc.coalesce(_lookup(object_id, ids, names), edges.column("object_literal").combine_chunks())
        parts.append(pa.table({
            "edge_id": edges.column("edge_id").combine_chunks(), "subject_id": subject_id,
            "subject": _lookup(subject_id, ids, names), "predicate": edges.column("predicate").combine_chunks(),
            "object_id": object_id, "object": object_name,
            "object_type": edges.column("object_type").combine_chunks(),
            "object_entity_type": _lookup(object_id, ids, types),
            "kind": pa.array([EXTRACTED] * n, pa.string()),
            "confidence": edges.column("confidence").combine_chunks(),
            "support_count": edges.column("support_count").combine_chunks(),
            "evidence_count": edges.column("evidence_count").combine_chunks(),
            "qualifiers": edges.column("qualifiers").combine_chunks().cast(pa.map_(pa.string(), pa.string())),
            "evidence": _evidence_with_documents(edges.column("evidence"), documents),
            "rule": pa.nulls(n, pa.string()),
            "supporting_edge_ids": pa.array([[]] * n, pa.list_(pa.string())),
            "depth": pa.array([0] * n, pa.int32()),
        }, schema=FACTS_SCHEMA))
    if inferred is not None and inferred.num_rows:
        n = inferred.num_rows
        subject_id = inferred.column("subject_id").combine_chunks()
        object_id = inferred.column("object_id").combine_chunks()
        parts.append(pa.table({
            "edge_id": inferred.column("edge_id").combine_chunks(), "subject_id": subject_id,
            "subject": _lookup(subject_id, ids, names), "predicate": inferred.column("predicate").combine_chunks(),
            "object_id": object_id, "object": _lookup(object_id, ids, names),
            "object_type": pa.array(["entity"] * n, pa.string()),
            "object_entity_type": _lookup(object_id, ids, types),
            "kind": pa.array([INFERRED] * n, pa.string()),
            "confidence": inferred.column("confidence").combine_chunks(),
            # support counts evidence sentences; an inferred fact has none of its own (see supporting_edge_ids)
            "support_count": pa.array([0] * n, pa.int64()), "evidence_count": pa.array([0] * n, pa.int64()),
            "qualifiers": pa.nulls(n, pa.map_(pa.string(), pa.string())),
            "evidence": pa.array([[]] * n, pa.list_(EVIDENCE_OUT)),
            "rule": inferred.column("rule").combine_chunks(),
            "supporting_edge_ids": inferred.column("supporting_edge_ids").combine_chunks(),
            "depth": inferred.column("depth").combine_chunks(),
        }, schema=FACTS_SCHEMA))
    if not parts:
        return FACTS_SCHEMA.empty_table()
    facts = pa.concat_tables(parts)
    unknown = pc.sum(pc.is_null(facts.column("subject"))).as_py() or 0
    if unknown:
        raise StoreError(f"{unknown} facts have a subject_id that is not in entities: the graph tables are "
                         f"from different runs (rerun resolve/reason)")
    duplicated = facts.num_rows - len(pc.unique(facts.column("edge_id")))
    if duplicated:
        raise StoreError(f"{duplicated} edge ids occur more than once across edges and inferred_edges")
    return facts.sort_by([("subject_id", "ascending"), ("kind", "ascending"), ("support_count", "descending"),
                          ("confidence", "descending"), ("edge_id", "ascending")])


def _names_table(entities: pa.Table) -> pa.Table:
    """One row per (key, entity): the best kind of name that produced the key, with its surface."""
    best: dict[tuple[str, str], tuple[int, str]] = {}
    # the canonical name is usually also an alias and the title: normalize each surface once
    surface_key = functools.lru_cache(maxsize=1 << 16)(normalize_surface)
    rows = entities.select(["entity_id", "name", "wiki_title", "aliases"]).to_pylist()
    for row in rows:
        candidates = [(0, row["name"], surface_key(row["name"] or ""))]
        if row["wiki_title"]:
            candidates.append((1, row["wiki_title"], title_key(row["wiki_title"])))
        candidates += [(2, alias, surface_key(alias)) for alias in row["aliases"] or []]
        for rank, surface, key in candidates:
            if not key:   # a name without letters or digits cannot be searched for
                continue
            slot = (key, row["entity_id"])
            if slot not in best or rank < best[slot][0]:
                best[slot] = (rank, surface)
    ids = entities.column("entity_id").combine_chunks()
    entity_ids = pa.array([entity for _, entity in best], pa.string())
    table = pa.table({
        "key": pa.array([key for key, _ in best], pa.string()), "entity_id": entity_ids,
        "surface": pa.array([surface for _, surface in best.values()], pa.string()),
        "kind": pa.array([NAME_KINDS[rank] for rank, _ in best.values()], pa.string()),
        "mention_count": _lookup(entity_ids, ids, entities.column("mention_count").combine_chunks()),
        "pagerank": _lookup(entity_ids, ids, entities.column("pagerank").combine_chunks()),
    })
    return table.sort_by([("key", "ascending"), ("mention_count", "descending"), ("entity_id", "ascending")])


def _documents_table(documents: pa.Table) -> pa.Table:
    table = pa.table({
        "doc_id": documents.column("doc_id").combine_chunks(), "title": documents.column("title").combine_chunks(),
        "url": documents.column("url").combine_chunks(), "source": documents.column("source").combine_chunks(),
        "source_kind": documents.column("source_kind").combine_chunks(),
        "language": documents.column("language").combine_chunks(),
        "source_timestamp": _iso(documents.column("source_timestamp")),
    })
    return table.sort_by([("doc_id", "ascending")])


def build_store(warehouse, folder: Path) -> dict:
    """Write the store of ``warehouse``'s graph tables into ``folder`` (created); returns row counts.

    Needs ``entities``; ``edges``, ``entity_stats``, ``inferred_edges`` and ``documents`` may be absent
    (no facts, null statistics, no inferred facts, evidence without titles).
    """
    folder = Path(folder)
    if not warehouse.exists("entities"):
        raise StoreError(f"the store needs the entities table in {warehouse.root}: run `kgpipe resolve` first")
    folder.mkdir(parents=True, exist_ok=True)
    entities = _entities_table(warehouse.read("entities"),
                               _read_optional(warehouse, "entity_stats", None))
    documents = _read_optional(warehouse, "documents",
                               ["doc_id", "title", "url", "source", "source_kind", "language", "source_timestamp"])
    if documents is None:
        documents = pa.table({name: pa.array([], type_) for name, type_ in
                              (("doc_id", pa.string()), ("title", pa.string()), ("url", pa.string()))})
    facts = _facts_table(_read_optional(warehouse, "edges", None), _read_optional(warehouse, "inferred_edges", None),
                         entities, documents)
    rows = pa.array(np.arange(facts.num_rows, dtype=np.int64))
    by_object = pa.table({"object_id": facts.column("object_id"), "row": rows})
    by_object = by_object.filter(pc.is_valid(by_object.column("object_id")))
    by_object = by_object.sort_by([("object_id", "ascending"), ("row", "ascending")])
    by_edge = pa.table({"edge_id": facts.column("edge_id"), "row": rows}).sort_by([("edge_id", "ascending")])
    names = _names_table(entities)
    _write(folder, "entities", entities)
    _write(folder, "facts", facts)
    _write(folder, "facts_by_object", by_object)
    _write(folder, "facts_by_edge", by_edge)
    _write(folder, "names", names)
    if "source" in documents.column_names:
        _write(folder, "documents", _documents_table(documents))
    else:
        _write(folder, "documents", DOCUMENTS_SCHEMA.empty_table())
    kinds = pc.value_counts(facts.column("kind")).to_pylist() if facts.num_rows else []
    by_kind = {item["values"]: item["counts"] for item in kinds}
    counts = {"entities": entities.num_rows, "facts": facts.num_rows,
              "extracted_facts": by_kind.get(EXTRACTED, 0), "inferred_facts": by_kind.get(INFERRED, 0),
              "names": names.num_rows, "documents": documents.num_rows}
    manifest = {"format": FORMAT_VERSION, "counts": counts}
    (folder / "store.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return counts


# --------------------------------------------------------------------------- read

class _Keys:
    """A sorted string column as a sequence for :mod:`bisect` (one row read per probe)."""

    def __init__(self, column: pa.ChunkedArray):
        self.column = column

    def __len__(self) -> int:
        return len(self.column)

    def __getitem__(self, i: int) -> str:
        return self.column[i].as_py()


def _map(path: Path) -> pa.Table:
    if not path.exists():
        raise StoreError(f"{path} is missing: the store is incomplete (rebuild the bundle with `kgpipe index`)")
    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def _range(keys: _Keys, key: str) -> tuple[int, int]:
    return bisect.bisect_left(keys, key), bisect.bisect_right(keys, key)


class GraphStore:
    """Read side of a store folder. Every file is mapped when the store is opened, so a store object
    keeps answering even after a newer bundle replaced its folder on disk (mapped files stay readable
    after they are unlinked)."""

    def __init__(self, folder: Path, manifest: dict, tables: dict[str, pa.Table]):
        self.folder, self.manifest = folder, manifest
        self._entities, self._facts, self._names = tables["entities"], tables["facts"], tables["names"]
        self._by_object, self._by_edge, self._documents = (tables["facts_by_object"], tables["facts_by_edge"],
                                                           tables["documents"])
        self._entity_index: dict[str, int] | None = None
        self._briefs: list[dict] | None = None
        self._subject_keys = _Keys(self._facts.column("subject_id"))
        self._object_keys = _Keys(self._by_object.column("object_id"))
        self._edge_keys = _Keys(self._by_edge.column("edge_id"))
        self._name_keys = _Keys(self._names.column("key"))
        self._doc_keys = _Keys(self._documents.column("doc_id"))
        self._fuzzy_choices: tuple[list[str], list[int]] | None = None
        self._fuzzy_tails: tuple[list[str], np.ndarray, np.ndarray] | None = None
        self._predicates: dict[str, int] | None = None

    @classmethod
    def open(cls, folder: str | os.PathLike) -> GraphStore:
        folder = Path(folder)
        try:
            manifest = json.loads((folder / "store.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"no graph store in {folder}: rebuild the bundle with `kgpipe index`") from None
        if manifest.get("format") != FORMAT_VERSION:
            raise StoreError(f"{folder}: store format {manifest.get('format')!r}, this kgpipe reads "
                             f"{FORMAT_VERSION}: rebuild the bundle with `kgpipe index`")
        return cls(folder, manifest, {name: _map(folder / f"{name}.arrow") for name in _FILES})

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.manifest.get("counts", {}))

    # ---------------------------------------------------------------- entities

    def _entity_row(self, entity_id: str) -> int | None:
        # every similar/predict/recommend answer names ~10 entities: a dict (built once, about 100 bytes
        # an entity) answers in well under a microsecond where a bisect over Arrow scalars takes ~100
        if self._entity_index is None:
            self._entity_index = {key: i for i, key in enumerate(self._entities.column("entity_id").to_pylist())}
        return self._entity_index.get(entity_id)

    def has_entity(self, entity_id: str) -> bool:
        return self._entity_row(entity_id) is not None

    def entity(self, entity_id: str) -> dict | None:
        row = self._entity_row(entity_id)
        if row is None:
            return None
        item = self._entities.slice(row, 1).to_pylist()[0]
        return {key: item[key] for key in ("entity_id", "name", "type", "wiki_title", "aliases", "mention_count",
                                           "pagerank", "in_degree", "out_degree", "community_id",
                                           "component_id", "component_size", "first_seen", "last_seen")}

    def entities(self, entity_ids: list[str]) -> dict[str, dict]:
        """Name, type, mention count and PageRank of many entities at once (unknown ids left out)."""
        if self._briefs is None:
            # the hot path of every similar/predict/recommend answer: rows as Python dicts, built once (about
            # 300 bytes an entity), answer ten ids in microseconds where an Arrow take and to_pylist per call
            # cost ~300 (a fifth of a /similar request)
            self._briefs = self._entities.select(list(_BRIEF)).to_pylist()
        rows = map(self._entity_row, entity_ids)
        return {entity_id: dict(self._briefs[row]) for entity_id, row in zip(entity_ids, rows) if row is not None}

    # ---------------------------------------------------------------- facts

    @staticmethod
    def _fact_dicts(rows: pa.Table) -> list[dict]:
        out = []
        for item in rows.to_pylist():
            item["qualifiers"] = dict(item["qualifiers"] or [])
            item["evidence"] = item["evidence"] or []
            item["supporting_edge_ids"] = item["supporting_edge_ids"] or []
            out.append(item)
        return out

    def facts(self, entity_id: str, direction: str = "both", limit: int | None = None) -> list[dict]:
        """Facts of an entity: outgoing (it is the subject), incoming (the object) or both (outgoing
        first); extracted before inferred, then by support and confidence."""
        if direction not in ("out", "in", "both"):
            raise ValueError(f"direction must be 'out', 'in' or 'both', got {direction!r}")
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        out: list[dict] = []
        seen: set[str] = set()
        if direction in ("out", "both"):
            lo, hi = _range(self._subject_keys, entity_id)
            if limit is not None:
                hi = min(hi, lo + limit)
            out = self._fact_dicts(self._facts.slice(lo, hi - lo))
            seen = {f["edge_id"] for f in out}
        if direction in ("in", "both") and (limit is None or len(out) < limit):
            lo, hi = _range(self._object_keys, entity_id)
            if limit is not None:
                # a self-loop is both out and in: read one more row per possible duplicate
                hi = min(hi, lo + (limit - len(out)) + len(seen))
            rows = self._by_object.column("row").slice(lo, hi - lo)
            incoming = [f for f in self._fact_dicts(self._facts.take(rows)) if f["edge_id"] not in seen]
            out += incoming
        return out if limit is None else out[:limit]

    def fact(self, edge_id: str) -> dict | None:
        lo, hi = _range(self._edge_keys, edge_id)
        if hi == lo:
            return None
        row = self._by_edge.column("row")[lo].as_py()
        return self._fact_dicts(self._facts.slice(row, 1))[0]

    def fact_count(self, entity_id: str) -> dict[str, int]:
        lo, hi = _range(self._subject_keys, entity_id)
        ilo, ihi = _range(self._object_keys, entity_id)
        return {"out": hi - lo, "in": ihi - ilo}

    def predicates(self) -> dict[str, int]:
        """Every predicate with its number of facts (extracted and inferred), most frequent first."""
        if self._predicates is None:
            counts = pc.value_counts(self._facts.column("predicate")).to_pylist() if self._facts.num_rows else []
            self._predicates = {item["values"]: item["counts"]
                                for item in sorted(counts, key=lambda c: (-c["counts"], c["values"]))}
        return dict(self._predicates)

    # ---------------------------------------------------------------- documents

    def document(self, doc_id: str) -> dict | None:
        lo, hi = _range(self._doc_keys, doc_id)
        if hi == lo:
            return None
        return self._documents.slice(lo, 1).to_pylist()[0]

    # ---------------------------------------------------------------- search

    def _fuzzy_index(self) -> tuple[list[str], list[int]]:
        """Distinct keys and the first names row of each, plus the strings fuzzy search compares with:
        every key and each of its word tails ("albert einstein", "einstein"), with the key each belongs
        to. Built once, on the first fuzzy search; held in memory (about three strings per name)."""
        if self._fuzzy_choices is None:
            keys = self._names.column("key").to_pylist()
            distinct, starts = [], []
            for row, key in enumerate(keys):
                if not distinct or distinct[-1] != key:
                    distinct.append(key)
                    starts.append(row)
            tails, owners, whole = [], [], []
            for index, key in enumerate(distinct):
                words = key.split(" ")
                for first in range(len(words)):
                    tails.append(" ".join(words[first:]))
                    owners.append(index)
                    whole.append(first == 0)
            self._fuzzy_tails = (tails, np.asarray(owners, np.int64), np.asarray(whole, bool))
            self._fuzzy_choices = (distinct, starts)
        return self._fuzzy_choices

    def _fuzzy_matches(self, key: str, limit: int) -> list[tuple[int, float]]:
        """(distinct key index, similarity 0..100) of the names most similar to ``key``, best first.

        Similarity is RapidFuzz's normalized edit-distance ratio between the query and the whole name or,
        times TAIL_WEIGHT, one of its word tails, whichever is higher: "einstien" finds "albert einstein"
        through "einstein", while a short alias is never a match merely because the query contains it
        ("al" in "albert einstien"), as with partial-ratio scorers. The plain ratio is one SIMD pass over
        the strings (WRatio's alignments cost about 100 times more). Names that start with the query are
        left out: they are exact or prefix matches already."""
        from rapidfuzz import fuzz, process
        choices, _ = self._fuzzy_index()
        tails, owners, whole = self._fuzzy_tails
        scores = process.cdist([key], tails, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF * TAIL_WEIGHT,
                               dtype=np.float32)[0]
        scores = np.where(whole, scores, scores * TAIL_WEIGHT)
        best = np.zeros(len(choices), np.float32)
        np.maximum.at(best, owners, scores)
        candidates = np.flatnonzero(best >= FUZZY_CUTOFF)
        ordered = candidates[np.argsort(-best[candidates], kind="stable")]
        out = []
        for index in ordered.tolist():
            if not choices[index].startswith(key):
                out.append((index, float(best[index])))
                if len(out) == limit:
                    break
        return out

    def _ranked_rows(self, lo: int, hi: int) -> list[dict]:
        """Names rows lo..hi, most mentioned (then highest PageRank) first."""
        if hi <= lo:
            return []
        rows = self._names.slice(lo, hi - lo)
        order = pc.sort_indices(rows, sort_keys=[("mention_count", "descending"), ("pagerank", "descending"),
                                                 ("entity_id", "ascending")])
        return rows.take(order).to_pylist()

    def search(self, q: str, k: int = 10) -> list[dict]:
        """Entities whose canonical name, wiki title or an alias matches ``q``: exact matches of the
        normalized name first, then names that start with it, then fuzzy matches (similarity >= FUZZY_CUTOFF,
        see ``_fuzzy_matches``); within exact and prefix matches the most mentioned (then highest PageRank) entity
        first, fuzzy matches by similarity and then mentions. ``score`` is 1.0 for an exact match, the
        typed share of the name for a prefix match and the similarity (0..1) for a fuzzy one."""
        if k < 1:
            raise ValueError("k must be at least 1")
        key = normalize_surface(q or "")
        if not key:
            raise ValueError(f"the query {q!r} has no letters or digits to search for")
        results: list[dict] = []
        taken: set[str] = set()

        def add(row: dict, match: str, score: float) -> None:
            if row["entity_id"] not in taken and len(results) < k:
                taken.add(row["entity_id"])
                results.append({"entity_id": row["entity_id"], "match": match, "score": round(score, 4),
                                "matched": row["surface"], "matched_kind": row["kind"]})

        lo, hi = _range(self._name_keys, key)
        for row in self._ranked_rows(lo, hi):
            add(row, "exact", 1.0)
        if len(results) < k:
            end = bisect.bisect_left(self._name_keys, key + _PREFIX_END, lo=hi)
            for row in self._ranked_rows(hi, end):
                add(row, "prefix", len(key) / max(len(row["key"]), 1))
        if len(results) < k and len(key) >= FUZZY_MIN_CHARS and self._names.num_rows:
            fuzzy = []
            starts = self._fuzzy_index()[1]
            for index, similarity in self._fuzzy_matches(key, 4 * k):
                end = starts[index + 1] if index + 1 < len(starts) else self._names.num_rows
                for row in self._ranked_rows(starts[index], end):
                    fuzzy.append((similarity, row))
            fuzzy.sort(key=lambda item: (-item[0], -(item[1]["mention_count"] or 0), item[1]["entity_id"]))
            for similarity, row in fuzzy:
                add(row, "fuzzy", similarity / 100.0)
        info = self.entities([r["entity_id"] for r in results])
        for result in results:
            entity = info.get(result["entity_id"], {})
            result.update(name=entity.get("name"), type=entity.get("type"),
                          mention_count=entity.get("mention_count"), pagerank=entity.get("pagerank"))
        return [{key_: r[key_] for key_ in ("entity_id", "name", "type", "match", "score", "matched",
                                            "matched_kind", "mention_count", "pagerank")} for r in results]

