"""extract on a real Spark standalone cluster (master + 2 workers on loopback) via spark-submit,
with the code shipped as a --py-files zip: its tables equal the local-mode run's."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kgpipe.config import ExtractConfig
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from tests.conftest import REPO
from tests.dumpfactory import ingest_small_corpus

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="a Spark cluster needs Java")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("cluster")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_MASTER_PORT=str(_free_port()),
               SPARK_MASTER_WEBUI_PORT=str(_free_port()), SPARK_WORKER_MEMORY="1g")
    started = subprocess.run(["bash", str(REPO / "infra/spark/start-local-cluster.sh"), "2", str(state)],
                             env=env, capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        yield started.stdout.strip().splitlines()[-1], state
    finally:
        subprocess.run(["bash", str(REPO / "infra/spark/stop-local-cluster.sh"), str(state)], timeout=60)


def _ids(warehouse: Warehouse, table: str, key: str) -> list[str]:
    return sorted(warehouse.read(table, [key]).column(key).to_pylist())


def test_extract_on_the_cluster_equals_local_mode(cluster, tmp_path, spark):
    from jobs.extract import run_stage
    master, state = cluster
    source = ingest_small_corpus(tmp_path)
    local = Warehouse(tmp_path / "local")
    shutil.copytree(source.root, local.root, symlinks=True)
    on_cluster = Warehouse(tmp_path / "cluster")
    shutil.copytree(source.root, on_cluster.root, symlinks=True)

    run_stage(ExtractConfig(), StageContext(local, "local", str(tmp_path)), spark=spark)

    zip_path = tmp_path / "kgpipe-pyfiles.zip"
    subprocess.run(["bash", str(REPO / "infra/spark/package.sh"), str(zip_path)], check=True, timeout=60,
                   env=dict(os.environ, PYTHON=sys.executable))
    submit = Path(sys.executable).with_name("spark-submit")
    result = subprocess.run(
        [str(submit), "--master", master, "--deploy-mode", "client", "--py-files", str(zip_path),
         "--conf", "spark.executor.memory=1g", "--conf", "spark.cores.max=2", "--conf", "spark.ui.enabled=false",
         str(REPO / "jobs" / "extract.py"), "--warehouse", str(on_cluster.root)],
        env=dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable),
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "stage extract:" in result.stdout
    # both workers ran tasks of this application
    executors = [p for p in state.glob("worker*/app-*/*") if p.is_dir()]
    assert len({p.parents[1].name for p in executors}) == 2

    for table, key in (("mentions", "mention_id"), ("triples_raw", "triple_id")):
        assert _ids(on_cluster, table, key) == _ids(local, table, key)
    rejects = [sorted(map(str, w.read("rejects").to_pylist())) for w in (on_cluster, local)]
    assert rejects[0] == rejects[1]
