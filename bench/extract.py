"""Spark extract job (local[2]) vs plain spaCy nlp.pipe(n_process=2), same components, same text.

Both sides get the paragraphs of the English Wikipedia sample after ingest. The
plain side only runs spaCy; the Spark side also extracts relations, masks personal
data and writes three Parquet tables, so the ratio bounds Spark's overhead from
above. Each side's time includes its start-up (worker processes loading the model;
for Spark also the JVM).

    .venv/bin/python bench/extract.py [--rounds 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from kgpipe.config import (
    EMBEDDED_WIKI,
    Config,
    ExtractConfig,
    IngestConfig,
    SparkConfig,
)
from kgpipe.datasets import resolve_inputs
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse

TARGET = 0.9
SHARED_SAMPLE = (Path(__file__).resolve().parents[2] / "shared" / "data" / "wiki"
                 / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")


def paragraphs_of(warehouse: Warehouse) -> list[str]:
    texts = []
    for doc in warehouse.read("documents", ["text", "paragraphs", "language"]).to_pylist():
        if doc["language"] == "en":
            texts += [doc["text"][p["start"]:p["end"]] for p in doc["paragraphs"]]
    return texts


def plain_spacy(texts: list[str], cfg: ExtractConfig) -> float:
    import spacy
    started = time.perf_counter()
    nlp = spacy.load(cfg.model, disable=cfg.disable)
    for _ in nlp.pipe(texts, n_process=2, batch_size=cfg.batch_size):
        pass
    return time.perf_counter() - started


def spark_job(warehouse: Warehouse, cfg: ExtractConfig, run_id: str) -> tuple[float, dict]:
    from jobs.extract import run_stage
    from jobs.spark import spark_session
    started = time.perf_counter()
    spark = spark_session(SparkConfig(master="local[2]", conf={"spark.ui.enabled": "false"}), cfg)
    record = run_stage(cfg, StageContext(warehouse, run_id, str(warehouse.root)), spark=spark)
    seconds = time.perf_counter() - started
    spark.stop()
    return seconds, record.outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=2, help="alternate the sides; keep each side's best time")
    args = parser.parse_args()
    source = args.input or (SHARED_SAMPLE if SHARED_SAMPLE.exists()
                            else resolve_inputs([EMBEDDED_WIKI], Config().cache_dir)[0])
    cfg = ExtractConfig()
    with tempfile.TemporaryDirectory() as tmp:
        from pipelines.ingest import run_stage as ingest
        warehouse = Warehouse(Path(tmp) / "wh")
        ingest(IngestConfig(direct_running_mode="in_memory", direct_num_workers=1),
               StageContext(warehouse, "ingest", tmp), [str(source)])
        texts = paragraphs_of(warehouse)
        words = sum(len(text.split()) for text in texts)
        print(f"input: {source.name} after ingest: {len(texts)} paragraphs, {words} words; model {cfg.model}")
        plain_times, spark_times = [], []
        for round_no in range(args.rounds):
            plain_times.append(plain_spacy(texts, cfg))
            seconds, outputs = spark_job(warehouse, cfg, f"bench{round_no}")
            spark_times.append(seconds)
            print(f"round {round_no + 1}: plain spaCy {plain_times[-1]:6.1f} s, Spark job {seconds:6.1f} s "
                  f"({outputs['mentions']} mentions, {outputs['triples_raw']} triples)")
    plain_s, spark_s = min(plain_times), min(spark_times)
    print(f"plain spaCy nlp.pipe(n_process=2): {words / plain_s:8.0f} words/s (best)")
    print(f"Spark extract job, local[2]:       {words / spark_s:8.0f} words/s (best)")
    ratio = plain_s / spark_s
    verdict = "target met" if ratio >= TARGET else "target not met"
    print(f"Spark extract runs at {ratio:.2f}x the words/s of plain spaCy (target {TARGET}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
