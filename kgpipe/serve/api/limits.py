"""What bounds a client: a token bucket per caller (``serve.rate_limit_per_second``, ``serve.rate_limit_burst``,
or the key's own) and a largest request body (``serve.max_body_bytes``).

The buckets live in the worker process: with ``serve.workers`` > 1 (or several replicas) a caller may make
up to that many times the rate, as many as it has processes answering it. Sharing them would put a lock or
a round trip on every request; the limit's job, keeping one looping client from taking the machine, is
done per process. The key check (``deps.py``) takes the tokens; it runs on the event loop, one request at
a time, so the buckets need no lock.
"""
from __future__ import annotations

import json
import math
import time

from starlette.exceptions import HTTPException

#: buckets kept before the full ones are dropped: bounds the memory of an open service's per-address buckets
MAX_BUCKETS = 4096


class TokenBuckets:
    """Token buckets by name: each holds up to ``burst`` tokens and gains ``rate`` a second; a request
    takes one. A bucket that is full again is dropped when there are many: a fresh one is the same."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._buckets: dict[str, tuple[float, float, float]] = {}   # name -> (tokens, when, full again at)

    def take(self, name: str, rate: float, burst: int) -> float:
        """0 when a token was taken (the request may go), else the seconds until one will be there."""
        if rate <= 0:
            return 0.0
        now = self._clock()
        tokens, when, _ = self._buckets.get(name, (burst, now, now))
        tokens = min(float(burst), tokens + (now - when) * rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / rate
        if name not in self._buckets and len(self._buckets) >= MAX_BUCKETS:
            self._buckets = {n: b for n, b in self._buckets.items() if b[2] > now}
        self._buckets[name] = (tokens, now, now + (burst - tokens) / rate)
        return wait


def retry_after(wait: float) -> str:
    """A ``Retry-After`` value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait)))


class BodyTooLarge(HTTPException):
    """Raised by the body reader past the limit: an HTTPException, so that FastAPI's routes answer it
    themselves (a 413 in the error shape) instead of as a body they could not parse (400)."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"request body over {max_bytes} bytes")


class BodyLimitMiddleware:
    """Plain ASGI middleware: a request body over ``max_bytes`` is a 413 in the service's error shape. A
    declared ``Content-Length`` over the limit is refused before the application runs; a body without one
    (chunked) is counted as it is read and refused once it passes the limit, so that no more than the limit
    is ever held."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _content_length(scope) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            # only a reader other than FastAPI's routes lets it out (they answer it themselves)
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"detail": BodyTooLarge(self.max_bytes).detail}, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope) -> int:
    """The declared body length; 0 when none (or an unreadable one, which the server refuses itself)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0

