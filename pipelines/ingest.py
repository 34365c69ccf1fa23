"""Beam ingestion: MediaWiki dumps and news files -> documents, redirects, links, rejects.

The pipeline is one composite transform, :class:`IngestSplits`, over a
PCollection of small :class:`~kgpipe.ingest.inputs.InputSplit` references; workers read
and clean the bytes of their own splits. Runs on the DirectRunner locally and
on Dataflow or Flink unchanged (``--runner ... --setup_file ./setup.py``).

    python -m pipelines.ingest --input DUMP.xml.bz2 --warehouse warehouse [beam options]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.portability import python_urns
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.portability.portable_runner import JobServiceHandle

from kgpipe.config import IngestConfig, NearDuplicateConfig, load_config
from kgpipe.datasets import resolve_inputs
from kgpipe.forget import forgotten_selectors
from kgpipe.ingest.duplicates import Sketch, Sketcher, candidate_pairs, representatives
from kgpipe.ingest.infobox import load_mappings
from kgpipe.ingest.inputs import InputSplit, plan_splits
from kgpipe.ingest.merge import MERGED_TABLES, merge_staged
from kgpipe.ingest.process import DAMAGE_REASONS, OUTPUT_TABLES, STAGE, merge_stats, process_split
from kgpipe.manifest import StageRecord, new_run_id
from kgpipe.stages import StageContext
from kgpipe.warehouse import StageRun, Warehouse
from schemas import arrow_schema

log = logging.getLogger(__name__)
STATS = "stats"
#: the tag of a document's MinHash sketch, made by the worker that made the document (never written)
SKETCH = "_near_duplicate_sketch"


class AccountingError(RuntimeError):
    pass


class _ProcessSplitFn(beam.DoFn):
    def __init__(self, cfg: IngestConfig):
        self.cfg = cfg
        self.splits_done = Metrics.counter(STAGE, "splits")
        self.rows = {name: Metrics.counter(STAGE, name) for name in OUTPUT_TABLES}
        self.sketcher = Sketcher(cfg.near_duplicates) if cfg.near_duplicates.enabled else None

    def process(self, split: InputSplit):
        started = time.monotonic()
        for tag, row in process_split(split, self.cfg):
            if tag == STATS:
                log.info("ingested %s: %d records (%d documents, %d redirects, %d rejects) in %.1fs",
                         split.describe(), row["seen"], row["documents"], row["redirects"],
                         sum(row["rejects"].values()), time.monotonic() - started)
            else:
                self.rows[tag].inc()
            yield tag, row
            if tag == "documents" and self.sketcher is not None and self.sketcher.checks(row):
                yield SKETCH, self.sketcher.sketch(row, split.path)
        self.splits_done.inc()


def _bare(sketch: Sketch) -> Sketch:
    """A sketch without signature and band keys: what grouping needs (id, input, order)."""
    return dataclasses.replace(sketch, signature=b"", bands=())


def _groups(pairs: list[tuple[Sketch, Sketch]]):
    """All verified pairs -> (doc_id, representative doc_id) per copy, and a stats row per input that has copies."""
    marks = representatives(pairs)
    members = {s.doc_id: s for pair in pairs for s in pair}
    for doc_id, rep in sorted(marks.items()):
        yield "mark", (doc_id, rep.doc_id)
    for path, n in sorted(Counter(members[doc_id].input for doc_id in marks).items()):
        yield STATS, {"input": path, "near_duplicates": n}


def _marked(element):
    _, grouped = element
    rep = next(iter(grouped["rep"]), None)
    for row in grouped["doc"]:
        yield "documents", {**row, "duplicate_of": rep}


class MarkNearDuplicates(beam.PTransform):
    """(table, row) elements with the documents' sketches -> the same elements without sketches, each
    near-duplicate document with ``duplicate_of`` set, plus ``stats`` rows counting them per input.

    Scales with workers except one step: the sketches are made where the documents are; LSH banding is a
    GroupByKey on band keys; candidate pairs are verified by estimated Jaccard inside each bucket; the
    verified pairs (their number grows with the copies, not with the documents) are joined into groups
    in one place; the marks reach the documents through a CoGroupByKey on doc_id."""

    def __init__(self, cfg: NearDuplicateConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, tagged):
        kinds, threshold = tuple(self.cfg.kinds), self.cfg.threshold

        def route(element, _n):
            tag, row = element
            return 0 if tag == SKETCH else 1 if tag == "documents" and row["source_kind"] in kinds else 2

        sketches, docs, rest = tagged | "RouteNearDuplicates" >> beam.Partition(route, 3)
        pairs = (sketches
                 | "BandKeys" >> beam.FlatMap(lambda element: ((key, element[1]) for key in element[1].bands))
                 | "Buckets" >> beam.GroupByKey()
                 | "Verify" >> beam.FlatMap(lambda kv: candidate_pairs(list(kv[1]), threshold))
                 # a pair found in several bands is one pair
                 | "KeyPairs" >> beam.Map(lambda p: ((p[0].doc_id, p[1].doc_id), (_bare(p[0]), _bare(p[1]))))
                 | "OnePairPerKey" >> beam.CombinePerKey(lambda same: next(iter(same)))
                 | "Pairs" >> beam.Values())
        groups = (pairs | "AllPairs" >> beam.combiners.ToList()
                  | "Groups" >> beam.FlatMap(_groups))
        marks = (groups | "Marks" >> beam.Filter(lambda element: element[0] == "mark")
                 | "MarkPairs" >> beam.Map(lambda element: element[1]))
        stats = groups | "DuplicateStats" >> beam.Filter(lambda element: element[0] == STATS)
        marked = ({"doc": docs | "KeyDocs" >> beam.Map(lambda element: (element[1]["doc_id"], element[1])),
                   "rep": marks}
                  | "JoinMarks" >> beam.CoGroupByKey()
                  | "Mark" >> beam.FlatMap(_marked))
        return (rest, marked, stats) | "Rejoin" >> beam.Flatten()


class IngestSplits(beam.PTransform):
    """PCollection[InputSplit] -> PCollection[(table, row)]; table is one of OUTPUT_TABLES or 'stats'."""

    def __init__(self, cfg: IngestConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, splits):
        rows = (splits
                | "Distribute" >> beam.Reshuffle()
                | "ReadAndClean" >> beam.ParDo(_ProcessSplitFn(self.cfg)))
        if self.cfg.near_duplicates.enabled:
            rows = rows | "NearDuplicates" >> MarkNearDuplicates(self.cfg.near_duplicates)
        return rows


class _ParquetRowSink(fileio.FileSink):
    """(table, row) elements of one table into one Parquet file, written in Arrow record batches."""
    BATCH_ROWS = 1000

    def __init__(self, table: str):
        self.schema = arrow_schema(table)
        self._writer = None
        self._rows: list[dict] = []

    def open(self, fh):
        self._writer = pq.ParquetWriter(fh, self.schema)
        self._rows = []

    def write(self, record):
        self._rows.append(record[1])
        if len(self._rows) >= self.BATCH_ROWS:
            self._write_rows()

    def _write_rows(self):
        if self._rows:
            self._writer.write_batch(pa.RecordBatch.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def flush(self):
        # WriteToFiles calls flush right before it closes the file: finish the Parquet footer
        if self._writer is not None:
            self._write_rows()
            self._writer.close()
            self._writer = None


class _JsonLinesSink(fileio.TextSink):
    def write(self, record):
        super().write(json.dumps(record[1], sort_keys=True))


def _sink_for(table: str) -> fileio.FileSink:
    return _JsonLinesSink() if table == STATS else _ParquetRowSink(table)


def _file_name(window, pane, shard_index, total_shards, compression, destination) -> str:
    suffix = "jsonl" if destination == STATS else "parquet"
    return f"{destination}-part-{shard_index:05d}-of-{total_shards:05d}.{suffix}"


class WriteTables(beam.PTransform):
    """Write (table, row) elements as one set of files per table (Beam dynamic destinations)."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def expand(self, tagged):
        return tagged | "WriteFiles" >> fileio.WriteToFiles(
            str(self.folder), destination=lambda element: element[0], sink=_sink_for, file_naming=_file_name,
            temp_directory=StaticValueProvider(str, str(self.folder / "_tmp")))


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


def unknown_beam_options(args: list[str]) -> list[str]:
    """The arguments no Beam pipeline option class defines (Beam itself only logs and drops them)."""
    parsers = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)   # the parser of every option class
    return parsers[0].parse_known_args(args)[1]


class LocalRunner(fn_runner.FnApiRunner):
    """Beam's FnApiRunner whose worker processes (multi_processing) start as pipelines/beam_worker.py:
    Beam's harness, with logging set up before it loads."""

    def run_via_runner_api(self, pipeline_proto, options):
        for environment in pipeline_proto.components.environments.values():
            if environment.urn == python_urns.SUBPROCESS_SDK:
                environment.payload = environment.payload.replace(b"apache_beam.runners.worker.sdk_worker_main",
                                                                  b"pipelines.beam_worker")
        return super().run_via_runner_api(pipeline_proto, options)


def local_runner(options: PipelineOptions):
    """The runner for `options`: for DirectRunner, the FnApiRunner it would fall back to.

    DirectRunner first tries the Prism runner, whose binary it downloads from GitHub at run time:
    offline that fails after leaving an empty /tmp/beam-temp* folder per run, and online the job
    would run on Prism, which ignores direct_running_mode. So we skip that step, and pass the
    pipeline options to the workers as DirectRunner does. Other runners are left to Beam."""
    if options.view_as(StandardOptions).runner not in ("DirectRunner", None):
        return None
    provision = beam_provision_api_pb2.ProvisionInfo(
        pipeline_options=JobServiceHandle.encode_pipeline_options(options.get_all_options()))
    return LocalRunner(provision_info=fn_runner.ExtendedProvisionInfo(provision))


def run_pipeline(splits: list[InputSplit], cfg: IngestConfig, staging: Path, beam_args: list[str]) -> list[dict]:
    """Run the Beam pipeline into ``staging/<table>/``; returns the stats rows merged per input."""
    written = staging / "_written"
    options = pipeline_options(cfg, beam_args)
    with beam.Pipeline(runner=local_runner(options), options=options) as pipeline:
        _ = (pipeline | "Splits" >> beam.Create(splits) | "Ingest" >> IngestSplits(cfg)
             | "Write" >> WriteTables(written))
    for name in OUTPUT_TABLES:
        folder = staging / name
        folder.mkdir(parents=True)
        for path in written.glob(f"{name}-part-*.parquet"):
            path.rename(folder / path.name.removeprefix(f"{name}-"))
        if not any(folder.iterdir()):
            pq.write_table(arrow_schema(name).empty_table(), folder / "part-00000-of-00001.parquet")
    rows = [json.loads(line) for path in sorted(written.glob(f"{STATS}-part-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line]
    by_input: dict[str, list[dict]] = {}
    for row in rows:
        by_input.setdefault(row["input"], []).append(row)
    return [merge_stats(group) for group in by_input.values()]


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
    infobox_rows = sum(row["infobox_rows"] for row in stats)
    if counts["infobox"] != infobox_rows:
        raise AccountingError(f"infobox: wrote {counts['infobox']} rows, workers reported {infobox_rows}")
    for row in stats:
        if not 0 <= row.get("near_duplicates", 0) <= row["documents"]:
            raise AccountingError(f"{row['input']}: {row['near_duplicates']} near duplicates among "
                                  f"{row['documents']} documents")
    for row in stats:   # every infobox parameter seen is a fact, unmapped, unlinked or unreadable
        box = row["infobox"]
        placed = sum(box.get(key, 0) for key in ("facts", "unmapped", "unlinked", "unreadable"))
        if placed != box.get("seen", 0):
            raise AccountingError(f"{row['input']}: {box.get('seen', 0)} infobox parameters seen but {placed} "
                                  "accounted for")


def run_stage(cfg: IngestConfig, ctx: StageContext, inputs: list[str] | None = None) -> StageRecord:
    load_mappings(cfg.infobox_mappings)   # a bad mapping file fails here, once, not in every worker
    with StageRun(ctx.warehouse, STAGE, ctx.run_id) as run:
        paths = resolve_inputs(inputs or cfg.inputs, ctx.cache_dir)
        splits = plan_splits(paths, cfg)
        log.info("ingest: %d inputs in %d splits, runner %s", len(paths), len(splits), cfg.runner)
        stats = run_pipeline(splits, cfg, run.staging, ctx.engine_args)
        counts = run.check(*OUTPUT_TABLES)
        check_accounting(stats, counts)
        # accumulate: the committed rows this run does not replace join its own (kgpipe/ingest/merge.py)
        merged = merge_staged(ctx.warehouse, run.staging, cfg.mode, forgotten_selectors(ctx.warehouse))
        counts.update(run.check(*MERGED_TABLES))
        own_rejects = counts["rejects"]
        counts["rejects"] += run.carry_rejects()
        run.commit(*OUTPUT_TABLES)
        if merged.get("replaced_revisions"):
            # the replaced revisions' facts are in the graph: only a full resolve takes them out
            ctx.warehouse.request_rebuild("resolve", f"ingest {ctx.run_id}: {merged['replaced_revisions']} documents "
                                                     "replaced by a newer revision")
    per_input = {row["input"]: {"pages_seen": row["seen"], "documents": row["documents"],
                                "redirects": row["redirects"], "skipped_by_rule": sum(row["skipped"].values()),
                                "rejects": sum(row["rejects"].values()), "skipped_by_reason": row["skipped"],
                                "rejects_by_reason": row["rejects"], "links": row["links"],
                                "infobox_parameters": row["infobox"],
                                # documents marked as copies (duplicate_of set), and their share of the documents
                                "near_duplicates": row["near_duplicates"],
                                "duplicate_share": round(row["near_duplicates"] / row["documents"], 4)
                                if row["documents"] else 0.0}
                 for row in sorted(stats, key=lambda r: r["input"])}
    damaged = [path for path, row in per_input.items()
               if any(row["rejects_by_reason"].get(reason) for reason in DAMAGE_REASONS)]
    details = {"merge": merged, **({"damaged_inputs": damaged} if damaged else {})}
    return run.record(inputs={"files": [str(p) for p in paths], "splits": len(splits), "per_input": per_input},
                      outputs=counts, rejects=own_rejects, details=details)


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
