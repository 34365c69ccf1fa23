"""How loud a command is: kgpipe's own log lines, the engines' (Spark's log4j, Beam, py4j) and
library warnings.

- default: kgpipe at INFO; Spark at its own default (WARN), Beam at WARNING.
- ``--quiet``: kgpipe's warnings and errors and the final summary only. The engines log errors
  only and library warnings (pyspark's ``UserWarning``/``DeprecationWarning``, ...) are dropped,
  in this process and in the processes it starts: the Spark JVM (whose log4j configuration must be
  chosen before it starts, so it goes by environment), Spark's Python workers and Beam's.
- ``--verbose``: kgpipe and the engines at INFO.

``KGPIPE_ENGINE_LOG_LEVEL`` (ERROR, WARN, INFO, DEBUG) set in the environment is the engines'
level whatever the flags, and ``LOG4J_CONFIGURATION_FILE`` set there is Spark's configuration.
"""
from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: the engines' level for every process of this command; read by kgpipe/data/log4j2.properties
#: (Spark) and pipelines/beam_worker.py (Beam's worker processes)
ENGINE_LEVEL = "KGPIPE_ENGINE_LOG_LEVEL"
LOG4J_CONFIG = Path(__file__).parent / "data" / "log4j2.properties"
#: Python loggers of the engines
ENGINE_LOGGERS = ("apache_beam", "py4j", "pyspark")
#: kgpipe's own packages: their loggers and warnings are heard under --quiet
OWN_PACKAGES = ("kgpipe", "jobs", "pipelines", "schemas")
OWN_MODULES = rf"({'|'.join(OWN_PACKAGES)})(\.|$)"


#: log4j's level names (those of ENGINE_LEVEL) as Python's
PYTHON_LEVELS = {"ERROR": logging.ERROR, "WARN": logging.WARNING, "WARNING": logging.WARNING, "INFO": logging.INFO,
                 "DEBUG": logging.DEBUG}


def engine_level() -> int | None:
    """The engines' Python logging level this command asked for (None: the engines' defaults)."""
    name = os.environ.get(ENGINE_LEVEL)
    return PYTHON_LEVELS.get(name.upper(), logging.WARNING) if name else None


#: loggers (first name part) of kgpipe's own code
OWN_LOGGERS = frozenset({*OWN_PACKAGES, "__main__"})


def _own_or_error(record: logging.LogRecord) -> bool:
    """Under --quiet: libraries that log through the root logger (Beam's import-time "apitools not
    found") are heard only for errors."""
    return record.levelno >= logging.ERROR or record.name.partition(".")[0] in OWN_LOGGERS


@contextmanager
def configured(quiet: bool = False, verbose: bool = False) -> Iterator[None]:
    """This process's logging and warnings for one command, and the environment that gives the
    processes it starts the same loudness (restored afterwards: tests run many commands in one process)."""
    own = logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=own, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger().setLevel(own)
    for handler in logging.getLogger().handlers:
        if quiet:
            handler.addFilter(_own_or_error)
        else:
            handler.removeFilter(_own_or_error)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)   # which CPU build it tried, at INFO
    environment = {}
    if os.environ.get(ENGINE_LEVEL) is None and (quiet or verbose):
        environment[ENGINE_LEVEL] = "ERROR" if quiet else "INFO"
    if quiet:
        environment["PYTHONWARNINGS"] = "ignore"   # Spark's and Beam's Python workers
    with _environment(environment):
        engine = engine_level()
        for name in ENGINE_LOGGERS:
            # without a setting Beam says WARNING (its INFO is a line per bundle) and the others follow the root
            default = logging.WARNING if name == "apache_beam" else logging.NOTSET
            logging.getLogger(name).setLevel(default if engine is None else engine)
        # Spark reads it when its JVM starts (a local session's, or spark-submit's driver)
        log4j = {"LOG4J_CONFIGURATION_FILE": str(LOG4J_CONFIG)} if engine is not None else {}
        with _environment(log4j), warnings.catch_warnings():
            if quiet:
                warnings.filterwarnings("ignore")
                warnings.filterwarnings("default", module=OWN_MODULES)
            yield


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in os.environ where not set already, for the duration."""
    added = {key: value for key, value in values.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def flags(quiet: bool, verbose: bool) -> tuple[str, ...]:
    """The flags that give a job started by spark-submit this command's loudness."""
    return ("--quiet",) if quiet else ("--verbose",) if verbose else ()


def engines_quiet() -> bool:
    return engine_level() == logging.ERROR
