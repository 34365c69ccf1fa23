"""Routes tagged ``graph``: entity search, entity cards, facts, documents and relations.

All are plain functions, run in FastAPI's thread pool: search (fuzzy matching) and cards can take long.
"""
# no ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time (routes/__init__)
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from kgpipe.config import ServeConfig
from kgpipe.serve.api.deps import MAX_ID_CHARS, EntityId, RouteDeps, errors
from kgpipe.serve.kg import NotFound

IdPath = Annotated[str, PathParam(max_length=MAX_ID_CHARS)]


def add_routes(router: APIRouter, settings: ServeConfig, deps: RouteDeps) -> None:
    Graph, K = deps.graph, deps.k
    # every route here needs a read key and the loaded graph (503 before); each names its other answers: 422
    # where it takes parameters, 404 where it looks an id up
    get = partial(router.get, tags=["graph"], **deps.read)
    lookup = {"responses": {**deps.read["responses"], **errors(404, 422, 503)}}

    @get("/entities", summary="search entities by name: exact, then prefix, then fuzzy matches",
         responses={**deps.read["responses"], **errors(422, 503)})
    def search(kg: Graph, q: Annotated[str, Query(min_length=1, max_length=settings.max_query_chars)],
               k: K = 10):
        try:
            results = kg.search(q, k)
        except ValueError:   # nothing to search for in q (no letters or digits): no entity matches it
            results = []
        return {"query": q, "version": kg.version, "results": results}

    @get("/entities/{entity_id}", **lookup,
         summary="entity card: statistics, facts with evidence sentences and source documents")
    def entity_card(kg: Graph, entity_id: EntityId):
        card = kg.entity_card(entity_id, settings.card_facts)
        if card is None:
            raise NotFound(f"unknown entity {entity_id!r}; find ids with GET /entities?q=")
        return {**card, "version": kg.version}

    @get("/entities/{entity_id}/facts", **lookup, summary="facts of an entity, outgoing, incoming or both")
    def entity_facts(kg: Graph, entity_id: EntityId, direction: Literal["out", "in", "both"] = "both",
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 100):
        if not kg.store.has_entity(entity_id):
            raise NotFound(f"unknown entity {entity_id!r}")
        return {"entity_id": entity_id, "direction": direction, "version": kg.version,
                "counts": kg.store.fact_count(entity_id), "facts": kg.store.facts(entity_id, direction, limit)}

    @get("/facts/{edge_id}", **lookup, summary="one fact by edge id")
    def fact(kg: Graph, edge_id: IdPath):
        return _known(kg.store.fact(edge_id), "fact", edge_id)

    @get("/documents/{doc_id}", **lookup, summary="a source document's metadata")
    def document(kg: Graph, doc_id: IdPath):
        return _known(kg.store.document(doc_id), "document", doc_id)

    @get("/relations", responses={**deps.read["responses"], **errors(503)},
         summary="predicates with their fact counts; which ones link prediction knows")
    def relations(kg: Graph):
        predictable = set(kg.bundle.relations)
        return {"version": kg.version,
                "relations": [{"predicate": p, "facts": n, "predictable": p in predictable}
                              for p, n in kg.store.predicates().items()]}


def _known(found: dict | None, what: str, key: str) -> dict:
    """A store lookup's row; None (no such id) is a 404."""
    if found is None:
        raise NotFound(f"unknown {what} {key!r}")
    return found
