"""What the routers share: the key check (who calls, its rate limit, its scopes), the loaded graph, the
parameter types, the documented error answers, the JSON fast path, the 404 handler and the mapping of
question-answering failures to HTTP statuses.

The key set, the rate-limit buckets, the graph holder and the result limit belong to one application (tests
build several, with different settings), so :func:`route_deps` builds the dependencies that close over them
once per application and hands them to every router as one :class:`RouteDeps`. What depends on nothing
configured (``EntityId``, the JSON answer, the handlers) is defined here once at module level: FastAPI copies
a parameter's metadata per route, so one ``Annotated`` type may serve many routes and applications.

The key check, in order: no key, or ``X-API-Key`` and ``Authorization: Bearer`` carrying two different keys,
is 401 (the two headers are equal in rank, so neither may silently override the other); a key that matches
no digest is 403; a caller whose bucket is empty is 429 with ``Retry-After``; a key without the route's
scope is 403. The rate limit comes before the scope so that a read key looping on ``/admin/*`` is bounded
too. Body size (413) is checked before all of this, by ``limits.BodyLimitMiddleware``.
"""
# no ``from __future__ import annotations`` here: FastAPI reads the dependencies' annotations at run time
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Response, Security
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from kgpipe.config import ServeConfig
from kgpipe.serve.api.auth import ADMIN, READ, ApiKeys, Caller, anonymous
from kgpipe.serve.api.limits import TokenBuckets, retry_after
from kgpipe.serve.api.state import GraphHolder, NotReady
from kgpipe.serve.api.telemetry import CALLER
from kgpipe.serve.kg import NotFound

VERSION_HEADER = "X-Index-Version"
MAX_ID_CHARS = 256

EntityId = Annotated[str, PathParam(min_length=1, max_length=MAX_ID_CHARS, description="entity id")]

# both ways of presenting a key, named in the OpenAPI document; auto_error=False so that require_key decides
# between 401 (no key) and 403 (a wrong one)
_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class ErrorBody(BaseModel):
    """The service's error answer (FastAPI's): what went wrong, for a person to read."""
    detail: str


def _error(description: str, **more) -> dict:
    return {"model": ErrorBody, "description": description, **more}


#: the answers of the key check, documented on every route that has it
KEY_RESPONSES = {
    401: _error("no API key, or X-API-Key and Authorization: Bearer carrying two different keys"),
    403: _error("an unknown key, or a key without the scope the route needs"),
    429: _error("the caller's rate limit is used up",
                headers={"Retry-After": {"description": "seconds to wait before the next request",
                                         "schema": {"type": "integer"}}}),
}


def with_body(route: dict) -> dict:
    """A POST route's keyword arguments: its body may be refused as too large (limits.BodyLimitMiddleware)."""
    return {**route, "responses": {**route.get("responses", {}),
                                   413: _error("request body over serve.max_body_bytes")}}


@dataclass(frozen=True)
class RouteDeps:
    """The per-application dependencies every router uses."""
    #: keyword arguments of a route that needs a key with the read scope: dependencies, documented answers
    read: dict
    #: the same for the admin scope
    admin: dict
    #: parameter type: the loaded KnowledgeGraph (503 before one is loaded; sets the version header)
    graph: Any
    #: parameter type: the number of results, 1..serve.max_k
    k: Any


def route_deps(settings: ServeConfig, holder: GraphHolder, keys: ApiKeys, insecure_no_auth: bool) -> RouteDeps:
    buckets = TokenBuckets()   # one per caller, whichever scope a route needs
    everyone = anonymous(settings) if insecure_no_auth else None

    def scoped(scope: str) -> dict:
        return {"dependencies": [Depends(key_dependency(keys, scope, buckets, everyone))],
                "responses": KEY_RESPONSES}

    return RouteDeps(
        read=scoped(READ), admin=scoped(ADMIN),
        graph=Annotated[object, Depends(graph_dependency(holder))],
        k=Annotated[int, Query(ge=1, le=settings.max_k, description=f"number of results, 1..{settings.max_k}")])


def key_dependency(keys: ApiKeys, scope: str, buckets: TokenBuckets, everyone: Caller | None):
    """The key check of routes that need ``scope`` (order: the module's docstring). ``everyone``: the caller
    of a service without keys, limited per client address. A coroutine, since a thread-pool hop would cost
    more than the check itself."""

    async def require_key(request: Request,
                          credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
                          header_key: Annotated[str | None, Security(_api_key_header)]) -> None:
        if everyone is None:
            caller = _identify(keys, header_key, credentials.credentials if credentials else None)
            bucket = caller.name
        else:
            caller, bucket = everyone, request.client.host if request.client else everyone.name
        request.scope[CALLER] = caller.name
        wait = buckets.take(bucket, caller.rate_per_second, caller.burst)
        if wait:
            raise HTTPException(429, f"rate limit of {caller.name!r} reached ({caller.rate_per_second:g}/s, burst "
                                     f"{caller.burst}): retry in {retry_after(wait)} s",
                                headers={"Retry-After": retry_after(wait)})
        if scope not in caller.scopes:
            raise HTTPException(403, f"the key {caller.name!r} lacks the {scope!r} scope this route needs")

    return require_key


def _identify(keys: ApiKeys, header_key: str | None, bearer: str | None) -> Caller:
    if header_key and bearer and header_key != bearer:
        raise HTTPException(401, "two different API keys in X-API-Key and Authorization: Bearer: send one",
                            headers=_CHALLENGE)
    key = header_key or bearer
    if not key:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                            headers=_CHALLENGE)
    caller = keys.identify(key)
    if caller is None:
        raise HTTPException(403, "invalid API key")
    return caller


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
