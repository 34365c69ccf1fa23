"""Beam ingestion: MediaWiki dumps and news files -> documents, redirects, links, rejects.

The pipeline is one composite transform, :class:`IngestSplits`, over a
PCollection of small :class:`~kgpipe.inputs.InputSplit` references; workers read
and clean the bytes of their own splits. Runs on the DirectRunner locally and
on Dataflow or Flink unchanged (``--runner ... --setup_file ./setup.py``).

    python -m pipelines.ingest --input DUMP.xml.bz2 --warehouse warehouse [beam options]
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from kgpipe.config import IngestConfig, load_config
from kgpipe.datasets import resolve_inputs
from kgpipe.ingest import OUTPUT_TABLES, STAGE, merge_stats, process_split
from kgpipe.inputs import InputSplit, plan_splits
from kgpipe.manifest import StageRecord, new_run_id
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from schemas import arrow_schema

log = logging.getLogger(__name__)
STATS = "stats"


class AccountingError(RuntimeError):
    pass


class _ProcessSplitFn(beam.DoFn):
    def __init__(self, cfg: IngestConfig):
        self.cfg = cfg
        self.splits_done = Metrics.counter(STAGE, "splits")
        self.rows = {name: Metrics.counter(STAGE, name) for name in OUTPUT_TABLES}

    def process(self, split: InputSplit):
        started = time.monotonic()
        for tag, row in process_split(split, self.cfg):
            if tag == STATS:
                log.info("ingested %s: %d records (%d documents, %d redirects, %d rejects) in %.1fs",
                         split.describe(), row["seen"], row["documents"], row["redirects"],
                         sum(row["rejects"].values()), time.monotonic() - started)
            else:
                self.rows[tag].inc()
            yield pvalue.TaggedOutput(tag, row)
        self.splits_done.inc()


class IngestSplits(beam.PTransform):
    """PCollection[InputSplit] -> {documents, redirects, links, rejects, stats} PCollections."""

    def __init__(self, cfg: IngestConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, splits):
        tagged = (splits
                  | "Distribute" >> beam.Reshuffle()
                  | "ReadAndClean" >> beam.ParDo(_ProcessSplitFn(self.cfg)).with_outputs(*OUTPUT_TABLES, STATS))
        outputs = {name: tagged[name] for name in OUTPUT_TABLES}
        outputs[STATS] = (tagged[STATS]
                          | "KeyByInput" >> beam.Map(lambda row: (row["input"], row))
                          | "SumPerInput" >> beam.CombinePerKey(merge_stats)
                          | "DropKey" >> beam.Values())
        return outputs


def write_outputs(outputs, staging: Path) -> None:
    for name in OUTPUT_TABLES:
        _ = outputs[name] | f"Write_{name}" >> beam.io.WriteToParquet(
            str(staging / name / "part"), schema=arrow_schema(name), file_name_suffix=".parquet")
    _ = (outputs[STATS]
         | "StatsToJson" >> beam.Map(lambda row: json.dumps(row, sort_keys=True))
         | "WriteStats" >> beam.io.WriteToText(str(staging / STATS / "part"), file_name_suffix=".jsonl"))


def pipeline_options(cfg: IngestConfig, beam_args: list[str]) -> PipelineOptions:
    """Beam options: command-line flags win over the configuration."""
    given = {arg.split("=", 1)[0] for arg in beam_args if arg.startswith("--")}
    defaults = {"--runner": cfg.runner, "--direct_running_mode": cfg.direct_running_mode,
                "--direct_num_workers": str(cfg.direct_num_workers),
                # workers keep our progress lines but not the harness's chatter about its channels
                "--sdk_harness_log_level_overrides": json.dumps(
                    {"__main__": "ERROR", "apache_beam": "ERROR", "pipelines": "INFO"})}
    extra = [f"{flag}={value}" for flag, value in defaults.items() if flag not in given]
    return PipelineOptions(extra + beam_args)


def run_pipeline(splits: list[InputSplit], cfg: IngestConfig, staging: Path, beam_args: list[str]) -> list[dict]:
    """Run the Beam pipeline into ``staging``; returns the per-input stats rows."""
    with beam.Pipeline(options=pipeline_options(cfg, beam_args)) as pipeline:
        outputs = pipeline | "Splits" >> beam.Create(splits) | "Ingest" >> IngestSplits(cfg)
        write_outputs(outputs, staging)
    return [json.loads(line) for path in sorted((staging / STATS).glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line]


def check_accounting(stats: list[dict], counts: dict[str, int]) -> None:
    """Every record read must be somewhere: seen == documents + redirects + skipped + rejects."""
    for row in stats:
        placed = row["documents"] + row["redirects"] + sum(row["skipped"].values()) + sum(row["rejects"].values())
        if placed != row["seen"]:
            raise AccountingError(f"{row['input']}: {row['seen']} records seen but {placed} accounted for")
    for table, key in (("documents", "documents"), ("redirects", "redirects"), ("links", "links")):
        expected = sum(row[key] for row in stats)
        if counts[table] != expected:
            raise AccountingError(f"{table}: wrote {counts[table]} rows, workers reported {expected}")
    rejects = sum(sum(row["rejects"].values()) for row in stats)
    if counts["rejects"] != rejects:
        raise AccountingError(f"rejects: wrote {counts['rejects']} rows, workers reported {rejects}")


def run_stage(cfg: IngestConfig, ctx: StageContext, inputs: list[str] | None = None) -> StageRecord:
    started = time.monotonic()
    warehouse, run_id = ctx.warehouse, ctx.run_id
    paths = resolve_inputs(inputs or cfg.inputs, ctx.cache_dir)
    splits = plan_splits(paths, cfg)
    log.info("ingest: %d inputs in %d splits, runner %s", len(paths), len(splits), cfg.runner)
    run_staging = warehouse.staging_dir(run_id)
    staging = run_staging / STAGE
    try:
        stats = run_pipeline(splits, cfg, staging, ctx.engine_args)
        counts = {name: warehouse.check_schema(name, staging / name) for name in OUTPUT_TABLES}
        check_accounting(stats, counts)
        versions = {name: str(warehouse.commit(name, staging / name, run_id)) for name in OUTPUT_TABLES}
    finally:
        shutil.rmtree(run_staging, ignore_errors=True)
    per_input = {row["input"]: {"pages_seen": row["seen"], "documents": row["documents"],
                                "redirects": row["redirects"], "skipped_by_rule": sum(row["skipped"].values()),
                                "rejects": sum(row["rejects"].values()), "skipped_by_reason": row["skipped"],
                                "rejects_by_reason": row["rejects"], "links": row["links"]}
                 for row in sorted(stats, key=lambda r: r["input"])}
    return StageRecord(name=STAGE, seconds=round(time.monotonic() - started, 3),
                       inputs={"files": [str(p) for p in paths], "splits": len(splits), "per_input": per_input},
                       outputs=counts, rejects=counts["rejects"], versions=versions)


def run(argv: list[str] | None = None) -> StageRecord:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", nargs="+", default=None)
    parser.add_argument("--warehouse", default=None)
    parser.add_argument("--config", default=None)
    known, beam_args = parser.parse_known_args(argv)
    config = load_config(known.config)
    ctx = StageContext(Warehouse(known.warehouse or config.warehouse, config.keep_versions), new_run_id(),
                       config.cache_dir, beam_args)
    return run_stage(config.ingest, ctx, known.input)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(json.dumps(vars(run()), indent=2, default=str))
