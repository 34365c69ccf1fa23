"""API keys: named, scoped, stored as sha256 digests, compared in constant time.

Keys come from ``serve.api_keys`` (``{name, sha256, scopes}`` entries, so the configuration file holds no
secret; a bare digest, the form before keys had names, is a ``read`` key named ``config-N``) and from the
``KGPIPE_API_KEYS`` environment variable (comma-separated, hashed when the service starts, for secrets
injected by the deployment): an item ``KEY`` is a ``read`` key named ``env-N`` (N: its position in the
variable), an item ``NAME:SCOPES:KEY`` (``ops:read+admin:KEY``) names the key and gives its scopes. A name
labels the key's metrics and log lines; the key and its digest never appear there.

Scopes: ``read`` (the query routes, ``/metrics``, ``/info``) and ``admin`` (``/admin/*``). Every configured
digest is compared with ``hmac.compare_digest`` (no early exit), so the time taken does not reveal which
digest came close. How a request presents its key, and the statuses, are the key check's (``deps.py``).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from dataclasses import dataclass

from kgpipe.config import API_KEY_NAME, API_KEY_SCOPES, ApiKeyConfig, ServeConfig
from kgpipe.errors import CommandError

log = logging.getLogger(__name__)

ENV_KEYS = "KGPIPE_API_KEYS"
READ, ADMIN = API_KEY_SCOPES
_SCOPE = "|".join(API_KEY_SCOPES)
# the key is everything after the second colon, so that a key may itself hold colons
_NAMED_ENV_KEY = re.compile(rf"({API_KEY_NAME}):((?:{_SCOPE})(?:\+(?:{_SCOPE}))*):(.+)", re.DOTALL)


class AuthConfigError(CommandError, ValueError):
    """The service would start without any way to authenticate, or its keys are configured ambiguously."""


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: a configured key, or anyone when the service runs without keys."""
    name: str
    scopes: frozenset[str]
    #: token bucket: refill per second (0: unlimited) and size
    rate_per_second: float
    burst: int


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def keys_from_environment(environ=None) -> list[ApiKeyConfig]:
    """``KGPIPE_API_KEYS``' keys as configuration entries. Errors name the item's position, never its text,
    which holds a secret."""
    raw = (os.environ if environ is None else environ).get(ENV_KEYS, "")
    entries = []
    for position, item in enumerate((item.strip() for item in raw.split(",")), start=1):
        if not item:
            continue
        if ":" not in item:
            entries.append(ApiKeyConfig(name=f"env-{position}", sha256=digest(item).hex()))
            continue
        named = _NAMED_ENV_KEY.fullmatch(item)
        if named is None:
            raise AuthConfigError(f"{ENV_KEYS}: item {position} holds ':' but is not NAME:SCOPES:KEY (NAME "
                                  f"{API_KEY_NAME}, SCOPES {'+'.join(API_KEY_SCOPES)} or one of them); a key "
                                  f"with ':' in it must be given a name and scopes")
        name, scopes, key = named.groups()
        entries.append(ApiKeyConfig(name=name, sha256=digest(key).hex(), scopes=sorted(set(scopes.split("+")))))
    return entries


def configured_keys(settings: ServeConfig, environ=None) -> list[ApiKeyConfig]:
    """Every accepted key, named: the configuration's, then the environment's. Two keys with one name (their
    metrics would merge) or one key configured twice (with which scopes?) are errors."""
    entries = []
    for position, entry in enumerate(settings.api_keys, start=1):
        if isinstance(entry, str):
            entry = ApiKeyConfig(name=f"config-{position}", sha256=entry)
            log.warning("serve.api_keys[%d] is a bare digest: it is a read key named %s; give it a name and "
                        "scopes ({name, sha256, scopes}) to make it an admin key", position - 1, entry.name)
        entries.append(entry)
    entries += keys_from_environment(environ)
    names = [entry.name for entry in entries]
    if len(set(names)) < len(names):
        raise AuthConfigError(f"API key names must differ: {sorted({n for n in names if names.count(n) > 1})} "
                              f"name several keys")
    if len({entry.sha256 for entry in entries}) < len(entries):
        raise AuthConfigError("one API key is configured twice (serve.api_keys and/or KGPIPE_API_KEYS): "
                              "give each key one entry with all its scopes")
    return entries


class ApiKeys:
    def __init__(self, entries: list[ApiKeyConfig], settings: ServeConfig):
        self._known = [(bytes.fromhex(entry.sha256), _caller(entry, settings)) for entry in entries]

    def __len__(self) -> int:
        return len(self._known)

    def identify(self, key: str) -> Caller | None:
        """The caller whose key this is, or None. Compares with every digest, whatever matched."""
        presented = digest(key)
        found = None
        for known, caller in self._known:
            if hmac.compare_digest(presented, known):
                found = caller
        return found


def _caller(entry: ApiKeyConfig, settings: ServeConfig) -> Caller:
    rate, burst = entry.rate_limit_per_second, entry.rate_limit_burst
    return Caller(entry.name, frozenset(entry.scopes),
                  settings.rate_limit_per_second if rate is None else rate,
                  settings.rate_limit_burst if burst is None else burst)


def anonymous(settings: ServeConfig) -> Caller:
    """Anyone, when the service runs without keys (``--insecure-no-auth``): every scope, as before scopes."""
    return Caller("anonymous", frozenset(API_KEY_SCOPES), settings.rate_limit_per_second,
                  settings.rate_limit_burst)
