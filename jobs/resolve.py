"""Spark + GraphFrames job: mentions, triples_raw, links, redirects -> the deduplicated graph.

Every decision rule lives in :mod:`kgpipe.graph.resolve`; this job only moves data to
where those rules run and re-expresses their aggregations as DataFrame operations:

1. ``aliases``: anchors, titles and redirects counted per (alias key, title), commonness.
2. per document (rows grouped by doc_id, one Python call per partition): each entity
   mention linked (``link_mention``) and the document's same-as edges
   (``document_graph_edges``).
3. GraphFrames ``connectedComponents`` over those edges; per component (grouped the same
   way) ``split_oversized`` and ``cluster_identity`` give every vertex its entity id.
4. ``mention_entities``, ``entities`` and ``edges`` aggregated on explicit keys, merged
   with the previous version of the graph when resolving incrementally.

Incremental runs: documents whose mentions are already in ``mention_entities`` are
skipped, so a rerun on the same input changes nothing. New mentions reach existing
entities through ``entity_keys`` (the W:/N: key vertices of every entity): each key the
new batch touches is tied to an ``E:<entity_id>`` vertex, so existing entities may merge
(ids remapped everywhere) but are never split.

Nothing that grows with the input is collected to the driver.

    kgpipe resolve --warehouse DIR
    spark-submit --py-files kgpipe.zip --jars graphframes.jar jobs/resolve.py --warehouse DIR
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import StringType

from jobs.spark import adaptive_execution_off, stable_id_col
from kgpipe.config import Config, ResolveConfig
from kgpipe.errors import CommandError
from kgpipe.graph.resolve import edge_key, edge_literal, normalize_surface, title_key
from kgpipe.ingest.wikitext import normalize_title
from kgpipe.manifest import StageRecord, new_run_id
from kgpipe.stages import STAGES, StageContext
from kgpipe.warehouse import StageRun, Warehouse
from schemas.spark import spark_schema

log = logging.getLogger(__name__)
STAGE = "resolve"
OUTPUT_TABLES = STAGES[STAGE].writes
PRIOR_VERTEX = "E:"


# --------------------------------------------------------------------------- helpers

def write(df: DataFrame, folder: Path) -> None:
    started = time.monotonic()
    df.write.parquet(str(folder))
    log.info("resolve: %s written in %.1fs", folder.name, time.monotonic() - started)


def map_groups(df: DataFrame, key: str, order: list[str], fn: Callable[[Any, list[dict]], Iterable[dict]],
               schema: pa.Schema, batch_rows: int = 4096) -> DataFrame:
    """Apply ``fn(key_value, rows)`` to every group of rows sharing ``key`` (rows sorted by
    ``order``), one Python call per partition instead of one pandas frame per group:
    rows are hash-partitioned on the key and sorted within partitions, so each group is one
    consecutive run."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        out: list[dict] = []
        current, rows = None, []
        for batch in batches:
            for row in batch.to_pylist():
                if rows and row[key] != current:
                    out.extend(fn(current, rows))
                    rows = []
                    if len(out) >= batch_rows:
                        yield pa.RecordBatch.from_pylist(out, schema=schema)
                        out = []
                current = row[key]
                rows.append(row)
        if rows:
            out.extend(fn(current, rows))
        if out:
            yield pa.RecordBatch.from_pylist(out, schema=schema)

    return (df.repartition(key).sortWithinPartitions(key, *order)
            .mapInArrow(run, from_arrow_schema(schema)))


def text_udf(function: Callable[[str], str]):
    """A vectorized Spark UDF applying a pure ``str -> str`` rule (null -> "")."""
    @F.pandas_udf(StringType())
    def apply(values: pd.Series) -> pd.Series:
        # Arrow hands nulls to pandas as None or NaN depending on the batch
        return pd.Series([function(v) if isinstance(v, str) else "" for v in values], index=values.index)
    return apply


# --------------------------------------------------------------------------- redirects, aliases

def redirect_targets(redirects: DataFrame, max_hops: int) -> DataFrame:
    """(from_title, final_title) for every redirect, following chains as
    :func:`kgpipe.graph.resolve.resolve_redirect` does (stop at a cycle or after max_hops):
    one join per hop, the path carried along to detect cycles."""
    norm = text_udf(normalize_title)
    edges = (redirects.select(norm("from_title").alias("src"), norm("to_title").alias("dst"))
             .where((F.col("src") != "") & (F.col("dst") != "") & (F.col("src") != F.col("dst")))
             .groupBy("src").agg(F.max("dst").alias("dst")))
    walk = edges.select(F.col("src").alias("from_title"), F.col("dst").alias("final_title"),
                        F.array("src", "dst").alias("path"), F.lit(False).alias("done"))
    for _ in range(max_hops - 1):
        step = walk.join(edges, walk.final_title == edges.src, "left")
        moves = (~F.col("done") & F.col("dst").isNotNull() & ~F.array_contains("path", F.col("dst")))
        walk = step.select(
            "from_title",
            F.when(moves, F.col("dst")).otherwise(F.col("final_title")).alias("final_title"),
            F.when(moves, F.concat("path", F.array("dst"))).otherwise(F.col("path")).alias("path"),
            (~moves).alias("done"))
    return walk.select("from_title", "final_title")


def resolve_titles(df: DataFrame, column: str, targets: DataFrame, out: str) -> DataFrame:
    """``df`` with ``out`` = the redirect-resolved, normalized title of ``column``."""
    norm = text_udf(normalize_title)
    t = targets.select(F.col("from_title").alias("_from"), F.col("final_title").alias("_final"))
    return (df.withColumn("_title", norm(column))
            .join(t, F.col("_title") == F.col("_from"), "left")
            .withColumn(out, F.when(F.col("_title") == "", None).otherwise(F.coalesce("_final", "_title")))
            .drop("_title", "_from", "_final"))


def alias_contributions(links: DataFrame, titles: DataFrame, redirects: DataFrame, targets: DataFrame) -> DataFrame:
    """(alias_key, target_title, link_count, pseudo_count) of one batch, per
    :func:`kgpipe.graph.resolve.alias_rows` steps 1-5. ``links`` carry their resolved ``target``
    (:func:`resolve_titles`)."""
    from kgpipe.graph.resolve import REDIRECT_COUNT, TITLE_COUNT
    normalize, key = text_udf(normalize_surface), text_udf(title_key)
    anchors = (links.select(normalize("anchor").alias("alias_key"), "target",
                       F.lit(1).alias("link_count"), F.lit(0).alias("pseudo_count")))
    named = (resolve_titles(titles, "title", targets, "target")
             .select(key("title").alias("alias_key"), "target",
                     F.lit(0).alias("link_count"), F.lit(TITLE_COUNT).alias("pseudo_count")))
    redirected = (resolve_titles(redirects, "to_title", targets, "target")
                  .select(key("from_title").alias("alias_key"), "target",
                          F.lit(0).alias("link_count"), F.lit(REDIRECT_COUNT).alias("pseudo_count")))
    return (anchors.unionByName(named).unionByName(redirected)
            .where((F.col("alias_key") != "") & F.col("target").isNotNull())
            .groupBy("alias_key", F.col("target").alias("target_title"))
            .agg(F.sum("link_count").cast("long").alias("link_count"),
                 F.sum("pseudo_count").cast("long").alias("pseudo_count")))


def merge_aliases(parts: DataFrame, min_count: int) -> DataFrame:
    """The ``aliases`` table from contributions (and, incrementally, the previous table):
    link counts add up (each document is counted once), pseudo-counts of titles and
    redirects are facts about the wiki, so the larger wins instead of adding up again."""
    merged = (parts.groupBy("alias_key", "target_title")
              .agg(F.sum("link_count").cast("long").alias("link_count"),
                   F.max("pseudo_count").cast("long").alias("pseudo_count"))
              .withColumn("count", F.col("link_count") + F.col("pseudo_count"))
              .where(F.col("count") >= min_count))
    total = F.sum("count").over(Window.partitionBy("alias_key"))
    return merged.withColumn("commonness", F.col("count") / total).select(spark_schema("aliases").fieldNames())


# --------------------------------------------------------------------------- linking and same-as

_DOC_OUT = pa.schema([
    ("kind", pa.string()), ("doc_id", pa.string()), ("mention_id", pa.string()),
    ("wiki_title", pa.string()), ("link_method", pa.string()), ("link_score", pa.float64()),
    ("src", pa.string()), ("dst", pa.string()), ("rule", pa.string()),
])


def _resolve_document(min_commonness: float):
    def fn(doc_id: str, rows: list[dict]) -> Iterator[dict]:
        from kgpipe.graph.resolve import (
            MentionLite,
            coarse_type,
            document_graph_edges,
            is_proper_name,
            link_mention,
            page_is_person,
            title_key,
        )
        targets = {r["title"] for r in rows if r["kind"] == "target" and r["title"]}
        page = next((r for r in rows if r["kind"] == "page" and r["title"]), None)
        page_title = page["title"] if page else None
        page_key = title_key(page_title) if page_title else None
        page_person = page is not None and page_is_person(
            page["label"], [r["label"] for r in rows if r["kind"] == "mention"
                            and (r["anchor_title"] == page_title or r["key"] == page_key)])
        lites = []
        for r in rows:
            if r["kind"] != "mention" or coarse_type(r["label"]) is None:
                continue
            if r["anchor_title"]:
                title, score, method = r["anchor_title"], 1.0, "anchor"
            else:
                cands = [(c["title"], c["commonness"], c["type"]) for c in r["candidates"] or ()]
                title, score, method = link_mention(r["key"], r["label"], cands, targets,
                                                    min_commonness=min_commonness,
                                                    proper_name=is_proper_name(r["text"]),
                                                    page_title=page_title, page_person=page_person)
                if title is None:
                    method = "unlinked"
                elif method == "commonness":
                    method = "alias"
            lites.append(MentionLite(r["mention_id"], r["text"], r["label"], r["start"], title))
            yield {"kind": "link", "doc_id": doc_id, "mention_id": r["mention_id"], "wiki_title": title,
                   "link_method": method, "link_score": score if title else None}
        for src, dst, rule in document_graph_edges(lites):
            yield {"kind": "edge", "doc_id": doc_id, "src": src, "dst": dst, "rule": rule}
    return fn


def link_documents(mentions: DataFrame, doc_targets: DataFrame, aliases: DataFrame, title_types: DataFrame,
                   min_commonness: float, pages: DataFrame | None = None) -> DataFrame:
    """Per document: every entity mention linked (kind ``link``) and the same-as edges
    (kind ``edge``). ``mentions`` carry their resolved ``anchor_title``. Candidates reach a
    mention by a join on its alias key; the document's own (resolved) link targets travel as
    rows of kind ``target`` in the same group, and a wiki page's own (resolved) title as a row of
    kind ``page`` (``pages``: doc_id, title), with the title's type in ``label``."""
    normalize = text_udf(normalize_surface)
    candidates = (aliases.join(title_types, aliases.target_title == title_types.title, "left")
                  .groupBy("alias_key")
                  .agg(F.collect_list(F.struct(F.col("target_title").alias("title"), "commonness",
                                               F.col("entity_type").alias("type"))).alias("candidates")))
    m = (mentions.withColumn("key", normalize("text"))
         .join(candidates, F.col("key") == candidates.alias_key, "left")
         .select(F.lit("mention").alias("kind"), "doc_id", "mention_id", "text", "label", "start", "key",
                 "anchor_title", "candidates", F.lit(None).cast("string").alias("title")))
    t = doc_targets.select(F.lit("target").alias("kind"), "doc_id", F.lit(None).cast("string").alias("mention_id"),
                           F.lit(None).cast("string").alias("text"), F.lit(None).cast("string").alias("label"),
                           F.lit(None).cast("int").alias("start"), F.lit(None).cast("string").alias("key"),
                           F.lit(None).cast("string").alias("anchor_title"),
                           F.lit(None).cast(m.schema["candidates"].dataType).alias("candidates"), "title")
    groups = m.unionByName(t)
    if pages is not None:
        typed = pages.join(title_types.withColumnRenamed("entity_type", "label"), "title", "left")
        groups = groups.unionByName(typed.select(
            F.lit("page").alias("kind"), "doc_id", *(F.lit(None).cast(m.schema[c].dataType).alias(c) for c in
                                                     ("mention_id", "text")), "label",
            *(F.lit(None).cast(m.schema[c].dataType).alias(c) for c in ("start", "key", "anchor_title",
                                                                        "candidates")), "title"))
    return map_groups(groups, "doc_id", ["kind", "start", "mention_id"], _resolve_document(min_commonness), _DOC_OUT)


def title_types(mentions: DataFrame) -> DataFrame:
    """(title, entity_type): :func:`kgpipe.graph.resolve.title_type` of the mentions anchored to a
    title (``mentions`` carry their resolved ``anchor_title``)."""
    majority = F.udf(lambda votes: _majority(votes), "string")
    return (mentions.where(F.col("anchor_title").isNotNull()).withColumnRenamed("anchor_title", "title")
            .groupBy("title", "label").count()
            .groupBy("title").agg(F.collect_list(F.struct("label", "count")).alias("votes"))
            .select("title", majority("votes").alias("entity_type")))


def _majority(votes) -> str | None:
    from kgpipe.graph.resolve import title_type
    return title_type([(v["label"], v["count"]) for v in votes or ()])


# --------------------------------------------------------------------------- components

_COMPONENT_OUT = pa.schema([("vertex", pa.string()), ("entity_id", pa.string()),
                            ("wiki_title", pa.string()), ("cluster_key", pa.string())])


def _resolve_component(max_size: int):
    def fn(component: int, rows: list[dict]) -> Iterator[dict]:
        from kgpipe.graph.resolve import (
            cluster_identity,
            entity_id_for,
            split_oversized,
        )
        members = [r["vertex"] for r in rows if r["kind"] == "v"]
        edges = [(r["src"], r["dst"], r["rule"]) for r in rows if r["kind"] == "e"]
        for group in split_oversized(members, edges, max_size):
            title, key = cluster_identity(group)
            entity_id = entity_id_for(title, key)
            for vertex in group:
                yield {"vertex": vertex, "entity_id": entity_id, "wiki_title": title, "cluster_key": key}
    return fn


def assign_entities(spark: SparkSession, vertices: DataFrame, edges: DataFrame, max_size: int,
                    checkpoint: str, work: Path) -> DataFrame:
    """(vertex, entity_id, wiki_title, cluster_key) for every vertex: GraphFrames connected
    components, then the size/one-title guard and the identity rule per component."""
    from jobs.spark import checkpoint_dir, require_graphframes
    GraphFrame = require_graphframes(spark)
    checkpoint_dir(spark, checkpoint)
    # connectedComponents iterates over its inputs: handed a long lineage it re-plans all of
    # it every round and runs the driver out of memory, so the inputs are materialized first
    write(vertices.select(F.col("vertex").alias("id")).dropDuplicates(["id"]), work / "vertices")
    write(edges.select("src", "dst", "rule"), work / "edges")
    v, e = spark.read.parquet(str(work / "vertices")), spark.read.parquet(str(work / "edges"))
    components = GraphFrame(v, e).connectedComponents().select(F.col("id").alias("vertex"), "component")
    edge_rows = (e.join(components.withColumnRenamed("vertex", "src"), on="src")
                 .select("component", F.lit("e").alias("kind"), F.lit(None).cast("string").alias("vertex"),
                         "src", "dst", "rule"))
    vertex_rows = components.select("component", F.lit("v").alias("kind"), "vertex",
                                    *(F.lit(None).cast("string").alias(c) for c in ("src", "dst", "rule")))
    return map_groups(vertex_rows.unionByName(edge_rows), "component", ["kind", "vertex", "src", "dst"],
                      _resolve_component(max_size), _COMPONENT_OUT)


# --------------------------------------------------------------------------- entities

def _entity_summary():
    @F.udf("struct<canonical_name:string,entity_type:string>")
    def summary(aliases, votes, wiki_title):
        from kgpipe.graph.resolve import canonical_name, majority_type
        return (canonical_name(((a["alias"], a["count"]) for a in aliases or ()), wiki_title),
                majority_type((v["label"], v["count"]) for v in votes or ()))
    return summary


def merge_entities(partial: DataFrame) -> DataFrame:
    """``entities`` rows from partial rows of the same shape (one per batch and entity):
    alias and label counts summed, display name and type re-derived from the sums."""
    def counts(column: str, name: str) -> DataFrame:
        return (partial.select("entity_id", F.explode(column).alias("x"))
                .groupBy("entity_id", F.col(f"x.{name}").alias(name)).agg(F.sum("x.count").alias("count"))
                .groupBy("entity_id")
                .agg(F.array_sort(F.collect_list(F.struct(name, F.col("count").cast("long").alias("count"))))
                     .alias(column)))
    totals = (partial.groupBy("entity_id")
              .agg(F.max("wiki_title").alias("wiki_title"), F.sum("mention_count").cast("long").alias("mention_count"),
                   F.min("first_seen").alias("first_seen"), F.max("last_seen").alias("last_seen")))
    merged = (totals.join(counts("aliases", "alias"), "entity_id", "left")
              .join(counts("type_votes", "label"), "entity_id", "left"))
    summary = _entity_summary()("aliases", "type_votes", "wiki_title")
    return (merged.withColumn("s", summary)
            .select("entity_id", "s.canonical_name", "s.entity_type", "aliases", "type_votes", "wiki_title",
                    "mention_count", "first_seen", "last_seen"))


def entity_rows(mention_entities: DataFrame, mentions: DataFrame, doc_times: DataFrame) -> DataFrame:
    """Partial ``entities`` rows of one batch."""
    from kgpipe.extract.infobox import ORIGIN as INFOBOX
    from kgpipe.extract.patterns import LEAD
    from kgpipe.graph.resolve import INFOBOX_VOTE, LEAD_VOTE
    # an infobox's class and a page's definition vote apart from NER labels (majority_type lets them decide)
    label = (F.when(F.col("origin") == INFOBOX, F.concat(F.lit(INFOBOX_VOTE), "label"))
             .when(F.col("origin") == LEAD, F.concat(F.lit(LEAD_VOTE), "label")).otherwise(F.col("label")))
    m = (mention_entities.select("mention_id", "entity_id", "wiki_title")
         .join(mentions.select("mention_id", "text", label.alias("label"), "doc_id"), "mention_id")
         .join(doc_times, "doc_id", "left"))
    aliases = (m.groupBy("entity_id", F.col("text").alias("alias")).count()
               .groupBy("entity_id").agg(F.collect_list(F.struct("alias", "count")).alias("aliases")))
    votes = (m.groupBy("entity_id", "label").count()
             .groupBy("entity_id").agg(F.collect_list(F.struct("label", "count")).alias("type_votes")))
    totals = m.groupBy("entity_id").agg(F.max("wiki_title").alias("wiki_title"),
                                        F.count("*").alias("mention_count"),
                                        F.min("ts").alias("first_seen"), F.max("ts").alias("last_seen"))
    return (totals.join(aliases, "entity_id").join(votes, "entity_id")
            .select("entity_id", F.lit(None).cast("string").alias("canonical_name"),
                    F.lit(None).cast("string").alias("entity_type"), "aliases", "type_votes", "wiki_title",
                    "mention_count", "first_seen", "last_seen"))


# --------------------------------------------------------------------------- edges

@F.pandas_udf(StringType())
def edge_id_udf(subject: pd.Series, predicate: pd.Series, obj: pd.Series, object_type: pd.Series,
                qualifiers: pd.Series) -> pd.Series:
    """:func:`kgpipe.graph.resolve.edge_key` per row."""
    return pd.Series([edge_key(s, p, o, t, q) for s, p, o, t, q in
                      zip(subject, predicate, obj, object_type, qualifiers, strict=True)])


@F.pandas_udf(StringType())
def edge_literal_udf(obj: pd.Series, object_type: pd.Series) -> pd.Series:
    """:func:`kgpipe.graph.resolve.edge_literal` per row."""
    return pd.Series([edge_literal(o, t) for o, t in zip(obj, object_type, strict=True)])


def _evidence_hash(e: Column) -> Column:
    """:func:`kgpipe.graph.resolve.evidence_sample`'s key, in Spark."""
    return stable_id_col("evidence", e["doc_id"], e["sentence_index"], e["start"], e["end"])


def bottom_k(evidence: Column, k: int) -> Column:
    """``evidence_sample`` over an array column: dedup by key, smallest k keys, in key order."""
    keyed = F.transform(evidence, lambda e: F.struct(_evidence_hash(e).alias("h"), e.alias("e")))
    return F.transform(F.slice(F.array_sort(F.array_distinct(keyed)), 1, k), lambda x: x["e"]) if k > 0 \
        else F.array().cast(spark_schema("edges")["evidence"].dataType)


def noisy_or_col(confidences: Column) -> Column:
    """:func:`kgpipe.graph.resolve.noisy_or` over an array column (ascending factors)."""
    clamped = F.transform(F.array_sort(confidences), lambda c: F.least(F.lit(1.0), F.greatest(F.lit(0.0), c)))
    return 1.0 - F.aggregate(clamped, F.lit(1.0).cast("double"), lambda acc, c: acc * (1.0 - c))


def edge_rows(triples: DataFrame, mention_entities: DataFrame, doc_times: DataFrame, k: int
              ) -> tuple[DataFrame, DataFrame]:
    """Partial ``edges`` rows of one batch, and the triples that could not become edges
    (subject or entity object without an entity), as ``rejects`` rows.

    ``doc_times``: doc_id, ts and, where known, group_id (the document's near-duplicate group: its
    ``duplicate_of``, else itself). A group counts once: for each edge, the group's document with the
    most evidence sentences for it (then the group's representative, then the smallest doc_id) speaks
    for the group; support, confidence, the evidence sample and evidence_count come from those
    documents only. first_seen and last_seen span every sighting, copies included."""
    ent = mention_entities.select("mention_id", "entity_id")
    t = (triples.join(ent.withColumnRenamed("mention_id", "subject_mention_id")
                      .withColumnRenamed("entity_id", "subject_id"), "subject_mention_id", "left")
         .join(ent.withColumnRenamed("mention_id", "object_mention_id")
               .withColumnRenamed("entity_id", "object_id"), "object_mention_id", "left"))
    is_entity = F.col("object_type") == "entity"
    reason = (F.when(F.col("subject_id").isNull(), F.lit("subject_not_entity"))
              .when(is_entity & F.col("object_id").isNull(), F.lit("object_not_entity")))
    t = t.withColumn("reject_reason", reason)
    rejects = t.where(F.col("reject_reason").isNotNull()).select(
        F.concat(F.lit("triples_raw:"), F.col("triple_id"), F.lit(" in document "), F.col("doc_id")).alias("input_ref"),
        F.lit(STAGE).alias("stage"),
        F.col("reject_reason").alias("reason"),
        F.concat(F.lit("the "), F.when(F.col("reject_reason") == "subject_not_entity", F.lit("subject"))
                 .otherwise(F.lit("object")), F.lit(" mention has no entity (its label is not an entity type): "),
                 F.col("subject"), F.lit(" | "), F.col("predicate"), F.lit(" | "), F.col("object")).alias("detail"),
        F.lit(None).cast("string").alias("native_id"), F.lit(None).cast("string").alias("title"),
        F.substring("sentence_text", 1, 300).alias("excerpt"))
    good = (t.where(F.col("reject_reason").isNull())
            .withColumn("object_id", F.when(is_entity, F.col("object_id")))
            .withColumn("object_literal", F.when(~is_entity, edge_literal_udf("object", "object_type")))
            .join(doc_times, "doc_id", "left"))
    group_id = F.coalesce("group_id", "doc_id") if "group_id" in doc_times.columns else F.col("doc_id")
    edge_id = edge_id_udf("subject_id", "predicate", F.coalesce("object_id", "object_literal"), "object_type",
                             "qualifiers")
    good = good.withColumn("edge_id", edge_id).withColumn("group_id", group_id).withColumn("evidence", F.struct(
        "doc_id", "sentence_index",
        F.least("subject_start", "object_start").cast("int").alias("start"),
        F.greatest("subject_end", "object_end").cast("int").alias("end"), "sentence_text"))
    # one piece of evidence per sentence: the best confidence of the patterns that fired there
    per_sentence = (good.groupBy("edge_id", "group_id", "doc_id", "sentence_index")
                    .agg(F.max("confidence").alias("confidence")))
    per_doc = per_sentence.groupBy("edge_id", "group_id", "doc_id").agg(
        F.count("*").alias("n"), F.collect_list("confidence").alias("confidences"))
    # one document per near-duplicate group speaks for it (see the docstring): its copies add nothing
    speaker = F.min_by(F.struct("doc_id", "n", "confidences"),
                       F.struct((-F.col("n")).alias("n"), (F.col("doc_id") != F.col("group_id")).alias("copy"),
                                F.col("doc_id")))
    counted = (per_doc.groupBy("edge_id", "group_id").agg(speaker.alias("s"))
               .select("edge_id", F.col("s.doc_id").alias("doc_id"), F.col("s.n").alias("n"),
                       F.col("s.confidences").alias("confidences")))
    confidence = counted.groupBy("edge_id").agg(
        F.sum("n").cast("long").alias("support_count"),
        noisy_or_col(F.flatten(F.collect_list("confidences"))).alias("confidence"))
    independent = good.join(counted.select("edge_id", "doc_id"), ["edge_id", "doc_id"], "left_semi")
    # the sample is taken per partial group first so a hot edge never holds all its evidence
    evidence = independent.groupBy("edge_id").agg(bottom_k(F.collect_list("evidence"), k).alias("evidence"),
                                                  F.count("*").alias("evidence_count"))
    rows = (good.groupBy("edge_id")
            .agg(F.first("subject_id").alias("subject_id"), F.first("predicate").alias("predicate"),
                 F.first("object_id").alias("object_id"), F.first("object_literal").alias("object_literal"),
                 F.first("object_type").alias("object_type"), F.first("qualifiers").alias("qualifiers"),
                 F.min("ts").alias("first_seen"), F.max("ts").alias("last_seen"))
            .join(evidence, "edge_id").join(confidence, "edge_id"))
    return rows.select(spark_schema("edges").fieldNames()), rejects


def merge_edges(partial: DataFrame, k: int) -> DataFrame:
    """``edges`` from partial rows (batches are disjoint sets of documents, so supports and
    evidence counts add up; confidences combine by noisy-or; samples are mergeable)."""
    return (partial.groupBy("edge_id")
            .agg(F.first("subject_id").alias("subject_id"), F.first("predicate").alias("predicate"),
                 F.first("object_id").alias("object_id"), F.first("object_literal").alias("object_literal"),
                 F.first("object_type").alias("object_type"), F.first("qualifiers").alias("qualifiers"),
                 F.sum("support_count").cast("long").alias("support_count"),
                 noisy_or_col(F.collect_list("confidence")).alias("confidence"),
                 F.min("first_seen").alias("first_seen"), F.max("last_seen").alias("last_seen"),
                 bottom_k(F.flatten(F.collect_list("evidence")), k).alias("evidence"),
                 F.sum("evidence_count").cast("long").alias("evidence_count"))
            .select(spark_schema("edges").fieldNames()))


def remap_edges(edges: DataFrame, remap: DataFrame) -> DataFrame:
    """Existing edges with merged entity ids replaced and their edge ids recomputed."""
    r = remap.select(F.col("old_id"), F.col("new_id"))
    e = (edges.join(r.withColumnRenamed("old_id", "subject_id"), "subject_id", "left")
         .withColumn("subject_id", F.coalesce("new_id", "subject_id")).drop("new_id")
         .join(r.withColumnRenamed("old_id", "object_id"), "object_id", "left")
         .withColumn("object_id", F.coalesce("new_id", "object_id")).drop("new_id"))
    edge_id = edge_id_udf("subject_id", "predicate", F.coalesce("object_id", "object_literal"), "object_type",
                             "qualifiers")
    return e.withColumn("edge_id", edge_id).select(spark_schema("edges").fieldNames())


# --------------------------------------------------------------------------- the stage

def _read(spark: SparkSession, warehouse: Warehouse, name: str) -> DataFrame:
    return spark.read.schema(spark_schema(name)).parquet(str(warehouse.table_path(name)))


def _prior(spark: SparkSession, warehouse: Warehouse, name: str, incremental: bool) -> DataFrame | None:
    return _read(spark, warehouse, name) if incremental and warehouse.exists(name) else None


@dataclass(frozen=True)
class _Job:
    """What every step of one :func:`resolve` call shares."""
    spark: SparkSession
    warehouse: Warehouse
    cfg: ResolveConfig
    staging: Path
    inputs: dict[str, DataFrame] | None
    incremental: bool
    prior: dict[str, DataFrame | None]

    def read(self, name: str) -> DataFrame:
        if self.inputs and name in self.inputs:
            return self.inputs[name]
        return _read(self.spark, self.warehouse, name)

    def materialize(self, df: DataFrame, name: str) -> DataFrame:
        """``df`` written to the staging table ``name`` and read back, so later steps do not recompute it."""
        write(df, self.staging / name)
        return self.spark.read.parquet(str(self.staging / name))


def _moved(df: DataFrame, remap: DataFrame) -> DataFrame:
    """Rows of an earlier run with the ids of merged entities replaced."""
    return (df.join(remap.withColumnRenamed("old_id", "entity_id"), "entity_id", "left")
            .withColumn("entity_id", F.coalesce("new_id", "entity_id")).drop("new_id"))


def _batch_inputs(job: _Job) -> tuple[DataFrame, DataFrame, DataFrame, DataFrame, DataFrame]:
    """mentions, triples_raw, documents (doc_id, source_kind, title, ts, group_id), links and redirects of this
    batch."""
    read = job.read
    mentions, triples = read("mentions"), read("triples_raw")
    documents = read("documents")
    # a document's near-duplicate group (documents v3; tables before it, and inputs without it: itself)
    group_id = (F.coalesce("duplicate_of", "doc_id") if "duplicate_of" in documents.columns else F.col("doc_id"))
    documents = documents.select("doc_id", "source_kind", "title", F.col("source_timestamp").alias("ts"),
                                 group_id.alias("group_id"))
    links, redirects = read("links"), (read("redirects") if job.warehouse.exists("redirects")
                                       else job.spark.createDataFrame([], spark_schema("redirects")))
    if job.incremental:
        done = job.prior["mention_entities"].select("doc_id").distinct()
        mentions = mentions.join(done, "doc_id", "left_anti")
        triples = triples.join(done, "doc_id", "left_anti")
        links = links.join(done, "doc_id", "left_anti")
        documents = documents.join(done, "doc_id", "left_anti")
    return mentions, triples, documents, links, redirects


def _alias_table(job: _Job, mentions: DataFrame, documents: DataFrame, links: DataFrame,
                 redirects: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame, DataFrame]:
    """Writes ``aliases``; returns the redirect targets, the links with their resolved ``target``, the
    mentions with their resolved ``anchor_title`` (all three cached: the caller unpersists them) and the
    alias table."""
    from kgpipe.graph.resolve import MAX_REDIRECT_HOPS
    targets = redirect_targets(redirects, MAX_REDIRECT_HOPS).cache()
    titles = documents.where(F.col("source_kind") == "wiki").select("title")
    # redirect-resolved once: the alias table, the documents' link targets and the linker share them
    links = resolve_titles(links, "target_title", targets, "target").cache()
    anchored = resolve_titles(mentions, "link_target", targets, "anchor_title").cache()
    contributions = alias_contributions(links, titles, redirects, targets)
    if job.prior["aliases"] is not None:
        contributions = contributions.unionByName(job.prior["aliases"].select(contributions.columns))
    aliases = job.materialize(merge_aliases(contributions, job.cfg.min_alias_count), "aliases")
    return targets, links, anchored, aliases


def _same_as_graph(job: _Job, anchored: DataFrame, links: DataFrame, aliases: DataFrame, pages: DataFrame
                   ) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Every entity mention linked, with the graph vertex it is (its title's or its own), and the
    same-as graph's edges and vertices. ``pages``: (doc_id, title) of the wiki pages, title resolved."""
    doc_targets = (links.select("doc_id", F.col("target").alias("title"))
                   .where(F.col("title").isNotNull()).dropDuplicates())
    types = job.materialize(title_types(anchored), "work-title-types")   # read by the linker and the name merge
    per_doc = job.materialize(link_documents(anchored, doc_targets, aliases, types, job.cfg.min_commonness, pages),
                              "work-per-doc")
    links_out = per_doc.where(F.col("kind") == "link").withColumn(
        "vertex", F.when(F.col("wiki_title").isNotNull(), F.concat(F.lit("W:"), "wiki_title"))
        .otherwise(F.col("mention_id")))
    graph_edges = per_doc.where(F.col("kind") == "edge").select("src", "dst", "rule")
    graph_edges = graph_edges.unionByName(title_name_graph_edges(graph_edges, links_out, types))
    vertices = (links_out.select("vertex")
                .unionByName(graph_edges.select(F.col("src").alias("vertex")))
                .unionByName(graph_edges.select(F.col("dst").alias("vertex"))))
    if job.prior["entity_keys"] is not None:
        graph_edges, vertices = _tie_to_prior(job.prior["entity_keys"], graph_edges, vertices)
    return links_out, graph_edges, vertices


def title_name_graph_edges(graph_edges: DataFrame, links_out: DataFrame, types: DataFrame) -> DataFrame:
    """:func:`kgpipe.graph.resolve.title_name_edges` as a join: the unlinked names' keys of this batch
    against the titles its mentions are linked to, on the title's whole name."""
    from kgpipe.graph.resolve import TITLE_NAME_RULE, full_name, joins_title, name_of_key
    name = text_udf(lambda key: (name_of_key(key) or ("", ""))[1])
    joins = F.udf(joins_title, "boolean")
    keys = (graph_edges.select(F.col("dst").alias("src")).unionByName(graph_edges.select("src"))
            .where(F.col("src").startswith("N:")).distinct().withColumn("name", name("src")))
    titles = (links_out.where(F.col("wiki_title").isNotNull()).select(F.col("wiki_title").alias("title")).distinct()
              .join(types, "title", "left").withColumn("name", text_udf(full_name)("title")))
    return (keys.join(titles, "name").where(joins("src", "entity_type"))
            .select("src", F.concat(F.lit("W:"), "title").alias("dst"), F.lit(TITLE_NAME_RULE).alias("rule")))


def _tie_to_prior(keys: DataFrame, graph_edges: DataFrame, vertices: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The same-as graph with the keys of this batch that existing entities own, and those entities'
    identity keys, tied to their entity's ``E:`` vertex."""
    from kgpipe.graph.resolve import PRIOR_RULE
    touched = keys.join(vertices.withColumnRenamed("vertex", "key").dropDuplicates(), "key")
    owners = touched.select("entity_id").distinct()
    identity = keys.where("is_identity").join(owners, "entity_id")

    def tie(df: DataFrame) -> DataFrame:
        return df.select(F.col("key").alias("src"), F.concat(F.lit(PRIOR_VERTEX), "entity_id").alias("dst"),
                         F.lit(PRIOR_RULE).alias("rule"))
    graph_edges = graph_edges.unionByName(tie(touched)).unionByName(tie(identity))
    vertices = vertices.unionByName(tie(identity).select(F.col("src").alias("vertex")))
    vertices = vertices.unionByName(tie(identity).select(F.col("dst").alias("vertex")))
    return graph_edges, vertices


def _mention_entities(job: _Job, assigned: DataFrame, links_out: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Writes ``mention_entities`` and ``entity_keys``; returns this batch's mention -> entity rows and
    the remap (old_id, new_id) of existing entities that merged."""
    remap = (assigned.where(F.col("vertex").startswith(PRIOR_VERTEX))
             .select(F.expr(f"substring(vertex, {len(PRIOR_VERTEX) + 1})").alias("old_id"),
                     F.col("entity_id").alias("new_id"))
             .where(F.col("old_id") != F.col("new_id")))
    remap = job.materialize(remap, "work-remap")
    new_me = (links_out.join(assigned.select("vertex", "entity_id"), "vertex")
              .select("mention_id", "doc_id", "entity_id", "wiki_title", "link_method", "link_score"))
    me = new_me
    new_keys = (assigned.where(F.col("vertex").startswith("W:") | F.col("vertex").startswith("N:"))
                .select(F.col("vertex").alias("key"), "entity_id", (F.col("vertex") == F.col("cluster_key"))
                        .alias("is_identity")))
    keys_out = new_keys
    if job.incremental:
        # existing rows of merged entities get the new id
        me = _moved(job.prior["mention_entities"], remap).select(new_me.columns).unionByName(new_me)
        # a key re-seen in this batch takes its new assignment (identical unless merged)
        old_keys = _moved(job.prior["entity_keys"], remap).join(new_keys.select("key"), "key", "left_anti")
        keys_out = old_keys.select(new_keys.columns).unionByName(new_keys)
    write(me, job.staging / "mention_entities")
    write(keys_out, job.staging / "entity_keys")
    return new_me, remap


def _entities_and_edges(job: _Job, new_me: DataFrame, mentions: DataFrame, triples: DataFrame,
                        doc_times: DataFrame, remap: DataFrame) -> None:
    """Writes ``entities``, ``edges`` and ``rejects``."""
    k = job.cfg.evidence_sample_size
    partial_entities = entity_rows(new_me, mentions, doc_times)
    partial_edges, rejects = edge_rows(triples, new_me, doc_times, k)
    if job.incremental:
        old_entities = _moved(job.prior["entities"], remap)
        partial_entities = old_entities.select(partial_entities.columns).unionByName(partial_entities)
        partial_edges = remap_edges(job.prior["edges"], remap).unionByName(partial_edges)
        # the resolve rejects of earlier batches belong to documents still in the graph
        if job.warehouse.exists("rejects"):
            rejects = job.read("rejects").where(F.col("stage") == STAGE).unionByName(rejects)
    write(merge_entities(partial_entities), job.staging / "entities")
    write(merge_edges(partial_edges, k), job.staging / "edges")
    write(rejects, job.staging / "rejects")


def _figures(incremental: bool, anchored: DataFrame, new_me: DataFrame, graph_edges: DataFrame,
             assigned: DataFrame, remap: DataFrame) -> dict[str, Any]:
    link_methods = {r["link_method"]: r["count"] for r in new_me.groupBy("link_method").count().collect()}
    rules = {r["rule"]: r["count"] for r in graph_edges.groupBy("rule").count().collect()}
    sizes = assigned.groupBy("entity_id").count()
    largest = sizes.agg(F.max("count")).first()[0] or 0
    return {"incremental": bool(incremental), "new_mentions": anchored.count(),
            "entity_mentions": sum(link_methods.values()), "link_methods": link_methods,
            "same_as_edges_by_rule": rules, "largest_entity_vertices": int(largest),
            "merged_entities": remap.count()}


def resolve(spark: SparkSession, warehouse: Warehouse, cfg: ResolveConfig, staging: Path,
            checkpoint: str, inputs: dict[str, DataFrame] | None = None) -> dict[str, Any]:
    """Write every output table into ``staging`` and return the figures of the run.
    ``inputs`` replaces input tables (evaluation runs on altered inputs; never incremental)."""
    incremental = cfg.incremental and not inputs and warehouse.exists("mention_entities")
    prior = {name: _prior(spark, warehouse, name, incremental)
             for name in ("aliases", "entity_keys", "mention_entities", "entities", "edges")}
    job = _Job(spark, warehouse, cfg, staging, inputs, incremental, prior)
    mentions, triples, documents, links, redirects = _batch_inputs(job)
    doc_times = documents.select("doc_id", "ts", "group_id")
    targets, links, anchored, aliases = _alias_table(job, mentions, documents, links, redirects)
    pages = resolve_titles(documents.where(F.col("source_kind") == "wiki"), "title", targets, "page")
    links_out, graph_edges, vertices = _same_as_graph(job, anchored, links, aliases,
                                                      pages.select("doc_id", F.col("page").alias("title")))
    with adaptive_execution_off(spark):
        write(assign_entities(spark, vertices, graph_edges, cfg.max_component_size, checkpoint,
                              staging / "work-graph"), staging / "work-assigned")
    assigned = spark.read.parquet(str(staging / "work-assigned"))
    new_me, remap = _mention_entities(job, assigned, links_out)
    _entities_and_edges(job, new_me, mentions, triples, doc_times, remap)
    figures = _figures(incremental, anchored, new_me, graph_edges, assigned, remap)
    for frame in (targets, links, anchored):
        frame.unpersist()
    return figures


def evaluate_linking(spark: SparkSession, warehouse: Warehouse, cfg: ResolveConfig, fraction: float,
                     seed: int = 0) -> dict[str, Any]:
    """Held-out linking accuracy (``kgpipe eval linking``).

    The links chosen by :func:`kgpipe.graph.resolve.in_holdout` are removed from the link
    evidence (alias counts and the documents' own link targets); where NER found an entity at
    the anchor's span that mention loses its target, other anchor mentions of hidden links
    are removed. The whole resolution then runs on what is left, and each probe's entity is
    compared with the (redirect-resolved) target its anchor really pointed to.
    ``accuracy`` counts a mention left unlinked as wrong; ``precision`` is over the linked
    ones only. ``prior_only_accuracy`` is the baseline of the alias table's most common
    target alone (no types, no document context, no same-as merges).
    ``linkable_probes`` are the probes whose gold title is still a candidate of their text in
    the alias table built without the hidden links; ``linkable_accuracy`` is the share of them
    linked right. A small sample's alias table cannot know most titles, so ``accuracy``
    mostly measures its coverage and ``linkable_accuracy`` the linker's choices.
    """
    from kgpipe.graph.resolve import ANY, MAX_REDIRECT_HOPS, coarse_type
    links, mentions = _read(spark, warehouse, "links"), _read(spark, warehouse, "mentions")
    held = holdout_column(F.col("doc_id"), F.col("start"), fraction, seed)
    hidden = links.where(held).select("doc_id", "start", "end", "target_title")
    # Without its anchor a span is a mention only where NER found an entity (a concrete
    # label; LINK marks anchors NER missed, such as "philosophy"): those are the probes.
    # Anchor-only mentions of hidden links vanish, as they would in unlinked text.
    ner_entity = F.udf(lambda label: coarse_type(label) not in (None, ANY), "boolean")
    anchors = (mentions.where(F.col("link_target").isNotNull())
               .join(hidden.drop("target_title"), ["doc_id", "start", "end"], "left_semi"))
    probe = anchors.where(ner_entity("label"))
    dropped = anchors.where(~ner_entity("label")).select("mention_id")
    altered = {"links": links.where(~held),
               "mentions": mentions.join(dropped, "mention_id", "left_anti")
               .join(probe.select("mention_id", F.lit(True).alias("_probe")), "mention_id", "left")
               .withColumn("link_target", F.when(F.col("_probe"), None).otherwise(F.col("link_target")))
               .drop("_probe").select(mentions.columns)}
    run_id = new_run_id()
    staging = warehouse.staging_dir(run_id) / "eval-linking"
    try:
        figures = resolve(spark, warehouse, cfg.model_copy(update={"incremental": False}), staging,
                          cfg.checkpoint_dir or str(warehouse.root / "_checkpoints"), inputs=altered)
        targets = redirect_targets(_read(spark, warehouse, "redirects"), MAX_REDIRECT_HOPS)
        gold = resolve_titles(probe, "link_target", targets, "gold").select("mention_id", "gold")
        linked = spark.read.parquet(str(staging / "mention_entities")).select("mention_id", "wiki_title")
        entities = spark.read.parquet(str(staging / "entities")).select("entity_id", "wiki_title")
        by_entity = (spark.read.parquet(str(staging / "mention_entities")).select("mention_id", "entity_id")
                     .join(entities.withColumnRenamed("wiki_title", "entity_title"), "entity_id"))
        prior = (spark.read.parquet(str(staging / "aliases"))
                 .withColumn("rank", F.row_number().over(Window.partitionBy("alias_key")
                                                         .orderBy(F.desc("commonness"), "target_title")))
                 .where((F.col("rank") == 1) & (F.col("commonness") > cfg.min_commonness))
                 .select("alias_key", F.col("target_title").alias("prior")))
        # (alias_key, target_title) is the aliases table's key, so this join adds no rows
        candidate = (spark.read.parquet(str(staging / "aliases"))
                     .select("alias_key", F.col("target_title").alias("gold"), F.lit(True).alias("linkable")))
        normalize = text_udf(normalize_surface)
        scored = (gold.join(linked, "mention_id", "left").join(by_entity, "mention_id", "left")
                  .join(probe.select("mention_id", normalize("text").alias("alias_key")), "mention_id")
                  .join(prior, "alias_key", "left").join(candidate, ["alias_key", "gold"], "left"))
        right = F.col("entity_title") == F.col("gold")
        row = scored.agg(
            F.count("*").alias("held_out"),
            F.sum(F.when(right, 1).otherwise(0)).alias("correct"),
            F.sum(F.when(F.col("entity_title").isNotNull(), 1).otherwise(0)).alias("linked"),
            F.sum(F.when(F.col("wiki_title") == F.col("gold"), 1).otherwise(0)).alias("correct_direct"),
            F.sum(F.when(F.col("prior") == F.col("gold"), 1).otherwise(0)).alias("prior_correct"),
            F.sum(F.when(F.col("linkable"), 1).otherwise(0)).alias("linkable"),
            F.sum(F.when(F.col("linkable") & right, 1).otherwise(0)).alias("linkable_correct")).first()
    finally:
        warehouse.discard_staging(run_id)
    n = row["held_out"] or 0
    return {"holdout_fraction": fraction, "seed": seed, "held_out_links": links.where(held).count(),
            "held_out_ner_mentions": n, "held_out_anchor_only": dropped.count(),
            "linked": row["linked"] or 0, "correct": row["correct"] or 0,
            "accuracy": (row["correct"] or 0) / n if n else 0.0,
            "precision": (row["correct"] or 0) / row["linked"] if row["linked"] else 0.0,
            "mention_level_accuracy": (row["correct_direct"] or 0) / n if n else 0.0,
            "prior_only_accuracy": (row["prior_correct"] or 0) / n if n else 0.0,
            "linkable_probes": row["linkable"] or 0,
            "linkable_accuracy": (row["linkable_correct"] or 0) / row["linkable"] if row["linkable"] else 0.0,
            "link_methods": figures["link_methods"]}


def holdout_column(doc_id: Column, start: Column, fraction: float, seed: int) -> Column:
    """:func:`kgpipe.graph.resolve.in_holdout` in Spark."""
    h = stable_id_col("holdout", F.lit(str(seed)), doc_id, start)
    return F.conv(F.substring(h, 1, 8), 16, 10).cast("double") / float(1 << 32) < F.lit(fraction)


def linking_accuracy(config: Config, fraction: float, seed: int = 0) -> dict[str, Any]:
    """``kgpipe eval linking``: :func:`evaluate_linking` on the configured warehouse, in its own Spark session."""
    from jobs.spark import spark_session
    warehouse = Warehouse(config.warehouse, config.keep_versions)
    for table in ("documents", "links", "mentions"):
        if not warehouse.exists(table):
            raise CommandError(f"eval linking needs the {table} table in {warehouse.root}")
    spark = spark_session(config.spark, app_suffix="-eval-linking", cache_dir=config.cache_dir)
    return evaluate_linking(spark, warehouse, config.resolve, fraction, seed)


def full_rebuild_reason(warehouse: Warehouse) -> str | None:
    """Why an incremental resolve would be wrong, or None. Incremental merging adds and cannot subtract: a
    resolved document that left ``documents`` (an accumulating ingest replaced it by a newer revision, or
    ``kgpipe forget`` removed it) still counts in entities, edge support and evidence. Both ask for a full
    resolve from the remaining documents (:meth:`~kgpipe.warehouse.Warehouse.request_rebuild`), cleared once one
    commits (docs/resolve.md#replaced-and-forgotten-documents)."""
    requested = warehouse.rebuild_requested(STAGE)
    return f"requested ({requested})" if requested is not None else None


def run_stage(cfg: ResolveConfig, ctx: StageContext, spark: SparkSession | None = None) -> StageRecord:
    from jobs.spark import spark_session
    warehouse = ctx.warehouse
    for table in ("documents", "links", "mentions", "triples_raw"):
        if not warehouse.exists(table):
            raise FileNotFoundError(f"resolve needs the {table} table in {warehouse.root}: "
                                    "run `kgpipe ingest` and `kgpipe extract` first")
    spark = spark or spark_session(ctx.spark, app_suffix="-resolve", cache_dir=ctx.cache_dir)
    rebuild_reason = None
    if cfg.incremental and warehouse.exists("mention_entities"):
        rebuild_reason = full_rebuild_reason(warehouse)
        if rebuild_reason:
            log.info("resolve: resolving everything again, not incrementally: %s", rebuild_reason)
            cfg = cfg.model_copy(update={"incremental": False})
    with StageRun(warehouse, STAGE, ctx.run_id) as run:
        if cfg.incremental and warehouse.exists("mention_entities"):
            # a scheduled rerun with nothing new commits nothing: every table keeps its version
            done = _read(spark, warehouse, "mention_entities").select("doc_id").distinct()
            if _read(spark, warehouse, "mentions").join(done, "doc_id", "left_anti").isEmpty():
                log.info("resolve: every document of mentions is resolved already; nothing to do")
                return run.record(inputs={"mentions": 0}, rejects=0, status="unchanged",
                                  outputs={name: warehouse.count(name) for name in OUTPUT_TABLES},
                                  details={"incremental": True, "new_mentions": 0})
        checkpoint = cfg.checkpoint_dir or str(warehouse.root / "_checkpoints")
        details = resolve(spark, warehouse, cfg, run.staging, checkpoint)
        reasons = {r["reason"]: r["count"] for r in
                   spark.read.parquet(str(run.path("rejects"))).groupBy("reason").count().collect()}
        run.carry_rejects()
        counts = run.check(*OUTPUT_TABLES)
        run.commit(*OUTPUT_TABLES)
        if not details["incremental"]:   # a full resolve: what a rebuild request asked for is done
            warehouse.clear_rebuild(STAGE)
        details["rejects_by_reason"] = reasons
        if rebuild_reason:
            details["full_rebuild_because"] = rebuild_reason
        return run.record(inputs={"mentions": details["new_mentions"]}, outputs=counts,
                          rejects=sum(reasons.values()), details=details)


if __name__ == "__main__":  # spark-submit jobs/resolve.py [--config FILE] [--set KEY=VALUE] --warehouse DIR
    from kgpipe.cli import job_main
    sys.exit(job_main(STAGE))
