"""What the routers share: the key check, the loaded graph, the parameter types, the JSON fast path, the 404
handler and the mapping of question-answering failures to HTTP statuses.

The key set, the graph holder and the result limit belong to one application (tests build several, with
different settings), so :func:`route_deps` builds the dependencies that close over them once per application
and hands them to every router as one :class:`RouteDeps`. What depends on nothing configured (``EntityId``,
the JSON answer, the handlers) is defined here once at module level: FastAPI copies a parameter's metadata
per route, so one ``Annotated`` type may serve many routes and applications.
"""
# no ``from __future__ import annotations`` here: FastAPI reads the dependencies' annotations at run time
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Response, Security
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from kgpipe.config import ServeConfig
from kgpipe.serve.api.auth import ApiKeys
from kgpipe.serve.api.state import GraphHolder, NotReady
from kgpipe.serve.kg import NotFound

VERSION_HEADER = "X-Index-Version"
MAX_ID_CHARS = 256

EntityId = Annotated[str, PathParam(min_length=1, max_length=MAX_ID_CHARS, description="entity id")]

# both ways of presenting a key, named in the OpenAPI document; auto_error=False so that require_key decides
# between 401 (no key) and 403 (a wrong one)
_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


@dataclass(frozen=True)
class RouteDeps:
    """The per-application dependencies every router uses."""
    #: ``dependencies=`` of the routes that need an API key
    authed: list
    #: parameter type: the loaded KnowledgeGraph (503 before one is loaded; sets the version header)
    graph: Any
    #: parameter type: the number of results, 1..serve.max_k
    k: Any


def route_deps(settings: ServeConfig, holder: GraphHolder, keys: ApiKeys, insecure_no_auth: bool) -> RouteDeps:
    return RouteDeps(
        authed=[Depends(key_dependency(keys, insecure_no_auth))],
        graph=Annotated[object, Depends(graph_dependency(holder))],
        k=Annotated[int, Query(ge=1, le=settings.max_k, description=f"number of results, 1..{settings.max_k}")])


def key_dependency(keys: ApiKeys, insecure_no_auth: bool):
    """The key check: a coroutine, since a thread-pool hop would cost more than the check itself."""

    async def require_key(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
                          header_key: Annotated[str | None, Security(_api_key_header)]) -> None:
        if insecure_no_auth:
            return
        presented = [key for key in (header_key, credentials.credentials if credentials else None) if key]
        if not presented:
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not any(keys.accepts(key) for key in presented):
            raise HTTPException(403, "invalid API key")

    return require_key


def graph_dependency(holder: GraphHolder):
    """The loaded graph, taken once per request, so that a reload never changes it under a running one."""

    async def graph(response: Response):
        try:
            kg = holder.require()
        except NotReady as exc:
            raise HTTPException(503, f"not ready: {exc}") from None
        response.headers[VERSION_HEADER] = kg.version
        return kg

    return graph


def json_response(payload: dict, kg) -> Response:
    """The hot routes' answer, already plain JSON types: serialized directly, without FastAPI's
    recursive jsonable_encoder pass (a returned Response skips it, so the version header is set here)."""
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), media_type="application/json", headers={VERSION_HEADER: kg.version})


async def not_found(_request: Request, exc: NotFound):
    """Exception handler: an unknown id anywhere below a route is a 404 with the reason."""
    return JSONResponse({"detail": str(exc)}, status_code=404)


def qa_call(function, *args):
    """Run a question-answering call, turning its failures into HTTP statuses."""
    try:
        return function(*args)
    except ModuleNotFoundError as exc:   # a slim installation without spaCy serves everything else
        raise HTTPException(501, f"question answering is not available in this installation "
                                 f"({exc.name} is missing)") from None
    except NotFound:
        raise
    except (ValueError, LookupError) as exc:   # kgpipe.serve.qa's QuestionError: a question it cannot read
        raise HTTPException(422, str(exc)) from None
