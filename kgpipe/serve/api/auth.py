"""API keys: stored as sha256 digests, compared in constant time.

Keys come from ``serve.api_keys`` (sha256 hex digests, so the configuration file holds no secret) and from
the ``KGPIPE_API_KEYS`` environment variable (plain keys, comma-separated, hashed when the service starts,
for secrets injected by the deployment). A request presents its key as ``Authorization: Bearer KEY`` or
``X-API-Key: KEY``: no key is 401, a key that matches no digest is 403. Every configured digest is compared
with ``hmac.compare_digest`` (no early exit), so the time taken does not reveal which digest came close.
"""
from __future__ import annotations

import hashlib
import hmac
import os

from kgpipe.errors import CommandError

ENV_KEYS = "KGPIPE_API_KEYS"


class AuthConfigError(CommandError, ValueError):
    """The service would start without any way to authenticate."""


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def keys_from_environment(environ=None) -> list[str]:
    raw = (os.environ if environ is None else environ).get(ENV_KEYS, "")
    return [key.strip() for key in raw.split(",") if key.strip()]


class ApiKeys:
    def __init__(self, hex_digests: list[str], plain_keys: list[str]):
        self._digests = [bytes.fromhex(d) for d in hex_digests] + [digest(k) for k in plain_keys]

    def __len__(self) -> int:
        return len(self._digests)

    def accepts(self, key: str) -> bool:
        presented = digest(key)
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(presented, known)
        return matched
