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

An empty ``embeddings`` table (a graph without entity-to-entity edges) builds nothing and leaves CURRENT
as it was; the stage details say so.
"""
from __future__ import annotations

import logging
import sys
import time

from kgpipe.config import IndexConfig
from kgpipe.manifest import StageRecord
from kgpipe.serve.index import INDEXES, BuildSettings, build_bundle, publish
from kgpipe.serve.store import build_store
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
        manifest = build_bundle(embeddings, relations, run.staging, BuildSettings(**cfg.model_dump()))
        if warehouse.exists("entities"):
            store_started = time.monotonic()
            details["store"] = build_store(warehouse, run.path("store"))
            details["store_seconds"] = round(time.monotonic() - store_started, 3)
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


if __name__ == "__main__":  # python jobs/index.py [--config FILE] [--set KEY=VALUE] --warehouse DIR
    from kgpipe.cli import job_main
    sys.exit(job_main(STAGE))
