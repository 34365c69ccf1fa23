"""One stage list: the descriptors in kgpipe.stages are what the command line, `kgpipe submit`, the
Airflow DAG and the Kubernetes renderer offer, and every descriptor names real code, tables and a
configuration section."""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import subprocess
import sys
import types

import pytest

from kgpipe.cli import COMMANDS, parser
from kgpipe.config import Config
from kgpipe.stages import BEAM, PIPELINE, STAGES, stage
from kgpipe.submit import SubmitError, build_command
from schemas.tables import TABLES
from tests.conftest import REPO


def _choices(argv_prefix: list[str], dest: str) -> list[str]:
    """The choices argparse offers for ``dest`` of the (sub)command ``argv_prefix``."""
    current = parser()
    for word in argv_prefix:
        current = next(a for a in current._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
    return list(next(a for a in current._actions if a.dest == dest).choices)


def test_every_descriptor_names_its_code_tables_and_configuration():
    config = Config()
    for name, descriptor in STAGES.items():
        assert descriptor.name == name
        assert (REPO / descriptor.job_file).is_file(), descriptor.job_file
        assert callable(descriptor.function())
        assert set(descriptor.reads) | set(descriptor.writes) <= set(TABLES), name
        assert hasattr(config, name), f"no configuration section {name}"
    assert PIPELINE == ("ingest", "extract", "resolve", "analyze", "reason", "train", "index")
    with pytest.raises(KeyError, match="unknown stage 'nope'"):
        stage("nope")


def test_the_command_line_has_a_command_per_stage_and_runs_the_pipeline_in_order():
    commands = _choices([], "command")
    assert set(STAGES) <= set(commands) and set(STAGES) <= set(COMMANDS)
    assert _choices(["run"], "from_stage") == list(PIPELINE)
    assert _choices(["submit"], "stage") == [name for name, s in STAGES.items() if s.engine != BEAM]
    # a stage's own options come from its descriptor
    args, _ = parser().parse_known_args(["export", "--format", "graphml", "--out", "x"])
    assert (args.format, args.out) == ("graphml", "x")
    args, _ = parser().parse_known_args(["ingest", "--input", "a", "b", "--runner", "DirectRunner"])
    assert args.input == ["a", "b"]


def test_submit_runs_the_descriptors_job_file_and_refuses_beam(tmp_path):
    config = Config(warehouse=str(tmp_path / "wh"), cache_dir=str(tmp_path / "cache"))
    (tmp_path / "cfg.yaml").write_text("{}")
    command = build_command("reason", config, "spark://127.0.0.1:7077", "client", tmp_path / "cfg.yaml")
    assert str(REPO / STAGES["reason"].job_file) in command
    with pytest.raises(SubmitError, match="Beam"):
        build_command("ingest", config, "spark://127.0.0.1:7077", "client", tmp_path / "cfg.yaml")
    assert [name for name in PIPELINE if STAGES[name].uses_spark(config)] == ["extract", "resolve", "analyze",
                                                                              "reason"]


def test_the_kubernetes_renderer_renders_every_stage_of_the_pipeline():
    spec = importlib.util.spec_from_file_location("kgpipe_k8s_render_stages", REPO / "infra" / "k8s" / "render.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    manifests = render.render(render.load_values())
    apps = {m["metadata"]["name"].removeprefix("kgpipe-"): m for m in manifests if m["kind"] == "SparkApplication"}
    jobs = {m["metadata"]["name"].removeprefix("kgpipe-") for m in manifests if m["kind"] == "Job"}
    assert sorted(apps) == sorted(name for name in PIPELINE if STAGES[name].submittable)
    assert jobs == {name for name in PIPELINE if not STAGES[name].submittable}
    for name, app in apps.items():
        assert app["spec"]["mainApplicationFile"].endswith("/" + STAGES[name].job_file)


def test_the_airflow_dag_chains_the_pipeline():
    """The DAG file against a stand-in for Airflow's two classes (tests/test_airflow.py loads it in a real
    Airflow): one task per pipeline stage, in order, Beam in place and the others through `kgpipe submit`."""
    tasks: dict[str, list] = {}

    class BashOperator:
        def __init__(self, task_id, bash_command):
            self.task_id, self.command, self.downstream = task_id, bash_command, []
            tasks[task_id] = self

        def __rshift__(self, other):
            self.downstream.append(other.task_id)
            return other

    fake = {"airflow": types.ModuleType("airflow"), "airflow.operators": types.ModuleType("airflow.operators"),
            "airflow.operators.bash": types.ModuleType("airflow.operators.bash")}
    fake["airflow"].DAG = lambda **kwargs: contextlib.nullcontext()
    fake["airflow.operators.bash"].BashOperator = BashOperator
    saved = {name: sys.modules.get(name) for name in fake}
    sys.modules.update(fake)
    try:
        spec = importlib.util.spec_from_file_location("kgpipe_dag_stages", REPO / "infra" / "airflow" / "kgpipe_dag.py")
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    assert list(tasks) == list(PIPELINE)
    for before, after in zip(PIPELINE, PIPELINE[1:]):
        assert tasks[before].downstream == [after]
    for name, task in tasks.items():
        assert (f" submit {name} " in task.command) == STAGES[name].submittable, task.command


def test_the_stage_list_loads_with_the_standard_library_alone():
    """The Airflow DAG reads it inside Airflow's environment, which has none of kgpipe's dependencies
    (no pydantic in Airflow 2): `python -S` leaves site-packages out."""
    result = subprocess.run([sys.executable, "-S", "-c", "import kgpipe.stages as s; print(','.join(s.PIPELINE))"],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ",".join(PIPELINE)
