"""The pipeline on a real Spark standalone cluster (master + 2 workers on loopback):
``kgpipe run --master`` submits each Spark stage with spark-submit (code zip, GraphFrames jar and
configuration shipped by kgpipe/submit.py) and its tables equal a local-mode run's."""
from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from kgpipe.config import load_config
from kgpipe.errors import CommandError
from kgpipe.manifest import StageRecord
from kgpipe.runner import RunRequest, resume, run_stages
from kgpipe.stages import PIPELINE, STAGES
from kgpipe.submit import (
    SubmitError,
    SubmittedStagesFailed,
    build_command,
    build_run_command,
    package_code,
    write_config,
)
from kgpipe.warehouse import Warehouse
from tests.sparkcluster import (
    KGPIPE,
    LocalCluster,
    assert_same_tables,
    needs_java,
    reference_run,
    session_inputs,
)


def test_the_code_is_packaged_once_per_code_hash(tmp_path):
    first = package_code(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert package_code(tmp_path) == first and first.stat().st_mtime_ns == stamp
    names = zipfile.ZipFile(first).namelist()
    assert {"kgpipe/cli.py", "schemas/tables.py", "jobs/extract.py", "pipelines/ingest.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_spark_submit_command_ships_code_jar_and_configuration(tmp_path):
    config = load_config(None, [f"warehouse={tmp_path / 'wh'}", f"cache_dir={tmp_path}", "spark.driver_memory=1g",
                                "spark.conf={spark.executor.memory: 2g}", "spark.shuffle_partitions=16"])
    config_file = write_config(config, tmp_path)
    command = build_command("resolve", config, "spark://10.0.0.1:7077", "client", config_file)
    options = dict(zip(command[1::2], command[2::2]))
    assert options["--master"] == "spark://10.0.0.1:7077" and options["--deploy-mode"] == "client"
    assert options["--driver-memory"] == "1g" and options["--name"] == "kgpipe-resolve"
    assert Path(options["--py-files"].split(",")[0]) == package_code(tmp_path)
    assert options["--files"] == str(config_file)
    confs = [command[i + 1] for i, part in enumerate(command) if part == "--conf"]
    assert {"spark.executor.memory=2g", "spark.sql.shuffle.partitions=16"} <= set(confs)
    job = next(i for i, part in enumerate(command) if part.endswith("jobs/resolve.py"))
    assert command[job + 1:] == ["--config", str(config_file), "--warehouse", str(tmp_path / "wh")]
    # the job sees the whole configuration we had
    assert load_config(config_file).model_dump() == config.model_dump()
    # in cluster mode (YARN, Kubernetes) the driver finds the configuration in its working folder
    remote = build_command("resolve", config, "yarn", "cluster", config_file)
    assert remote[remote.index("--config") + 1] == config_file.name


@pytest.mark.parametrize("master, mode, message", [
    ("spark://h:7077", "cluster", "cluster deploy mode"),
    ("mesos://h:5050", "client", "unsupported Spark master"),
])
def test_impossible_submissions_fail_before_spark_starts(tmp_path, master, mode, message):
    config = load_config(None, [f"cache_dir={tmp_path}"])
    with pytest.raises(SubmitError, match=message):
        build_command("extract", config, master, mode, write_config(config, tmp_path))
    with pytest.raises(SubmitError, match="Beam"):
        build_command("ingest", config, "spark://h:7077", "client", write_config(config, tmp_path))


def test_which_stages_go_to_the_cluster():
    config = load_config(None)
    assert [s for s in PIPELINE if STAGES[s].uses_spark(config)] == ["extract", "resolve", "analyze", "reason"]
    assert STAGES["train"].uses_spark(load_config(None, ["train.num_processes=2"]))


def test_a_run_submits_its_consecutive_spark_stages_as_one_application(tmp_path):
    from kgpipe.runner import _steps
    config = load_config(None, [f"cache_dir={tmp_path}", "train.num_processes=2"])
    on_cluster = RunRequest(command="kgpipe run", names=list(PIPELINE), is_run=True, master="spark://h:7077")
    assert _steps(list(PIPELINE), config, on_cluster) == [
        (False, ["ingest"]), (True, ["extract", "resolve", "analyze", "reason", "train"]), (False, ["index"])]
    here = RunRequest(command="kgpipe run", names=list(PIPELINE), is_run=True)
    assert _steps(list(PIPELINE), config, here) == [(False, [name]) for name in PIPELINE]
    command = build_run_command(["extract", "resolve"], config, "spark://h:7077", "client",
                                write_config(config, tmp_path), ["--run-id", "R"])
    assert command[command.index("--name") + 1] == "kgpipe-extract-resolve"
    job = next(i for i, part in enumerate(command) if part.endswith("jobs/run.py"))
    assert command[job + 1:job + 3] == ["--config", str(tmp_path / "kgpipe-config.yaml")]
    assert command[command.index("--stages") + 1] == "extract,resolve" and command[-2:] == ["--run-id", "R"]
    with pytest.raises(SubmitError, match="Beam"):
        build_run_command(["ingest", "extract"], config, "spark://h:7077", "client", write_config(config, tmp_path))


def test_stages_an_application_committed_before_it_failed_are_resumed_after(tmp_path, monkeypatch):
    import kgpipe.runner
    config = load_config(None, [f"warehouse={tmp_path / 'wh'}", f"cache_dir={tmp_path}"])
    extract = StageRecord(name="extract", seconds=1.0, inputs={}, outputs={"mentions": 3}, rejects=0)

    def fail_after_extract(stages, *args, **kwargs):
        assert stages == ["extract", "resolve", "analyze", "reason"]
        raise SubmittedStagesFailed("stage resolve: spark-submit exited with status 1", [extract])
    monkeypatch.setattr(kgpipe.runner, "submit_stages", fail_after_extract)
    monkeypatch.setattr(kgpipe.runner, "_run_here", lambda name, *args: StageRecord(
        name=name, seconds=1.0, inputs={}, outputs={}, rejects=0))
    request = RunRequest(command="kgpipe run", names=list(PIPELINE), is_run=True, master="spark://h:7077")
    with pytest.raises(CommandError, match="stage resolve: spark-submit exited"):
        run_stages(config, request)
    manifest = json.loads(next((tmp_path / "wh" / "_manifests").glob("2*.json")).read_text())
    assert manifest["status"] == "failed" and list(manifest["stages"]) == ["ingest", "extract"]
    assert manifest["stages"]["extract"]["outputs"] == {"mentions": 3}
    names, resumed = resume(Warehouse(tmp_path / "wh"), config, list(PIPELINE))
    assert names[0] == "resolve" and [r.name for r in resumed] == ["ingest", "extract"]


def test_submit_dry_run_prints_the_command(tmp_path, capsys):
    from kgpipe.cli import main
    assert main(["--set", f"cache_dir={tmp_path}", "submit", "analyze", "--master", "spark://h:7077",
                 "--warehouse", str(tmp_path / "wh"), "--dry-run"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[0].endswith("spark-submit") and printed[printed.index("--master") + 1] == "spark://h:7077"
    assert main(["submit", "analyze", "--master", "spark://h:7077", "--deploy-mode", "cluster"]) == 2
    assert "cluster deploy mode" in capsys.readouterr().err


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), workers=2)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@needs_java
def test_whole_pipeline_on_the_cluster_equals_local_mode(cluster, tmp_path_factory, spark):
    config = session_inputs(tmp_path_factory)
    reference = reference_run(config)
    warehouse = Warehouse(tmp_path_factory.mktemp("on-cluster") / "wh")
    result = subprocess.run([str(KGPIPE), "--quiet", "--config", str(config), "run", "--master", cluster.url,
                             "--warehouse", str(warehouse.root)],
                            env=cluster.env(), capture_output=True, text=True, timeout=3600, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    # quiet: the drivers' JVMs (spark-submit), py4j, pyspark's warnings and Beam say nothing
    noise = [line for line in result.stderr.splitlines()
             if not re.match(r"\d\d:\d\d:\d\d (WARNING|ERROR) (kgpipe|jobs|pipelines)\b", line)]
    assert noise == []

    manifest = json.loads((warehouse.root / "_manifests" / "latest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["plan"] == list(PIPELINE)
    assert list(manifest["stages"]) == list(PIPELINE)
    assert {stage["status"] for stage in manifest["stages"].values()} == {"committed"}
    # the summary kgpipe prints, for the record (pytest -s shows it)
    print(result.stdout[result.stdout.index(f"run {manifest['run_id']}"):])

    tables = assert_same_tables(warehouse, reference)
    assert {"documents", "mentions", "triples_raw", "entities", "edges", "entity_stats", "inferred_edges",
            "embeddings"} <= set(tables)
    # the Spark stages ran as one application of this cluster, on executors of both workers
    apps = {app["name"]: app["id"] for app in cluster.master_state()["completedapps"]}
    assert set(apps) == {"kgpipe-extract-resolve-analyze-reason"}
    app = apps["kgpipe-extract-resolve-analyze-reason"]
    assert {p.parents[1].name for p in cluster.state.glob(f"worker*/{app}/*") if p.is_dir()} == {"worker1", "worker2"}
    # the stage records came back through the warehouse and were cleaned up
    assert not (warehouse.root / "_submitted").exists()


def test_submitted_stages_are_what_their_records_say(tmp_path, monkeypatch):
    """A record is written only after its stage committed: the records decide, not spark-submit's status."""
    import kgpipe.submit
    from kgpipe.runner import _write_record
    from kgpipe.submit import submit_stages
    config = load_config(None, [f"warehouse={tmp_path / 'wh'}", f"cache_dir={tmp_path}"])
    folder = tmp_path / "wh" / "_submitted" / "R"

    def application(committing):
        def run(command, env):
            for name in committing:
                _write_record(folder / f"{name}.json", StageRecord(name=name, seconds=1.0, inputs={}, outputs={},
                                                                   rejects=0))
            return 1
        return run
    monkeypatch.setattr(kgpipe.submit, "build_run_command", lambda *args, **kwargs: ["spark-submit"])
    monkeypatch.setattr(kgpipe.submit, "_run", application(["extract", "resolve"]))
    assert [r.name for r in submit_stages(["extract", "resolve"], config, "spark://h:7077", "client", "R")] == \
        ["extract", "resolve"]
    assert not folder.exists()
    monkeypatch.setattr(kgpipe.submit, "_run", application(["extract"]))
    with pytest.raises(SubmittedStagesFailed, match="stage resolve: spark-submit exited with status 1") as failed:
        submit_stages(["extract", "resolve"], config, "spark://h:7077", "client", "R")
    assert [r.name for r in failed.value.committed] == ["extract"]
