"""Spark application: several consecutive stages of one ``kgpipe run --master`` in one driver.

    spark-submit --py-files kgpipe.zip jobs/run.py --config FILE --warehouse DIR --stages extract,resolve,...

The driver runs the stages in order in one Spark session, as ``kgpipe run`` does in local mode, so the
cluster starts one driver and one set of executors for all of them; each stage's record is left in the
``--record`` folder as it commits (kgpipe/submit.py collects them into the run manifest).
"""
from __future__ import annotations

import sys

if __name__ == "__main__":
    from kgpipe.cli import job_main
    sys.exit(job_main("run"))
