"""Train job: entity-to-entity ``edges`` -> ``embeddings``, ``relation_embeddings`` and a model folder.

    kgpipe train --warehouse DIR [--set train.model=rotate --set train.num_processes=2 ...]
    python jobs/train.py --warehouse DIR [--config FILE]

Edges with an entity object and enough support and confidence become distinct (subject,
predicate, object) triples over sorted id maps (kgpipe.embed.graph); a held-out slice measures the
model (filtered MRR) when the graph is large enough. Training is kgpipe.embed's: in this process, or,
with ``train.num_processes`` > 1, in that many torch.distributed processes started by Spark's
``TorchDistributor`` (GPUs where the Spark session has GPU resources). Outputs:

- tables ``embeddings`` (one row per entity that has a training edge; complex models store
  [real | imaginary] halves) and ``relation_embeddings``, tagged with the model and run id;
- ``models/<run_id>/`` in the warehouse: config.json, the id maps (entity_ids.parquet,
  relation_ids.parquet: row i of the checkpoint's tables), triples.npz (the splits used),
  checkpoint.pt and metrics.json; the newest ``keep_versions + 1`` folders are kept, like table versions;
- ``rejects`` rows (stage train, reason unknown_entity) for edges naming an entity missing from
  ``entities``.

A graph without usable edges gives empty tables and says so in the stage details.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kgpipe.config import TrainConfig
from kgpipe.embed.graph import (
    EDGE_COLUMNS,
    GraphTriples,
    edge_filter,
    graph_triples,
    holdout,
    holdout_sizes,
    write_bundle,
)
from kgpipe.manifest import StageRecord
from kgpipe.stages import StageContext
from kgpipe.warehouse import StageRun, Warehouse
from schemas import arrow_schema

log = logging.getLogger(__name__)
STAGE = "train"
MODELS = "models"


def read_graph(warehouse: Warehouse, cfg: TrainConfig) -> tuple[GraphTriples, dict]:
    """The training triples and how many edges were left out, and why."""
    edges = warehouse.dataset("edges")
    selected = edges.to_table(columns=EDGE_COLUMNS, filter=edge_filter(cfg.min_support, cfg.min_confidence))
    total = edges.count_rows()
    literal = edges.count_rows(filter=pc.field("object_id").is_null())
    graph = graph_triples(selected, warehouse.read("entities", ["entity_id"])["entity_id"])
    counts = {"edges": total, "literal_object": literal,
              "below_min_support_or_confidence": total - literal - selected.num_rows,
              "unknown_entity": graph.rejected.num_rows, "duplicate_triples_merged": graph.duplicates}
    return graph, counts


def write_vectors(path: Path, name: str, ids: pa.Array, vectors: np.ndarray, model: str, run_id: str,
                  batch_rows: int = 1 << 20) -> None:
    """``embeddings`` / ``relation_embeddings`` rows (ids[i], vectors[i]) in batches: list offsets are int32,
    and one batch at a time stays small."""
    schema = arrow_schema(name)
    path.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path / "part-0.parquet", schema) as writer:
        for start in range(0, max(len(ids), 1), batch_rows):
            chunk = np.ascontiguousarray(vectors[start:start + batch_rows], dtype=np.float32)
            rows, width = len(chunk), chunk.shape[1] if chunk.ndim == 2 else 0
            column = pa.ListArray.from_arrays(pa.array(np.arange(rows + 1, dtype=np.int32) * width),
                                              pa.array(chunk.reshape(-1)))
            writer.write_table(pa.Table.from_arrays(
                [ids[start:start + batch_rows], column, pa.array([model] * rows, pa.string()),
                 pa.array([run_id] * rows, pa.string())], schema=schema))


def _reject_rows(graph: GraphTriples) -> pa.Table:
    bad = graph.rejected
    detail = pc.binary_join_element_wise("edge names an entity missing from entities: ", bad["subject_id"], " / ",
                                         bad["object_id"], "")
    excerpt = pc.utf8_slice_codeunits(pc.binary_join_element_wise(bad["subject_id"], bad["predicate"],
                                                                  bad["object_id"], " "), 0, 300)
    return pa.table({
        "input_ref": pc.binary_join_element_wise("edges:", bad["edge_id"], ""),
        "stage": pa.array([STAGE] * bad.num_rows, pa.string()),
        "reason": bad["reason"],
        "detail": detail,
        "native_id": bad["edge_id"],
        "title": pa.nulls(bad.num_rows, pa.string()),
        "excerpt": excerpt,
    }, schema=arrow_schema("rejects"))


def _train_distributed(bundle: Path, cfg: TrainConfig, ctx: StageContext, spark) -> None:
    """cfg.num_processes torch.distributed processes through Spark's TorchDistributor."""
    from pyspark.ml.torch.distributor import TorchDistributor

    from jobs.spark import spark_session
    from kgpipe.embed.distributed import train_bundle
    spark = spark or spark_session(ctx.spark, app_suffix="-train", cache_dir=ctx.cache_dir)
    key = "spark.driver.resource.gpu.amount" if cfg.distributor_local_mode else "spark.task.resource.gpu.amount"
    use_gpu = cfg.device != "cpu" and float(spark.conf.get(key, "0") or 0) > 0
    log.info("train: %d processes through TorchDistributor (local_mode=%s, use_gpu=%s)",
             cfg.num_processes, cfg.distributor_local_mode, use_gpu)
    # every process writes the same return value to one file; results are read from the bundle instead
    TorchDistributor(num_processes=cfg.num_processes, local_mode=cfg.distributor_local_mode,
                     use_gpu=use_gpu).run(train_bundle, str(bundle))


def _prune_models(root: Path, keep: int) -> None:
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for path in folders[: max(0, len(folders) - keep - 1)]:
        shutil.rmtree(path, ignore_errors=True)


def run_stage(cfg: TrainConfig, ctx: StageContext, spark=None) -> StageRecord:
    # spinning OpenMP workers slow every small op down on shared cores (10x measured on 2 busy cores);
    # OpenMP reads this once, when torch loads
    if "OMP_WAIT_POLICY" not in os.environ and "torch" in sys.modules and not cfg.num_threads:
        log.warning("train: torch was loaded before OMP_WAIT_POLICY=PASSIVE could be set; on shared cores "
                    "set it in the environment or set train.num_threads=1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    warehouse = ctx.warehouse
    for table in ("edges", "entities"):
        if not warehouse.exists(table):
            raise FileNotFoundError(f"train needs the {table} table in {warehouse.root}: run `kgpipe resolve` first")
    with StageRun(warehouse, STAGE, ctx.run_id) as run:
        bundle = run.path("model")
        graph, left_out = read_graph(warehouse, cfg)
        n = len(graph.triples)
        n_valid, n_test = holdout_sizes(n, cfg.test_share, cfg.valid_share, cfg.holdout_min_triples,
                                        cfg.holdout_max_triples)
        valid, test, train = holdout(graph.triples, graph.num_entities, graph.num_relations, (n_valid, n_test),
                                     seed=cfg.seed)
        details: dict = {"model": cfg.model, "left_out": left_out, "entities": graph.num_entities,
                         "relations": graph.num_relations,
                         "triples": {"train": len(train), "valid": len(valid), "test": len(test)}}
        if n == 0:
            details["message"] = ("no entity-to-entity edges to train on (see left_out): "
                                  "embeddings and relation_embeddings are empty")
            log.warning("train: %s", details["message"])
            entity_vectors = relation_vectors = np.zeros((0, 0), np.float32)
        else:
            write_bundle(bundle, cfg.trainer_config().model_dump(), graph.entities, graph.relations,
                         {"train": train, "valid": valid, "test": test}, backend=cfg.backend)
            log.info("train: %s on %d triples, %d entities, %d relations", cfg.model, len(train),
                     graph.num_entities, graph.num_relations)
            if cfg.num_processes > 1:
                _train_distributed(bundle, cfg, ctx, spark)
            else:
                from kgpipe.embed.distributed import train_bundle
                train_bundle(bundle)
            metrics = json.loads((bundle / "metrics.json").read_text(encoding="utf-8"))
            entity_vectors = np.load(bundle / "entity_vectors.npy")
            relation_vectors = np.load(bundle / "relation_vectors.npy")
            for name in ("entity_vectors.npy", "relation_vectors.npy"):   # the tables hold them
                (bundle / name).unlink()
            details.update({k: metrics[k] for k in ("processes", "replicas_identical", "device", "epochs_run",
                                                    "final_loss", "train_seconds", "triples_per_second",
                                                    "valid_mrr")})
            details["test"] = metrics["test"] or (
                f"no held-out slice: {n} triples (train.holdout_min_triples={cfg.holdout_min_triples}, "
                f"train.test_share={cfg.test_share}; a triple is held out only if its entities and predicate "
                "stay in training)")
            details["model_dir"] = f"{MODELS}/{ctx.run_id}"
        for name, ids, vectors in (("embeddings", graph.entities, entity_vectors),
                                   ("relation_embeddings", graph.relations, relation_vectors)):
            write_vectors(run.path(name), name, ids, vectors, cfg.model, ctx.run_id)
        run.path("rejects").mkdir(parents=True, exist_ok=True)
        pq.write_table(_reject_rows(graph), run.path("rejects") / "part-0.parquet")
        run.carry_rejects()
        names = ("embeddings", "relation_embeddings", "rejects")
        counts = run.check(*names)
        if n:   # the model folder first: committed tables never name a missing one
            models = warehouse.root / MODELS
            models.mkdir(parents=True, exist_ok=True)
            target = models / ctx.run_id
            if target.exists():
                shutil.rmtree(target)
            os.replace(bundle, target)
            _prune_models(models, warehouse.keep_versions)
        run.commit(*names)
        return run.record(inputs={"edges": left_out["edges"], "triples": n}, outputs=counts,
                          rejects=left_out["unknown_entity"], details=details)


if __name__ == "__main__":  # spark-submit jobs/train.py [--config FILE] [--set KEY=VALUE] --warehouse DIR
    from kgpipe.cli import job_main
    sys.exit(job_main(STAGE))
