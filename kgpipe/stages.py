"""Stages by name, in pipeline order. Infra submits them by name.

Each entry points at ``module:function`` and is imported only when it runs, so
the core never imports an engine (Beam, Spark) itself.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from kgpipe.config import SparkConfig
from kgpipe.warehouse import Warehouse

STAGES: dict[str, str] = {
    "ingest": "pipelines.ingest:run_stage",
    "extract": "jobs.extract:run_stage",
    "resolve": "jobs.resolve:run_stage",
    "analyze": "jobs.analyze:run_stage",
    "reason": "jobs.reason:run_stage",
    "train": "jobs.train:run_stage",
    "index": "jobs.index:run_stage",
}
#: stages that ``kgpipe run`` leaves out: run on demand
ON_DEMAND: dict[str, str] = {
    "export": "jobs.export:run_stage",
}


@dataclass(frozen=True)
class StageContext:
    """What every stage gets besides its own configuration section."""
    warehouse: Warehouse
    run_id: str
    cache_dir: str
    engine_args: list[str] = field(default_factory=list)
    spark: SparkConfig = field(default_factory=SparkConfig)


def stage_function(name: str) -> Callable:
    try:
        target = STAGES.get(name) or ON_DEMAND[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; stages: {', '.join([*STAGES, *ON_DEMAND])}") from None
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)
