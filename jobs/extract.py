"""Spark job: documents (with their wiki links and infobox facts) -> mentions, triples_raw, extract rejects.

Infobox facts (the ``infobox`` table ingest wrote) travel with their document and become mentions and
triples next to the ones spaCy finds (kgpipe/extract/infobox.py).

spaCy runs inside Spark through Arrow-batched ``mapInArrow`` (the Arrow-native
sibling of ``mapInPandas``: no pandas conversion of nested columns), with the
model loaded once per Python worker. Documents are spread over partitions by
text length, not row count, so one long article does not make one slow task.

    kgpipe extract --warehouse DIR
    spark-submit --py-files kgpipe.zip jobs/extract.py --warehouse DIR [--config FILE]
"""
from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from kgpipe.config import ExtractConfig
from kgpipe.extract.infobox import InfoboxFact
from kgpipe.extract.vocabulary import load_vocabulary
from kgpipe.manifest import StageRecord
from kgpipe.stages import STAGES, StageContext
from kgpipe.warehouse import StageRun
from schemas import arrow_schema
from schemas.spark import spark_schema

log = logging.getLogger(__name__)
STAGE = "extract"
OUTPUT_TABLES = STAGES[STAGE].writes


def _union_schema() -> pa.Schema:
    """One row per output record: the table it belongs to and that table's columns as a struct."""
    return pa.schema([pa.field("table", pa.string(), nullable=False)]
                     + [pa.field(name, pa.struct(list(arrow_schema(name)))) for name in OUTPUT_TABLES])


def _extract_partition(cfg: ExtractConfig):
    schema = _union_schema()

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from kgpipe.extract.documents import Anchor, DocumentInput, extract_documents
        from kgpipe.extract.nlp import load_nlp
        nlp = load_nlp(cfg.model, tuple(cfg.disable))
        for batch in batches:
            documents = [
                DocumentInput(doc_id=row["doc_id"], text=row["text"] or "",
                              paragraphs=tuple((p["start"], p["end"]) for p in row["paragraphs"] or ()),
                              anchors=tuple(Anchor(a["start"], a["end"], a["target"]) for a in row["anchors"] or ()),
                              language=row["language"] or "en", title=row["title"], source_kind=row["source_kind"],
                              infobox=tuple(InfoboxFact(**fact) for fact in row["infobox"] or ()))
                for row in batch.to_pylist()]
            rows = [{"table": table, table: row} for table, row in extract_documents(nlp, documents, cfg)]
            if rows:
                yield pa.RecordBatch.from_pylist(rows, schema=schema)

    return run


def balance_by_length(df: DataFrame, text_column: str, target_chars: int, min_partitions: int = 1) -> DataFrame:
    """Repartition so that partitions hold about equal amounts of text, each at most about
    ``target_chars`` characters, and there are at least ``min_partitions`` of them.

    Two light passes over (doc_id, length): per-partition sums give every
    partition its offset, then each row's running offset picks its bucket;
    range partitioning on the bucket puts one bucket in each partition.
    """
    lengths = df.select("doc_id", F.length(text_column).alias("chars")).rdd
    totals = dict(lengths.mapPartitionsWithIndex(
        lambda index, rows: [(index, sum(row.chars or 0 for row in rows))]).collect())
    offsets, running = {}, 0
    for index in sorted(totals):
        offsets[index] = running
        running += totals[index]
    partitions = max(min_partitions, math.ceil(running / target_chars), 1)
    per_partition = max(1, math.ceil(running / partitions))

    def buckets(index, rows):
        position = offsets[index]
        for row in rows:
            yield row.doc_id, position // per_partition
            position += row.chars or 0

    bucketed = lengths.mapPartitionsWithIndex(buckets).toDF("doc_id string, bucket long")
    return (df.join(bucketed, on="doc_id", how="inner")
            .repartitionByRange(partitions, "bucket").drop("bucket"))


#: the infobox columns a worker needs
INFOBOX_FACT = tuple(f.name for f in dataclasses.fields(InfoboxFact))


def extract(documents: DataFrame, links: DataFrame, cfg: ExtractConfig, infobox: DataFrame | None = None
            ) -> DataFrame:
    """The pure transform: documents, links and infobox rows in, union of output records out (see
    ``split_union``)."""
    anchors = (links.groupBy("doc_id")
               .agg(F.collect_list(F.struct("start", "end", F.col("target_title").alias("target"))).alias("anchors")))
    docs = (documents.select("doc_id", "text", "paragraphs", "language", "title", "source_kind")
            .join(anchors, on="doc_id", how="left"))
    if infobox is None:
        infobox = documents.sparkSession.createDataFrame([], spark_schema("infobox"))
    facts = (infobox.where(F.col("status") == "fact").groupBy("doc_id")
             .agg(F.collect_list(F.struct(*INFOBOX_FACT)).alias("infobox")))
    docs = docs.join(facts, on="doc_id", how="left")
    # at least two tasks per core, so that one slow partition does not leave a core idle
    min_partitions = 2 * documents.sparkSession.sparkContext.defaultParallelism
    docs = balance_by_length(docs, "text", cfg.partition_chars, min_partitions)
    return docs.mapInArrow(_extract_partition(cfg), from_arrow_schema(_union_schema()))


def split_union(union: DataFrame) -> dict[str, DataFrame]:
    """Each output table from the union, columns in schema order."""
    return {name: union.where(F.col("table") == name).select(
        [F.col(f"{name}.{column}").alias(column) for column in spark_schema(name).fieldNames()])
        for name in OUTPUT_TABLES}


def extracted_documents(spark: SparkSession, warehouse, documents: DataFrame) -> DataFrame | None:
    """``extract.incremental``: the doc_ids of ``documents`` that the committed ``mentions`` or ``triples_raw``
    already hold (extracted by an earlier run), or None where there are no such tables. A document with no
    mention and no triple is extracted again each run (its rows are none, its rejects replaced)."""
    if not (warehouse.exists("mentions") and warehouse.exists("triples_raw")):
        return None
    def ids(name: str) -> DataFrame:
        return spark.read.schema(spark_schema(name)).parquet(str(warehouse.table_path(name))).select("doc_id")
    return (ids("mentions").unionByName(ids("triples_raw")).distinct()
            .join(documents.select("doc_id"), "doc_id", "left_semi"))


def carry_previous(spark: SparkSession, warehouse, name: str, done: DataFrame) -> DataFrame:
    """The committed rows of ``name`` (mentions, triples_raw, or extract's rows of rejects: ``input_ref`` is
    ``doc_id`` or ``doc_id#s<index>``) of the documents in ``done``; rows of documents that left ``documents``
    (a replaced revision, a forgotten document) are not carried."""
    frame = spark.read.schema(spark_schema(name)).parquet(str(warehouse.table_path(name)))
    if name == "rejects":
        frame = frame.where(F.col("stage") == STAGE).withColumn("doc_id", F.split(F.col("input_ref"), "#").getItem(0))
    # a join on a column name puts that column first: the schema's order again
    return frame.join(done, "doc_id", "left_semi").select(spark_schema(name).fieldNames())


def run_stage(cfg: ExtractConfig, ctx: StageContext, spark: SparkSession | None = None) -> StageRecord:
    from jobs.spark import spark_session
    warehouse = ctx.warehouse
    for table in ("documents", "links"):
        if not warehouse.exists(table):
            raise FileNotFoundError(f"extract needs the {table} table in {warehouse.root}: run `kgpipe ingest` first")
    load_vocabulary(cfg.vocabulary)   # a bad vocabulary file fails here, once, not in every worker
    if cfg.relation_model:
        # the workers load the classifier themselves: check it once here (a missing or foreign
        # file fails the stage with one line) and hand them an absolute path
        from kgpipe.extract.relation_model import LabelError, RelationModel
        model_path = Path(cfg.relation_model).resolve()
        try:
            RelationModel.load(model_path)
        except LabelError as exc:
            raise FileNotFoundError(f"extract.relation_model: {exc}") from exc
        cfg = cfg.model_copy(update={"relation_model": str(model_path)})
    spark = spark or spark_session(ctx.spark, cfg, app_suffix="-extract")
    with StageRun(warehouse, STAGE, ctx.run_id) as run:
        documents = spark.read.parquet(str(warehouse.table_path("documents")))
        links = spark.read.parquet(str(warehouse.table_path("links")))
        # warehouses ingested before infoboxes were read have no infobox table: no infobox facts
        infobox = spark.read.parquet(str(warehouse.table_path("infobox"))) if warehouse.exists("infobox") else None
        done = extracted_documents(spark, warehouse, documents) if cfg.incremental else None
        if done is not None:
            documents = documents.join(done, "doc_id", "left_anti")
        input_docs = documents.count()
        log.info("extract: running %s over %d documents", cfg.model, input_docs)
        # materialize spaCy's output once; the three tables are cut from it afterwards
        extract(documents, links, cfg, infobox).write.parquet(str(run.path("union")))
        log.info("extract: spaCy done after %.0fs; writing tables", time.monotonic() - run.started)
        tables = split_union(spark.read.parquet(str(run.path("union"))))
        if done is not None:
            tables = {name: carry_previous(spark, warehouse, name, done).unionByName(frame)
                      for name, frame in tables.items()}
        for name, frame in tables.items():
            frame.write.parquet(str(run.path(name)))
        reasons = {row["reason"]: row["count"] for row in tables["rejects"].groupBy("reason").count().collect()}
        run.carry_rejects()
        counts = run.check(*OUTPUT_TABLES)
        run.commit(*OUTPUT_TABLES)
        return run.record(inputs={"documents": input_docs}, outputs=counts, rejects=sum(reasons.values()),
                          details={"rejects_by_reason": reasons, "model": cfg.model,
                                   "relation_model": cfg.relation_model, "incremental": done is not None})


if __name__ == "__main__":  # spark-submit jobs/extract.py [--config FILE] [--set KEY=VALUE] --warehouse DIR
    from kgpipe.cli import job_main
    sys.exit(job_main(STAGE))
