"""Run manifests as Prometheus metrics, in the text format node_exporter's textfile collector reads.

Written after every ``kgpipe`` run (successful or not) to ``metrics_textfile`` (default
``<warehouse>/_metrics/kgpipe.prom``), replacing the previous file atomically. Metrics, every
one labelled ``stage`` except the run-level ones:

* ``kgpipe_run_success`` (1/0) and ``kgpipe_run_finished_timestamp_seconds`` of the latest run,
  ``kgpipe_run_last_success_timestamp_seconds`` of the latest successful one (carried over
  from the previous file when this run failed, so staleness alerts keep working);
* ``kgpipe_stage_seconds``, ``kgpipe_stage_rejects``, ``kgpipe_stage_input_records`` (ingest:
  pages and lines seen; other stages: their first input's rows), ``kgpipe_stage_reject_ratio``
  (rejects / input records), ``kgpipe_stage_rows{table}`` (rows written per output table),
  ``kgpipe_stage_rejects_by_reason{reason}``, ``kgpipe_stage_last_success_timestamp_seconds``;
* ``kgpipe_index_recall_at_10`` when a stage reports ``recall_at_10`` in its details.

``infra/monitoring/kgpipe-alerts.yml`` holds the alert rules over these names.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

_LAST_SUCCESS_RE = re.compile(r"^kgpipe_run_last_success_timestamp_seconds\s+(\S+)$", re.MULTILINE)
_STAGE_SUCCESS_RE = re.compile(r'^kgpipe_stage_last_success_timestamp_seconds\{stage="([^"]+)"\}\s+(\S+)$',
                               re.MULTILINE)


def input_records(stage: dict[str, Any]) -> int:
    """The records a stage read: ingest's pages and lines seen, otherwise its first numeric input."""
    inputs = stage.get("inputs") or {}
    per_input = inputs.get("per_input")
    if isinstance(per_input, dict):
        return sum(int(row.get("pages_seen", 0)) for row in per_input.values())
    return next((int(v) for v in inputs.values() if isinstance(v, (int, float)) and not isinstance(v, bool)), 0)


def write_metrics(manifest: dict[str, Any], path: str | Path, now: float | None = None) -> Path:
    """Write the run's figures (``RunManifest.as_dict()``) to ``path``."""
    path = Path(path)
    now = time.time() if now is None else now
    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    registry = CollectorRegistry()
    succeeded = manifest.get("status") == "succeeded"
    Gauge("kgpipe_run_success", "1 if the latest run succeeded", registry=registry).set(1 if succeeded else 0)
    Gauge("kgpipe_run_finished_timestamp_seconds", "when the latest run ended", registry=registry).set(now)
    last = now if succeeded else float((_LAST_SUCCESS_RE.search(previous) or [None, 0])[1])
    Gauge("kgpipe_run_last_success_timestamp_seconds", "when the latest successful run ended",
          registry=registry).set(last)
    seconds = Gauge("kgpipe_stage_seconds", "wall time of the stage", ["stage"], registry=registry)
    rejects = Gauge("kgpipe_stage_rejects", "records the stage rejected", ["stage"], registry=registry)
    records = Gauge("kgpipe_stage_input_records", "records the stage read", ["stage"], registry=registry)
    ratio = Gauge("kgpipe_stage_reject_ratio", "rejects / input records", ["stage"], registry=registry)
    rows = Gauge("kgpipe_stage_rows", "rows written per output table", ["stage", "table"], registry=registry)
    reasons = Gauge("kgpipe_stage_rejects_by_reason", "rejects by reason", ["stage", "reason"], registry=registry)
    stage_success = Gauge("kgpipe_stage_last_success_timestamp_seconds", "when the stage last committed",
                          ["stage"], registry=registry)
    recall = Gauge("kgpipe_index_recall_at_10", "recall@10 of the latest index against exact search",
                   ["stage"], registry=registry)
    for name, when in _STAGE_SUCCESS_RE.findall(previous):
        stage_success.labels(name).set(float(when))
    for name, stage in (manifest.get("stages") or {}).items():
        seconds.labels(name).set(float(stage.get("seconds", 0)))
        rejects.labels(name).set(int(stage.get("rejects", 0)))
        n = input_records(stage)
        records.labels(name).set(n)
        ratio.labels(name).set(int(stage.get("rejects", 0)) / n if n else 0.0)
        for table, count in (stage.get("outputs") or {}).items():
            rows.labels(name, table).set(int(count))
        details = stage.get("details") or {}
        for reason, count in (details.get("rejects_by_reason") or {}).items():
            reasons.labels(name, reason).set(int(count))
        if "recall_at_10" in details:
            recall.labels(name).set(float(details["recall_at_10"]))
        if stage.get("status") in ("committed", "unchanged"):
            stage_success.labels(name).set(now)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    return path
