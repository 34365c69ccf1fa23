"""What the routers share: the key check (who calls, its rate limit, its scopes), the loaded graph, the
parameter types, the documented error answers, the JSON fast path, the 404 handler and the mapping of
question-answering failures to HTTP statuses.

The key set, the rate-limit buckets, the graph holder and the result limit belong to one application (tests
build several, with different settings), so :func:`route_deps` builds the dependencies that close over them
once per application and hands them to every router as one :class:`RouteDeps`. What depends on nothing
configured (``EntityId``, the JSON answer, the handlers) is defined here once at module level: FastAPI copies
a parameter's metadata per route, so one ``Annotated`` type may serve many routes and applications.

The key check, in order: no key, an empty ``X-API-Key``, an ``Authorization`` header that is neither
``Bearer KEY`` nor a proxy's ``Basic`` credentials (``Bearer`` without a key included), or ``X-API-Key`` and
``Authorization: Bearer`` carrying two different keys, is 401 (the two headers are equal in rank, so neither
may silently override the other, and a credential that is there but broken is never passed over for the
other header's); a key that matches no digest is 403; a caller whose bucket is empty is 429 with
``Retry-After``; a key without the route's scope is 403. The rate limit comes before the scope so that a read
key looping on ``/admin/*`` is bounded too. Body size (413) is checked before all of this, by
``limits.BodyLimitMiddleware``.

Every error answer is JSON ``{"detail": "..."}`` (:class:`ErrorBody`), a 422 with ``errors`` too
(:class:`ValidationErrorBody`), and each route documents the statuses it can answer (``KEY_RESPONSES``,
``errors``), which ``tests/test_contract.py`` checks with schemathesis against the running service.
"""
# no ``from __future__ import annotations`` here: FastAPI reads the dependencies' annotations at run time
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Response, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
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
#: the characters ``str.strip`` removes (``str.isspace``), spelled out so that every regular-expression engine
#: reading the OpenAPI document (pydantic's, a client's, a fuzzer's) agrees on what a blank string is
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
             "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
#: pattern of a string that must hold a character other than white space (a question)
NOT_BLANK = "[^" + "".join(f"\\u{ord(c):04x}" for c in WHITESPACE) + "]"

EntityId = Annotated[str, PathParam(min_length=1, max_length=MAX_ID_CHARS, description="entity id")]

# both ways of presenting a key, named in the OpenAPI document; auto_error=False so that require_key decides
# between 401 (no key) and 403 (a wrong one)
_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token. Neither header wins over the other: "
                                                   "with X-API-Key too, both must carry the same key (else 401); "
                                                   "an Authorization header that is not 'Bearer KEY' is a 401, "
                                                   "except a proxy's Basic credentials, which are ignored")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="API key. With Authorization: Bearer too, both must carry the same key "
                                           "(else 401); an empty X-API-Key is a 401")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class ErrorBody(BaseModel):
    """The service's error answer, whatever the status: what went wrong, for a person to read."""
    detail: str


class FieldError(BaseModel):
    """One input the request got wrong (FastAPI's validation error, less the echoed input)."""
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(ErrorBody):
    """A 422: ``detail`` names the fields and what is wrong with them, ``errors`` has one item per field."""
    errors: list[FieldError]


class Unprocessable(Exception):
    """A request that passed the schema but cannot be answered as asked (a question the parser cannot
    read): a 422 in the shape of :class:`ValidationErrorBody`."""

    def __init__(self, message: str, loc: tuple[str | int, ...]):
        super().__init__(message)
        self.loc = loc


def _error(description: str, model: type[BaseModel] = ErrorBody, **more) -> dict:
    return {"model": model, "description": description, **more}


_CHALLENGE_HEADER = {"WWW-Authenticate": {"description": "the scheme to authenticate with: Bearer",
                                         "schema": {"type": "string"}}}
#: the answers of the key check, documented on every route that has it
KEY_RESPONSES = {
    401: _error("no API key; an empty X-API-Key; an Authorization header that is neither 'Bearer KEY' nor a "
                "proxy's 'Basic' credentials; or X-API-Key and Authorization: Bearer carrying two different "
                "keys (whichever of them is valid)", headers=_CHALLENGE_HEADER),
    403: _error("an unknown key, or a key without the scope the route needs"),
    429: _error("the caller's rate limit is used up",
                headers={"Retry-After": {"description": "seconds to wait before the next request",
                                         "schema": {"type": "integer"}}}),
}
#: the other error answers, by status, for routes to name the ones they can give (``errors``)
ERROR_RESPONSES = {
    400: _error("the body could not be read (not UTF-8)"),
    404: _error("an unknown id (entity, fact, document, relation), or no such path"),
    413: _error("request body over serve.max_body_bytes"),
    422: _error("a parameter or body out of bounds, or a question that cannot be read", ValidationErrorBody),
    501: _error("question answering is not available in this installation (spaCy missing)"),
    503: _error("no index bundle is loaded yet, or it could not be loaded"),
}


def errors(*statuses: int) -> dict:
    """The ``responses`` entries of these error statuses."""
    return {status: ERROR_RESPONSES[status] for status in statuses}


def with_errors(route: dict, *statuses: int) -> dict:
    """A route's keyword arguments (``RouteDeps.read``, ...) with these error answers documented too."""
    return {**route, "responses": {**route.get("responses", {}), **errors(*statuses)}}


def as_json(responses: dict) -> dict:
    """Error answers documented as JSON on a route whose own answer is not (FastAPI would give their models the
    route's media type): the model as a reference into the document's schemas, which other routes put there."""
    documented = {}
    for status, answer in responses.items():
        schema = {"$ref": f"#/components/schemas/{answer['model'].__name__}"}
        documented[status] = {**{key: value for key, value in answer.items() if key != "model"},
                              "content": {"application/json": {"schema": schema}}}
    return documented


def with_body(route: dict) -> dict:
    """A POST route's keyword arguments: its body may be refused as too large (limits.BodyLimitMiddleware)."""
    return with_errors(route, 413)


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

    # the two Security parameters name the schemes in the OpenAPI document; the check reads the raw headers,
    # since FastAPI's schemes pass over an empty X-API-Key and an Authorization header that is not a bearer
    # token, which here are refused
    async def require_key(request: Request,
                          _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
                          _header_key: Annotated[str | None, Security(_api_key_header)]) -> None:
        if everyone is None:
            caller = _identify(keys, request.headers.get("x-api-key"), request.headers.get("authorization"))
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


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers=_CHALLENGE)


def _bearer_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer KEY`` header; None without the header or with a proxy's
    ``Basic`` credentials, which are not a key. Any other value (``Bearer`` without a key, another scheme,
    no scheme) is a 401: a client that meant to send its key there must not be served on the other header's."""
    if authorization is None:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() == "basic" and rest.strip():
        return None
    if scheme.lower() != "bearer":
        raise _unauthorized("the Authorization header is not 'Bearer KEY' (nor a proxy's Basic credentials)")
    if not rest.strip():
        raise _unauthorized("Authorization: Bearer without a key")
    return rest.strip()


def _identify(keys: ApiKeys, header_key: str | None, authorization: str | None) -> Caller:
    """The caller of a request with these ``X-API-Key`` and ``Authorization`` headers (None: absent)."""
    bearer = _bearer_key(authorization)
    if header_key is not None and not header_key.strip():
        raise _unauthorized("empty X-API-Key header")
    header_key = header_key.strip() if header_key is not None else None
    if header_key and bearer and header_key != bearer:
        raise _unauthorized("two different API keys in X-API-Key and Authorization: Bearer: send one")
    key = header_key or bearer
    if not key:
        raise _unauthorized("missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
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


async def unprocessable(_request: Request, exc: Unprocessable):
    """Exception handler: a 422 of the service's own, in the shape of the schema's 422s."""
    return JSONResponse({"detail": str(exc), "errors": [{"loc": list(exc.loc), "msg": str(exc),
                                                          "type": "value_error"}]}, status_code=422)


async def invalid_request(_request: Request, exc: RequestValidationError):
    """Exception handler: a request the schema refuses is a 422 whose ``detail`` is a sentence naming each
    field (``query k: Input should be less than or equal to 20``), like every other error answer, and whose
    ``errors`` are FastAPI's items without the echoed input (which may be the whole body)."""
    items = [{"loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
              "msg": _message(error), "type": str(error.get("type", ""))} for error in exc.errors()]
    detail = "; ".join(f"{' '.join(str(part) for part in item['loc'])}: {item['msg']}" for item in items)
    return JSONResponse({"detail": detail or "invalid request", "errors": items}, status_code=422)


def _message(error: dict) -> str:
    """FastAPI's message, except for NOT_BLANK, whose pattern says nothing to a person."""
    if error.get("type") == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == NOT_BLANK:
        return "should hold a character other than white space"
    return str(error.get("msg", ""))


def qa_call(function, *args, loc: tuple[str | int, ...] = ("body", "question")):
    """Run a question-answering call, turning its failures into HTTP statuses."""
    try:
        return function(*args)
    except ModuleNotFoundError as exc:   # a slim installation without spaCy serves everything else
        raise HTTPException(501, f"question answering is not available in this installation "
                                 f"({exc.name} is missing)") from None
    except NotFound:
        raise
    except (ValueError, LookupError) as exc:   # kgpipe.serve.qa's QuestionError: a question it cannot read
        raise Unprocessable(str(exc), loc) from None
