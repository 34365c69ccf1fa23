"""An accumulating corpus: this ingest run's staged tables merged by key into the committed ones.

``ingest.mode: accumulate`` (the default): after the Beam pipeline has written this run's
``documents``, ``links``, ``infobox`` and ``redirects`` under the staging folder and the accounting
check has passed, :func:`merge_staged` adds the rows of the committed version that this run does
not replace, so the committed tables are the union of every run's input:

- a page is ``(source, native_id)``; of its revisions (this run's and the committed one) the one
  with the latest ``source_timestamp`` stays, a tie going to this run's (a rerun on the same input
  replaces each row by itself: nothing is duplicated). A page's other revisions leave ``documents``,
  and their ``links`` and ``infobox`` rows with them (rows are keyed by ``doc_id``); extract and
  resolve then drop what was derived from them (docs/resolve.md#replaced-and-forgotten-documents).
- ``redirects`` are keyed by ``(source, from_title)``: this run's row wins.
- documents that ``kgpipe forget`` removed (by doc_id, URL or source, kgpipe/forget.py) are not
  let back in: they are dropped from this run's rows and counted as ``blocked``.
- ``duplicate_of`` travels with its row: near-duplicate marks compare the documents of one run.

The work is streamed with pyarrow: only the key columns of both versions are held in memory
(``doc_id``, ``source``, ``native_id``, ``source_timestamp``, ``url``: about 150 bytes a document);
rows are copied from the committed version in record batches, filtered by doc_id. ``replace`` keeps
the behaviour of earlier versions: the tables hold this run's input only. Engine-free: no Beam here.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kgpipe.warehouse import Warehouse
from schemas import arrow_schema

#: the tables an accumulating ingest merges (``rejects`` keeps reporting this run's bad input)
MERGED_TABLES = ("documents", "links", "infobox", "redirects")
PAGE = ("source", "native_id")
REDIRECT_KEY = ("source", "from_title")
PREVIOUS_FILE = "carried-from-previous-version.parquet"
_KEY_COLUMNS = ["doc_id", "source", "native_id", "source_timestamp", "url"]


def _staged(folder: Path, name: str, columns: list[str] | None = None) -> pa.Table:
    files = sorted(folder.glob("*.parquet"))
    tables = [pq.read_table(path, columns=columns, schema=arrow_schema(name)) for path in files]
    return pa.concat_tables(tables) if tables else arrow_schema(name).empty_table().select(columns or [])


def blocked_mask(keys: pa.Table, forgotten: dict[str, set[str]]) -> pa.Array:
    """Which rows of ``keys`` (doc_id, source, url) a forget request named."""
    mask = pa.array([False] * keys.num_rows, pa.bool_())
    for column, values in (("doc_id", forgotten.get("doc_ids")), ("source", forgotten.get("sources")),
                           ("url", forgotten.get("urls"))):
        if values:
            mask = pc.or_(mask, pc.fill_null(pc.is_in(keys[column], pa.array(sorted(values), pa.string())), False))
    return mask


def page_winners(previous: pa.Table, incoming: pa.Table) -> pa.Table:
    """The documents that stay: one row per page ``(source, native_id)`` of both key tables (doc_id,
    source, native_id, source_timestamp), with ``new`` saying whose row it is. The latest
    ``source_timestamp`` wins (null is oldest), then this run's row, then the larger doc_id."""
    def tagged(table: pa.Table, new: bool) -> pa.Table:
        ts = table["source_timestamp"]
        # a missing time is the oldest (the epoch), so that it sorts last
        ts = pc.fill_null(ts, pa.scalar(0, ts.type)) if ts.null_count else ts
        return pa.table({"doc_id": table["doc_id"], "source": table["source"], "native_id": table["native_id"],
                         "ts": ts, "new": pa.array([new] * table.num_rows, pa.bool_())})
    both = pa.concat_tables([tagged(previous, False), tagged(incoming, True)])
    ordered = both.sort_by([("source", "ascending"), ("native_id", "ascending"),
                            ("ts", "descending"), ("new", "descending"), ("doc_id", "descending")])
    first = ordered.group_by(list(PAGE), use_threads=False).aggregate(
        [("doc_id", "first"), ("new", "first")])
    return pa.table({"source": first["source"], "native_id": first["native_id"], "doc_id": first["doc_id_first"],
                     "new": first["new_first"]})


def _rewrite(folder: Path, name: str, keep: pa.Array) -> None:
    """Keep only the staged rows whose doc_id is in ``keep`` (this run's rows that lost)."""
    table = _staged(folder, name)
    kept = table.filter(pc.is_in(table["doc_id"], keep))
    for path in folder.glob("*.parquet"):
        path.unlink()
    pq.write_table(kept, folder / "part-00000-of-00001.parquet")


def _carry(warehouse: Warehouse, name: str, folder: Path, keep: pa.Array | None = None,
           drop_keys: pa.Table | None = None) -> int:
    """Copy the committed rows of ``name`` whose doc_id is in ``keep`` (or whose key is not in
    ``drop_keys``) into the staged folder, batch by batch. Returns the rows copied."""
    if not warehouse.exists(name):
        return 0
    scanner = warehouse.dataset(name).scanner(
        filter=pc.field("doc_id").isin(keep) if keep is not None else None)
    copied = 0
    with pq.ParquetWriter(folder / PREVIOUS_FILE, arrow_schema(name)) as writer:
        for batch in scanner.to_batches():
            if drop_keys is not None and batch.num_rows:
                batch = pa.Table.from_batches([batch]).join(drop_keys, list(REDIRECT_KEY), join_type="left anti")
                batch = batch.select(arrow_schema(name).names).cast(arrow_schema(name))
                for part in batch.to_batches():
                    writer.write_batch(part)
                copied += batch.num_rows
            elif batch.num_rows:
                writer.write_batch(batch)
                copied += batch.num_rows
    return copied


def merge_staged(warehouse: Warehouse, staging: Path, mode: str, forgotten: dict[str, set[str]]) -> dict:
    """Merge the committed tables into this run's staged ``documents``, ``links``, ``infobox`` and
    ``redirects`` (``staging/<table>/``), in place; returns the figures for the stage record."""
    incoming = _staged(staging / "documents", "documents", _KEY_COLUMNS)
    blocked = blocked_mask(incoming, forgotten)
    n_blocked = pc.sum(blocked).as_py() or 0
    incoming_kept = incoming.filter(pc.invert(blocked))
    accumulate = mode == "accumulate" and warehouse.exists("documents")
    previous = (warehouse.read("documents", _KEY_COLUMNS) if accumulate
                else arrow_schema("documents").empty_table().select(_KEY_COLUMNS))
    winners = page_winners(previous, incoming_kept)
    new_ids = winners.filter(winners["new"])["doc_id"].combine_chunks()
    old_ids = winners.filter(pc.invert(winners["new"]))["doc_id"].combine_chunks()
    if len(new_ids) != incoming.num_rows:   # blocked, or older than the committed revision, or twice in the run
        for name in ("documents", "links", "infobox"):
            _rewrite(staging / name, name, new_ids)
    figures = {"mode": mode, "this_run": incoming.num_rows, "blocked": n_blocked}
    if not accumulate:
        figures["documents"] = len(new_ids)
        return figures
    carried = {name: _carry(warehouse, name, staging / name, keep=old_ids)
               for name in ("documents", "links", "infobox")}
    new_redirects = _staged(staging / "redirects", "redirects", list(REDIRECT_KEY))
    carried["redirects"] = _carry(warehouse, "redirects", staging / "redirects", drop_keys=new_redirects)
    previous_ids = previous["doc_id"].combine_chunks()
    incoming_ids = incoming_kept["doc_id"].combine_chunks()
    # pages whose committed revision gave way to a different one of this run
    replaced = previous.filter(pc.and_(pc.invert(pc.is_in(previous["doc_id"], old_ids)),
                                       pc.invert(pc.is_in(previous["doc_id"], incoming_ids))))
    reingested = pc.sum(pc.is_in(new_ids, previous_ids)).as_py() or 0
    figures.update({
        "previous_documents": previous.num_rows,
        "added": len(new_ids) - reingested - replaced.num_rows,   # pages the warehouse did not have
        "reingested": reingested,
        "replaced_revisions": replaced.num_rows,
        "replaced_doc_ids": sorted(replaced["doc_id"].to_pylist())[:20],
        "older_than_committed": incoming_kept.num_rows - len(new_ids),
        "carried": carried,
        "documents": len(new_ids) + len(old_ids)})
    return figures
