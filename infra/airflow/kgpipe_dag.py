"""Airflow DAG: the kgpipe pipeline, one task per stage, each stage a Spark application.

Copy (or symlink) this file into Airflow's dags folder on a machine where kgpipe is installed: the
DAG imports the stage list from ``kgpipe.stages`` (which needs only pydantic and PyYAML, both
already Airflow's), so a new stage needs no change here.
Every Spark stage is ``kgpipe submit STAGE --master ...`` (kgpipe/submit.py packages the code,
ships the GraphFrames jar and the configuration, and runs spark-submit); ``ingest`` is a Beam
pipeline and runs with its own runner where the task runs. The tasks are the stages of
``kgpipe.stages.PIPELINE``, chained in that order, read from kgpipe itself.

Settings are Airflow Variables, read when a task runs (Jinja), not when the scheduler parses
this file, so parsing stays fast and needs no database:

    kgpipe_bin          kgpipe executable              (default: kgpipe)
    kgpipe_config       configuration file             (default: /etc/kgpipe/kgpipe.yaml)
    kgpipe_warehouse    warehouse root (shared storage) (default: /data/kgpipe/warehouse)
    kgpipe_master       Spark master URL               (default: spark://spark-master:7077)
    kgpipe_deploy_mode  client or cluster              (default: client)

Each task retries (Spark already retries lost tasks and executors inside a stage; a retry here
covers a lost driver or master), and every task carries an SLA: a stage still unfinished that
long after the scheduled time is reported as an SLA miss (Airflow 2's ``sla``).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

from kgpipe.stages import PIPELINE, STAGES

COMMON = ("{{ var.value.get('kgpipe_bin', 'kgpipe') }} --config {{ var.value.get('kgpipe_config', "
          "'/etc/kgpipe/kgpipe.yaml') }}")
WAREHOUSE = "--warehouse {{ var.value.get('kgpipe_warehouse', '/data/kgpipe/warehouse') }}"
CLUSTER = ("--master {{ var.value.get('kgpipe_master', 'spark://spark-master:7077') }} "
           "--deploy-mode {{ var.value.get('kgpipe_deploy_mode', 'client') }}")


def stage_command(stage: str) -> str:
    if not STAGES[stage].submittable:   # a Beam pipeline runs with its own runner, where the task runs
        return f"{COMMON} {stage} {WAREHOUSE}"
    return f"{COMMON} submit {stage} {CLUSTER} {WAREHOUSE}"


default_args = {
    "owner": "kgpipe",
    "retries": 2,
    "retry_delay": timedelta(minutes=10),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=8),
    "sla": timedelta(hours=10),
}

with DAG(
    dag_id="kgpipe",
    description="Wikipedia dumps and news -> knowledge graph -> embeddings -> FAISS index",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # stages write the same warehouse: never two runs at once
    dagrun_timeout=timedelta(hours=24),
    default_args=default_args,
    tags=["kgpipe", "spark"],
) as dag:
    previous = None
    for name in PIPELINE:
        task = BashOperator(task_id=name, bash_command=stage_command(name))
        if previous is not None:
            previous >> task
        previous = task
