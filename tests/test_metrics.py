"""Run figures as Prometheus metrics, and alert rules that only use metrics kgpipe writes, unit-tested
with promtool over series that real kgpipe commands and a real service wrote."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kgpipe.metrics import input_records, write_metrics
from tests.conftest import REPO

MONITORING = REPO / "infra" / "monitoring"
RULES = MONITORING / "kgpipe-alerts.yml"
RULE_TESTS = MONITORING / "kgpipe-alerts.test.yml"

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


# ---------------------------------------------------------------------------- promtool

@pytest.fixture(scope="module")
def promtool() -> str:
    """Debian's promtool (package `prometheus`; `bash infra/setup.sh --dev` installs it as root), or a skip
    with the reason; under CI=true its absence is a failure."""
    found = shutil.which("promtool")
    if found:
        return found
    message = "promtool is missing: apt-get install -y prometheus (or bash infra/setup.sh --dev as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required under CI=true)")
    pytest.skip(message)


def test_promtool_checks_the_rules_and_runs_their_unit_tests(promtool):
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr
    unit = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=MONITORING, capture_output=True,
                          text=True, timeout=120)
    assert unit.returncode == 0 and "SUCCESS" in unit.stdout, unit.stdout + unit.stderr


def test_every_alert_has_a_test_where_it_fires_and_one_where_it_does_not():
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    spec = yaml.safe_load(RULE_TESTS.read_text())
    assert spec["rule_files"] == [RULES.name]
    fires, quiet = set(), set()
    for test in spec["tests"]:
        for case in test["alert_rule_test"]:
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert fires == alerts and quiet == alerts, (alerts - fires, alerts - quiet)


_SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _parse_series(text: str) -> tuple[str, tuple]:
    match = _SERIES.match(text.strip())
    assert match, text
    labels = tuple(sorted(_LABEL.findall(match.group(2) or "")))
    assert len(labels) == (match.group(2) or "").count("="), f"cannot read the labels of {text}"
    return match.group(1), labels


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> set[tuple[str, tuple]]:
    """Every sample (name and labels) that real kgpipe commands wrote to their textfile and that a real
    service answered on /metrics, after the requests a day of operation brings."""
    from fastapi.testclient import TestClient

    from kgpipe.cli import main
    from kgpipe.config import ServeConfig
    from kgpipe.datasets import NEWS_SAMPLE
    from kgpipe.serve.api import create_app
    from tests.test_index import commit_vectors
    from tests.test_store import RELATIONS, VECTORS, make_graph

    out: set[tuple[str, tuple]] = set()

    def textfile(warehouse) -> None:
        out.update(samples(warehouse / "_metrics" / "kgpipe.prom"))

    # a successful ingest, then a failed run (index with no embeddings to index)
    runs = tmp_path_factory.mktemp("runs")
    assert main(["--quiet", "--set", "ingest.direct_running_mode=in_memory", "ingest", "--input", str(NEWS_SAMPLE),
                 "--warehouse", str(runs), "--direct_num_workers=1"]) == 0
    textfile(runs)
    assert main(["--quiet", "index", "--warehouse", str(runs)]) == 2
    textfile(runs)

    # the service on a warehouse with no bundle yet: 503s and a failed reload; then `kgpipe index` publishes
    # one, the reload succeeds, and two keys run into their rate limits
    served = tmp_path_factory.mktemp("served")
    warehouse = make_graph(served)
    commit_vectors(warehouse, "embeddings", list(VECTORS), list(VECTORS.values()))
    commit_vectors(warehouse, "relation_embeddings", list(RELATIONS), list(RELATIONS.values()))

    def digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    keys = [{"name": "ops", "sha256": digest("ops-key"), "scopes": ["read", "admin"], "rate_limit_per_second": 100},
            {"name": "batch", "sha256": digest("batch-key"), "rate_limit_per_second": 0.01, "rate_limit_burst": 2}]
    settings = ServeConfig(api_keys=keys, reload_check_seconds=0, public_metrics=True, rate_limit_per_second=0.01,
                           rate_limit_burst=2)
    ops, batch, env = {"X-API-Key": "ops-key"}, {"X-API-Key": "batch-key"}, {"X-API-Key": "env-key"}
    with TestClient(create_app(settings, served, environ={"KGPIPE_API_KEYS": "env-key"})) as client:
        assert client.get("/entities", params={"q": "paris"}, headers=ops).status_code == 503
        assert client.post("/admin/reload", headers=ops).status_code == 503
        assert main(["--quiet", "index", "--warehouse", str(served)]) == 0
        textfile(served)
        assert client.post("/admin/reload", headers=ops).status_code == 200
        assert [client.get("/entities", params={"q": "paris"}, headers=batch).status_code
                for _ in range(3)] == [200, 200, 429]
        assert [client.get("/relations", headers=env).status_code for _ in range(3)] == [200, 200, 429]
        assert client.get("/healthz").status_code == 200
        scrape = client.get("/metrics")
    assert scrape.status_code == 200
    for family in text_string_to_metric_families(scrape.text):
        out.update((s.name, tuple(sorted(s.labels.items()))) for s in family.samples)
    return out


def test_promtool_inputs_are_series_kgpipe_really_writes(written):
    """The unit tests' input series, name and every label with its value, are samples kgpipe wrote: a metric
    or label renamed in kgpipe/metrics.py or the service fails here, not silently in production."""
    spec = yaml.safe_load(RULE_TESTS.read_text())
    used = {_parse_series(series["series"]) for test in spec["tests"] for series in test["input_series"]}
    missing = sorted(used - written)
    assert not missing, (missing, sorted(s for s in written if s[0] in {name for name, _ in missing}))
    # and every metric the rules use appears in the tests' inputs
    rules = yaml.safe_load(RULES.read_text())
    in_rules = {name for group in rules["groups"] for rule in group["rules"]
                for name in re.findall(r"\b(kgpipe_[a-z0-9_]+)", rule["expr"])}
    assert in_rules == {name for name, _ in used}
