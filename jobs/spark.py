"""The Spark session every Spark job uses: one place for master, Arrow, Parquet and jar settings.

Under ``spark-submit`` the master and deploy mode come from the command line and
are left alone; run locally (``kgpipe extract``) the configuration's master is used.
"""
from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from kgpipe.config import ExtractConfig, SparkConfig


def spark_session(cfg: SparkConfig, extract: ExtractConfig | None = None, jars: list[str] | None = None,
                  app_suffix: str = "") -> SparkSession:
    # workers must run the interpreter that has kgpipe and spaCy, not whatever python3 is on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(f"{cfg.app_name}{app_suffix}")
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        # spark-submit starts the JVM first and passes its port; then the master is already set
        builder = builder.master(cfg.master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Spark's stage progress bar, where someone watches a terminal
        "spark.ui.showConsoleProgress": "true" if sys.stderr.isatty() else "false",
    }
    if extract is not None:
        settings["spark.sql.execution.arrow.maxRecordsPerBatch"] = str(extract.arrow_batch_rows)
    if jars:
        settings["spark.jars"] = ",".join(jars)
    if cfg.graphframes_package:
        settings["spark.jars.packages"] = cfg.graphframes_package
    settings.update(cfg.conf)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
