"""``kgpipe forget``: documents removed on request (a takedown, an erasure request), with what was derived from them.

    kgpipe forget --doc-id ID... [--source S...] [--url U...] [--reason TEXT] --warehouse DIR

The documents named (by doc_id, by ``documents.source`` or by ``documents.url``: every revision) are
removed from every table that holds their rows, text or facts, each table committed as a new version
(atomic link swap, as a stage commits):

- ``documents``, ``links``, ``infobox``, ``mentions``, ``triples_raw``, ``mention_entities``, ``labels``:
  the rows of those doc_ids;
- ``rejects``: rows whose ``input_ref`` names one of the doc_ids (extract's ``doc_id#s3``, resolve's
  ``triples_raw:... in document <doc_id>``);
- ``edges``: evidence of those documents leaves the sample (``evidence_count`` goes down by as much); an edge
  whose evidence was all theirs (its sample held every piece, and none is left), or whose subject or object
  entity is gone, is removed;
- ``entities`` (and ``entity_keys``, ``entity_stats``, ``embeddings``) of entities no mention is left for;
  ``inferred_edges`` resting on a removed edge or entity.

``support_count`` and ``confidence`` of the edges, the ``aliases`` table and the entities' alias and type counts
are then exact again after the next resolve: ``forget`` asks for a full (non-incremental) one
(:meth:`~kgpipe.warehouse.Warehouse.request_rebuild`), which the next ``kgpipe run`` (or ``kgpipe resolve``) does;
the index and its graph store are rebuilt by that run's ``index`` stage. Until then the service answers from
the bundle it has (indexes/CURRENT); every older bundle is deleted now.

Erasure: the older versions of every table forget rewrote (``keep_versions``) still hold the text, so they are
deleted: only the new version stays. The request is appended to ``_forgotten.jsonl`` (time, reason, what was
asked, the doc_ids, URLs and titles removed) and written as a run manifest (``_manifests/<run_id>.json``);
ingest keeps those doc_ids, sources and URLs out of later runs (kgpipe/ingest/merge.py).
Engine-free: pyarrow only, streamed batch by batch.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kgpipe.errors import CommandError
from kgpipe.manifest import RunManifest, StageRecord
from kgpipe.warehouse import StageRun, Warehouse
from schemas import arrow_schema

log = logging.getLogger(__name__)
STAGE = "forget"
LEDGER = "_forgotten.jsonl"
#: tables whose rows belong to one document (a doc_id column)
DOC_TABLES = ("documents", "links", "infobox", "mentions", "triples_raw", "mention_entities", "labels")
#: tables with one row per entity, removed with the entity
ENTITY_TABLES = ("entity_keys", "entity_stats", "embeddings")
_DOC_ID = re.compile(r"[0-9a-f]{32}")
INDEXES = "indexes"
CURRENT = "CURRENT"


def forgotten_selectors(warehouse: Warehouse) -> dict[str, set[str]]:
    """Every doc_id, source and URL a forget request named (``_forgotten.jsonl``): ingest keeps them out."""
    out: dict[str, set[str]] = {"doc_ids": set(), "sources": set(), "urls": set()}
    path = warehouse.root / LEDGER
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            out["doc_ids"].update(entry.get("doc_ids", ()))
            out["sources"].update(entry.get("request", {}).get("sources", ()))
            out["urls"].update(entry.get("request", {}).get("urls", ()))
    return out


def matching_documents(warehouse: Warehouse, doc_ids: Iterable[str] = (), sources: Iterable[str] = (),
                       urls: Iterable[str] = ()) -> pa.Table:
    """(doc_id, source, native_id, url, title) of the documents a request names."""
    columns = ["doc_id", "source", "native_id", "url", "title"]
    if not warehouse.exists("documents"):
        return arrow_schema("documents").empty_table().select(columns)
    test = None
    for column, values in (("doc_id", doc_ids), ("source", sources), ("url", urls)):
        values = sorted(set(values))
        if values:
            term = pc.field(column).isin(values)
            test = term if test is None else (test | term)
    if test is None:
        return arrow_schema("documents").empty_table().select(columns)
    return warehouse.dataset("documents").to_table(columns=columns, filter=test)


def _rewrite(warehouse: Warehouse, run: StageRun, name: str, keep: Any | None = None,
             transform=None) -> int | None:
    """Write ``name`` again without the rows ``keep`` (a dataset filter) rejects or ``transform`` (a batch
    -> batch function) drops; returns the rows removed, or None where the table does not exist."""
    if not warehouse.exists(name):
        return None
    schema = arrow_schema(name)
    folder = run.path(name)
    folder.mkdir(parents=True, exist_ok=True)
    before = warehouse.count(name)
    written = 0
    with pq.ParquetWriter(folder / "part-00000.parquet", schema) as writer:
        for batch in warehouse.dataset(name).scanner(filter=keep).to_batches():
            table = pa.Table.from_batches([batch], schema=batch.schema)
            if transform is not None:
                table = transform(table)
            if table.num_rows:
                writer.write_table(table.cast(schema))
                written += table.num_rows
    return before - written


def _scrub_edges(doc_ids: set[str], gone_entities: pa.Array, removed_edges: list[str], figures: dict):
    """A batch transform of ``edges``: evidence of ``doc_ids`` out, edges without evidence or entity out."""
    def transform(table: pa.Table) -> pa.Table:
        rows = []
        for row in table.to_pylist():
            evidence = row["evidence"] or []
            kept = [e for e in evidence if e["doc_id"] not in doc_ids]
            dropped = len(evidence) - len(kept)
            figures["evidence_removed"] += dropped
            all_theirs = dropped and not kept and row["evidence_count"] <= len(evidence)
            entity_gone = row["subject_id"] in gone or (row["object_id"] is not None and row["object_id"] in gone)
            if all_theirs or entity_gone:
                removed_edges.append(row["edge_id"])
                continue
            rows.append({**row, "evidence": kept, "evidence_count": max(row["evidence_count"] - dropped, len(kept))})
        return pa.Table.from_pylist(rows, schema=arrow_schema("edges"))
    gone = set(gone_entities.to_pylist())
    return transform


def _rejects_filter(doc_ids: set[str]):
    def transform(table: pa.Table) -> pa.Table:
        keep = [not (set(_DOC_ID.findall(ref or "")) & doc_ids) for ref in table["input_ref"].to_pylist()]
        return table.filter(pa.array(keep, pa.bool_()))
    return transform


def _inferred_filter(removed_edges: set[str], gone: set[str]):
    def transform(table: pa.Table) -> pa.Table:
        keep = [not (row["subject_id"] in gone or row["object_id"] in gone
                     or set(row["supporting_edge_ids"] or ()) & removed_edges) for row in table.to_pylist()]
        return table.filter(pa.array(keep, pa.bool_()))
    return transform


def _entities_left(warehouse: Warehouse, run: StageRun) -> pa.Array:
    """The entity ids of the staged ``mention_entities`` (after the rewrite)."""
    table = pq.read_table(run.path("mention_entities"), columns=["entity_id"])
    return pc.unique(table["entity_id"].combine_chunks())


def _old_bundles(root: Path) -> Iterator[Path]:
    indexes = root / INDEXES
    current = (indexes / CURRENT).read_text(encoding="utf-8").strip() if (indexes / CURRENT).exists() else None
    if indexes.is_dir():
        for path in indexes.iterdir():
            if path.is_dir() and not path.name.startswith(("_", ".")) and path.name != current:
                yield path


def forget(warehouse: Warehouse, run_id: str, doc_ids: Iterable[str] = (), sources: Iterable[str] = (),
           urls: Iterable[str] = (), reason: str = "", command: str = "kgpipe forget",
           config: dict | None = None) -> dict[str, Any]:
    """Remove the documents a request names and everything derived from them (see the module docstring);
    returns the figures that the ledger and the manifest record."""
    request = {"doc_ids": sorted(set(doc_ids)), "sources": sorted(set(sources)), "urls": sorted(set(urls))}
    if not any(request.values()):
        raise CommandError("forget needs --doc-id, --source or --url")
    if not warehouse.exists("documents"):
        raise CommandError(f"no documents table in {warehouse.root}")
    matched = matching_documents(warehouse, **request)
    ids = set(matched["doc_id"].to_pylist())
    manifest = RunManifest(run_id=run_id, command=command, config=config or {})
    removed: dict[str, int] = {}
    figures: dict[str, Any] = {"evidence_removed": 0}
    id_array = pa.array(sorted(ids), pa.string())
    with StageRun(warehouse, STAGE, run_id) as run:
        if ids:
            keep_docs = ~pc.field("doc_id").isin(id_array)
            for name in DOC_TABLES:
                n = _rewrite(warehouse, run, name, keep=keep_docs)
                if n is not None:
                    removed[name] = n
            n = _rewrite(warehouse, run, "rejects", transform=_rejects_filter(ids))
            if n is not None:
                removed["rejects"] = n
            gone = pa.array([], pa.string())
            removed_edges: list[str] = []
            if "mention_entities" in removed and warehouse.exists("entities"):
                left = _entities_left(warehouse, run)
                before = warehouse.read("entities", ["entity_id"])["entity_id"]
                gone = pc.filter(before, pc.invert(pc.is_in(before, left))).combine_chunks()
                removed["entities"] = _rewrite(warehouse, run, "entities", keep=~pc.field("entity_id").isin(gone))
                for name in ENTITY_TABLES:
                    n = _rewrite(warehouse, run, name, keep=~pc.field("entity_id").isin(gone))
                    if n is not None:
                        removed[name] = n
            n = _rewrite(warehouse, run, "edges", transform=_scrub_edges(ids, gone, removed_edges, figures))
            if n is not None:
                removed["edges"] = n
            n = _rewrite(warehouse, run, "inferred_edges",
                         transform=_inferred_filter(set(removed_edges), set(gone.to_pylist())))
            if n is not None:
                removed["inferred_edges"] = n
            tables = sorted(removed)
            run.check(*tables)
            run.commit(*tables)
            for name in tables:   # erasure: the older versions hold the text
                warehouse.purge_old_versions(name)
            warehouse.request_rebuild("resolve", f"forget {run_id}: {len(ids)} documents removed")
            bundles = [path.name for path in _old_bundles(warehouse.root)]
            for name in bundles:
                shutil.rmtree(warehouse.root / INDEXES / name, ignore_errors=True)
            figures["old_index_bundles_deleted"] = bundles
        record = run.record(inputs={"request": request, "reason": reason}, outputs=removed, rejects=0,
                            details={"doc_ids": sorted(ids), "documents": matched.to_pylist(), **figures,
                                     "full_resolve_requested": bool(ids)})
    entry = {"run_id": run_id, "time": datetime.now(timezone.utc).isoformat(), "reason": reason, "request": request,
             "doc_ids": sorted(ids), "urls": sorted({u for u in matched["url"].to_pylist() if u}),
             "titles": sorted({t for t in matched["title"].to_pylist() if t}), "rows_removed": removed}
    ledger = warehouse.root / LEDGER
    with ledger.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
    _write_manifest(warehouse, manifest, record)
    return {**entry, **figures, "full_resolve_requested": bool(ids)}


def _write_manifest(warehouse: Warehouse, manifest: RunManifest, record: StageRecord) -> None:
    manifest.stages.append(record)
    manifest.status = "succeeded"
    manifest.finished_at = datetime.now(timezone.utc).isoformat()
    warehouse.write_json_atomic(f"_manifests/{manifest.run_id}.json", manifest.as_dict())
