"""Surviving faults.

On a real standalone cluster (three one-core workers on loopback), one ``kgpipe run --master``
(its Spark stages one application): a worker process is killed (SIGKILL, by its pid) while extract
runs and another while resolve runs, then the driver is killed while analyze runs; the rerun
resumes after the stages the killed run committed. The outputs equal the fault-free local run's, no table has duplicate keys, and a
reader polling the warehouse the whole time only ever saw complete table versions.

Without a cluster: resuming rolls back what an interrupted stage had committed, and a full disk,
a read-only file system or a permission error fails the stage with one clear line and leaves the
previous version of the table in place.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kgpipe.cli import main
from kgpipe.config import load_config
from kgpipe.manifest import RunManifest, StageRecord
from kgpipe.runner import ResumeError, resume
from kgpipe.stages import PIPELINE
from kgpipe.warehouse import Warehouse
from tests.sparkcluster import (
    KGPIPE,
    LocalCluster,
    assert_no_duplicate_keys,
    assert_same_tables,
    needs_java,
    reference_run,
    rows,
    session_inputs,
    wait_for,
)

# Killing workers and a driver needs a 3-worker cluster, two faulted runs and a fault-free reference: about
# 6 minutes on 2 cores, which would take the suite past its 20-minute budget. Opt in where that time is there.
fault_injection = pytest.mark.skipif(os.environ.get("KGPIPE_FAULT_TESTS") != "1",
                                     reason="cluster fault injection takes ~6 minutes: set KGPIPE_FAULT_TESTS=1")
EXTRACT_TABLES = ("mentions", "triples_raw")
RESOLVE_TABLES = ("aliases", "mention_entities", "entity_keys", "entities", "edges")


class Reader(threading.Thread):
    """Reads every table of the warehouse over and over, as a query service would, and notes
    which version it read and how many rows it found (or what failed)."""

    def __init__(self, warehouse: Warehouse):
        super().__init__(daemon=True)
        self.warehouse, self.seen, self.errors = warehouse, set(), []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            for table in self.warehouse.tables() if self.warehouse.root.exists() else []:
                try:
                    target = os.readlink(self.warehouse.table_path(table))
                    # read through the folder the link named when we looked (a swap may follow)
                    n = pq.ParquetDataset(str(self.warehouse.root / target)).read().num_rows
                    self.seen.add((table, target, n))
                except FileNotFoundError:
                    continue  # the link was swapped between readlink and read: read again next round
                except Exception as exc:  # noqa: BLE001 - any failed read is what this test looks for
                    self.errors.append(f"{table}: {type(exc).__name__}: {exc}")
            time.sleep(0.3)


def _descendants(pid: int) -> set[int]:
    """Process ids below ``pid`` (from /proc), so the test kills only the processes it started."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


#: `kgpipe run --master` submits the Spark stages as one application (kgpipe/submit.py)
APPLICATION = "kgpipe-extract-resolve-analyze-reason"


def _running(cluster: LocalCluster, warehouse: Warehouse, stage: str) -> str:
    """The application's id once it runs ``stage``: it has run a task, the stage before has left its record
    (each stage leaves it after it committed and discarded its staging folder) and ``stage`` has staged."""
    app = wait_for(lambda: cluster.app_id(APPLICATION), 900, f"{APPLICATION} to start")
    wait_for(lambda: any(cluster.running_tasks(app).values()), 900, f"a task of {APPLICATION}")
    before = PIPELINE[PIPELINE.index(stage) - 1]
    if before != "ingest":
        wait_for(lambda: list(warehouse.root.glob(f"_submitted/*/{before}.json")), 900, f"{before} to commit")
        wait_for(lambda: list(warehouse.root.glob("_staging/*")), 900, f"{stage} to stage its output")
    return app


def _kill_busy_worker(cluster: LocalCluster, warehouse: Warehouse, stage: str, alive: list[int]) -> int:
    """While ``stage`` runs, SIGKILL a live worker that runs an executor of the application (never the last)."""
    app = _running(cluster, warehouse, stage)
    busy = wait_for(lambda: [i for i, n in cluster.running_tasks(app).items() if n and i in alive],
                    900, f"a task of {APPLICATION} on a live worker")
    victim = busy[0]
    assert len(alive) > 1
    cluster.kill_worker(victim)
    alive.remove(victim)
    return victim


def _kill_driver(cluster: LocalCluster, warehouse: Warehouse, run: subprocess.Popen, stage: str) -> list[int]:
    """While ``stage`` runs, SIGKILL the application's driver: the spark-submit JVM and the Python driver
    process that ``kgpipe run`` started."""
    _running(cluster, warehouse, stage)
    pids = [pid for pid in _descendants(run.pid) if "jobs/run.py" in _cmdline(pid)]
    assert pids, f"no driver process below pid {run.pid}"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


@pytest.fixture(scope="module")
def faulted(tmp_path_factory, spark):
    config = session_inputs(tmp_path_factory)
    # the fault-free local run is built in this process while the cluster runs (wall time)
    built: dict = {}

    def build_reference():
        try:
            built["reference"] = reference_run(config)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread below
            built["error"] = exc

    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), workers=3)
    cluster.start()
    referee = threading.Thread(target=build_reference, daemon=True)
    root = tmp_path_factory.mktemp("faults")
    warehouse = Warehouse(root / "wh")
    command = [str(KGPIPE), "--config", str(config), "run", "--master", cluster.url, "--warehouse", str(warehouse.root)]
    reader = Reader(warehouse)
    reader.start()
    try:
        alive = [1, 2, 3]
        with open(root / "first.log", "w") as log:
            first = subprocess.Popen(command, env=cluster.env(), stdout=log, stderr=subprocess.STDOUT)
            referee.start()
            try:
                killed_workers = {stage: _kill_busy_worker(cluster, warehouse, stage, alive)
                                  for stage in ("extract", "resolve")}
                killed_driver = _kill_driver(cluster, warehouse, first, "analyze")
                first_rc = first.wait(timeout=900)
            finally:
                if first.poll() is None:
                    first.kill()
        first_log = (root / "first.log").read_text()
        manifests = [json.loads(p.read_text()) for p in (warehouse.root / "_manifests").glob("2*.json")]
        assert len(manifests) == 1
        after_first = {"manifest": manifests[0], "tables": warehouse.tables(),
                       "staging": sorted(p.name for p in (warehouse.root / "_staging").glob("*")),
                       "rows": {t: rows(warehouse, t) for t in (*EXTRACT_TABLES, *RESOLVE_TABLES)}}
        second = subprocess.run(command, env=cluster.env(), capture_output=True, text=True, timeout=3600, check=False)
        reader.done.set()
        reader.join(timeout=30)
        referee.join(timeout=3600)
        if "error" in built:
            raise built["error"]
        yield {"reference": built["reference"], "warehouse": warehouse, "cluster": cluster, "first_rc": first_rc,
               "first_log": first_log, "killed_workers": killed_workers, "killed_driver": killed_driver,
               "after_first": after_first, "second": second, "reader": reader}
    finally:
        reader.done.set()
        cluster.stop()


@needs_java
@fault_injection
def test_a_worker_killed_during_extract_and_resolve_changes_nothing(faulted):
    cluster, after = faulted["cluster"], faulted["after_first"]
    victims = faulted["killed_workers"]
    assert victims["extract"] != victims["resolve"]
    # the workers are gone for good; the stages still committed, on the surviving executors
    dead = {w["id"] for w in cluster.master_state()["workers"] if w["state"] == "DEAD"}
    assert len(dead) == 2, cluster.master_state()["workers"]
    assert faulted["first_log"].count("Lost executor") >= 2
    stages = after["manifest"]["stages"]
    assert stages["extract"]["status"] == stages["resolve"]["status"] == "committed"
    reference = faulted["reference"]
    for table, got in after["rows"].items():
        assert got == rows(reference, table), table


@needs_java
@fault_injection
def test_a_killed_driver_is_resumed_from_the_last_committed_stage(faulted):
    first, after, second = faulted["after_first"]["manifest"], faulted["after_first"], faulted["second"]
    assert faulted["killed_driver"] and faulted["first_rc"] == 2
    assert "stage analyze: spark-submit exited" in faulted["first_log"]
    assert first["status"] == "failed" and list(first["stages"]) == ["ingest", "extract", "resolve"]
    # the killed driver left its run's staging folder behind; it was never a table
    assert after["staging"] == [first["run_id"]]
    assert "entity_stats" not in after["tables"]

    assert second.returncode == 0, second.stderr[-4000:]
    warehouse = faulted["warehouse"]
    latest = json.loads((warehouse.root / "_manifests" / "latest.json").read_text())
    assert latest["run_id"] != first["run_id"] and list(latest["stages"]) == list(PIPELINE)
    for name in ("ingest", "extract", "resolve"):
        record = latest["stages"][name]
        assert record["status"] == "resumed" and record["details"]["resumed_from"] == first["run_id"]
        assert record["versions"] == first["stages"][name]["versions"]
    assert all(latest["stages"][n]["status"] == "committed" for n in ("analyze", "reason", "train", "index"))
    assert "resuming run" in second.stderr
    assert not (warehouse.root / "_staging").exists()

    assert_same_tables(warehouse, faulted["reference"])
    assert_no_duplicate_keys(warehouse)


@needs_java
@fault_injection
def test_no_reader_ever_saw_a_partial_table(faulted):
    reader, warehouse = faulted["reader"], faulted["warehouse"]
    assert reader.errors == []
    tables = {table for table, _, _ in reader.seen}
    assert {"documents", "mentions", "entities", "edges", "entity_stats"} <= tables
    for table, target, n in reader.seen:
        assert target.startswith(f"_versions/{table}/"), target
        folder = warehouse.root / target
        if folder.is_dir():  # still kept: what the reader saw is the whole committed version
            assert n == Warehouse.check_schema(table, folder), (table, target)


# ---- without a cluster: resume bookkeeping, storage errors

def _edges(warehouse: Warehouse, version: str, n: int) -> None:
    from tests.graphfactory import write_table
    from tests.test_reasoning import edge
    write_table(warehouse, "edges", [edge(f"{version}-{i}", "a", "p", "b") for i in range(n)], version)


def test_resume_rolls_back_the_interrupted_stage_and_skips_the_committed_ones(tmp_path):
    config = load_config(None, [f"warehouse={tmp_path / 'wh'}"])
    warehouse = Warehouse(config.warehouse)
    _edges(warehouse, "old", 2)
    # a killed run: ingest and extract committed, resolve had swapped in edges and then died
    killed = RunManifest(run_id="run1", command="kgpipe run", config=config.model_dump(), plan=list(PIPELINE),
                         pid=2 ** 22 + 1)  # no such process
    killed.stages = [StageRecord(name=n, seconds=1, inputs={}, outputs={}, rejects=0, versions={}) for n in
                     ("ingest", "extract")]
    # extract committed edges (run1), the killed resolve committed them again (run1.2, then .3)
    _edges(warehouse, "run1", 3)
    killed.stages[1].versions = {"edges": str(warehouse.root / "_versions" / "edges" / "run1")}
    warehouse.write_json_atomic("_manifests/run1.json", killed.as_dict())
    _edges(warehouse, "run1", 4)
    _edges(warehouse, "run1", 5)
    (warehouse.staging_dir("run1") / "resolve").mkdir()
    assert warehouse.count("edges") == 5

    names, resumed = resume(warehouse, config, PIPELINE)
    assert names == list(PIPELINE)[2:]
    assert [(r.name, r.status, r.details["resumed_from"]) for r in resumed] == [
        ("ingest", "resumed", "run1"), ("extract", "resumed", "run1")]
    assert warehouse.current_version("edges") == "run1" and warehouse.count("edges") == 3
    assert not (warehouse.root / "_staging").exists()

    # --no-resume and --from do not look back; another configuration is not resumed
    assert resume(warehouse, config, PIPELINE, no_resume=True) == (list(PIPELINE), [])
    assert resume(warehouse, config, PIPELINE, from_stage="reason")[0] == ["reason", "train", "index"]
    other = load_config(None, [f"warehouse={tmp_path / 'wh'}", "resolve.min_commonness=0.9"])
    assert resume(warehouse, other, PIPELINE) == (list(PIPELINE), [])


def test_a_second_commit_in_one_run_never_touches_the_version_readers_have(tmp_path):
    """Every stage of a run commits its rows of rejects under the run's id: the second commit gets
    a fresh folder; the one a reader has open keeps its rows (the cluster test's reader caught
    the old in-place replacement)."""
    from schemas import arrow_schema
    from tests.graphfactory import write_table
    warehouse = Warehouse(tmp_path / "wh")
    reject = {f.name: None for f in arrow_schema("rejects")} | {"input_ref": "x", "stage": "extract", "reason": "r"}
    write_table(warehouse, "rejects", [reject], "run1")
    opened = warehouse.root / os.readlink(warehouse.table_path("rejects"))
    write_table(warehouse, "rejects", [reject] * 3, "run1")
    assert warehouse.current_version("rejects") == "run1.2" and warehouse.count("rejects") == 3
    assert Warehouse.check_schema("rejects", opened) == 1
    assert warehouse.rollback("rejects", "run1.2") == "run1" and warehouse.count("rejects") == 1


def test_a_run_that_is_still_alive_is_not_resumed(tmp_path):
    config = load_config(None, [f"warehouse={tmp_path / 'wh'}"])
    warehouse = Warehouse(config.warehouse)
    running = RunManifest(run_id="run1", command="kgpipe run", config=config.model_dump(), plan=list(PIPELINE))
    warehouse.write_json_atomic("_manifests/run1.json", running.as_dict())  # this very process: alive
    with pytest.raises(ResumeError, match="still running"):
        resume(warehouse, config, PIPELINE)


def test_a_new_table_is_rolled_back_to_no_table(tmp_path):
    warehouse = Warehouse(tmp_path / "wh")
    _edges(warehouse, "v1", 3)
    assert warehouse.rollback("edges", "v2") == "v1"  # v2 is not current: nothing changes
    assert warehouse.rollback("edges", "v1") is None and not warehouse.exists("edges")


@pytest.fixture
def small_fs(tmp_path):
    """A 4 MiB tmpfs (root only; skipped elsewhere)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _reason_warehouse(root: Path) -> Warehouse:
    from tests.test_reasoning import edge, warehouse_with
    return warehouse_with(root, [edge("e1", "ada", "birthPlace", "london"), edge("e2", "london", "location", "england")])


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
def test_a_storage_error_fails_the_stage_clearly_and_keeps_the_previous_version(small_fs, spark, capsys, fault):
    warehouse = _reason_warehouse(small_fs / "wh")
    command = ["--set", "spark.master=local[2]", "reason", "--warehouse", str(warehouse.root)]
    assert main(command) == 0
    before = (warehouse.current_version("inferred_edges"), rows(warehouse, "inferred_edges"))
    assert before[1]
    capsys.readouterr()
    if fault == "disk full":
        _fill(small_fs)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    assert main(command) == 2
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.startswith("kgpipe: error:"))
    reason = "No space left on device" if fault == "disk full" else "Read-only file system"
    assert line.startswith("kgpipe: error: stage reason cannot write its output") and reason in line
    assert "keep their previous versions" in line and "Traceback" not in err
    assert (warehouse.current_version("inferred_edges"), rows(warehouse, "inferred_edges")) == before


def test_a_permission_error_fails_the_stage_clearly_and_keeps_the_previous_version(tmp_path, spark, capsys,
                                                                                      monkeypatch):
    warehouse = _reason_warehouse(tmp_path / "wh")
    command = ["--set", "spark.master=local[2]", "reason", "--warehouse", str(warehouse.root)]
    assert main(command) == 0
    before = (warehouse.current_version("inferred_edges"), rows(warehouse, "inferred_edges"))
    capsys.readouterr()
    real_replace = os.replace

    def denied(src, dst, *args, **kwargs):
        # root ignores file modes, so the refusal an unprivileged writer would get is injected
        if "_versions" in str(dst):
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr("kgpipe.warehouse.os.replace", denied)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "kgpipe: error: stage reason cannot write its output" in err and "Permission denied" in err
    monkeypatch.undo()
    assert (warehouse.current_version("inferred_edges"), rows(warehouse, "inferred_edges")) == before
    assert not (warehouse.root / "_staging").exists()
