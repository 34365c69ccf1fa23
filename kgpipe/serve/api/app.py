"""The HTTP application: FastAPI routes over :class:`kgpipe.serve.kg.KnowledgeGraph`.

    kgpipe serve [--warehouse DIR] [--host H] [--port P] [--insecure-no-auth]

Routes (all but /healthz, /readyz, the OpenAPI docs and the web page need an API key, see ``auth.py``):

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
"""
# no ``from __future__ import annotations`` here: FastAPI reads the routes' annotations at run time, and
# several of them (limits from the configuration) are local to create_app, where strings cannot be resolved
import asyncio
import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, Security
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field, create_model

from kgpipe import __version__
from kgpipe.config import Config, ServeConfig
from kgpipe.serve import kg as knowledge_graph
from kgpipe.serve.api.auth import (
    ENV_KEYS,
    ApiKeys,
    AuthConfigError,
    keys_from_environment,
)
from kgpipe.serve.api.state import GraphHolder, NotReady
from kgpipe.serve.api.telemetry import (
    MULTIPROCESS_DIR,
    MetricsMiddleware,
    ServiceMetrics,
)
from kgpipe.serve.kg import NotFound

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
VERSION_HEADER = "X-Index-Version"
MAX_ID_CHARS = 256
#: environment of uvicorn worker processes (serve.workers > 1): settings travel to app_from_environment
ENV_SETTINGS = "KGPIPE_SERVE_SETTINGS"


class AskRequest(BaseModel):
    question: str


def _serve_config(config: Config | ServeConfig | None) -> ServeConfig:
    if config is None:
        return ServeConfig()
    return config.serve if isinstance(config, Config) else config


def create_app(config: Config | ServeConfig | None, warehouse: str | os.PathLike,
               insecure_no_auth: bool = False, environ=None) -> FastAPI:
    """The application serving ``<warehouse>/indexes/CURRENT``.

    Raises :class:`AuthConfigError` when no API key is configured (``serve.api_keys``, ``KGPIPE_API_KEYS``)
    unless ``insecure_no_auth`` is set: a service must not become open by a missing secret."""
    settings = _serve_config(config)
    keys = ApiKeys(settings.api_keys, keys_from_environment(environ))
    if not len(keys) and not insecure_no_auth:
        raise AuthConfigError(f"no API keys configured: set serve.api_keys (sha256 hex digests of the keys) or "
                              f"{ENV_KEYS} (comma-separated keys), or pass --insecure-no-auth to serve without "
                              f"authentication")
    if insecure_no_auth:
        log.warning("serving WITHOUT authentication (--insecure-no-auth): anyone who can reach %s:%s can query",
                    settings.host, settings.port)
    metrics = ServiceMetrics()
    holder = GraphHolder(warehouse, metrics)

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

    app = FastAPI(
        title="kgpipe", version=__version__, lifespan=lifespan,
        description="Knowledge graph built from Wikipedia and news: entity search, entity cards with "
                    "provenance, similar entities, link prediction, recommendations and question answering. "
                    "Authenticate with `Authorization: Bearer KEY` or `X-API-Key: KEY`.")
    app.state.graph = holder
    app.state.metrics = metrics
    app.state.settings = settings
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")

    async def require_key(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
                    header_key: Annotated[str | None, Security(api_key_header)]) -> None:
        if insecure_no_auth:
            return
        presented = [key for key in (header_key, credentials.credentials if credentials else None) if key]
        if not presented:
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not any(keys.accepts(key) for key in presented):
            raise HTTPException(403, "invalid API key")

    authed = [Depends(require_key)]
    K = Annotated[int, Query(ge=1, le=settings.max_k, description=f"number of results, 1..{settings.max_k}")]
    EntityId = Annotated[str, PathParam(min_length=1, max_length=MAX_ID_CHARS, description="entity id")]
    AskBody = create_model("AskBody", __base__=AskRequest,
                           question=(str, Field(min_length=1, max_length=settings.max_question_chars,
                                                description="a question in English")))

    async def graph(response: Response):
        try:
            kg = holder.require()
        except NotReady as exc:
            raise HTTPException(503, f"not ready: {exc}") from None
        response.headers[VERSION_HEADER] = kg.version
        return kg

    Graph = Annotated[object, Depends(graph)]

    def _json(payload: dict, kg) -> Response:
        """The hot routes' answer, already plain JSON types: serialized directly, without FastAPI's
        recursive jsonable_encoder pass (a returned Response skips it, so the version header is set here)."""
        body = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return Response(body.encode("utf-8"), media_type="application/json", headers={VERSION_HEADER: kg.version})

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    def qa_call(function, *args):
        try:
            return function(*args)
        except ModuleNotFoundError as exc:   # a slim installation without spaCy serves everything else
            raise HTTPException(501, f"question answering is not available in this installation "
                                     f"({exc.name} is missing)") from None
        except NotFound:
            raise
        except (ValueError, LookupError) as exc:   # kgpipe.serve.qa's QuestionError: a question it cannot read
            raise HTTPException(422, str(exc)) from None

    # ------------------------------------------------------------------ health, no key

    @app.get("/healthz", tags=["operations"], summary="the process is up")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="a bundle is loaded (503 before)")
    async def readyz():
        kg = holder.kg
        if kg is None:
            # "loading" until the first load has ended, then "failed" with the reason
            return JSONResponse({"status": "not ready", "state": holder.state,
                                 "detail": holder.last_error or "loading the index bundle"}, status_code=503)
        return {"status": "ready", "version": kg.version}

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             dependencies=[] if settings.public_metrics else authed)
    def prometheus():
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/reload", tags=["operations"], dependencies=authed,
              summary="load the bundle indexes/CURRENT names now")
    def reload():
        try:
            return holder.reload(force=True)
        except Exception as exc:  # noqa: BLE001 - whatever broke the load, the old bundle keeps serving
            current = holder.kg.version if holder.kg is not None else None
            raise HTTPException(503, f"reload failed: {exc}; still serving {current or 'nothing'}") from None

    @app.get("/info", tags=["operations"], dependencies=authed, summary="the loaded bundle")
    def info(kg: Graph):
        return kg.info()

    # ------------------------------------------------------------------ graph

    @app.get("/entities", tags=["graph"], dependencies=authed,
             summary="search entities by name: exact, then prefix, then fuzzy matches")
    def search(kg: Graph, q: Annotated[str, Query(min_length=1, max_length=settings.max_query_chars)],
               k: K = 10):
        try:
            results = kg.search(q, k)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"query": q, "version": kg.version, "results": results}

    @app.get("/entities/{entity_id}", tags=["graph"], dependencies=authed,
             summary="entity card: statistics, facts with evidence sentences and source documents")
    def entity_card(kg: Graph, entity_id: EntityId):
        card = kg.entity_card(entity_id, settings.card_facts)
        if card is None:
            raise NotFound(f"unknown entity {entity_id!r}; find ids with GET /entities?q=")
        return {**card, "version": kg.version}

    @app.get("/entities/{entity_id}/facts", tags=["graph"], dependencies=authed,
             summary="facts of an entity, outgoing, incoming or both")
    def entity_facts(kg: Graph, entity_id: EntityId, direction: Literal["out", "in", "both"] = "both",
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 100):
        if not kg.store.has_entity(entity_id):
            raise NotFound(f"unknown entity {entity_id!r}")
        return {"entity_id": entity_id, "direction": direction, "version": kg.version,
                "counts": kg.store.fact_count(entity_id), "facts": kg.store.facts(entity_id, direction, limit)}

    @app.get("/facts/{edge_id}", tags=["graph"], dependencies=authed, summary="one fact by edge id")
    def fact(kg: Graph, edge_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS)]):
        found = kg.store.fact(edge_id)
        if found is None:
            raise NotFound(f"unknown fact {edge_id!r}")
        return found

    @app.get("/documents/{doc_id}", tags=["graph"], dependencies=authed, summary="a source document's metadata")
    def document(kg: Graph, doc_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS)]):
        found = kg.store.document(doc_id)
        if found is None:
            raise NotFound(f"unknown document {doc_id!r}")
        return found

    @app.get("/relations", tags=["graph"], dependencies=authed,
             summary="predicates with their fact counts; which ones link prediction knows")
    def relations(kg: Graph):
        predictable = set(kg.bundle.relations)
        return {"version": kg.version,
                "relations": [{"predicate": p, "facts": n, "predictable": p in predictable}
                              for p, n in kg.store.predicates().items()]}

    # ------------------------------------------------------------------ embeddings

    @app.get("/entities/{entity_id}/similar", tags=["embeddings"], dependencies=authed,
             summary="nearest entities in embedding space")
    async def similar(kg: Graph, entity_id: EntityId, k: K = 10):
        return _json({"entity_id": entity_id, "version": kg.version, "results": kg.similar(entity_id, k)}, kg)

    @app.get("/predict", tags=["embeddings"], dependencies=authed,
             summary="link prediction: likely tails of (head, relation, ?), facts already known marked")
    async def predict(kg: Graph, head: Annotated[str, Query(min_length=1, max_length=MAX_ID_CHARS)],
                      relation: Annotated[str, Query(min_length=1, max_length=MAX_ID_CHARS)], k: K = 10):
        return _json({"head": head, "relation": relation, "version": kg.version,
                      "results": kg.predict(head, relation, k)}, kg)

    @app.get("/recommend", tags=["embeddings"], dependencies=authed,
             summary="related entities: embedding neighbours combined with the graph neighbourhood")
    def recommend(kg: Graph, entity: Annotated[str, Query(min_length=1, max_length=MAX_ID_CHARS)], k: K = 10):
        return {"entity_id": entity, "version": kg.version, "results": kg.recommend(entity, k)}

    # ------------------------------------------------------------------ question answering

    @app.post("/ask", tags=["questions"], dependencies=authed,
              summary="answer a question in English from the graph, with citations")
    def ask(kg: Graph, body: AskBody):  # type: ignore[valid-type]
        question = body.question.strip()
        if not question:
            raise HTTPException(422, "the question is empty")
        answer = qa_call(kg.ask, question)
        return {**answer, "version": kg.version}

    @app.get("/entities/{entity_id}/summary", tags=["questions"], dependencies=authed,
             summary="a short cited summary of an entity")
    def summary(kg: Graph, entity_id: EntityId):
        return {**qa_call(kg.summary, entity_id), "version": kg.version}

    # ------------------------------------------------------------------ web page

    if STATIC.is_dir():
        from fastapi.staticfiles import StaticFiles
        app.mount("/ui", StaticFiles(directory=STATIC, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/ui/" if STATIC.is_dir() else "/docs")

    return app


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
    return create_app(ServeConfig.model_validate(payload["serve"]), payload["warehouse"],
                      insecure_no_auth=payload["insecure_no_auth"])


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
        os.environ[ENV_SETTINGS] = json.dumps({"serve": settings.model_dump(), "warehouse": str(warehouse),
                                               "insecure_no_auth": insecure_no_auth})
        with _shared_metrics_folder():
            # a worker importing FAISS and torch, or loading spaCy for its first question, can hold the GIL
            # past uvicorn's 5 s liveness ping on a busy machine and be killed for it: allow 30 s
            uvicorn.run("kgpipe.serve.api.app:app_from_environment", factory=True, host=settings.host,
                        port=settings.port, workers=settings.workers, log_level=settings.log_level,
                        timeout_worker_healthcheck=30)
        return
    uvicorn.run(create_app(settings, warehouse, insecure_no_auth), host=settings.host, port=settings.port,
                log_level=settings.log_level)
