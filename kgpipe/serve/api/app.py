"""The HTTP application: FastAPI routes over :class:`kgpipe.serve.kg.KnowledgeGraph`.

    kgpipe serve [--warehouse DIR] [--host H] [--port P] [--insecure-no-auth]

Routes (all but /healthz, /readyz, the OpenAPI docs and the web page need an API key with the ``read`` scope,
``/admin/*`` one with the ``admin`` scope, see ``auth.py``; the key check also applies the caller's rate limit,
see ``deps.py``):

- ``GET /entities?q=&k=``: name search (exact, prefix, fuzzy);
- ``GET /entities/{id}``: entity card (statistics, facts with evidence and source documents);
- ``GET /entities/{id}/facts?direction=&limit=``, ``GET /facts/{edge_id}``, ``GET /documents/{doc_id}``;
- ``GET /entities/{id}/similar?k=``, ``GET /predict?head=&relation=&k=``, ``GET /recommend?entity=&k=``,
  ``GET /relations``;
- ``POST /ask`` ``{"question": "..."}`` and ``GET /entities/{id}/summary`` (``kgpipe.serve.qa``);
- ``GET /healthz`` (the process answers), ``GET /readyz`` (a bundle is loaded: 503 before),
  ``GET /metrics`` (Prometheus), ``POST /admin/reload`` (load the published bundle now);
- ``/docs`` and ``/openapi.json``; ``/ui/`` serves ``kgpipe/serve/api/static`` when it exists.

Handlers that may take long (search with fuzzy matching, cards, recommend, ask) are plain functions, which
FastAPI runs in its thread pool. The key check, the graph lookup, ``similar`` and ``predict`` (one FAISS search,
well under a millisecond) are coroutines run on the event loop: a thread-pool hop per dependency costs more
than that work. Each handler
takes the loaded graph once and answers from it, so a reload never changes the bundle under a running
request. The bundle is loaded after start-up in the background (``/readyz`` says when), and
``indexes/CURRENT`` is checked every ``serve.reload_check_seconds`` for a new one.

Layout: this module wires the application (keys, metrics, the graph holder, lifespan, middleware, the web
page) and runs it; ``deps.py`` holds what the routes share (key check, graph dependency, parameter types,
documented error answers, JSON fast path, error handling); ``limits.py`` the rate limit's buckets and the
body size limit; the routes are in the package ``routes/``, one module per OpenAPI tag
(``operations``, ``graph``, ``embeddings``, ``questions``), each adding its routes to the application's
router with the settings and dependencies it is given. A package rather than four more flat modules, so
that the service's machinery (``auth``, ``limits``, ``state``, ``telemetry``, ``deps``) stays apart from its
endpoints, and an endpoint seen under a tag in ``/docs`` is found in the module of that name. Routes are
made per application, not at import, because their limits (``serve.max_k``, ``serve.max_query_chars``,
``serve.max_question_chars``, ``serve.public_metrics``) come from the configuration and tests build several
applications. They are added to ``app.router`` itself rather than to APIRouters passed to
``include_router``: since FastAPI 0.165 an included router stays one entry of ``app.routes``, resolved per
request, which cost about 0.1 ms a request on the routes of the later routers (``similar``, ``summary``);
routes added directly match as one flat list, in the order they had when create_app defined them all.
"""
# no ``from __future__ import annotations`` here, in deps.py or in routes/: FastAPI reads the routes' and
# dependencies' annotations at run time (see routes/__init__.py)
import asyncio
import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse

from kgpipe import __version__
from kgpipe.config import Config, ServeConfig
from kgpipe.serve import kg as knowledge_graph
from kgpipe.serve import qa
from kgpipe.serve.api.auth import (
    ENV_KEYS,
    ApiKeys,
    AuthConfigError,
    configured_keys,
)
from kgpipe.serve.api.deps import Unprocessable, invalid_request, not_found, route_deps, unprocessable
from kgpipe.serve.api.limits import BodyLimitMiddleware
from kgpipe.serve.api.routes import embeddings, graph, operations, questions
from kgpipe.serve.api.state import GraphHolder
from kgpipe.serve.api.telemetry import (
    MULTIPROCESS_DIR,
    MetricsMiddleware,
    ServiceMetrics,
)
from kgpipe.serve.kg import NotFound

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
#: environment of uvicorn worker processes (serve.workers > 1): settings travel to app_from_environment
ENV_SETTINGS = "KGPIPE_SERVE_SETTINGS"


def _serve_config(config: Config | ServeConfig | None) -> ServeConfig:
    if config is None:
        return ServeConfig()
    return config.serve if isinstance(config, Config) else config


def create_app(config: Config | ServeConfig | None, warehouse: str | os.PathLike,
               insecure_no_auth: bool = False, environ=None) -> FastAPI:
    """The application serving ``<warehouse>/indexes/CURRENT``.

    Raises :class:`AuthConfigError` when no API key is configured (``serve.api_keys``, ``KGPIPE_API_KEYS``)
    unless ``insecure_no_auth`` is set: a service must not become open by a missing secret. Given the whole
    configuration, questions are parsed with its ``extract`` pipeline."""
    settings = _serve_config(config)
    if isinstance(config, Config):
        qa.configure(config.extract, config.ingest.infobox_mappings)
    keys = _api_keys(settings, insecure_no_auth, environ)
    metrics = ServiceMetrics()
    holder = GraphHolder(warehouse, metrics)

    app = FastAPI(
        title="kgpipe", version=__version__, lifespan=_lifespan(settings, holder),
        description="Knowledge graph built from Wikipedia and news: entity search, entity cards with "
                    "provenance, similar entities, link prediction, recommendations and question answering. "
                    "Authenticate with `Authorization: Bearer KEY` or `X-API-Key: KEY`. Neither header wins: "
                    "with both, they must carry the same key; two different keys, an empty `X-API-Key`, or an "
                    "`Authorization` header that is neither `Bearer KEY` nor a proxy's `Basic` credentials "
                    "(which are ignored) is a 401, even beside a valid key. `/admin/*` needs a key with the "
                    "admin scope. Each key has a rate limit (429 with `Retry-After`); request bodies are "
                    "limited in size (413). Every error answer is JSON `{\"detail\": \"...\"}`; a 422 adds "
                    "`errors`, one item per field.")
    app.state.graph = holder
    app.state.metrics = metrics
    app.state.settings = settings
    # added first, so inside the metrics middleware: refused bodies are counted too
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Unprocessable, unprocessable)
    app.add_exception_handler(RequestValidationError, invalid_request)

    # this order is the order of the routes and of the OpenAPI document's paths
    deps = route_deps(settings, holder, keys, insecure_no_auth)
    operations.add_routes(app.router, settings, holder, metrics, deps)
    graph.add_routes(app.router, settings, deps)
    embeddings.add_routes(app.router, deps)
    questions.add_routes(app.router, settings, deps)
    _add_web_page(app)
    return app


def _api_keys(settings: ServeConfig, insecure_no_auth: bool, environ) -> ApiKeys:
    """The accepted keys (the configuration's and the environment's); none only when told so."""
    keys = ApiKeys(configured_keys(settings, environ), settings)
    if not len(keys) and not insecure_no_auth:
        raise AuthConfigError(f"no API keys configured: set serve.api_keys ({{name, sha256, scopes}} entries, "
                              f"sha256: the hex digest of the key) or {ENV_KEYS} (comma-separated keys), or pass "
                              f"--insecure-no-auth to serve without authentication")
    if insecure_no_auth:
        log.warning("serving WITHOUT authentication (--insecure-no-auth): anyone who can reach %s:%s can query",
                    settings.host, settings.port)
    return keys


def _lifespan(settings: ServeConfig, holder: GraphHolder):
    """The application's lifespan: warm up question answering, then load and watch the bundle until shutdown."""

    async def watch_bundle() -> None:
        """Load the bundle, then look for a new one every reload_check_seconds (0: load once)."""
        while True:
            try:
                await asyncio.to_thread(holder.reload, False)
            except Exception:   # any load failure: reload logged and counted it; keep watching
                log.debug("bundle check failed", exc_info=True)
            if settings.reload_check_seconds <= 0:
                return
            await asyncio.sleep(settings.reload_check_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        # models load before the server accepts connections (a few seconds): done in the background they
        # held the interpreter lock for ~6 s while requests were already served, p99 in the hundreds of ms
        await asyncio.to_thread(_warm_up_qa)
        task = asyncio.create_task(watch_bundle())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


def _add_web_page(app: FastAPI) -> None:
    """``/ui/`` (the static page, when it was installed) and ``/`` redirecting to it, or to ``/docs``: added
    after the API routes, which keeps the order of ``app.routes`` (the mount, then ``/``, last)."""
    if STATIC.is_dir():
        from fastapi.staticfiles import StaticFiles
        app.mount("/ui", StaticFiles(directory=STATIC, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/ui/" if STATIC.is_dir() else "/docs")


def _warm_up_qa() -> None:
    """Let question answering load its models (spaCy) before the first question instead of during it; a
    failure is logged, and answered per request."""
    try:
        knowledge_graph.warm_up()
    except Exception:   # question answering reports its own errors per request
        log.warning("question answering could not load its models", exc_info=True)


def app_from_environment() -> FastAPI:
    """uvicorn factory for worker processes (``serve.workers`` > 1): settings come through the environment."""
    payload = json.loads(os.environ[ENV_SETTINGS])
    # a fresh process: kgpipe's own log lines (bundle loads, failures) need the format the CLI sets up
    logging.basicConfig(level=payload["serve"]["log_level"].upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    config = Config.model_validate({"serve": payload["serve"], "extract": payload["extract"]})
    return create_app(config, payload["warehouse"], insecure_no_auth=payload["insecure_no_auth"])


@contextlib.contextmanager
def _shared_metrics_folder():
    """The workers' metrics folder (telemetry.MULTIPROCESS_DIR): the operator's, emptied, since counts of
    an earlier run would add to ours, or a temporary one removed at exit."""
    given = os.environ.get(MULTIPROCESS_DIR)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="kgpipe-metrics-") as folder:
        os.environ[MULTIPROCESS_DIR] = folder   # inherited by the workers, read when they import prometheus
        try:
            yield folder
        finally:
            del os.environ[MULTIPROCESS_DIR]


def serve(config: Config, warehouse: str | os.PathLike, insecure_no_auth: bool = False) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn
    settings = config.serve
    if settings.workers > 1:
        create_app(settings, warehouse, insecure_no_auth)   # fail here, once, on a bad key set-up
        os.environ[ENV_SETTINGS] = json.dumps({"serve": settings.model_dump(), "extract": config.extract.model_dump(),
                                               "warehouse": str(warehouse), "insecure_no_auth": insecure_no_auth})
        with _shared_metrics_folder():
            # a worker importing FAISS and torch, or loading spaCy for its first question, can hold the GIL
            # past uvicorn's 5 s liveness ping on a busy machine and be killed for it: allow 30 s
            uvicorn.run("kgpipe.serve.api.app:app_from_environment", factory=True, host=settings.host,
                        port=settings.port, workers=settings.workers, log_level=settings.log_level,
                        timeout_worker_healthcheck=30)
        return
    uvicorn.run(create_app(config, warehouse, insecure_no_auth), host=settings.host, port=settings.port,
                log_level=settings.log_level)
