"""infra/airflow/kgpipe_dag.py loads in a real Airflow (its own virtual environment: Airflow's
pins do not fit the project's) and its task graph is the pipeline: one task per stage of
kgpipe.stages.PIPELINE, chained in order, each retried and with an SLA, each command one that
kgpipe's own command line accepts."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from kgpipe.cli import parser
from kgpipe.stages import PIPELINE
from tests.conftest import REPO

AIRFLOW_VERSION = "2.10.5"
AIRFLOW_VENV = REPO / ".cache" / "airflow-venv"
DAG_FOLDER = REPO / "infra" / "airflow"

# run with the Airflow venv's Python: prints the DagBag's import errors and every task
DUMP = """
import json, sys
from airflow.models import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
out = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "schedule": str(dag.schedule_interval), "max_active_runs": dag.max_active_runs, "catchup": dag.catchup,
        "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids), "downstream": sorted(t.downstream_task_ids),
                              "retries": t.retries, "sla": t.sla.total_seconds() if t.sla else None,
                              "operator": type(t).__name__, "bash_command": getattr(t, "bash_command", None)}
                  for t in dag.tasks}}
print(json.dumps(out))
"""


def _airflow_python() -> Path:
    """The Airflow venv's interpreter, created on first use (pip from PyPI, about 4 minutes);
    a skip with the reason where it cannot be installed (a failure under CI)."""
    python = AIRFLOW_VENV / "bin" / "python"
    if (AIRFLOW_VENV / "bin" / "airflow").exists():
        return python
    steps = [[sys.executable, "-m", "venv", str(AIRFLOW_VENV)],
             [str(python), "-m", "pip", "install", "-q", f"apache-airflow=={AIRFLOW_VERSION}"]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=1200, check=False)
        if result.returncode != 0:
            message = f"cannot install Airflow into {AIRFLOW_VENV}: {result.stderr[-1500:]}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
    return python


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory) -> dict:
    python = _airflow_python()
    home = tmp_path_factory.mktemp("airflow-home")
    # the DAG reads the stage list from kgpipe.stages: kgpipe on the path, as a deployment installs it
    env = dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False", PYTHONPATH=str(REPO),
               AIRFLOW__CORE__DAGS_FOLDER=str(DAG_FOLDER))
    result = subprocess.run([str(python), "-c", DUMP, str(DAG_FOLDER)], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_dag_loads_without_errors(dagbag):
    assert dagbag["import_errors"] == {}
    assert list(dagbag["dags"]) == ["kgpipe"]
    dag = dagbag["dags"]["kgpipe"]
    # the stages share one warehouse: two runs at once would race on its tables
    assert dag["max_active_runs"] == 1 and dag["catchup"] is False


def test_one_task_per_stage_chained_in_pipeline_order(dagbag):
    tasks = dagbag["dags"]["kgpipe"]["tasks"]
    assert set(tasks) == set(PIPELINE)
    order = list(PIPELINE)
    for i, name in enumerate(order):
        assert tasks[name]["upstream"] == order[i - 1:i], name
        assert tasks[name]["downstream"] == order[i + 1:i + 2], name


def test_every_task_retries_and_has_an_sla(dagbag):
    for name, task in dagbag["dags"]["kgpipe"]["tasks"].items():
        assert task["retries"] >= 1, name
        assert task["sla"] and task["sla"] > 0, name


def _render(template: str) -> list[str]:
    """The command as Airflow renders it with no Variables set (each default)."""
    import jinja2

    class Variables:
        @staticmethod
        def get(key, default=None):
            return default

    return shlex.split(jinja2.Template(template).render(var={"value": Variables()}))


def test_every_command_is_one_kgpipe_accepts(dagbag):
    for name, task in dagbag["dags"]["kgpipe"]["tasks"].items():
        assert task["operator"] == "BashOperator"
        argv = _render(task["bash_command"])
        assert argv[0] == "kgpipe"
        args, unknown = parser().parse_known_args(argv[1:])
        assert unknown == [], (name, unknown)
        assert args.config and args.warehouse
        if name == "ingest":  # Beam, not Spark: runs with its own runner
            assert args.command == "ingest"
        else:
            assert (args.command, args.stage) == ("submit", name)
            assert args.master.startswith("spark://") and args.deploy_mode == "client"
