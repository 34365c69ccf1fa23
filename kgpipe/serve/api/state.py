"""The loaded knowledge graph, swapped atomically when a new bundle is published.

A request takes the current :class:`~kgpipe.serve.kg.KnowledgeGraph` once, at its start, and uses only that
object: a reload assigns a new object to one attribute (atomic in Python), so requests already running
finish on the bundle they started with, and the old object is freed when the last of them lets go. The
old bundle's files may be pruned meanwhile; its FAISS index is in memory and its store files stay mapped.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from kgpipe.serve.api.telemetry import ServiceMetrics
from kgpipe.serve.index import CURRENT, INDEXES
from kgpipe.serve.kg import KnowledgeGraph

log = logging.getLogger(__name__)


READY, LOADING, FAILED = "ready", "loading", "failed"


class NotReady(RuntimeError):
    """No bundle has been loaded yet."""


class GraphHolder:
    def __init__(self, warehouse: str | Path, metrics: ServiceMetrics):
        self.warehouse = Path(warehouse)
        self.metrics = metrics
        self._kg: KnowledgeGraph | None = None
        self._lock = threading.Lock()   # one load at a time; readers never take it
        self.last_error: str | None = None
        #: set when the first load has ended, loaded or failed: until then the state is "loading"
        self.first_load_done = threading.Event()

    @property
    def kg(self) -> KnowledgeGraph | None:
        return self._kg

    @property
    def state(self) -> str:
        """``ready`` (a bundle serves), ``loading`` (the first load has not ended) or ``failed`` (no bundle:
        ``last_error`` says why)."""
        if self._kg is not None:
            return READY
        return FAILED if self.first_load_done.is_set() else LOADING

    def require(self) -> KnowledgeGraph:
        kg = self._kg
        if kg is None:
            raise NotReady(self.last_error or "no index bundle loaded yet")
        return kg

    def published_version(self) -> str | None:
        """The bundle ``indexes/CURRENT`` names now (None when the path is a bundle folder or none exists)."""
        for pointer in (self.warehouse / INDEXES / CURRENT, self.warehouse / CURRENT):
            try:
                return pointer.read_text(encoding="utf-8").strip() or None
            except FileNotFoundError:
                continue
        return None

    def reload(self, force: bool = True) -> dict:
        """Load the published bundle and swap it in. ``force=False`` loads only when nothing is loaded or
        CURRENT names another bundle. A failed load keeps the current bundle in service and raises."""
        try:
            return self._reload(force)
        finally:
            self.first_load_done.set()

    def _reload(self, force: bool) -> dict:
        with self._lock:
            previous = self._kg.version if self._kg is not None else None
            published = self.published_version()
            if not force and self._kg is not None and (published is None or published == previous):
                return {"version": previous, "previous": previous, "changed": False}
            try:
                kg = KnowledgeGraph.load(self.warehouse)
            except Exception as exc:
                self.metrics.reload_failures.inc()
                self.last_error = f"cannot load the index bundle from {self.warehouse}: {exc}"
                log.error("%s%s", self.last_error,
                          f"; still serving {previous}" if previous else "")
                raise
            self._kg = kg
            self.last_error = None
            self.metrics.loaded(kg.version)
            log.info("serving index bundle %s (was %s)", kg.version, previous)
            return {"version": kg.version, "previous": previous, "changed": kg.version != previous}
