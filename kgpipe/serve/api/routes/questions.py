"""Routes tagged ``questions``: ``POST /ask`` and entity summaries (``kgpipe.serve.qa``).

Both are plain functions, run in FastAPI's thread pool, since answering can take long; ``deps.qa_call``
turns a missing spaCy into 501 and an unreadable question into 422.
"""
# no ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time (routes/__init__)
from functools import partial

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, create_model

from kgpipe.config import ServeConfig
from kgpipe.serve.api.deps import EntityId, RouteDeps, qa_call, with_body


class AskRequest(BaseModel):
    question: str


def add_routes(router: APIRouter, settings: ServeConfig, deps: RouteDeps) -> None:
    Graph = deps.graph
    # every route here is tagged "questions" and needs a read key: said once
    get = partial(router.get, tags=["questions"], **deps.read)
    post = partial(router.post, tags=["questions"], **with_body(deps.read))
    # the body model is made here because its length limit comes from the configuration
    AskBody = create_model("AskBody", __base__=AskRequest,
                           question=(str, Field(min_length=1, max_length=settings.max_question_chars,
                                                description="a question in English")))

    @post("/ask", summary="answer a question in English from the graph, with citations")
    def ask(kg: Graph, body: AskBody):  # type: ignore[valid-type]
        question = body.question.strip()
        if not question:
            raise HTTPException(422, "the question is empty")
        answer = qa_call(kg.ask, question)
        return {**answer, "version": kg.version}

    @get("/entities/{entity_id}/summary", summary="a short cited summary of an entity")
    def summary(kg: Graph, entity_id: EntityId):
        return {**qa_call(kg.summary, entity_id), "version": kg.version}
