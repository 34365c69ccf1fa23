"""The Spark session every Spark job uses: one place for master, Arrow, Parquet and jar settings.

Under ``spark-submit`` the master and deploy mode come from the command line and
are left alone; run locally (``kgpipe extract``) the configuration's master is used.
GraphFrames travels with every session (``kgpipe run`` shares one session across
stages, and jars cannot be added to a running one).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from kgpipe import logs
from kgpipe.config import ExtractConfig, SparkConfig
from kgpipe.ids import SEPARATOR


def _graphframes_jar(cfg: SparkConfig, cache_dir: str | os.PathLike | None) -> Path | None:
    """The jar to ship, or None where it is neither configured nor cached (jobs that need
    GraphFrames then fail with :func:`require_graphframes`'s message)."""
    from kgpipe.datasets import FetchError, graphframes_jar
    if cfg.graphframes_package:
        return None
    try:
        return graphframes_jar(cfg.graphframes_jar, cache_dir or _default_cache())
    except FetchError:
        return None


def _default_cache() -> str:
    from kgpipe.config import Config
    return Config().cache_dir


def spark_session(cfg: SparkConfig, extract: ExtractConfig | None = None, jars: list[str] | None = None,
                  app_suffix: str = "", cache_dir: str | os.PathLike | None = None) -> SparkSession:
    # workers must run the interpreter that has kgpipe and spaCy, not whatever python3 is on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        # spark-submit starts the JVM first and passes its port; then the master and the application's
        # name (--name: one application may run several stages) are already set
        builder = builder.master(cfg.master).appName(f"{cfg.app_name}{app_suffix}")
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.memory": cfg.driver_memory,
        # Spark's stage progress bar, where someone watches a terminal
        "spark.ui.showConsoleProgress": "true" if sys.stderr.isatty() and not logs.engines_quiet() else "false",
    }
    if extract is not None:
        settings["spark.sql.execution.arrow.maxRecordsPerBatch"] = str(extract.arrow_batch_rows)
    jar = _graphframes_jar(cfg, cache_dir)
    all_jars = [*(jars or []), *([str(jar)] if jar else [])]
    if all_jars:
        settings["spark.jars"] = ",".join(all_jars)
    if cfg.graphframes_package:
        settings["spark.jars.packages"] = cfg.graphframes_package
    settings.update(cfg.conf)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if jar is not None and jar.name not in (session.sparkContext._python_includes or []):
        # the jar also carries the graphframes Python package; this puts it on driver and workers
        session.sparkContext.addPyFile(str(jar))
    return session


def require_graphframes(spark: SparkSession):
    """``graphframes.GraphFrame``, with a clear error where the session lacks the jar."""
    try:
        from graphframes import GraphFrame
        spark._jvm.org.graphframes.GraphFrame  # noqa: B018 - fails fast when the JVM side is missing
    except (ImportError, TypeError) as exc:
        raise RuntimeError("GraphFrames is not on this Spark session: run `kgpipe fetch`, set "
                           "spark.graphframes_jar, or spark.graphframes_package on clusters that reach Maven") from exc
    return GraphFrame


def checkpoint_dir(spark: SparkSession, folder: str | os.PathLike) -> str:
    """Set (once per session) the checkpoint folder GraphFrames' connectedComponents needs."""
    current = spark.sparkContext.getCheckpointDir()
    if current:
        return current
    Path(folder).mkdir(parents=True, exist_ok=True)
    spark.sparkContext.setCheckpointDir(str(folder))
    return spark.sparkContext.getCheckpointDir()


def stable_id_col(*parts: Column | str) -> Column:
    """:func:`kgpipe.ids.stable_id` as a Spark expression (strings are literals; null parts
    become "", as there)."""
    cols = [F.coalesce(p.cast("string") if isinstance(p, Column) else F.lit(p), F.lit("")) for p in parts]
    return F.substring(F.sha2(F.concat_ws(SEPARATOR, *cols), 256), 1, 32)


@contextmanager
def adaptive_execution_off(spark: SparkSession) -> Iterator[None]:
    """GraphFrames 0.8 connectedComponents on Spark 3.2+ returns wrong components with adaptive
    query execution on (graphframes#428, #453; GraphFrames 0.9 turns it off itself), and runs
    far slower; the session's setting is restored afterwards (``kgpipe run`` shares it)."""
    key = "spark.sql.adaptive.enabled"
    previous = spark.conf.get(key, None)
    spark.conf.set(key, "false")
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)
