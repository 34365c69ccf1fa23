"""Spark job: entities and edges -> entity_stats (GraphFrames).

The graph has one vertex per entity and one directed edge per entity-to-entity row of
``edges`` (literal-valued edges have no second vertex and are left out; so are edges whose
subject or object is not in ``entities``, which are counted). Per entity:

* ``pagerank``: GraphFrames PageRank (``analyze.pagerank_reset_probability``,
  ``analyze.pagerank_max_iter`` rounds); GraphX scales the ranks to sum to the number of
  vertices, so 1.0 is average.
* ``in_degree`` / ``out_degree``: edges pointing at / leaving it; 0 for isolated entities.
* ``component_id`` / ``component_size``: weakly connected component, named by its smallest
  entity id (GraphFrames' own component numbers change between runs).
* ``community_id``: label propagation (``analyze.lpa_max_iter`` rounds), named the same way.
  Vertices are sorted by id before GraphFrames numbers them, so a rerun on the same input
  and partitioning gives the same communities; label propagation can oscillate on
  bipartite-like parts of a graph, where a community is only as good as its last round.

Every entity gets exactly one row.

    kgpipe analyze --warehouse DIR
"""
from __future__ import annotations

import logging
import sys

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.spark import adaptive_execution_off
from kgpipe.config import AnalyzeConfig
from kgpipe.manifest import StageRecord
from kgpipe.stages import StageContext
from kgpipe.warehouse import StageRun
from schemas.spark import spark_schema

log = logging.getLogger(__name__)
STAGE = "analyze"
TOP_ENTITIES = 5


def graph_inputs(entities: DataFrame, edges: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """GraphFrames vertices (``id``) and edges (``src``, ``dst``), and the edges left out
    because an endpoint is not an entity (with ``reason``)."""
    vertices = entities.select(F.col("entity_id").alias("id")).distinct().orderBy("id")
    links = edges.where(F.col("object_id").isNotNull()).select(
        F.col("subject_id").alias("src"), F.col("object_id").alias("dst"))
    known_src = vertices.select(F.col("id").alias("_src"))
    known_dst = vertices.select(F.col("id").alias("_dst"))
    checked = (links.join(known_src, links.src == known_src._src, "left")
               .join(known_dst, links.dst == known_dst._dst, "left")
               .withColumn("reason", F.when(F.col("_src").isNull(), "unknown_subject")
                           .when(F.col("_dst").isNull(), "unknown_object")))
    return (vertices, checked.where(F.col("reason").isNull()).select("src", "dst"),
            checked.where(F.col("reason").isNotNull()).select("src", "dst", "reason"))


def _named_groups(assignment: DataFrame, group: str, name: str, size: str | None = None) -> DataFrame:
    """Replace GraphFrames' numeric group (component or label) by the group's smallest entity id."""
    aggregates = [F.min("id").alias(name)] + ([F.count("*").alias(size)] if size else [])
    names = assignment.groupBy(group).agg(*aggregates)
    return assignment.join(names, on=group).drop(group)


def analyze(GraphFrame, vertices: DataFrame, links: DataFrame, cfg: AnalyzeConfig) -> DataFrame:
    """The pure transform: one entity_stats row per vertex, columns in schema order."""
    graph = GraphFrame(vertices, links)
    ranks = graph.pageRank(resetProbability=cfg.pagerank_reset_probability,
                           maxIter=cfg.pagerank_max_iter).vertices.select("id", "pagerank")
    components = _named_groups(graph.connectedComponents().select("id", "component"),
                               "component", "component_id", "component_size")
    communities = _named_groups(graph.labelPropagation(maxIter=cfg.lpa_max_iter).select("id", "label"),
                                "label", "community_id")
    stats = (vertices.join(ranks, "id", "left")
             .join(graph.inDegrees, "id", "left").join(graph.outDegrees, "id", "left")
             .join(components, "id", "left").join(communities, "id", "left"))
    schema = spark_schema("entity_stats")
    columns = {"entity_id": F.col("id"), "pagerank": F.col("pagerank"),
               "in_degree": F.coalesce(F.col("inDegree"), F.lit(0)),
               "out_degree": F.coalesce(F.col("outDegree"), F.lit(0)),
               "component_id": F.col("component_id"), "component_size": F.col("component_size"),
               "community_id": F.col("community_id")}
    return stats.select([columns[f.name].cast(f.dataType).alias(f.name) for f in schema.fields])


def summary(stats: DataFrame) -> dict:
    """Manifest details from the written table (small aggregates only)."""
    row = stats.agg(F.countDistinct("component_id").alias("components"),
                    F.max("component_size").alias("largest_component_size"),
                    F.countDistinct("community_id").alias("communities")).first()
    top = stats.orderBy(F.desc("pagerank"), "entity_id").limit(TOP_ENTITIES).collect()
    return {"components": row["components"], "largest_component_size": row["largest_component_size"] or 0,
            "communities": row["communities"],
            "top_pagerank": [{"entity_id": r["entity_id"], "pagerank": r["pagerank"]} for r in top]}


def run_stage(cfg: AnalyzeConfig, ctx: StageContext, spark: SparkSession | None = None) -> StageRecord:
    from jobs.spark import checkpoint_dir, require_graphframes, spark_session
    warehouse = ctx.warehouse
    for table in ("entities", "edges"):
        if not warehouse.exists(table):
            raise FileNotFoundError(f"analyze needs the {table} table in {warehouse.root}: "
                                    f"run `kgpipe resolve` first")
    spark = spark or spark_session(ctx.spark, app_suffix=f"-{STAGE}", cache_dir=ctx.cache_dir)
    GraphFrame = require_graphframes(spark)
    # an already configured folder (spark-submit, an earlier stage of the same session) is kept
    checkpoints = checkpoint_dir(spark, warehouse.root / "_checkpoints")
    vertices, links, dropped = graph_inputs(spark.read.parquet(str(warehouse.table_path("entities"))),
                                            spark.read.parquet(str(warehouse.table_path("edges"))))
    # every algorithm reads both; without this each one would redo the joins above
    vertices, links = vertices.persist(StorageLevel.MEMORY_AND_DISK), links.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        with StageRun(warehouse, STAGE, ctx.run_id) as run:
            staging = run.path("entity_stats")
            entity_rows = warehouse.count("entities")
            vertex_count, edges_used = vertices.count(), links.count()
            reasons = {r["reason"]: r["count"] for r in dropped.groupBy("reason").count().collect()}
            if reasons:
                log.warning("analyze: left out %s edges whose endpoint is not an entity", reasons)
            if vertex_count < entity_rows:
                log.warning("analyze: %d entity rows share an entity_id; each id gets one row",
                            entity_rows - vertex_count)
            if vertex_count:
                with adaptive_execution_off(spark):
                    analyze(GraphFrame, vertices, links, cfg).write.parquet(str(staging))
            else:
                spark.createDataFrame([], spark_schema("entity_stats")).write.parquet(str(staging))
            counts = run.check("entity_stats")
            details = summary(spark.read.parquet(str(staging)))
            run.commit("entity_stats")
            details.update(edges_used=edges_used, edges_left_out=reasons,
                           duplicate_entity_rows=entity_rows - vertex_count, checkpoint_dir=checkpoints)
            return run.record(inputs={"entities": entity_rows, "edges": warehouse.count("edges")},
                              outputs=counts, rejects=sum(reasons.values()), details=details)
    finally:
        vertices.unpersist()
        links.unpersist()

if __name__ == "__main__":  # spark-submit jobs/analyze.py [--config FILE] [--set KEY=VALUE] --warehouse DIR
    from kgpipe.cli import job_main
    sys.exit(job_main(STAGE))
