"""Run figures as Prometheus metrics, and alert rules that only use metrics kgpipe writes."""
from __future__ import annotations

import re

import yaml
from prometheus_client.parser import text_string_to_metric_families

from kgpipe.metrics import input_records, write_metrics
from tests.conftest import REPO

MANIFEST = {
    "status": "succeeded",
    "stages": {
        "ingest": {"seconds": 9.5, "rejects": 2, "status": "committed",
                   "inputs": {"files": ["a.bz2", "b.jsonl"], "per_input": {
                       "a.bz2": {"pages_seen": 90}, "b.jsonl": {"pages_seen": 10}}},
                   "outputs": {"documents": 95, "rejects": 2}, "details": {"rejects_by_reason": {"truncated": 2}}},
        "resolve": {"seconds": 40.0, "rejects": 5, "status": "unchanged", "inputs": {"mentions": 500},
                    "outputs": {"entities": 120, "edges": 80}, "details": {}},
    },
}


def samples(path) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_manifest_figures_become_metrics(tmp_path):
    path = write_metrics(MANIFEST, tmp_path / "m" / "kgpipe.prom", now=1000.0)
    got = samples(path)
    assert got[("kgpipe_run_success", ())] == 1
    assert got[("kgpipe_run_last_success_timestamp_seconds", ())] == 1000.0
    assert got[("kgpipe_stage_input_records", (("stage", "ingest"),))] == 100
    assert got[("kgpipe_stage_reject_ratio", (("stage", "ingest"),))] == 0.02
    assert got[("kgpipe_stage_reject_ratio", (("stage", "resolve"),))] == 0.01
    assert got[("kgpipe_stage_rows", (("stage", "resolve"), ("table", "edges")))] == 80
    assert got[("kgpipe_stage_rejects_by_reason", (("reason", "truncated"), ("stage", "ingest")))] == 2
    assert got[("kgpipe_stage_last_success_timestamp_seconds", (("stage", "resolve"),))] == 1000.0


def test_a_failed_run_keeps_the_last_success_time(tmp_path):
    path = tmp_path / "kgpipe.prom"
    write_metrics(MANIFEST, path, now=1000.0)
    failed = {"status": "failed", "stages": {"ingest": MANIFEST["stages"]["ingest"]}}
    got = samples(write_metrics(failed, path, now=2000.0))
    assert got[("kgpipe_run_success", ())] == 0
    assert got[("kgpipe_run_last_success_timestamp_seconds", ())] == 1000.0
    assert got[("kgpipe_stage_last_success_timestamp_seconds", (("stage", "resolve"),))] == 1000.0
    assert got[("kgpipe_stage_last_success_timestamp_seconds", (("stage", "ingest"),))] == 2000.0


def test_input_records():
    assert input_records({"inputs": {"edges": 7, "triples": 3}}) == 7
    assert input_records({"inputs": {}}) == 0


def test_alert_rules_use_only_metrics_kgpipe_writes(tmp_path):
    written = {name for name, _ in samples(write_metrics(
        {**MANIFEST, "stages": {**MANIFEST["stages"], "index": {"details": {"recall_at_10": 0.97}}}},
        tmp_path / "k.prom"))}
    written |= set(_service_samples())
    rules = yaml.safe_load((REPO / "infra" / "monitoring" / "kgpipe-alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {a["alert"] for a in alerts} >= {"KgpipeRunFailed", "KgpipeRunOverdue", "KgpipeRejectRateJump",
                                            "KgpipeStageStale", "KgpipeIndexRecallLow",
                                            "KgpipeServiceErrorRate", "KgpipeServiceLatencyP99High",
                                            "KgpipeServiceKeyRateLimited"}
    for alert in alerts:
        used = set(re.findall(r"\b(kgpipe_[a-z0-9_]+)", alert["expr"]))
        assert used and used <= written, (alert["alert"], used - written)
        assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}


def _service_samples() -> dict[str, set[str]]:
    """Sample names the service exports (histograms as _bucket/_count/_sum) and their label names,
    from the service's own metrics object after one request of each kind."""
    from kgpipe.serve.api.telemetry import ServiceMetrics
    metrics = ServiceMetrics()
    metrics.requests.labels("/entities", "GET", "500").inc()
    metrics.key_requests.labels("ops", "429").inc()
    metrics.duration.labels("/entities").observe(0.2)
    metrics.loaded("v1")
    metrics.reload_failures.inc()
    return {sample.name: set(sample.labels) for family in metrics.registry.collect() for sample in family.samples}


def test_service_alert_rules_use_the_service_metrics_and_their_labels():
    exported = _service_samples()
    rules = yaml.safe_load((REPO / "infra" / "monitoring" / "kgpipe-alerts.yml").read_text())
    service = next(group for group in rules["groups"] if group["name"] == "kgpipe-service")["rules"]
    for alert in service:
        used = set(re.findall(r"\b(kgpipe_[a-z0-9_]+)", alert["expr"]))
        assert used and used <= set(exported), (alert["alert"], used - set(exported))
        labels = set().union(*(exported[name] for name in used))
        # label matchers {status=~...} and by (...) clauses name labels the metrics have
        matched = set(re.findall(r"[{,]\s*([a-z_]+)\s*=~?", alert["expr"]))
        grouped = {label.strip() for clause in re.findall(r"by \(([^)]*)\)", alert["expr"])
                   for label in clause.split(",")}
        assert matched | grouped <= labels, (alert["alert"], (matched | grouped) - labels)
    errors = next(a for a in service if a["alert"] == "KgpipeServiceErrorRate")
    assert 'status=~"5.."' in errors["expr"]
    latency = next(a for a in service if a["alert"] == "KgpipeServiceLatencyP99High")
    assert "histogram_quantile(0.99" in latency["expr"] and "_bucket" in latency["expr"]
    limited = next(a for a in service if a["alert"] == "KgpipeServiceKeyRateLimited")
    assert 'status="429"' in limited["expr"] and "by (key)" in limited["expr"]
