"""The stages, written once: name, engine shell, engine, tables read and written, help, options.

Everything that lists stages reads :data:`STAGES`: the command line (one command per stage, ``kgpipe run``'s
order and ``--from``), ``kgpipe submit`` and ``kgpipe run --master`` (which stages are Spark applications),
the Airflow DAG (``infra/airflow/kgpipe_dag.py``) and the Kubernetes renderer (``infra/k8s/render.py``);
``tests/test_stages.py`` checks that they agree. Adding a stage is a :class:`Stage` here, its job file under
``jobs/`` (or ``pipelines/``), its tables in ``schemas/tables.py`` and its section in ``kgpipe/config.py``.

The engine shell is named as ``module:function`` and imported only when the stage runs, so the core never
imports Spark or Beam: this table is the one arrow from the core to the shells. The module itself needs only
the standard library, so that a scheduler (the Airflow DAG) can read the stage list without kgpipe's
dependencies.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kgpipe.config import Config, SparkConfig
    from kgpipe.warehouse import Warehouse

BEAM, SPARK, TORCH, FAISS = "beam", "spark", "torch", "faiss"


@dataclass(frozen=True)
class Option:
    """A command-line option of one stage's command (``--warehouse`` is every stage's)."""
    flag: str
    help: str
    nargs: str | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    #: the engine shell, ``module:function(section config, StageContext) -> StageRecord``
    entry: str
    engine: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    help: str
    #: part of ``kgpipe run`` (False: run on demand)
    in_run: bool = True
    options: tuple[Option, ...] = ()
    #: a stage of another engine that becomes a Spark application under this configuration
    spark_when: Callable[[Config], bool] | None = field(default=None, compare=False)
    #: ``module:function(arguments) -> the ones the engine does not know``: the stage hands the
    #: arguments its command does not define to its engine (Beam pipeline options); None: it takes none
    engine_arguments: str | None = None

    @property
    def job_file(self) -> str:
        """The shell's file, relative to the code root: what ``spark-submit`` runs."""
        return self.entry.partition(":")[0].replace(".", "/") + ".py"

    @property
    def submittable(self) -> bool:
        """Whether ``spark-submit`` can run it (a Beam pipeline has runners of its own)."""
        return self.engine != BEAM

    def uses_spark(self, config: Config) -> bool:
        """Whether ``kgpipe run --master`` submits it to the cluster instead of running it in place."""
        return self.engine == SPARK or (self.spark_when is not None and self.spark_when(config))

    def function(self) -> Callable[..., Any]:
        return load_entry(self.entry)


def load_entry(target: str) -> Callable[..., Any]:
    """The function ``module:function`` names, its module imported now."""
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


_MASTER = Option("--master", "Spark master URL (default: spark.master)")

STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    Stage("ingest", "pipelines.ingest:run_stage", BEAM, reads=(),
          writes=("documents", "redirects", "links", "infobox", "rejects"),
          help="Beam: dumps and news files -> documents, redirects, links, infobox, rejects",
          options=(Option("--input", "dump files (.xml, .xml.bz2, multistream + index), WARC files (.warc, "
                                     ".warc.gz), JSONL news files, folders of text articles; default: ingest.inputs",
                          nargs="+", metavar="PATH"),
                   Option("--runner", "Beam runner (DirectRunner, DataflowRunner, FlinkRunner, ...)")),
          engine_arguments="pipelines.ingest:unknown_beam_options"),
    Stage("extract", "jobs.extract:run_stage", SPARK, reads=("documents", "links", "infobox"),
          writes=("mentions", "triples_raw", "rejects"),
          help="Spark + spaCy: documents, infobox -> mentions, triples_raw", options=(_MASTER,)),
    Stage("resolve", "jobs.resolve:run_stage", SPARK,
          reads=("documents", "links", "redirects", "mentions", "triples_raw"),
          writes=("aliases", "entity_keys", "mention_entities", "entities", "edges", "rejects"),
          help="Spark + GraphFrames: mentions, triples_raw, links -> entities, edges"),
    Stage("analyze", "jobs.analyze:run_stage", SPARK, reads=("entities", "edges"), writes=("entity_stats",),
          help="GraphFrames: PageRank, degrees, components, communities -> entity_stats"),
    Stage("reason", "jobs.reason:run_stage", SPARK, reads=("edges",), writes=("inferred_edges",),
          help="apply the YAML rules to edges -> inferred_edges with explanations"),
    Stage("train", "jobs.train:run_stage", TORCH, reads=("edges", "entities"),
          writes=("embeddings", "relation_embeddings", "rejects"),
          help="PyTorch: entity-to-entity edges -> embeddings, relation_embeddings, models/<run_id> "
               "(GPU when present; train.num_processes > 1: TorchDistributor)",
          spark_when=lambda config: config.train.num_processes > 1),
    Stage("index", "jobs.index:run_stage", FAISS,
          reads=("embeddings", "relation_embeddings", "entities", "edges", "inferred_edges", "entity_stats",
                 "documents"), writes=(),
          help="FAISS: embeddings -> indexes/<run_id> bundle (index, id map, recall@10, graph store), "
               "switched in through indexes/CURRENT"),
    Stage("export", "jobs.export:run_stage", SPARK, reads=("entities", "edges", "inferred_edges"), writes=(),
          help="write the graph for other tools: neo4j-admin CSVs, N-Triples, GraphML", in_run=False,
          options=(Option("--format", "default: export.format", choices=("neo4j", "ntriples", "graphml")),
                   Option("--out", "output folder (default: exports/<format> in the warehouse)", metavar="DIR"))),
)}
#: what ``kgpipe run`` runs, in order
PIPELINE: tuple[str, ...] = tuple(name for name, stage in STAGES.items() if stage.in_run)


def stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}") from None


def stage_function(name: str) -> Callable[..., Any]:
    return stage(name).function()


def _default_spark() -> SparkConfig:
    from kgpipe.config import SparkConfig
    return SparkConfig()


@dataclass(frozen=True)
class StageContext:
    """What every stage gets besides its own configuration section."""
    warehouse: Warehouse
    run_id: str
    cache_dir: str
    engine_args: list[str] = field(default_factory=list)
    spark: SparkConfig = field(default_factory=_default_spark)
