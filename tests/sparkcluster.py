"""A real Spark standalone cluster on loopback for the cluster and fault tests, the small input
they run on, the local-mode reference run they compare with, and table comparison."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kgpipe.warehouse import Warehouse
from tests.conftest import REPO
from tests.dumpfactory import GREEK_TEXT, WIKI_TEXT, dump_bytes, page_xml

#: tables whose values come from floating-point sums in a partition-dependent order (compared
#: with a relative tolerance) and from training (compared by their ids: the vectors are the
#: trainer's business and tests/test_train_job.py's)
KGPIPE = Path(sys.executable).with_name("kgpipe")
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="a Spark cluster needs Java")
APPROXIMATE = {"entity_stats"}
BY_ID = {"embeddings": "entity_id", "relation_embeddings": "predicate"}
#: the key of each table (no duplicate rows: each key once)
KEYS = {"documents": "doc_id", "mentions": "mention_id", "triples_raw": "triple_id", "entities": "entity_id",
        "edges": "edge_id", "entity_stats": "entity_id", "inferred_edges": "edge_id", "aliases": None,
        "embeddings": "entity_id"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalCluster:
    """``infra/spark/start-local-cluster.sh``: a master and ``workers`` workers of one core each."""

    def __init__(self, state: Path, workers: int):
        self.state, self.workers = state, workers
        self.port, self.ui_port = free_port(), free_port()
        self.url = f"spark://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_MASTER_PORT=str(self.port),
                    SPARK_MASTER_WEBUI_PORT=str(self.ui_port), SPARK_WORKER_MEMORY="1g",
                    # (spark.worker.timeout stays at 60 s: the master drops a killed worker as soon as its
                    # connection breaks, and a shorter timeout drops live workers on a busy machine)
                    # JVMs start slowly on a busy machine (several test runs at once)
                    SPARK_CLUSTER_START_TIMEOUT="300")

    def start(self) -> None:
        started = subprocess.run(["bash", str(REPO / "infra/spark/start-local-cluster.sh"), str(self.workers),
                                  str(self.state)], env=self.env(), capture_output=True, text=True, timeout=1500, check=False)
        if started.returncode != 0:
            self.stop()
            raise RuntimeError(f"the cluster did not start: {started.stderr}{started.stdout}")
        assert started.stdout.strip().splitlines()[-1] == self.url

    def stop(self) -> None:
        subprocess.run(["bash", str(REPO / "infra/spark/stop-local-cluster.sh"), str(self.state)], timeout=60, check=False)

    def worker_pid(self, i: int) -> int:
        return int((self.state / f"worker{i}.pid").read_text())

    def master_state(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=10) as response:
            return json.load(response)

    def app_id(self, name: str) -> str | None:
        """The id of the running application called ``name`` (kgpipe names them kgpipe-<stage>)."""
        for app in self.master_state().get("activeapps", []):
            if app["name"] == name:
                return app["id"]
        return None

    def running_tasks(self, app_id: str) -> dict[int, int]:
        """Per worker, how many tasks its executors of ``app_id`` have started (their logs say so)."""
        counts = {}
        for i in range(1, self.workers + 1):
            logs = (self.state / f"worker{i}" / app_id).glob("*/stderr")
            counts[i] = sum(len(re.findall(r"Running task", p.read_text(errors="replace"))) for p in logs)
        return counts

    def kill_worker(self, i: int) -> None:
        os.kill(self.worker_pid(i), signal.SIGKILL)
        (self.state / f"worker{i}.pid").unlink()


def wait_for(condition, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def write_inputs(root: Path) -> Path:
    """Three wiki pages (one with personal data, one Greek) and the news sample; a configuration
    that runs every stage small (in-process Beam, a short training, small Spark processes)."""
    from kgpipe.datasets import NEWS_SAMPLE
    root.mkdir(parents=True, exist_ok=True)
    (root / "wiki.xml").write_bytes(dump_bytes([
        page_xml("Ada Lovelace", WIKI_TEXT, 1),
        page_xml("Contact", "Write to ada@example.org or call +44 20 7946 0958 for details about Babbage.", 2),
        page_xml("Αθήνα", GREEK_TEXT, 3)], dbname="enwiki"))
    (root / "feed.jsonl").write_text(NEWS_SAMPLE.read_text())
    config = root / "kgpipe.yaml"
    config.write_text(json.dumps({
        "warehouse": str(root / "wh"),
        "ingest": {"inputs": [str(root / "wiki.xml"), str(root / "feed.jsonl")],
                   "direct_running_mode": "in_memory", "direct_num_workers": 1},
        "train": {"epochs": 3, "dim": 16},
        # fewer rounds than the defaults: these runs test where stages run, not how far PageRank converges
        "analyze": {"pagerank_max_iter": 3, "lpa_max_iter": 2},
        "spark": {"driver_memory": "512m", "shuffle_partitions": 2,
                  "conf": {"spark.executor.memory": "512m", "spark.cores.max": "2", "spark.ui.enabled": "false",
                           # every block is on this machine: waiting 3 s per stage for a "local" executor
                           # only adds up over resolve's hundreds of small stages
                           "spark.locality.wait": "0s",
                           # a lost executor's tasks are retried on the others (the default, said out loud)
                           "spark.task.maxFailures": "4"}},
    }))  # JSON is YAML
    return config


_REFERENCE: dict[str, object] = {}


def session_inputs(tmp_path_factory) -> Path:
    """The configuration of the inputs every cluster test of this session runs. One set of files per
    session: ``documents`` rows name their input file, so runs compare equal only on the same files."""
    if "config" not in _REFERENCE:
        _REFERENCE["config"] = write_inputs(tmp_path_factory.mktemp("inputs"))
    return _REFERENCE["config"]


def reference_run(config: Path) -> Warehouse:
    """The whole pipeline run on ``session_inputs`` in local mode in this process (the test session's
    Spark session), once per test process: the fault-free result the cluster runs must equal. Cluster
    runs use the same input files with a warehouse of their own (``--warehouse``)."""
    if "warehouse" not in _REFERENCE:
        from kgpipe.cli import main
        assert main(["--quiet", "--config", str(config), "run"]) == 0
        _REFERENCE["warehouse"] = Warehouse(config.parent / "wh")
    return _REFERENCE["warehouse"]


def _canonical(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 9)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def rows(warehouse: Warehouse, table: str) -> list[str]:
    return sorted(json.dumps(_canonical(row), sort_keys=True, default=str) for row in warehouse.read(table).to_pylist())


def assert_same_tables(got: Warehouse, want: Warehouse) -> list[str]:
    """Every table of ``want`` is in ``got`` with the same rows; returns the table names."""
    tables = want.tables()
    assert tables and got.tables() == tables
    for table in tables:
        if table in BY_ID:
            key = BY_ID[table]
            assert sorted(got.read(table, [key]).column(key).to_pylist()) == \
                sorted(want.read(table, [key]).column(key).to_pylist()), table
        elif table in APPROXIMATE:
            a, b = (sorted(w.read(table).to_pylist(), key=lambda r: r["entity_id"]) for w in (got, want))
            assert len(a) == len(b), table
            for x, y in zip(a, b):
                assert x.keys() == y.keys()
                for column in x:
                    if isinstance(x[column], float):
                        assert math.isclose(x[column], y[column], rel_tol=1e-6, abs_tol=1e-9), (table, column)
                    else:
                        assert x[column] == y[column], (table, column)
        else:
            assert rows(got, table) == rows(want, table), table
    return tables


def assert_no_duplicate_keys(warehouse: Warehouse) -> None:
    for table, key in KEYS.items():
        if key and warehouse.exists(table):
            ids = warehouse.read(table, [key]).column(key).to_pylist()
            assert len(ids) == len(set(ids)), f"{table} has duplicate {key}s"
