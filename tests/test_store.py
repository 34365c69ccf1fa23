"""The graph store and the Python API: a hand-made graph (tables written with the project's schemas, no
Spark) goes through the real index stage, and the bundle's store answers search, entity cards with
evidence and documents, incoming and inferred facts; KnowledgeGraph adds the embedding queries."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.index import run_stage
from kgpipe.config import IndexConfig
from kgpipe.ids import stable_id
from kgpipe.serve.index import current_bundle
from kgpipe.serve.kg import KnowledgeGraph, NotFound
from kgpipe.serve.store import GraphStore, StoreError, build_store
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from tests.graphfactory import document, write_table
from tests.test_index import commit_vectors

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def entity(entity_id: str, name: str, type_: str, aliases: dict[str, int], wiki: str | None = None) -> dict:
    return {"entity_id": entity_id, "canonical_name": name, "entity_type": type_,
            "aliases": [{"alias": a, "count": c} for a, c in aliases.items()],
            "type_votes": [{"label": type_, "count": sum(aliases.values())}], "wiki_title": wiki,
            "mention_count": sum(aliases.values()), "first_seen": T0, "last_seen": T0}


def edge(subject: str, predicate: str, obj: str, evidence: list[tuple[str, int, str]], confidence: float = 0.8,
         literal: str | None = None) -> dict:
    return {"edge_id": stable_id("edge", subject, predicate, obj or literal), "subject_id": subject,
            "predicate": predicate, "object_id": obj, "object_literal": literal,
            "object_type": "date" if literal else "entity", "qualifiers": [],
            "support_count": len(evidence), "confidence": confidence, "first_seen": T0, "last_seen": T0,
            "evidence": [{"doc_id": d, "sentence_index": i, "start": 0, "end": len(s), "sentence_text": s}
                         for d, i, s in evidence],
            "evidence_count": len(evidence)}


ENTITIES = [
    entity("e:curie", "Marie Curie", "PER", {"Marie Curie": 10, "Curie": 5, "Madame Curie": 2}, "Marie_Curie"),
    entity("e:pierre", "Pierre Curie", "PER", {"Pierre Curie": 4, "Curie": 1}, "Pierre_Curie"),
    entity("e:paris", "Paris", "LOC", {"Paris": 20}, "Paris"),
    entity("e:paris_tx", "Paris, Texas", "LOC", {"Paris": 1, "Paris, Texas": 1}, "Paris,_Texas"),
    entity("e:academy", "Parisian Academy", "ORG", {"Parisian Academy": 3}),
    entity("e:sorbonne", "University of Paris", "ORG", {"University of Paris": 2, "Sorbonne": 6},
           "University_of_Paris"),
    entity("e:poland", "Poland", "LOC", {"Poland": 7, "PL": 1}, "Poland"),
    entity("e:institute", "Radium Institute", "ORG", {"Radium Institute": 1}),   # no facts at all
]
MARRIED = edge("e:curie", "marry", "e:pierre",
               [("d1", 3, "In 1895 Marie Curie married Pierre Curie."),
                ("d2", 0, "Marie Curie and her husband Pierre Curie shared the prize.")], 0.95)
BORN = edge("e:curie", "bear in", "e:poland", [("d1", 0, "Marie Curie was born in Poland.")])
WORKS = edge("e:curie", "work at", "e:sorbonne", [("d1", 5, "Curie worked at the Sorbonne.")], 0.7)
PIERRE_WORKS = edge("e:pierre", "work at", "e:sorbonne", [("gone", 2, "Pierre taught at the Sorbonne.")], 0.6)
LOCATED = edge("e:sorbonne", "locate in", "e:paris", [("d2", 1, "The Sorbonne is in Paris.")])
BIRTHDAY = edge("e:curie", "bear on", None, [("d1", 0, "Marie Curie was born on 7 November 1867.")],
                literal="1867-11-07")
EDGES = [MARRIED, BORN, WORKS, PIERRE_WORKS, LOCATED, BIRTHDAY]
INFERRED = {"edge_id": stable_id("inferred", "e:curie", "work in", "e:paris"), "subject_id": "e:curie",
            "predicate": "work in", "object_id": "e:paris", "rule": "works_at_located_in",
            "supporting_edge_ids": [WORKS["edge_id"], LOCATED["edge_id"]], "depth": 1, "confidence": 0.56}
PAGERANK = {"e:curie": 2.0, "e:pierre": 1.0, "e:paris": 1.5, "e:paris_tx": 0.1, "e:academy": 0.2,
            "e:sorbonne": 1.2, "e:poland": 0.9}
# TransE on a line: "marry" moves +1 in x; curie and pierre sit next to each other
VECTORS = {"e:curie": [0, 0], "e:pierre": [1, 0], "e:poland": [0, 3], "e:sorbonne": [3, 1], "e:paris": [5, 1],
           "e:paris_tx": [9, 9], "e:academy": [7, 7]}
RELATIONS = {"marry": [1, 0], "bear in": [0, 3], "work at": [3, 1], "locate in": [2, 0]}


def make_graph(root, stats: bool = True, inferred: bool = True, version: str = "v1") -> Warehouse:
    warehouse = Warehouse(root, keep_versions=5)
    docs = [document("d1", "Marie Curie"), document("d2", "Nobel prize story", kind="news")]
    docs[0]["url"] = "https://en.wikipedia.org/wiki/Marie_Curie"
    docs[1]["url"] = "https://news.example.org/nobel"
    write_table(warehouse, "documents", docs, version)
    write_table(warehouse, "entities", ENTITIES, version)
    write_table(warehouse, "edges", EDGES, version)
    if stats:
        write_table(warehouse, "entity_stats", [
            {"entity_id": e, "pagerank": p, "in_degree": 1, "out_degree": 1, "component_id": "e:curie",
             "component_size": 7, "community_id": "e:curie" if e != "e:paris_tx" else e}
            for e, p in PAGERANK.items()], version)
    if inferred:
        write_table(warehouse, "inferred_edges", [INFERRED], version)
    return warehouse


def make_bundle(root, run_id: str = "idx-1", vectors: dict | None = None, text: bool = False,
                **graph) -> Warehouse:
    """The graph, its embeddings, and a bundle built by the real index stage (with the text index: ``text``)."""
    warehouse = make_graph(root, **graph)
    vectors = vectors or VECTORS
    commit_vectors(warehouse, "embeddings", list(vectors), list(vectors.values()), version=run_id)
    commit_vectors(warehouse, "relation_embeddings", list(RELATIONS), list(RELATIONS.values()), version=run_id)
    record = run_stage(IndexConfig(text=text), StageContext(warehouse, run_id, str(root / "cache")))
    assert record.details["store"]["entities"] == len(ENTITIES)
    return warehouse


@pytest.fixture(scope="module")
def kg(tmp_path_factory) -> KnowledgeGraph:
    root = tmp_path_factory.mktemp("kg")
    make_bundle(root)
    return KnowledgeGraph.load(root)


def test_index_stage_puts_a_store_in_the_bundle(kg):
    assert (current_bundle(kg.bundle.folder) / "store" / "store.json").exists()
    assert kg.version == "idx-1"
    assert kg.store.counts == {"entities": 8, "facts": 7, "extracted_facts": 6, "inferred_facts": 1,
                               "names": kg.store.counts["names"], "documents": 2}


def test_search_ranks_exact_before_prefix_before_fuzzy(kg):
    results = kg.search("Paris", 10)
    assert [(r["entity_id"], r["match"]) for r in results[:3]] == [
        ("e:paris", "exact"), ("e:paris_tx", "exact"),   # both are called "Paris": more mentions first
        ("e:academy", "prefix")]
    assert results[0]["score"] == 1.0 and results[0]["name"] == "Paris" and results[0]["type"] == "LOC"
    assert all(r["match"] != "exact" for r in results[2:])
    # a prefix of a name, and the normalization resolve uses (case, leading article, punctuation)
    assert kg.search("the SORBONNE!", 3)[0]["entity_id"] == "e:sorbonne"
    assert kg.search("Parisi", 3)[0] == {**kg.search("Parisi", 3)[0], "entity_id": "e:academy", "match": "prefix"}
    # a misspelling finds the name only fuzzily
    fuzzy = kg.search("Sorbone", 5)
    assert fuzzy[0]["entity_id"] == "e:sorbonne" and fuzzy[0]["match"] == "fuzzy" and 0.8 <= fuzzy[0]["score"] < 1
    # a misspelt last word of a longer name
    tail = kg.search("Institut", 3)
    assert tail[0]["entity_id"] == "e:institute" and tail[0]["match"] == "fuzzy"
    # a short alias ("PL") is not a match merely because the query contains it
    assert "e:poland" not in {r["entity_id"] for r in kg.search("plague", 10)}


def test_search_finds_aliases_entities_without_facts_and_respects_k(kg):
    curies = kg.search("Curie", 5)
    assert [r["entity_id"] for r in curies[:2]] == ["e:curie", "e:pierre"]   # alias, most mentioned first
    assert curies[0]["match"] == "exact" and curies[0]["matched"] == "Curie"
    assert kg.search("radium institute", 5)[0]["entity_id"] == "e:institute"
    assert len(kg.search("paris", 1)) == 1
    assert kg.search("zzqx", 5) == []
    with pytest.raises(ValueError, match="no letters or digits"):
        kg.search("?!", 5)


def test_entity_card_has_statistics_facts_evidence_and_document_titles(kg):
    card = kg.entity_card("e:curie")
    assert card["name"] == "Marie Curie" and card["wiki_title"] == "Marie_Curie"
    assert card["aliases"] == ["Marie Curie", "Curie", "Madame Curie"]
    assert card["pagerank"] == 2.0 and card["community_id"] == "e:curie" and card["component_size"] == 7
    assert card["fact_counts"] == {"out": 5, "in": 0}
    facts = {f["predicate"]: f for f in card["facts"]}
    married = facts["marry"]
    assert married["kind"] == "extracted" and married["object"] == "Pierre Curie"
    assert married["object_id"] == "e:pierre" and married["support_count"] == 2
    assert {(e["doc_id"], e["title"], e["url"]) for e in married["evidence"]} == {
        ("d1", "Marie Curie", "https://en.wikipedia.org/wiki/Marie_Curie"),
        ("d2", "Nobel prize story", "https://news.example.org/nobel")}
    assert "married Pierre Curie" in married["evidence"][0]["sentence_text"]
    assert facts["bear on"]["object"] == "1867-11-07" and facts["bear on"]["object_id"] is None
    # extracted facts first, most supported first
    assert card["facts"][0]["predicate"] == "marry"
    assert card["facts"][-1]["kind"] == "inferred"
    assert {d["title"] for d in card["documents"]} == {"Marie Curie", "Nobel prize story"}
    assert kg.entity_card("e:nobody") is None


def test_incoming_inferred_facts_and_lookups_by_id(kg):
    incoming = kg.store.facts("e:sorbonne", "in")
    assert {(f["subject_id"], f["predicate"]) for f in incoming} == {("e:curie", "work at"),
                                                                     ("e:pierre", "work at")}
    pierre = next(f for f in incoming if f["subject_id"] == "e:pierre")
    assert pierre["evidence"][0]["doc_id"] == "gone" and pierre["evidence"][0]["title"] is None
    both = kg.store.facts("e:sorbonne", "both")
    assert [f["predicate"] for f in both] == ["locate in", "work at", "work at"]   # outgoing first
    assert len(kg.store.facts("e:sorbonne", "both", limit=2)) == 2
    inferred = kg.store.fact(INFERRED["edge_id"])
    assert inferred["kind"] == "inferred" and inferred["rule"] == "works_at_located_in"
    assert inferred["evidence"] == [] and inferred["object"] == "Paris"
    assert inferred["supporting_edge_ids"] == [WORKS["edge_id"], LOCATED["edge_id"]]
    assert kg.store.fact("nope") is None
    assert kg.store.facts("e:institute") == []
    assert kg.store.document("d2")["title"] == "Nobel prize story" and kg.store.document("x") is None
    assert kg.store.predicates()["work at"] == 2 and kg.store.predicates()["work in"] == 1
    with pytest.raises(ValueError, match="direction"):
        kg.store.facts("e:curie", "sideways")


def test_similar_predict_and_recommend(kg):
    assert kg.similar("e:curie", 1)[0]["entity_id"] == "e:pierre"
    assert kg.similar("e:curie", 1)[0]["name"] == "Pierre Curie"
    predicted = kg.predict("e:curie", "marry", 2)
    assert predicted[0]["entity_id"] == "e:pierre" and predicted[0]["known"] is True
    assert predicted[0]["edge_id"] == MARRIED["edge_id"] and predicted[1]["known"] is False
    # Curie herself is nearer to curie + marry than the Sorbonne, but never predicted as her own spouse
    assert predicted[1]["entity_id"] == "e:sorbonne"
    with pytest.raises(NotFound, match="unknown relation 'teach'.*work at"):
        kg.predict("e:curie", "teach")
    with pytest.raises(NotFound, match="unknown entity"):
        kg.similar("e:nobody")
    with pytest.raises(NotFound, match="no embedding"):
        kg.similar("e:institute")
    recommended = kg.recommend("e:pierre", 3)
    assert "e:pierre" not in {r["entity_id"] for r in recommended}
    first = recommended[0]   # closest in embedding space and married to him
    assert first["entity_id"] == "e:curie" and first["direct"] and first["predicates"] == ["marry"]
    assert first["score"] > recommended[1]["score"]
    # both work at the Sorbonne: Pierre's other neighbour is one of Curie's neighbours too
    assert first["shared_neighbours"] == 1
    assert kg.recommend("e:institute", 3) == []   # no embedding, no neighbours


def test_ask_and_summary_delegate_to_the_qa_module(kg, monkeypatch):
    import types

    from kgpipe.serve import kg as knowledge_graph
    calls = []
    qa = types.ModuleType("kgpipe.serve.qa")
    qa.answer = lambda graph, question, **options: calls.append(("answer", graph, question, options)) or {
        "answer": "not known"}
    qa.summarize = lambda graph, entity_id: calls.append(("summarize", graph, entity_id)) or {"summary": ""}
    monkeypatch.setattr(knowledge_graph, "qa", qa)
    assert kg.ask("Who?") == {"answer": "not known"} and kg.summary("e:curie") == {"summary": ""}
    assert calls == [("answer", kg, "Who?", {"mode": "graph", "k": 10}), ("summarize", kg, "e:curie")]
    with pytest.raises(NotFound):
        kg.summary("e:nobody")


def test_missing_optional_tables_give_nulls_and_bad_graphs_clear_errors(tmp_path):
    warehouse = make_graph(tmp_path / "a", stats=False, inferred=False)
    counts = build_store(warehouse, tmp_path / "store")
    assert counts["inferred_facts"] == 0 and counts["facts"] == 6
    store = GraphStore.open(tmp_path / "store")
    assert store.entity("e:curie")["pagerank"] is None
    assert store.search("paris", 2)[0]["entity_id"] == "e:paris"   # ties on mentions still rank

    broken = make_graph(tmp_path / "b")
    write_table(broken, "edges", [*EDGES, edge("e:ghost", "haunt", "e:paris", [])], "v2")
    with pytest.raises(StoreError, match="not in entities"):
        build_store(broken, tmp_path / "store2")
    with pytest.raises(StoreError, match="needs the entities table"):
        build_store(Warehouse(tmp_path / "empty"), tmp_path / "store3")
    with pytest.raises(StoreError, match="no graph store"):
        GraphStore.open(tmp_path / "nowhere")
