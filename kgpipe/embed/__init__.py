"""Knowledge-graph embeddings in plain PyTorch (no Spark/Beam): TransE, DistMult, ComplEx, RotatE.

Entry point: ``train_and_evaluate(dataset_path, KGEConfig(...)) -> dict``. The stage-level pieces:
``kgpipe.embed.graph`` (edges table -> id maps and splits, torch-free), ``kgpipe.embed.distributed``
(one process or many through torch.distributed, torchrun, Spark's TorchDistributor) and
``kgpipe.embed.partition`` (the plan for graphs larger than memory).

Names are imported on first use (PEP 562), so ``kgpipe.config`` can use ``KGEConfig`` without
loading torch. ``kgpipe.embed.evaluate`` is the module (``from kgpipe.embed.evaluate import evaluate``):
a lazily exported function of the same name would be replaced by the module whenever the module
is imported.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "train_and_evaluate": "api",
    "KGEConfig": "config",
    "KGDataset": "data", "KnownTriples": "data", "load_dataset": "data",
    "filtered_ranks": "evaluate", "rank_triples": "evaluate",
    "ComplEx": "models", "DistMult": "models", "KGEModel": "models", "RotatE": "models", "TransE": "models",
    "build_model": "models",
    "Trainer": "train",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
