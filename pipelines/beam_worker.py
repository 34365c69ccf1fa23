"""The worker process of a multi-process DirectRunner (``ingest.direct_running_mode:
multi_processing``): Beam's SDK harness, ``apache_beam.runners.worker.sdk_worker_main``, started
with its console logging set up first.

Beam's harness logs to the console before it reads the pipeline's log level (an import-time
"apitools not found" warning, "Logging handler created."), so the level of a quiet command
(``KGPIPE_ENGINE_LOG_LEVEL``, see kgpipe/logs.py) must be in place before Beam is imported. What
the worker logs still reaches the runner process through Beam's logging service.
"""
from __future__ import annotations

import logging
import sys

from kgpipe.logs import engine_level

if __name__ == "__main__":
    console = logging.StreamHandler()
    console.setLevel(engine_level() or logging.NOTSET)
    console.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    logging.getLogger().addHandler(console)
    from apache_beam.runners.worker import sdk_worker_main
    sdk_worker_main.main(sys.argv)
