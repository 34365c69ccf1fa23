"""Run stages on a Spark cluster with ``spark-submit`` (standalone, YARN or Kubernetes masters).

    kgpipe submit STAGE --master URL [--deploy-mode client|cluster] [--warehouse DIR] [--dry-run]
    kgpipe run --master URL [--deploy-mode client|cluster]

What travels with every submission:

* the code, packaged once per code hash into ``<cache_dir>/pyfiles/kgpipe-<hash>.zip`` (the
  ``kgpipe``, ``schemas``, ``pipelines`` and ``jobs`` packages, as ``infra/spark/package.sh``
  packs them) and passed with ``--py-files``; third-party libraries (spaCy and its model,
  pyarrow, torch) come from the executors' Python environment (the jobs image, a packed venv);
* the GraphFrames jar (``spark.graphframes_jar`` or the one ``kgpipe fetch`` cached) with
  ``--jars`` and also on ``--py-files``, because the jar carries the ``graphframes`` Python
  package; or ``--packages spark.graphframes_package`` on clusters that reach Maven;
* the configuration, fully resolved (file plus ``--set`` overrides, warehouse made absolute),
  written to a YAML file and passed with ``--files``; the job reads it by its absolute path in
  client mode, by its name in the driver's working folder in cluster mode;
* the ``spark`` section: ``--driver-memory``, ``spark.sql.shuffle.partitions`` and every
  ``spark.conf`` entry as ``--conf``.

The job file ``jobs/<stage>.py`` is the application of ``kgpipe submit STAGE``; it ends in
:func:`kgpipe.cli.job_main`, so the driver runs exactly what ``kgpipe <stage>`` runs. ``kgpipe run --master``
submits each run of consecutive stages that use Spark (:meth:`kgpipe.stages.Stage.uses_spark`:
extract, resolve, analyze, reason, and train with several processes) as one application, ``jobs/run.py``,
whose driver runs them in order in one Spark session, as ``kgpipe run`` does locally: one driver start and
one set of executors instead of one per stage, and executors whose JVMs are warm when the later stages'
many small jobs come (on a 2-core loopback cluster this halves the run). The others run where it is called:
``ingest`` with its Beam runner, ``index`` (FAISS in one process) and single-process ``train``. Each
submitted stage writes its stage record to ``_submitted/<run_id>/<stage>.json`` in the warehouse as soon as
it commits (shared storage, so this works for drivers in cluster mode too); ``kgpipe run`` collects them
into the run manifest, which it alone writes, so a run whose application fails after some stages committed
is resumed after those. Schedulers that want one application per stage (the Airflow DAG, the Kubernetes
manifests) submit the stages' own job files.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

from kgpipe.config import Config
from kgpipe.errors import CommandError
from kgpipe.manifest import StageRecord
from kgpipe.stages import STAGES

log = logging.getLogger(__name__)

#: the packages a job needs from this repository (kept in step with infra/spark/package.sh)
CODE_PACKAGES = ("kgpipe", "schemas", "pipelines", "jobs")
DEPLOY_MODES = ("client", "cluster")
CONFIG_NAME = "kgpipe-config.yaml"
SUBMITTED = "_submitted"
#: the application of several stages of one `kgpipe run --master`
RUN_JOB = "jobs/run.py"


class SubmitError(CommandError):
    pass


def code_root() -> Path:
    """The folder that holds the code packages (the repository, or site-packages of an install)."""
    root = Path(__file__).resolve().parents[1]
    missing = [name for name in CODE_PACKAGES if not (root / name / "__init__.py").is_file()]
    if missing:
        raise SubmitError(f"cannot package the code for spark-submit: {', '.join(missing)} not found beside "
                          f"kgpipe in {root}")
    return root


def _code_files(root: Path) -> list[Path]:
    files = []
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.append(path)
    return files


def package_code(cache_dir: str | os.PathLike) -> Path:
    """The ``--py-files`` zip of the current code, built once per code hash (content of every file
    and its path) and kept in ``<cache_dir>/pyfiles``: resubmitting unchanged code reuses it."""
    root = code_root()
    files = _code_files(root)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    folder = Path(cache_dir) / "pyfiles"
    target = folder / f"kgpipe-{digest.hexdigest()[:16]}.zip"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{target.name}.{os.getpid()}.tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, path.relative_to(root).as_posix())
    os.replace(tmp, target)  # concurrent submitters build the same bytes; the last rename wins
    log.info("submit: packaged the code into %s", target)
    return target


def spark_submit_binary() -> str:
    """``$SPARK_HOME/bin/spark-submit``, else the one pip installed beside this Python, else PATH's."""
    candidates = []
    if os.environ.get("SPARK_HOME"):
        candidates.append(Path(os.environ["SPARK_HOME"]) / "bin" / "spark-submit")
    candidates.append(Path(sys.executable).with_name("spark-submit"))
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("spark-submit")
    if found:
        return found
    raise SubmitError("spark-submit not found: set SPARK_HOME or install pyspark")


def check_master(master: str, deploy_mode: str) -> None:
    if deploy_mode not in DEPLOY_MODES:
        raise SubmitError(f"--deploy-mode must be client or cluster, got {deploy_mode!r}")
    if not (master.startswith(("spark://", "k8s://", "local")) or master == "yarn"):
        raise SubmitError(f"unsupported Spark master {master!r}: use spark://HOST:PORT (standalone), yarn, "
                          "k8s://https://HOST:PORT or local[N]")
    if deploy_mode == "cluster" and master.startswith("spark://"):
        # Spark refuses it too, after starting a JVM: say so at once and say what works
        raise SubmitError("standalone masters cannot run Python applications in cluster deploy mode "
                          "(a Spark limitation): use --deploy-mode client, or a YARN or Kubernetes master")
    if deploy_mode == "cluster" and master.startswith("local"):
        raise SubmitError("cluster deploy mode needs a cluster master, not local")


def resolved_config(config: Config) -> dict:
    """The configuration the job sees: everything resolved, the warehouse absolute (the driver's
    working folder differs from ours)."""
    data = config.model_dump(mode="json")
    if "://" not in data["warehouse"]:
        data["warehouse"] = str(Path(data["warehouse"]).resolve())
    return data


def _graphframes(config: Config) -> Path | None:
    from kgpipe.datasets import FetchError, graphframes_jar
    if config.spark.graphframes_package:
        return None
    try:
        return graphframes_jar(config.spark.graphframes_jar, config.cache_dir)
    except FetchError as exc:
        # extract does not need it; the GraphFrames stages fail with require_graphframes' message
        log.warning("submit: %s", exc)
        return None


def _spark_submit(name: str, config: Config, master: str, deploy_mode: str, config_file: Path) -> list[str]:
    """``spark-submit`` and its options for the application ``name`` (see the module docstring)."""
    check_master(master, deploy_mode)
    spark = config.spark
    py_files = [str(package_code(config.cache_dir))]
    command = [spark_submit_binary(), "--master", master, "--deploy-mode", deploy_mode,
               "--name", f"{spark.app_name}-{name}", "--driver-memory", spark.driver_memory]
    jar = _graphframes(config)
    if jar is not None:
        command += ["--jars", str(jar)]
        py_files.append(str(jar))
    if spark.graphframes_package:
        command += ["--packages", spark.graphframes_package]
    command += ["--py-files", ",".join(py_files), "--files", str(config_file)]
    conf = {"spark.sql.shuffle.partitions": str(spark.shuffle_partitions), **spark.conf}
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return command


def _application(job: Path, config: Config, deploy_mode: str, config_file: Path) -> list[str]:
    """The job file and the options every kgpipe job takes."""
    if not job.is_file():
        raise SubmitError(f"no job file {job}")
    # in cluster mode the driver finds --files in its working folder, under their own names
    config_arg = config_file.name if deploy_mode == "cluster" else str(config_file)
    return [str(job), "--config", config_arg, "--warehouse", resolved_config(config)["warehouse"]]


def _refuse_beam(stage: str) -> None:
    if not STAGES[stage].submittable:
        raise SubmitError(f"{stage} is an Apache Beam pipeline: run `kgpipe {stage} --runner ...` "
                          "(DataflowRunner, FlinkRunner, ...) where you are")


def build_command(stage: str, config: Config, master: str, deploy_mode: str, config_file: Path,
                  stage_args: list[str] | None = None) -> list[str]:
    """The ``spark-submit`` command line for one stage as its own application."""
    _refuse_beam(stage)
    command = _spark_submit(stage, config, master, deploy_mode, config_file)
    return [*command, *_application(code_root() / STAGES[stage].job_file, config, deploy_mode, config_file),
            *(stage_args or [])]


def build_run_command(stages: list[str], config: Config, master: str, deploy_mode: str, config_file: Path,
                      run_args: list[str] | None = None) -> list[str]:
    """The ``spark-submit`` command line for consecutive stages of one run as one application
    (``jobs/run.py``), named after them."""
    for stage in stages:
        _refuse_beam(stage)
    command = _spark_submit("-".join(stages), config, master, deploy_mode, config_file)
    return [*command, *_application(code_root() / RUN_JOB, config, deploy_mode, config_file),
            "--stages", ",".join(stages), *(run_args or [])]


def write_config(config: Config, folder: Path) -> Path:
    path = folder / CONFIG_NAME
    path.write_text(yaml.safe_dump(resolved_config(config), sort_keys=False), encoding="utf-8")
    return path


def _environment(deploy_mode: str) -> dict[str, str]:
    env = dict(os.environ)
    if deploy_mode == "client":
        # the driver runs here, in the interpreter that has kgpipe; executors use PYSPARK_PYTHON
        # (or spark.pyspark.python in spark.conf) where it is set, this interpreter on loopback clusters
        env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        env.setdefault("PYSPARK_PYTHON", sys.executable)
    return env


def _run(command: list[str], env: dict[str, str]) -> int:
    """Run spark-submit in the foreground; whatever stops us (Ctrl-C, SIGTERM from a scheduler's
    timeout) stops the driver too, instead of leaving it running unattended."""
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except BaseException:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        raise


def submit(stage: str, config: Config, master: str, deploy_mode: str = "client", log_flags: tuple[str, ...] = (),
           dry_run: bool = False) -> int:
    """``kgpipe submit STAGE``: one stage as one Spark application; its exit status. The job writes
    its own run manifest, as ``kgpipe <stage>`` does."""
    with tempfile.TemporaryDirectory(prefix="kgpipe-submit-") as folder:
        config_file = write_config(config, Path(folder))
        command = build_command(stage, config, master, deploy_mode, config_file, list(log_flags))
        if dry_run:
            print(shlex.join(command))
            return 0
        log.info("submit: %s", shlex.join(command))
        return _run(command, _environment(deploy_mode))


def record_folder(warehouse_root: Path, run_id: str) -> Path:
    return warehouse_root / SUBMITTED / run_id


class SubmittedStagesFailed(SubmitError):
    """A submitted application failed; ``committed`` holds the records of its stages that committed before."""

    def __init__(self, message: str, committed: list[StageRecord]):
        super().__init__(message)
        self.committed = committed


def submit_stages(stages: list[str], config: Config, master: str, deploy_mode: str, run_id: str,
                  log_flags: tuple[str, ...] = ()) -> list[StageRecord]:
    """Consecutive stages of ``kgpipe run --master`` as one application, under the run's id (so their table
    versions carry it); returns the stage records the driver wrote, in order. Raises
    :class:`SubmittedStagesFailed` when the application fails or a stage left no record."""
    folder = record_folder(Path(resolved_config(config)["warehouse"]), run_id)
    records = [folder / f"{stage}.json" for stage in stages]
    for record in records:
        record.unlink(missing_ok=True)
    run_args = ["--run-id", run_id, "--record", str(folder), *log_flags]
    with tempfile.TemporaryDirectory(prefix="kgpipe-submit-") as tmp:
        command = build_run_command(stages, config, master, deploy_mode, write_config(config, Path(tmp)), run_args)
        log.info("submit: %s", shlex.join(command))
        code = _run(command, _environment(deploy_mode))
    committed = []
    for record in records:
        if not record.is_file():
            break
        committed.append(StageRecord(**json.loads(record.read_text(encoding="utf-8"))))
        record.unlink()
    for path in (folder, folder.parent):
        try:
            path.rmdir()
        except OSError:
            break  # records of another run are still there
    if len(committed) < len(stages):
        why = (f"spark-submit exited with status {code} (the driver's log is above)" if code != 0
               else "the application ended without writing its stage record")
        raise SubmittedStagesFailed(f"stage {stages[len(committed)]}: {why}; its tables keep their previous "
                                    "versions", committed)
    if code != 0:
        # every stage committed and said so: their tables are in place, whatever failed afterwards
        log.warning("submit: spark-submit exited with status %d after every stage had committed", code)
    return committed
