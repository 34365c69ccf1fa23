"""Routes tagged ``operations``: liveness, readiness, Prometheus metrics, reload and the loaded bundle.

``/healthz`` and ``/readyz`` need no key; ``/metrics`` and ``/info`` need a read key (``/metrics`` none when
``serve.public_metrics`` is set), ``/admin/reload`` an admin key.
"""
# no ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time (routes/__init__)
from functools import partial

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from kgpipe.config import ServeConfig
from kgpipe.serve.api.deps import ErrorBody, RouteDeps, as_json, with_body, with_errors
from kgpipe.serve.api.state import GraphHolder
from kgpipe.serve.api.telemetry import ServiceMetrics


class NotReadyBody(ErrorBody):
    """``/readyz`` before a bundle is loaded: ``state`` is ``loading`` until the first load ends, then
    ``failed`` (``detail``: the reason)."""
    status: str
    state: str


#: /metrics answers in Prometheus' text format, documented as such (not as JSON)
_METRICS_OK = {200: {"description": "Prometheus text exposition format",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}}


def add_routes(router: APIRouter, settings: ServeConfig, holder: GraphHolder, metrics: ServiceMetrics,
               deps: RouteDeps) -> None:
    Graph = deps.graph
    # no key by default: the probes have none; the routes that need one say so
    get, post = partial(router.get, tags=["operations"]), partial(router.post, tags=["operations"])

    @get("/healthz", summary="the process is up")
    async def healthz():
        return {"status": "ok"}

    @get("/readyz", summary="a bundle is loaded (503 before)",
         responses={503: {"model": NotReadyBody, "description": "no bundle loaded yet, or the load failed"}})
    async def readyz():
        kg = holder.kg
        if kg is None:
            # "loading" until the first load has ended, then "failed" with the reason
            return JSONResponse({"status": "not ready", "state": holder.state,
                                 "detail": holder.last_error or "loading the index bundle"}, status_code=503)
        return {"status": "ready", "version": kg.version}

    keyed = {} if settings.public_metrics else deps.read

    @get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse,
         **{**keyed, "responses": {**as_json(keyed.get("responses", {})), **_METRICS_OK}})
    def prometheus():
        return PlainTextResponse(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @post("/admin/reload", **with_errors(with_body(deps.admin), 503),
          summary="load the bundle indexes/CURRENT names now")
    def reload():
        try:
            return holder.reload(force=True)
        except Exception as exc:  # noqa: BLE001 - whatever broke the load, the old bundle keeps serving
            current = holder.kg.version if holder.kg is not None else None
            raise HTTPException(503, f"reload failed: {exc}; still serving {current or 'nothing'}") from None

    @get("/info", **with_errors(deps.read, 503), summary="the loaded bundle")
    def info(kg: Graph):
        return kg.info()
