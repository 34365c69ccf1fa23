"""Prometheus metrics of the service, in a registry of its own per application (tests build several).

Names (alert rules in infra/monitoring use them): ``kgpipe_http_requests_total{endpoint,method,status}``,
``kgpipe_http_request_duration_seconds{endpoint}``, ``kgpipe_index_info{version}`` (1 for the loaded bundle),
``kgpipe_index_reloads_total`` (bundles loaded, the first one included) and
``kgpipe_index_reload_failures_total``. ``endpoint`` is the route template (``/entities/{entity_id}``),
never the raw path, so ids do not multiply the series.
"""
from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

UNMATCHED = "unmatched"


class ServiceMetrics:
    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("kgpipe_http_requests_total", "HTTP requests by route template, method and status",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.duration = Histogram("kgpipe_http_request_duration_seconds", "HTTP request latency by route template",
                                  ["endpoint"], registry=self.registry,
                                  buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.index_info = Gauge("kgpipe_index_info", "the loaded index bundle (value 1)", ["version"],
                                registry=self.registry)
        self.reloads = Counter("kgpipe_index_reloads_total", "index bundles loaded (the first one included)",
                               registry=self.registry)
        self.reload_failures = Counter("kgpipe_index_reload_failures_total",
                                       "bundle loads that failed (the previous bundle stays in service)",
                                       registry=self.registry)

    def loaded(self, version: str) -> None:
        self.index_info.clear()
        self.index_info.labels(version).set(1)
        self.reloads.inc()


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
            self.metrics.duration.labels(endpoint).observe(time.perf_counter() - started)
