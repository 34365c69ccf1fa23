"""One-call training and filtered test evaluation."""
from __future__ import annotations

import time
from pathlib import Path

from .config import KGEConfig
from .data import KGDataset, load_dataset
from .evaluate import evaluate
from .train import Trainer

#: at most one checkpoint per this many seconds of training (besides the last one)
CHECKPOINT_SECONDS = 60.0


def train_and_evaluate(dataset_path: str | Path | KGDataset, cfg: KGEConfig | None = None,
                       checkpoint: str | Path | None = None) -> dict:
    """Train on train, early-stop on valid (when cfg.eval_every > 0), report filtered test metrics.

    With `checkpoint`, the trainer's state is saved there (see _ThrottledSaver), and a run whose checkpoint
    exists continues from it: an hour-long CPU run survives being stopped, and one that was still
    improving goes on with a larger cfg.epochs.

    Returns a JSON-able dict: model, settings, test_mrr, test_hits@1/3/10, test_num_ranks,
    train_seconds, triples_per_second (positive training triples per second), eval_seconds,
    device, epochs_run, best_epoch, valid_mrr (best), load_seconds and the per-epoch history.
    """
    cfg = cfg or KGEConfig()
    t0 = time.perf_counter()
    data = dataset_path if isinstance(dataset_path, KGDataset) else load_dataset(dataset_path)
    known = data.known()
    load_seconds = time.perf_counter() - t0
    trainer = Trainer(cfg, data, known=known)
    if checkpoint is None:
        trainer.fit()
    else:
        saver = _ThrottledSaver(checkpoint)
        if Path(checkpoint).exists():
            trainer.load_checkpoint(checkpoint)
            saver.saved_epoch = trainer.epoch
        trainer.fit(after_epoch=saver)
        saver(trainer, final=True)
    trainer.restore_best()
    test = evaluate(trainer.model, data.test, known, cfg.eval_batch_size, trainer.device)
    return {
        "model": cfg.model,
        "settings": cfg.model_dump(),
        "num_entities": data.num_entities,
        "num_relations": data.num_relations,
        "test_mrr": test["mrr"],
        "test_hits@1": test["hits@1"],
        "test_hits@3": test["hits@3"],
        "test_hits@10": test["hits@10"],
        "test_num_ranks": test["num_ranks"],
        "train_seconds": trainer.train_seconds,
        "triples_per_second": trainer.positives_seen / trainer.train_seconds if trainer.train_seconds else 0.0,
        "eval_seconds": test["seconds"],
        "load_seconds": load_seconds,
        "device": str(trainer.device),
        "epochs_run": trainer.epoch,
        "best_epoch": trainer.best_epoch if trainer.best_state is not None else trainer.epoch,
        "valid_mrr": trainer.best_mrr if trainer.best_state is not None else None,
        "history": trainer.history,
    }


class _ThrottledSaver:
    """Saves the trainer after an epoch when CHECKPOINT_SECONDS have passed since the last save, and once
    at the end: a GPU epoch can take a fraction of a second, a checkpoint hundreds of megabytes."""

    def __init__(self, path: str | Path):
        self.path, self.saved_epoch, self.saved_at = path, -1, time.monotonic()

    def __call__(self, trainer: Trainer, final: bool = False) -> None:
        due = final or time.monotonic() - self.saved_at >= CHECKPOINT_SECONDS
        if due and trainer.epoch != self.saved_epoch:
            trainer.save_checkpoint(self.path)
            self.saved_epoch, self.saved_at = trainer.epoch, time.monotonic()
