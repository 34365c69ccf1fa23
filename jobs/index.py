"""Index job: ``embeddings`` (+ ``relation_embeddings``) -> a FAISS bundle in ``indexes/<run_id>/``.

    kgpipe index --warehouse DIR [--set index.factory=IVF1024_HNSW32,SQ8 --set index.nprobe=64 ...]
    python jobs/index.py --warehouse DIR [--config FILE]

No Spark: the vectors are streamed from Parquet with pyarrow, batch by batch, into FAISS in the driver
(kgpipe/serve/index.py), which is all one machine's index needs; ``spark`` is accepted and ignored. The bundle is
built under ``_staging``, moved into ``indexes/`` when complete, and only then ``indexes/CURRENT`` is
switched to it; the newest ``keep_versions + 1`` bundles are kept.

The bundle also carries the graph store the service answers from (``<bundle>/store/``, kgpipe/serve/store.py):
entities with their statistics, facts with evidence and source documents, search names. It is built from
the graph tables of the same warehouse state, so CURRENT switches index and graph together. A warehouse
without an ``entities`` table (hand-made embeddings) gets a bundle without a store; the stage details say so.

Beside the store, the text index (``<bundle>/text/``, kgpipe/serve/text.py; ``index.text``): every fact and the
card of every entity with a fact, embedded here in the driver in batches, reusing the vectors of the texts the
CURRENT bundle already has, so a rerun embeds only new or changed ones. Such bundles are format 2
(``format_version`` in ``manifest.json``).

An empty ``embeddings`` table (a graph without entity-to-entity edges) builds nothing and leaves CURRENT
as it was; the stage details say so.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time

from kgpipe.config import IndexConfig
from kgpipe.manifest import StageRecord
from kgpipe.serve.index import BUNDLE_FORMAT, INDEXES, BuildSettings, build_bundle, current_bundle, publish
from kgpipe.serve.store import build_store
from kgpipe.serve.text import TEXT, TextSettings, build_text_index
from kgpipe.stages import StageContext
from kgpipe.warehouse import StageRun

log = logging.getLogger(__name__)
STAGE = "index"


def run_stage(cfg: IndexConfig, ctx: StageContext, spark=None) -> StageRecord:
    warehouse = ctx.warehouse
    if not warehouse.exists("embeddings"):
        raise FileNotFoundError(f"index needs the embeddings table in {warehouse.root}: run `kgpipe train` first")
    embeddings = warehouse.dataset("embeddings")
    n = embeddings.count_rows()
    details: dict = {}
    with StageRun(warehouse, STAGE, ctx.run_id) as run:
        if n == 0:
            details["skipped"] = ("the embeddings table is empty (no entity-to-entity edges were trained on): "
                                  "no index built, indexes/CURRENT unchanged")
            log.warning("index: %s", details["skipped"])
            return run.record(inputs={"embeddings": n}, outputs={"index_vectors": n}, rejects=0, details=details)
        relations = warehouse.read("relation_embeddings") if warehouse.exists("relation_embeddings") else None
        settings = cfg.model_dump()
        index_settings = BuildSettings(**{f.name: settings[f.name] for f in dataclasses.fields(BuildSettings)})
        manifest = build_bundle(embeddings, relations, run.staging, index_settings)
        if warehouse.exists("entities"):
            store_started = time.monotonic()
            details["store"] = build_store(warehouse, run.path("store"))
            details["store_seconds"] = round(time.monotonic() - store_started, 3)
            if cfg.text:
                details["text_index"] = _text_index(cfg, run.path("store"), run.path(TEXT), index_settings,
                                                    _previous_text(warehouse))
                manifest["text_index"] = details["text_index"]
            manifest["format_version"] = BUNDLE_FORMAT
            (run.staging / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        else:
            details["store"] = "skipped: no entities table (run `kgpipe resolve`); the bundle cannot be served"
            log.warning("index: %s", details["store"])
        final = publish(warehouse.root / INDEXES, run.staging, ctx.run_id, warehouse.keep_versions)
        log.info("index: %d vectors, %s (%s), recall@10 %.3f", manifest["count"], manifest["factory"],
                 manifest["metric"], manifest["recall_at_10"])
        details.update({k: manifest[k] for k in ("factory", "metric", "dimension", "embedding_model",
                                                 "embedding_run_id", "recall_at_10", "build_seconds", "gpu")})
        details["bundle"] = f"{INDEXES}/{final.name}"
        return run.record(inputs={"embeddings": n}, outputs={"index_vectors": n}, rejects=0, details=details)


def _previous_text(warehouse):
    """The text index of the bundle CURRENT names, whose vectors the new one reuses (None if there is none)."""
    try:
        folder = current_bundle(warehouse.root) / TEXT
    except FileNotFoundError:
        return None
    return folder if folder.is_dir() else None


def _text_index(cfg: IndexConfig, store, folder, index_settings: BuildSettings, previous) -> dict:
    """Build the bundle's text index; its manifest's figures for the stage details."""
    text = build_text_index(store, folder, TextSettings(cfg.text_model, cfg.text_batch, cfg.text_max_tokens,
                                                        cfg.text_card_facts), index_settings, previous)
    return {k: text[k] for k in ("text_model", "texts", "facts", "entities", "embedded", "reused", "embed_seconds",
                                 "seconds", "factory", "dimension", "recall_at_10", "gpu") if k in text}


if __name__ == "__main__":  # python jobs/index.py [--config FILE] [--set KEY=VALUE] --warehouse DIR
    from kgpipe.cli import job_main
    sys.exit(job_main(STAGE))
