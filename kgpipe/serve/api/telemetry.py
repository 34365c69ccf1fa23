"""Prometheus metrics of the service, in a registry of its own per application (tests build several).

Names (alert rules in infra/monitoring use them): ``kgpipe_http_requests_total{endpoint,method,status}``,
``kgpipe_http_request_duration_seconds{endpoint}``, ``kgpipe_index_info{version}`` (1 for the loaded bundle),
``kgpipe_index_reloads_total`` (bundles loaded, the first one included),
``kgpipe_index_reload_failures_total`` and ``kgpipe_api_key_requests_total{key,status}`` (requests by the
API key's configured name, 429 being rate-limited ones; ``anonymous`` on a service without keys).
``endpoint`` is the route template (``/entities/{entity_id}``), never the raw path, so ids do not multiply
the series; ``key`` is a name from the configuration, never the key or its digest, and a request without
a known key (401, 403 for an unknown one) has none, so guessed keys do not multiply the series either.

With several uvicorn workers, the metrics are shared through prometheus_client's multiprocess mode: every
worker writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape, whichever worker answers
it, adds the counters and histograms of all of them. ``kgpipe_index_info`` then has one series per live
worker (label ``pid``), since workers pick up a new bundle at slightly different times.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

UNMATCHED = "unmatched"
#: the request scope's entry where the key check leaves the caller's name (deps.key_dependency)
CALLER = "kgpipe.caller"
#: prometheus_client's switch: set before it is imported, its values live in files in this folder
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def forget_dead_workers(folder: str | os.PathLike) -> list[int]:
    """Drop the live gauges of workers that have exited (uvicorn restarts them without a hook to tell us);
    their counters stay, so totals never go down. Returns the pids forgotten."""
    dead = sorted({int(m.group(1)) for f in Path(folder).glob("gauge_live*.db")
                   if (m := _LIVE_GAUGE_FILE.fullmatch(f.name)) and not _alive(int(m.group(1)))})
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(folder))
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's process: alive
        pass
    return True


class ServiceMetrics:
    def __init__(self):
        self.shared_folder = os.environ.get(MULTIPROCESS_DIR) or None
        if self.shared_folder:
            forget_dead_workers(self.shared_folder)
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("kgpipe_http_requests_total", "HTTP requests by route template, method and status",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.duration = Histogram("kgpipe_http_request_duration_seconds", "HTTP request latency by route template",
                                  ["endpoint"], registry=self.registry,
                                  buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.key_requests = Counter("kgpipe_api_key_requests_total",
                                    "HTTP requests by API key name and status (429: rate limited)",
                                    ["key", "status"], registry=self.registry)
        self.index_info = Gauge("kgpipe_index_info", "the loaded index bundle (value 1)", ["version"],
                                registry=self.registry, multiprocess_mode="liveall")
        self._version: str | None = None
        self.reloads = Counter("kgpipe_index_reloads_total", "index bundles loaded (the first one included)",
                               registry=self.registry)
        self.reload_failures = Counter("kgpipe_index_reload_failures_total",
                                       "bundle loads that failed (the previous bundle stays in service)",
                                       registry=self.registry)

    def loaded(self, version: str) -> None:
        if self._version not in (None, version):
            # a worker's file keeps every series it ever set: zero the old bundle's before dropping it
            self.index_info.labels(self._version).set(0)
            self.index_info.remove(self._version)
        self.index_info.labels(version).set(1)
        self._version = version
        self.reloads.inc()

    def exposition(self) -> bytes:
        """The text a scrape gets: this process's metrics, or all workers' in multiprocess mode."""
        if not self.shared_folder:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, self.shared_folder)
        return generate_latest(merged)


class MetricsMiddleware:
    """Plain ASGI middleware: counts and times every HTTP request, errors included (status 500 when the
    application raised before it answered)."""

    def __init__(self, app, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def record_status(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            if route is not None:
                endpoint = route.path
            elif scope.get("path", "").startswith("/ui"):
                endpoint = "/ui"
            else:
                endpoint = UNMATCHED
            self.metrics.requests.labels(endpoint, scope.get("method", ""), str(status["code"])).inc()
            if CALLER in scope:
                self.metrics.key_requests.labels(scope[CALLER], str(status["code"])).inc()
            self.metrics.duration.labels(endpoint).observe(time.perf_counter() - started)
