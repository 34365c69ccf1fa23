"""Resolve-stage scaling: the same graph at 1x, 2x and 4x its size, one Spark session.

The source is a warehouse that ``kgpipe run`` (or ingest + extract) filled. Each copy
of a document gets a new doc_id (and new mention, sentence and triple ids), so the
larger inputs hold k times the mentions, triples and links while titles and names
stay the same: cross-document merges then grow with k, as they do on real data.
Sizes are run in alternating rounds (this machine's timings swing ~30% between runs);
each size keeps its best time. Target: 4x the data in at most 4.6x the time.

    .venv/bin/python bench/resolve.py [--warehouse warehouse] [--rounds 2]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kgpipe.config import ResolveConfig, SparkConfig
from kgpipe.ids import stable_id
from kgpipe.manifest import new_run_id
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from schemas import arrow_schema

TARGET = 4.6
INPUTS = ("documents", "links", "redirects", "mentions", "triples_raw")
#: columns holding ids that a copy renames
ID_COLUMNS = {"documents": ["doc_id"], "links": ["doc_id"], "redirects": [],
              "mentions": ["mention_id", "doc_id", "sentence_id"],
              "triples_raw": ["triple_id", "doc_id", "subject_mention_id", "object_mention_id"]}


def _renamed(column: pa.ChunkedArray, copy: int) -> pa.Array:
    if copy == 0:
        return column.combine_chunks()
    values = column.to_pylist()
    mapping = {v: stable_id(v, "copy", copy) for v in set(values) if v is not None}
    return pa.array([mapping.get(v) if v is not None else None for v in values], type=column.type)


def replicate(source: Warehouse, root: Path, factor: int) -> Warehouse:
    """A warehouse with ``factor`` renamed copies of every document (redirects once: they
    describe the wiki, not documents)."""
    target = Warehouse(root, keep_versions=0)
    for name in INPUTS:
        table = source.read(name)
        copies = range(factor) if ID_COLUMNS[name] else range(1)
        parts = []
        for copy in copies:
            part = table
            for column in ID_COLUMNS[name]:
                part = part.set_column(part.schema.get_field_index(column), column, _renamed(part[column], copy))
            parts.append(part)
        staged = root / "_bench" / name
        staged.mkdir(parents=True)
        pq.write_table(pa.concat_tables(parts).cast(arrow_schema(name)), staged / "part-0.parquet")
        target.commit(name, staged, "v1")
    return target


def resolve_once(spark, warehouse: Warehouse) -> tuple[float, dict]:
    from jobs.resolve import run_stage
    for name in ("aliases", "entity_keys", "mention_entities", "entities", "edges"):
        link = warehouse.table_path(name)
        if link.is_symlink():
            link.unlink()
    started = time.perf_counter()
    record = run_stage(ResolveConfig(incremental=False), StageContext(warehouse, new_run_id(), str(warehouse.root)),
                       spark=spark)
    return time.perf_counter() - started, record.outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, default=Path("warehouse"),
                        help="a warehouse with documents, links, redirects, mentions, triples_raw")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    source = Warehouse(args.warehouse)
    missing = [name for name in INPUTS if not source.exists(name)]
    if missing:
        print(f"bench/resolve.py: {args.warehouse} lacks {', '.join(missing)}: run `kgpipe run` first",
              file=sys.stderr)
        return 2
    from jobs.spark import spark_session
    spark = spark_session(SparkConfig(master="local[2]", conf={"spark.ui.enabled": "false"}), app_suffix="-bench")
    spark.sparkContext.setLogLevel("ERROR")
    work = Path(tempfile.mkdtemp(prefix="kgpipe-bench-resolve-"))
    try:
        warehouses = {k: replicate(source, work / f"x{k}", k) for k in args.factors}
        mentions = {k: pc.sum(pc.invert(pc.is_null(w.read("mentions", ["mention_id"])["mention_id"]))).as_py()
                    for k, w in warehouses.items()}
        best: dict[int, float] = {}
        outputs: dict[int, dict] = {}
        resolve_once(spark, warehouses[args.factors[0]])         # JVM and Python workers warm up once
        for round_ in range(1, args.rounds + 1):
            order = args.factors if round_ % 2 else list(reversed(args.factors))
            for k in order:
                seconds, outputs[k] = resolve_once(spark, warehouses[k])
                best[k] = min(best.get(k, float("inf")), seconds)
                print(f"round {round_}: {k}x ({mentions[k]:,} mentions) {seconds:7.1f} s", flush=True)
        base = args.factors[0]
        for k in args.factors:
            print(f"{k}x: {mentions[k]:>9,} mentions -> {outputs[k]['entities']:>8,} entities, "
                  f"{outputs[k]['edges']:>8,} edges in {best[k]:7.1f} s (best); "
                  f"time ratio to {base}x {best[k] / best[base]:.2f} for data ratio {k // base}")
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    top = args.factors[-1]
    ratio = best[top] / best[base]
    verdict = "target met" if ratio <= TARGET * (top / base) / 4 else "target NOT met"
    print(f"resolve at {top // base}x the data takes {ratio:.2f}x the time of {base}x "
          f"(target at most {TARGET * (top / base) / 4:.1f}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
