"""Spark job: edges + YAML rules -> inferred_edges, each naming its rule and supporting edges.

The rule format and the exact semantics (rounds, depth, fan-out, which inference wins)
are defined once, in :mod:`kgpipe.graph.reason`, whose :func:`~kgpipe.graph.reason.evaluate`
is the plain-Python reference this job agrees with. Rounds are semi-naive DataFrame
joins: round *d* joins only the facts new in round *d - 1* against the rest, so a
premise pair is joined once, not once per round. Plain joins rather than GraphFrames
motifs: a motif compiles to the same joins but would need a vertex table the rules
never use, and the fan-out limit has to cut hub keys before the join, not after.

Each round's inferences are appended to the staged table and read back as premises
of the next, so the query plan does not grow with the rounds.

    kgpipe reason --warehouse DIR
    spark-submit --py-files kgpipe.zip jobs/reason.py --warehouse DIR [--config FILE]
"""
from __future__ import annotations

import logging
import sys
from functools import reduce
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.spark import stable_id_col
from kgpipe.config import ReasonConfig
from kgpipe.graph.reason import ID_NAMESPACE, SWAPPING, Reasoning, Rule, load_rules
from kgpipe.manifest import StageRecord
from kgpipe.stages import StageContext
from kgpipe.warehouse import StageRun
from schemas.spark import spark_schema

log = logging.getLogger(__name__)
STAGE = "reason"
TABLE = "inferred_edges"
KEY = ["subject_id", "predicate", "object_id"]
FACT = ["edge_id", *KEY, "confidence", "depth"]


def _conclusions(rule: Rule, pairs: DataFrame, depth: int, subject: str, object_: str,
                 supports: list[str], confidence: Column) -> DataFrame:
    return pairs.select(F.col(subject).alias("subject_id"), F.lit(rule.head).alias("predicate"),
                        F.col(object_).alias("object_id"), F.lit(rule.name).alias("rule"),
                        F.array(*supports).alias("supporting_edge_ids"), F.lit(depth).alias("depth"),
                        confidence.alias("confidence"))


def _sides(rule: Rule, premises: DataFrame) -> tuple[DataFrame, DataFrame]:
    """First and second premises of a two-premise rule, renamed so that they join on ``y``."""
    first = premises.where(F.col("predicate") == rule.body[0]).select(
        F.col("edge_id").alias("first_id"), F.col("subject_id").alias("x"), F.col("object_id").alias("y"),
        F.col("confidence").alias("first_confidence"), F.col("depth").alias("first_depth"))
    second = premises.where(F.col("predicate") == rule.body[1]).select(
        F.col("edge_id").alias("second_id"), F.col("subject_id").alias("y"), F.col("object_id").alias("z"),
        F.col("confidence").alias("second_confidence"), F.col("depth").alias("second_depth"))
    return first, second


def hub_keys(rule: Rule, premises: DataFrame, depth: int, max_fanout: int) -> DataFrame:
    """(rule, key): the join keys of a two-premise rule over the fan-out limit where this round
    would join a premise of the previous round."""
    first, second = _sides(rule, premises)
    previous = depth - 1
    ending = first.groupBy("y").agg(F.count(F.lit(1)).alias("ending"),
                                    F.max(F.col("first_depth") == previous).alias("ending_new"))
    starting = second.groupBy("y").agg(F.count(F.lit(1)).alias("starting"),
                                       F.max(F.col("second_depth") == previous).alias("starting_new"))
    return (ending.join(starting, "y")
            .where(((F.col("ending") > max_fanout) | (F.col("starting") > max_fanout))
                   & (F.col("ending_new") | F.col("starting_new")))
            .select(F.lit(rule.name).alias("rule"), F.col("y").alias("key")))


def candidates(rule: Rule, premises: DataFrame, depth: int, hubs: list[str]) -> DataFrame:
    """Every derivation of ``rule`` at ``depth`` from ``premises`` (FACT columns), hub keys left out."""
    previous = depth - 1
    if len(rule.body) == 1:
        facts = premises.where((F.col("predicate") == rule.body[0]) & (F.col("depth") == previous))
        subject, object_ = ("object_id", "subject_id") if rule.kind in SWAPPING else ("subject_id", "object_id")
        return _conclusions(rule, facts, depth, subject, object_, ["edge_id"], F.col("confidence"))
    first, second = _sides(rule, premises)
    if hubs:
        skip = premises.sparkSession.createDataFrame([(key,) for key in hubs], "y string")
        first = first.join(F.broadcast(skip), "y", "left_anti")
    pairs = (first.where(F.col("first_depth") == previous).join(second, "y")
             .unionByName(first.where(F.col("first_depth") < previous)
                          .join(second.where(F.col("second_depth") == previous), "y")))
    return _conclusions(rule, pairs, depth, "x", "z", ["first_id", "second_id"],
                        F.col("first_confidence") * F.col("second_confidence"))


def new_facts(rules: list[Rule], premises: DataFrame, known: DataFrame, depth: int,
              hubs: dict[str, list[str]]) -> DataFrame:
    """The inferences of one round: one row per new key, columns in ``inferred_edges`` order."""
    derived = reduce(DataFrame.unionByName, [candidates(rule, premises, depth, hubs.get(rule.name, []))
                                             for rule in rules])
    # one row per key; the order is kgpipe.graph.reason's preference
    best = Window.partitionBy(*KEY).orderBy(F.col("confidence").desc(), "rule", "supporting_edge_ids")
    chosen = (derived.where(F.col("subject_id") != F.col("object_id"))
              .join(known, KEY, "left_anti")
              .withColumn("_rank", F.row_number().over(best)).where(F.col("_rank") == 1)
              .withColumn("edge_id", stable_id_col(ID_NAMESPACE, *map(F.col, KEY))))
    return chosen.select([F.col(f.name).cast(f.dataType) for f in spark_schema(TABLE).fields])


def reason(spark: SparkSession, rules: list[Rule], edges: DataFrame, cfg: ReasonConfig,
           staging: Path) -> tuple[Reasoning, int]:
    """Apply ``rules`` to ``edges``, appending each round to ``staging / inferred_edges``.

    Returns the report and the number of premise edges taken from ``edges``.
    """
    out = staging / TABLE
    body = sorted({predicate for rule in rules for predicate in rule.body})
    heads = sorted({rule.head for rule in rules})
    entity_edges = edges.where(F.col("object_id").isNotNull())
    # narrow copies, so that every round reads these instead of the whole edges table
    (entity_edges.where(F.col("predicate").isin(body) & (F.col("confidence") >= cfg.min_confidence))
     .select("edge_id", *KEY, "confidence", F.lit(0).alias("depth")).write.parquet(str(staging / "premises")))
    entity_edges.where(F.col("predicate").isin(heads)).select(KEY).write.parquet(str(staging / "extracted_keys"))
    extracted = spark.read.parquet(str(staging / "premises"))
    extracted_keys = spark.read.parquet(str(staging / "extracted_keys"))
    per_predicate = {row["predicate"]: row["count"] for row in extracted.groupBy("predicate").count().collect()}
    # a rule can fire in a round only if all its premise predicates exist and one of them is new;
    # leaving the others out of the round's plan changes nothing but the plan's size
    available, new = set(per_predicate), set(per_predicate)
    report = Reasoning(rules)
    inferred = spark.createDataFrame([], spark_schema(TABLE))
    for depth in range(1, cfg.max_depth + 2):
        active = [rule for rule in rules if set(rule.body) <= available and set(rule.body) & new]
        premises = extracted.unionByName(
            inferred.where(F.col("predicate").isin(body) & (F.col("confidence") >= cfg.min_confidence))
            .select(FACT))
        hubs: dict[str, list[str]] = {}
        two_premise = [rule for rule in active if len(rule.body) == 2]
        if two_premise:
            for row in reduce(DataFrame.unionByName, [hub_keys(rule, premises, depth, cfg.max_fanout)
                                                      for rule in two_premise]).collect():
                hubs.setdefault(row["rule"], []).append(row["key"])
        found = None
        if active:
            found = new_facts(active, premises, extracted_keys.unionByName(inferred.select(KEY)), depth, hubs)
        if depth > cfg.max_depth:
            report.pending_beyond_max_depth = found.count() if found is not None else 0
            report.fixpoint_reached = report.pending_beyond_max_depth == 0
            break
        report.rounds = depth
        for name, keys in hubs.items():
            report.fanout_skipped[name] |= set(keys)
        counts: dict[str, int] = {}
        if found is not None:
            found.write.mode("append").parquet(str(out))
            inferred = spark.read.schema(spark_schema(TABLE)).parquet(str(out))
            counts = {row["rule"]: row["count"]
                      for row in inferred.where(F.col("depth") == depth).groupBy("rule").count().collect()}
        log.info("reason: round %d inferred %d facts %s", depth, sum(counts.values()), counts)
        if not counts:
            report.fixpoint_reached = True
            break
        for name, count in counts.items():
            report.by_rule[name] = report.by_rule.get(name, 0) + count
        report.by_depth[depth] = sum(counts.values())
        new = {rule.head for rule in rules if rule.name in counts}
        available |= new
    if not any(out.glob("*.parquet")):
        spark.createDataFrame([], spark_schema(TABLE)).write.mode("append").parquet(str(out))
    if report.pending_beyond_max_depth:
        log.warning("reason: stopped at max_depth=%d; %d more facts would follow at the next depth",
                    cfg.max_depth, report.pending_beyond_max_depth)
    if any(report.fanout_skipped.values()):
        log.warning("reason: join keys over max_fanout=%d skipped: %s", cfg.max_fanout,
                    {name: len(keys) for name, keys in report.fanout_skipped.items()})
    return report, sum(per_predicate.values())


def run_stage(cfg: ReasonConfig, ctx: StageContext, spark: SparkSession | None = None) -> StageRecord:
    from jobs.spark import spark_session
    warehouse = ctx.warehouse
    if not warehouse.exists("edges"):
        raise FileNotFoundError(f"reason needs the edges table in {warehouse.root}: run `kgpipe resolve` first")
    rules = load_rules(cfg.rules)  # a bad rule file fails before Spark starts
    spark = spark or spark_session(ctx.spark, app_suffix="-reason", cache_dir=ctx.cache_dir)
    with StageRun(warehouse, STAGE, ctx.run_id) as run:
        edges = spark.read.parquet(str(warehouse.table_path("edges")))
        report, premise_count = reason(spark, rules, edges, cfg, run.staging)
        counts = run.check(TABLE)
        run.commit(TABLE)
        return run.record(inputs={"edges": warehouse.count("edges"), "premise_edges": premise_count},
                          outputs=counts, rejects=0, details={"rules_source": cfg.rules, **report.details()})


if __name__ == "__main__":  # spark-submit jobs/reason.py [--config FILE] [--set KEY=VALUE] --warehouse DIR
    from kgpipe.cli import job_main
    sys.exit(job_main(STAGE))
