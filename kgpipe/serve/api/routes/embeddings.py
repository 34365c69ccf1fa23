"""Routes tagged ``embeddings``: similar entities, link prediction and recommendations.

``similar`` and ``predict`` (one FAISS search, well under a millisecond) are coroutines on the event loop and
answer through the JSON fast path (``deps.json_response``): a thread-pool hop and FastAPI's encoder pass
would cost more than the search. ``recommend`` also walks the graph neighbourhood, so it stays a plain
function in the thread pool.
"""
# no ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time (routes/__init__)
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query

from kgpipe.serve.api.deps import MAX_ID_CHARS, EntityId, RouteDeps, json_response, with_errors

IdQuery = Annotated[str, Query(min_length=1, max_length=MAX_ID_CHARS)]


def add_routes(router: APIRouter, deps: RouteDeps) -> None:
    Graph, K = deps.graph, deps.k
    # every route here needs a read key and the loaded graph (503 before), names an entity (404 when unknown)
    # and takes parameters (422)
    get = partial(router.get, tags=["embeddings"], **with_errors(deps.read, 404, 422, 503))

    @get("/entities/{entity_id}/similar", summary="nearest entities in embedding space")
    async def similar(kg: Graph, entity_id: EntityId, k: K = 10):
        return json_response({"entity_id": entity_id, "version": kg.version, "results": kg.similar(entity_id, k)},
                             kg)

    @get("/predict", summary="link prediction: likely tails of (head, relation, ?), facts already known marked")
    async def predict(kg: Graph, head: IdQuery, relation: IdQuery, k: K = 10):
        return json_response({"head": head, "relation": relation, "version": kg.version,
                              "results": kg.predict(head, relation, k)}, kg)

    @get("/recommend", summary="related entities: embedding neighbours combined with the graph neighbourhood")
    def recommend(kg: Graph, entity: IdQuery, k: K = 10):
        return {"entity_id": entity, "version": kg.version, "results": kg.recommend(entity, k)}
