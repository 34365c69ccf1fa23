"""Routes tagged ``questions``: ``POST /ask`` and entity summaries (``kgpipe.serve.qa``).

Both are plain functions, run in FastAPI's thread pool, since answering can take long; ``deps.qa_call``
turns a missing spaCy into 501 and an unreadable question into 422.
"""
# no ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time (routes/__init__)
from functools import partial
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, create_model

from kgpipe.config import ServeConfig
from kgpipe.serve.api.deps import NOT_BLANK, EntityId, RouteDeps, Unprocessable, qa_call, with_body, with_errors


class AskRequest(BaseModel):
    question: str
    # hybrid is the default: on the shipped questions it answers more (accuracy 0.705 vs 0.679) at no lower
    # precision (0.923 vs 0.920) and retrieves more evidence (docs/qa.md#modes-graph-and-hybrid)
    mode: Literal["graph", "hybrid"] = Field(
        "hybrid", description="hybrid (default): entity linking and predicate matching over the graph plus a "
                              "vector search of the question over the bundle's text index, results merged and "
                              "reranked; graph: the graph route alone (a bundle without a text index answers in "
                              "graph mode; the answer's mode says which ran)")
    k: int = Field(10, ge=1, le=50, description="how many retrieved facts and entity cards to list")


def add_routes(router: APIRouter, settings: ServeConfig, deps: RouteDeps) -> None:
    Graph = deps.graph
    # every route here is tagged "questions" and needs a read key: said once
    # (both use the loaded graph: 503 before; spaCy: 501 without it; a question it cannot read is a 422; a
    # body that is not UTF-8 is FastAPI's 400)
    get = partial(router.get, tags=["questions"], **with_errors(deps.read, 404, 422, 501, 503))
    post = partial(router.post, tags=["questions"], **with_errors(with_body(deps.read), 400, 422, 501, 503))
    # the body model is made here because its length limit comes from the configuration
    AskBody = create_model("AskBody", __base__=AskRequest,
                           question=(str, Field(min_length=1, max_length=settings.max_question_chars,
                                                pattern=NOT_BLANK,
                                                description="a question in English (not only white space)")))

    @post("/ask", summary="answer a question in English from the graph, with citations")
    def ask(kg: Graph, body: AskBody):  # type: ignore[valid-type]
        question = body.question.strip()
        if not question:   # the body's pattern refuses it already: kept for callers of a looser schema
            raise Unprocessable("the question is empty", ("body", "question"))
        answer = qa_call(kg.ask, question, body.mode, body.k)
        return {**answer, "version": kg.version}

    @get("/entities/{entity_id}/summary", summary="a short cited summary of an entity")
    def summary(kg: Graph, entity_id: EntityId):
        return {**qa_call(kg.summary, entity_id, loc=("path", "entity_id")), "version": kg.version}
