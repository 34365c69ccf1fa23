"""Export the graph for other tools: Neo4j ``neo4j-admin`` CSVs, N-Triples, GraphML.

What the files contain (IRI scheme, escaping, CSV headers and quoting, GraphML keys) is
defined in ``kgpipe/graph/export.py``; this module only moves data. ``neo4j`` and ``ntriples`` are
written by Spark tasks as part files, nothing but counts comes back to the driver;
``graphml`` streams Parquet batches (pyarrow) into one file and is refused above
``export.graphml_max_edges``. Edges whose subject or object is not an entity, or that have
no object at all, are left out and counted by reason (``rejects`` in the manifest).

The export is built in a hidden sibling folder and moved into place when complete. A
folder holding an earlier export (it has ``export.json``) is replaced; any other non-empty
folder is refused, so ``--out`` never deletes files kgpipe did not write.

    kgpipe export --format neo4j|ntriples|graphml [--out DIR] --warehouse DIR
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from kgpipe.config import ExportConfig
from kgpipe.graph import export as fmt
from kgpipe.manifest import StageRecord
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse

log = logging.getLogger(__name__)
STAGE = "export"
MANIFEST = "export.json"
LINE_SCHEMA = pa.schema([pa.field("line", pa.string())])


def output_folder(cfg: ExportConfig, warehouse: Warehouse) -> Path:
    return Path(cfg.out) if cfg.out else warehouse.root / "exports" / cfg.format


def _check_target(out: Path) -> None:
    if out.is_file() or (out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file()):
        raise FileExistsError(f"{out} exists and is not a kgpipe export (no {MANIFEST}); "
                              f"choose another --out or move it away")


def _publish(staged: Path, out: Path, run_id: str) -> None:
    old = out.with_name(f".{out.name}.{run_id}.old")
    if out.exists():
        os.replace(out, old)
    os.replace(staged, out)
    shutil.rmtree(old, ignore_errors=True)


def _tidy_parts(folder: Path, extension: str) -> list[str]:
    """Spark's part files renamed ``part-00000.<extension>`` (the pattern import scripts and
    readers rely on); empty parts, ``_SUCCESS`` and checksum files removed."""
    parts = sorted(p for p in folder.iterdir() if p.name.startswith("part-"))
    for extra in folder.iterdir():
        if not extra.name.startswith("part-"):
            extra.unlink()
    names = []
    for part in parts:
        if part.stat().st_size == 0:
            part.unlink()
            continue
        name = f"part-{len(names):05d}.{extension}"
        part.rename(folder / name)
        names.append(name)
    return names


def edge_reject_reason(row: dict[str, Any], entity_ids: set[str]) -> str | None:
    """Why an edge cannot be exported (Spark checks the same with joins in :func:`_checked`)."""
    if row["subject_id"] not in entity_ids:
        return "unknown_subject"
    if row["object_id"] is not None:
        return None if row["object_id"] in entity_ids else "unknown_object"
    return None if row.get("object_literal") is not None else "no_object"


# --------------------------------------------------------------------------- Spark formats

def _lines(frame, to_lines: Callable[[dict[str, Any]], Iterable[str]]):
    """One ``line`` row per output line, formatted in the tasks (Arrow batches in and out)."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            lines = [line for row in batch.to_pylist() for line in to_lines(row)]
            if lines:
                yield pa.RecordBatch.from_arrays([pa.array(lines, pa.string())], schema=LINE_SCHEMA)
    return frame.mapInArrow(run, "line string")


def _checked(frame, entity_ids, table: str):
    """``frame`` with ``_reject``: null for exportable edges, else the reason (see
    :func:`edge_reject_reason`). Qualifier maps become {key, value} lists for Arrow."""
    from pyspark.sql import functions as F
    subjects = entity_ids.select(F.col("entity_id").alias("_known_subject"))
    objects = entity_ids.select(F.col("entity_id").alias("_known_object"))
    literal = F.col("object_literal") if "object_literal" in frame.columns else F.lit(None)
    if "qualifiers" in frame.columns:
        frame = frame.withColumn("qualifiers", F.map_entries("qualifiers"))
    reason = (F.when(F.col("_known_subject").isNull(), "unknown_subject")
              .when(F.col("object_id").isNotNull() & F.col("_known_object").isNull(), "unknown_object")
              .when(F.col("object_id").isNull() & literal.isNull(), "no_object"))
    return (frame.join(subjects, frame.subject_id == subjects._known_subject, "left")
            .join(objects, frame.object_id == objects._known_object, "left")
            .withColumn("_reject", reason).drop("_known_subject", "_known_object"))


class _SparkExport:
    """The graph's DataFrames, edges checked once and kept for the several passes over them."""

    def __init__(self, spark, warehouse: Warehouse):
        from pyspark import StorageLevel
        from pyspark.sql import functions as F
        self.spark, self.warehouse = spark, warehouse
        self.entities = spark.read.parquet(str(warehouse.table_path("entities")))
        ids = self.entities.select("entity_id")
        tables = ["edges"] + (["inferred_edges"] if warehouse.exists("inferred_edges") else [])
        self.checked = {t: _checked(spark.read.parquet(str(warehouse.table_path(t))), ids, t)
                        .persist(StorageLevel.MEMORY_AND_DISK) for t in tables}
        self.reasons: dict[str, int] = {}
        for table, frame in self.checked.items():
            for row in frame.where(F.col("_reject").isNotNull()).groupBy("_reject").count().collect():
                self.reasons[f"{table}: {row['_reject']}"] = row["count"]
        self.valid = {t: f.where(F.col("_reject").isNull()).drop("_reject") for t, f in self.checked.items()}

    def edge_lines(self, to_lines: Callable[[dict[str, Any]], Iterable[str]], unused: tuple[str, ...] = ()):
        """Lines of the exportable edges of both tables; ``unused`` columns are not shipped to Python."""
        frames = [_lines(frame.drop(*unused),
                         lambda row, inferred=(table == "inferred_edges"): to_lines(fmt.edge_row(row, inferred)))
                  for table, frame in self.valid.items()]
        out = frames[0]
        for frame in frames[1:]:
            out = out.unionByName(frame)
        return out

    def kept_edges(self) -> int:
        rejected = sum(self.reasons.values())
        return sum(self.warehouse.count(t) for t in self.checked) - rejected

    def close(self) -> None:
        for frame in self.checked.values():
            frame.unpersist()


def write_ntriples(graph: _SparkExport, folder: Path, iri_base: str) -> tuple[dict[str, int], list[str]]:
    scheme = fmt.IriScheme(iri_base)
    entities = _lines(graph.entities, lambda row: fmt.entity_triples(row, scheme))
    edges = graph.edge_lines(lambda row: fmt.edge_triples(row, scheme), unused=("evidence",))
    entities.unionByName(edges).write.text(str(folder))
    # N-Triples escapes every line break, so lines are triples
    triples = graph.spark.read.text(str(folder)).count()
    return {"triples": triples}, [f"{folder.name}/{n}" for n in _tidy_parts(folder, "nt")]


def write_neo4j(graph: _SparkExport, root: Path) -> tuple[dict[str, int], list[str]]:
    from pyspark.sql import functions as F
    literals = (graph.valid["edges"].where(F.col("object_id").isNull())
                .select("object_type", "object_literal").distinct())
    groups = {"entities": (fmt.ENTITY_COLUMNS, _lines(graph.entities, lambda row: [fmt.entity_node_record(row)])),
              "literals": (fmt.LITERAL_COLUMNS, _lines(literals, lambda row: [fmt.literal_node_record(row)])),
              "relationships": (fmt.RELATIONSHIP_COLUMNS,
                                graph.edge_lines(lambda row: [fmt.relationship_record(row)]))}
    files, patterns = [], {}
    for name, (columns, lines) in groups.items():
        (root / f"{name}_header.csv").write_text(fmt.neo4j_header(columns) + "\n", encoding="utf-8")
        lines.write.text(str(root / name))
        parts = _tidy_parts(root / name, "csv")
        files += [f"{name}_header.csv", *(f"{name}/{p}" for p in parts)]
        if parts:  # neo4j-admin refuses a file pattern that matches nothing
            patterns[name] = (f"{name}_header.csv", rf"{name}/part-[0-9]+\.csv")
    script = fmt.neo4j_import_script([patterns[n] for n in ("entities", "literals") if n in patterns],
                                     [patterns[n] for n in ("relationships",) if n in patterns])
    (root / "import.sh").write_text(script, encoding="utf-8")
    files.append("import.sh")
    entity_nodes, literal_nodes = graph.warehouse.count("entities"), literals.count()
    return ({"nodes": entity_nodes + literal_nodes, "relationships": graph.kept_edges()}, files)


# --------------------------------------------------------------------------- GraphML

def write_graphml(warehouse: Warehouse, path: Path, max_edges: int) -> tuple[dict[str, int], dict[str, int]]:
    """Stream the tables into one GraphML file; entity ids are held in memory (small graphs)."""
    tables = ["edges"] + (["inferred_edges"] if warehouse.exists("inferred_edges") else [])
    total = sum(warehouse.count(t) for t in tables)
    if total > max_edges:
        raise fmt.ExportError(f"GraphML is for small graphs: {total:,} edges ({' + '.join(tables)}) exceed "
                              f"export.graphml_max_edges={max_edges:,}; export --format neo4j or ntriples, "
                              f"or raise the limit")
    entity_ids: set[str] = set()
    literal_ids: set[str] = set()
    reasons: Counter[str] = Counter()
    edges = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(fmt.graphml_header())
        for batch in warehouse.dataset("entities").to_batches():
            for row in batch.to_pylist():
                entity_ids.add(row["entity_id"])
                out.write(fmt.graphml_entity(row))
        for table in tables:
            for batch in warehouse.dataset(table).to_batches():
                for raw in batch.to_pylist():
                    row = fmt.edge_row(raw, inferred=table == "inferred_edges")
                    reason = edge_reject_reason(row, entity_ids)
                    if reason:
                        reasons[f"{table}: {reason}"] += 1
                        continue
                    if row["object_id"] is None:
                        literal = fmt.literal_node_id(row["object_type"], row["object_literal"])
                        if literal not in literal_ids:
                            literal_ids.add(literal)
                            out.write(fmt.graphml_literal(row["object_type"], row["object_literal"]))
                    out.write(fmt.graphml_edge(row))
                    edges += 1
        out.write(fmt.GRAPHML_FOOTER)
    return {"nodes": len(entity_ids) + len(literal_ids), "edges": edges}, dict(reasons)


# --------------------------------------------------------------------------- stage

def run_stage(cfg: ExportConfig, ctx: StageContext, spark=None) -> StageRecord:
    started = time.monotonic()
    warehouse = ctx.warehouse
    for table in ("entities", "edges"):
        if not warehouse.exists(table):
            raise FileNotFoundError(f"export needs the {table} table in {warehouse.root}: run `kgpipe resolve` first")
    if cfg.format == "ntriples":
        fmt.IriScheme(cfg.iri_base)  # a bad base fails before any work
    out = output_folder(cfg, warehouse).absolute()
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.parent / f".{out.name}.{ctx.run_id}.tmp"
    inputs = {t: warehouse.count(t) for t in ("entities", "edges", "inferred_edges") if warehouse.exists(t)}
    graph = None
    try:
        staged.mkdir()
        if cfg.format == "graphml":
            counts, reasons = write_graphml(warehouse, staged / "graph.graphml", cfg.graphml_max_edges)
            files = ["graph.graphml"]
        else:
            from jobs.spark import spark_session
            spark = spark or spark_session(ctx.spark, app_suffix=f"-{STAGE}", cache_dir=ctx.cache_dir)
            graph = _SparkExport(spark, warehouse)
            if cfg.format == "ntriples":
                counts, files = write_ntriples(graph, staged / "triples", cfg.iri_base)
            else:
                counts, files = write_neo4j(graph, staged)
            reasons = graph.reasons
        if reasons:
            log.warning("export: left out %s", reasons)
        details = {"format": cfg.format, "out": str(out), "files": files, "rejects_by_reason": reasons}
        if cfg.format == "ntriples":
            details["iri_base"] = cfg.iri_base
        (staged / MANIFEST).write_text(json.dumps({"run_id": ctx.run_id, "outputs": counts, **details},
                                                  indent=2), encoding="utf-8")
        _publish(staged, out, ctx.run_id)
    finally:
        if graph is not None:
            graph.close()
        shutil.rmtree(staged, ignore_errors=True)
    return StageRecord(name=STAGE, seconds=round(time.monotonic() - started, 3), inputs=inputs,
                       outputs=counts, rejects=sum(reasons.values()), details={**details, "files": files + [MANIFEST]})


if __name__ == "__main__":  # spark-submit jobs/export.py [--config FILE] [--set KEY=VALUE] --warehouse DIR
    from kgpipe.cli import job_main
    sys.exit(job_main(STAGE))
