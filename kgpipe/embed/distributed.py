"""Train a bundle (kgpipe.embed.graph) in one process or in many through torch.distributed.

Every process runs :func:`train_bundle` on the same bundle folder. Under a launcher that sets
``WORLD_SIZE`` > 1 (torchrun, or Spark's TorchDistributor, which runs torchrun) it joins the process
group, trains its share of every global batch and exchanges gradients as kgpipe.embed.collective
describes; process 0 writes the checkpoint, the vectors and metrics.json. Standalone:

    torchrun --standalone --nproc_per_node 2 -m kgpipe.embed.distributed BUNDLE_DIR

The ``train`` stage (jobs/train.py) prepares the bundle and calls :func:`train_bundle` directly for
one process, or through ``TorchDistributor`` for several (``train.num_processes``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from . import collective
from .config import KGEConfig
from .data import KGDataset
from .evaluate import evaluate
from .graph import read_bundle
from .train import Trainer, resolve_device


def _device(cfg: KGEConfig, world_size: int) -> torch.device:
    """One GPU per process on a multi-GPU node (LOCAL_RANK), else the configured device."""
    device = resolve_device(cfg.device)
    if device.type == "cuda" and device.index is None and world_size > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def _join_group(backend: str, cfg: KGEConfig) -> bool:
    """Join the process group the launcher describes; False where this is a single process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    if backend == "auto":
        backend = "nccl" if resolve_device(cfg.device).type == "cuda" else "gloo"
    dist.init_process_group(backend)
    return True


def _fingerprint(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_bundle(folder: str | Path) -> dict | None:
    """Train on the bundle in `folder`; returns metrics on process 0 (None on the others)."""
    folder = Path(folder)
    bundle = read_bundle(folder)
    cfg = KGEConfig(**bundle.trainer_settings)
    joined = _join_group(bundle.backend, cfg)
    try:
        rank, world_size = collective.world()
        device = _device(cfg, world_size)
        if world_size > 1 and not cfg.num_threads and device.type == "cpu":
            # processes of one node share its cores; torch would give each of them all
            local = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
        data = KGDataset(bundle.entities.to_pylist(), bundle.relations.to_pylist(),
                         *(torch.from_numpy(bundle.splits[s]) for s in ("train", "valid", "test")))
        trainer = Trainer(cfg, data, device=device)
        trainer.fit()
        trainer.save_checkpoint(folder / "checkpoint.pt")
        trainer.restore_best()
        identical = world_size == 1 or len(set(collective.gather_objects(_fingerprint(trainer.model)))) == 1
        if rank != 0:
            return None
        test = (evaluate(trainer.model, data.test, trainer.known, cfg.eval_batch_size, device)
                if len(data.test) else None)
        np.save(folder / "entity_vectors.npy", trainer.model.entity.weight.detach().float().cpu().numpy())
        np.save(folder / "relation_vectors.npy", trainer.model.relation.weight.detach().float().cpu().numpy())
        metrics = {
            "model": cfg.model,
            "triples": {s: len(getattr(data, s)) for s in ("train", "valid", "test")},
            "entities": data.num_entities,
            "relations": data.num_relations,
            "processes": world_size,
            "replicas_identical": identical,
            "device": str(device),
            "epochs_run": trainer.epoch,
            "best_epoch": trainer.best_epoch if trainer.best_state is not None else trainer.epoch,
            "valid_mrr": trainer.best_mrr if trainer.best_state is not None else None,
            "train_seconds": trainer.train_seconds,
            "triples_per_second": (trainer.positives_seen / trainer.train_seconds
                                   if trainer.train_seconds else 0.0),
            "final_loss": trainer.history[-1]["loss"] if trainer.history else None,
            "test": test,
            "history": trainer.history,
        }
        tmp = folder / "metrics.json.tmp"
        tmp.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        tmp.replace(folder / "metrics.json")
        return metrics
    finally:
        if joined:
            dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="train a kgpipe bundle (run under torchrun for several processes)")
    parser.add_argument("bundle", help="bundle folder written by the train stage (kgpipe.embed.graph.write_bundle)")
    args = parser.parse_args(argv)
    metrics = train_bundle(args.bundle)
    if metrics is not None:
        metrics.pop("history")
        print(json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
