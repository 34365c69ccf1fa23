"""Deterministic ids: a rerun reproduces them, a re-ingest does not duplicate.

sha256 over the parts joined by the unit separator, first 32 hex digits. Spark
computes the same id with ``substring(sha2(concat_ws('\\x1f', ...), 256), 1, 32)``.
"""
from __future__ import annotations

import hashlib

SEPARATOR = "\x1f"


def stable_id(*parts: object) -> str:
    joined = SEPARATOR.join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]
