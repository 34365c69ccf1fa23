"""Running stages: ``kgpipe run`` and the one-stage commands, with their run manifest.

:func:`run_stages` runs the named stages in order under one run id, writes the run manifest after each stage
(``_manifests/<run_id>.json``, ``latest.json`` after success) and the Prometheus textfile, and resumes a
failed or killed ``kgpipe run`` (:func:`resume`). Errors a user can act on end as :class:`CommandError`;
the manifest then says ``failed``.
"""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kgpipe.config import Config
from kgpipe.errors import CommandError
from kgpipe.manifest import COMMITTED, RunManifest, StageRecord, new_run_id
from kgpipe.metrics import write_metrics
from kgpipe.stages import StageContext, stage
from kgpipe.submit import SubmittedStagesFailed, submit_stages
from kgpipe.warehouse import Warehouse

log = logging.getLogger("kgpipe")


class ResumeError(CommandError):
    pass


@dataclass
class RunRequest:
    """What the command line asked of a run besides the configuration."""
    command: str                      # the command line as typed, for the manifest
    names: list[str]                  # stages, in order
    is_run: bool = False              # `kgpipe run`: resumable, may submit to a cluster
    run_id: str | None = None         # set by `kgpipe run --master` on the application it submits
    record_folder: str | None = None  # ... and where that application's stages leave their records
    master: str | None = None
    deploy_mode: str = "client"
    inputs: list[str] | None = None   # ingest --input
    engine_args: list[str] = field(default_factory=list)
    no_resume: bool = False
    from_stage: str | None = None
    #: --quiet / --verbose, for the jobs spark-submit starts
    log_flags: tuple[str, ...] = ()


def print_summary(manifest: RunManifest, warehouse: Warehouse) -> None:
    print(f"run {manifest.run_id}: {manifest.status}; manifest in {warehouse.root / '_manifests'}")
    for record in manifest.stages:
        print(f"  stage {record.name}: {record.seconds:.1f}s")
        for table, rows in record.outputs.items():
            print(f"    {table:<20} {rows:>10,} rows")
        for path, row in record.inputs.get("per_input", {}).items():
            print(f"    input {path}: seen {row['pages_seen']} = documents {row['documents']}"
                  f" + redirects {row['redirects']} + skipped {row['skipped_by_rule']}"
                  f" + rejects {row['rejects']}")
            for kind in ("skipped", "rejects"):
                reasons = sorted((row.get(f"{kind}_by_reason") or {}).items())
                if reasons:
                    print(f"      {kind}: " + ", ".join(f"{reason} {n}" for reason, n in reasons))
            if row.get("near_duplicates"):
                print(f"      near duplicates: {row['near_duplicates']} of {row['documents']} documents "
                      f"(share {row['duplicate_share']:.4f})")
            box = row.get("infobox_parameters") or {}
            if box.get("seen"):
                print(f"      infobox parameters: seen {box['seen']} = facts {box['facts']} + unmapped "
                      f"{box['unmapped']} + unlinked {box['unlinked']} + unreadable {box['unreadable']}")


#: what an exception from the output path looks like, in Python's words and in Spark's (Java's)
_STORAGE_ERRORS = re.compile(r"[^\n]*(No space left on device|Disk quota exceeded|Permission denied|"
                             r"Read-only file system|AccessDeniedException|Mkdirs failed to create)[^\n]*")


def storage_error(exc: BaseException) -> str | None:
    """A one-line reason where ``exc`` (or what caused it, a Spark job's Java exception included)
    is a full disk, a quota or a permission problem; None otherwise."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM,
                                                      errno.EROFS):
            return str(exc)
        match = _STORAGE_ERRORS.search(str(exc))
        if match:
            return match.group(0).strip()
        exc = exc.__cause__ or exc.__context__
    return None


def _comparable(config: dict) -> dict:
    """What a run computes depends on every section but ``spark`` (where it runs)."""
    return {key: value for key, value in config.items() if key != "spark"}


def _previous_run(warehouse: Warehouse) -> dict | None:
    """The newest run manifest in the warehouse (any command), or None."""
    newest = None
    for path in (warehouse.root / "_manifests").glob("*.json"):
        if path.name == "latest.json":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable manifest %s: %s", path, exc)
            continue
        if newest is None or str(data.get("started_at")) > str(newest.get("started_at")):
            newest = data
    return newest


def _alive(previous: dict) -> bool:
    """Whether the process of a manifest that says ``running`` still runs (this host only)."""
    if previous.get("host") != socket.gethostname() or not previous.get("pid"):
        return False
    try:
        os.kill(int(previous["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _roll_back_interrupted(warehouse: Warehouse, run_id: str, stages: dict) -> None:
    """Undo the commits of the stage a run did not finish: version folders are named by run id (run_id.2, .3
    when several stages of the run commit one table, as they all do rejects), so the run's versions that no
    committed stage recorded are the interrupted stage's, undone newest first."""
    committed = {(table, Path(path).name) for record in stages.values() if record.get("status") in COMMITTED
                 for table, path in (record.get("versions") or {}).items()}
    for table in warehouse.tables():
        current = warehouse.current_version(table)
        while current and (current == run_id or current.startswith(f"{run_id}.")) \
                and (table, current) not in committed:
            try:
                current = warehouse.rollback(table, current)
                log.warning("resume: %s was committed by the interrupted stage of run %s; back to %s",
                            table, run_id, current or "no table")
            except FileNotFoundError as exc:
                log.warning("resume: cannot roll %s back (%s); the rerun replaces it", table, exc)
                break


def resume(warehouse: Warehouse, config: Config, names: Sequence[str], no_resume: bool = False,
           from_stage: str | None = None) -> tuple[list[str], list[StageRecord]]:
    """``kgpipe run`` after a failed or killed run: the stages still to run and the records of the
    ones the failed run committed (status ``resumed``).

    The previous run is the newest manifest of the warehouse; it is resumed when it was a ``run``
    that did not succeed and its configuration (all but the ``spark`` section) equals ours. The
    stages it committed, in plan order, are not run again. Tables the interrupted stage had
    already swapped in (their version is that run's id) are rolled back to the versions they
    replaced, so the stage reruns on the warehouse as it was before it, and the staging folder the
    killed run left behind is removed (readers never saw it: tables are links to complete versions).
    """
    names = list(names)
    if no_resume or from_stage:
        return (names[names.index(from_stage):] if from_stage else names), []
    previous = _previous_run(warehouse)
    if not previous or "plan" not in previous or previous.get("status") == "succeeded":
        return names, []
    run_id = previous["run_id"]
    if previous.get("status") == "running" and _alive(previous):
        raise ResumeError(f"run {run_id} (pid {previous['pid']}) is still running on {warehouse.root}; "
                          "wait for it to end")
    if _comparable(previous.get("config") or {}) != _comparable(config.model_dump()):
        log.warning("not resuming run %s: its configuration differs; running every stage", run_id)
        return names, []
    stages = previous.get("stages") or {}
    resumed: list[StageRecord] = []
    for name in names:
        record = stages.get(name)
        if not record or record.get("status") not in COMMITTED:
            break
        record = StageRecord(**record)
        record.details = {**record.details, "resumed_from": record.details.get("resumed_from", run_id)}
        record.status = "resumed"
        resumed.append(record)
    _roll_back_interrupted(warehouse, run_id, stages)
    warehouse.discard_staging(run_id)
    if resumed:
        log.warning("resuming run %s (%s): %s committed, starting at %s", run_id, previous.get("status"),
                    ", ".join(r.name for r in resumed), names[len(resumed)] if len(resumed) < len(names) else "-")
    return names[len(resumed):], resumed


def _steps(names: list[str], config: Config, request: RunRequest) -> list[tuple[bool, list[str]]]:
    """The stages in order as (submitted, stages): under ``kgpipe run --master`` consecutive stages that use
    Spark are one step, one application (kgpipe/submit.py); every other stage is a step of its own."""
    steps: list[tuple[bool, list[str]]] = []
    for name in names:
        submitted = bool(request.is_run and request.master and stage(name).uses_spark(config))
        if submitted and steps and steps[-1][0]:
            steps[-1][1].append(name)
        else:
            steps.append((submitted, [name]))
    return steps


def _run_here(name: str, config: Config, request: RunRequest, ctx: StageContext) -> StageRecord:
    kwargs = {"inputs": request.inputs} if name == "ingest" and request.inputs else {}
    record = stage(name).function()(getattr(config, name), ctx, **kwargs)
    if request.record_folder:
        # a stage of a submitted application hands its record back as soon as it commits (kgpipe/submit.py)
        _write_record(Path(request.record_folder) / f"{name}.json", record)
    return record


def _write_record(path: Path, record: StageRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(vars(record), default=str), encoding="utf-8")
    os.replace(tmp, path)


def _finish(manifest: RunManifest, warehouse: Warehouse, config: Config, own_manifest: bool) -> None:
    if manifest.status == "running":
        manifest.status = "failed"
    manifest.finished_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if not own_manifest:
        return
    try:
        warehouse.write_json_atomic(f"_manifests/{manifest.run_id}.json", manifest.as_dict())
        if manifest.status == "succeeded":
            warehouse.write_json_atomic("_manifests/latest.json", manifest.as_dict())
        write_metrics(manifest.as_dict(), config.metrics_textfile or warehouse.root / "_metrics" / "kgpipe.prom")
    except OSError as exc:
        # a full disk must not hide the stage's own message behind a traceback
        print(f"kgpipe: warning: cannot write the run manifest or metrics: {exc}", file=sys.stderr)


def run_stages(config: Config, request: RunRequest) -> RunManifest:
    """Run ``request.names`` in order; the finished manifest. Raises :class:`CommandError` (the manifest
    then says ``failed``) for what a user can act on: bad input, missing tables, a full disk, ..."""
    warehouse = Warehouse(config.warehouse, config.keep_versions)
    try:
        warehouse.root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the warehouse {warehouse.root}: {exc}") from exc
    names = list(request.names)
    manifest = RunManifest(run_id=request.run_id or new_run_id(), command=request.command,
                           config=config.model_dump(), plan=list(names) if request.is_run else None)
    if request.is_run and not request.record_folder:
        names, resumed = resume(warehouse, config, names, request.no_resume, request.from_stage)
        manifest.stages.extend(resumed)
    # the stages of an application that `kgpipe run --master` submitted hand back records instead
    own_manifest = not request.record_folder
    ctx = StageContext(warehouse, manifest.run_id, config.cache_dir, request.engine_args, config.spark)
    name = names[0] if names else "-"
    try:
        if own_manifest:
            warehouse.write_json_atomic(f"_manifests/{manifest.run_id}.json", manifest.as_dict())
        for submitted, step in _steps(names, config, request):
            name = step[0]
            if submitted:
                log.info("stages %s: submitted as one Spark application", ", ".join(step))
                try:
                    records = submit_stages(step, config, request.master, request.deploy_mode, manifest.run_id,
                                            request.log_flags)
                except SubmittedStagesFailed as exc:
                    manifest.stages.extend(exc.committed)
                    raise
            else:
                log.info("stage %s: starting", name)
                records = [_run_here(name, config, request, ctx)]
            for record in records:
                log.info("stage %s: committed in %.1fs", record.name, record.seconds)
            manifest.stages.extend(records)
            if own_manifest:
                warehouse.write_json_atomic(f"_manifests/{manifest.run_id}.json", manifest.as_dict())
        manifest.status = "succeeded"
    except (CommandError, FileExistsError, FileNotFoundError) as exc:
        manifest.status = "failed"
        raise CommandError(str(exc)) from exc
    except Exception as exc:
        reason = storage_error(exc)
        if reason is None:
            raise
        manifest.status = "failed"
        # the stage wrote only under _staging (discarded) and never swapped a table link
        raise CommandError(f"stage {name} cannot write its output under {warehouse.root}: {reason}; "
                           "the tables keep their previous versions") from exc
    finally:
        _finish(manifest, warehouse, config, own_manifest)
    if own_manifest:
        print_summary(manifest, warehouse)
    return manifest


@contextlib.contextmanager
def sigterm_as_exit(wanted: bool = True):
    """A scheduler stops a task with SIGTERM: end like Ctrl-C, so the run manifest says failed and
    a spark-submit driver we started is stopped with us (kgpipe/submit.py). Only in the main
    thread, and the previous handler comes back afterwards (``main`` may be called in-process)."""
    if not wanted or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
