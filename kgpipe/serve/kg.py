"""The knowledge graph as a Python object: what the HTTP service answers, without HTTP.

    from kgpipe.serve.kg import KnowledgeGraph
    kg = KnowledgeGraph.load("warehouse")          # or warehouse/indexes, or one bundle folder
    kg.search("marie curie")                       # [{"entity_id", "name", "type", "match", "score"}, ...]
    kg.entity_card(entity_id)                      # entity, statistics, facts with evidence
    kg.similar(entity_id, k=10)                    # embedding neighbours
    kg.predict(entity_id, "born in", k=10)         # link prediction, known facts marked
    kg.recommend(entity_id, k=10)                  # embedding neighbours combined with graph neighbours
    kg.ask("Where was Marie Curie born?")          # kgpipe.serve.qa.answer (mode="graph" or "hybrid")
    kg.search_text("Einstein's birthplace", k=10)  # vector search over the bundle's text index
    kg.summary(entity_id)                          # kgpipe.serve.qa.summarize

Everything comes from one index bundle: the FAISS index (:class:`kgpipe.serve.index.IndexBundle`), the graph
store built beside it (:class:`kgpipe.serve.store.GraphStore`, ``<bundle>/store``) and, in bundles of format 2,
the text index (:class:`kgpipe.serve.text.TextIndex`, ``<bundle>/text``; None in older bundles), so a loaded
object is one consistent version of the graph, and keeps answering while a newer bundle is published.

Unknown entities and relations raise :class:`NotFound` (a ``LookupError``) with a message meant for users;
``entity_card`` returns None for an unknown entity, as ``GraphStore.entity`` does.
"""
from __future__ import annotations

import os
from pathlib import Path

from kgpipe.serve import qa
from kgpipe.serve.index import BundleError, IndexBundle
from kgpipe.serve.store import GraphStore, StoreError
from kgpipe.serve.text import TextIndex

#: facts listed on an entity card (all of them are counted in ``fact_counts``)
CARD_FACTS = 200
#: recommend: weight of the embedding similarity against the graph neighbourhood score
RECOMMEND_EMBEDDING_WEIGHT = 0.5
#: recommend: neighbours expanded, and facts read per neighbour, for the two-hop neighbourhood
RECOMMEND_MAX_NEIGHBOURS = 50
RECOMMEND_FACTS_PER_NEIGHBOUR = 200


class NotFound(LookupError):
    """An entity or relation the loaded graph does not know."""


class KnowledgeGraph:
    def __init__(self, bundle: IndexBundle, store: GraphStore, text: TextIndex | None = None):
        self.bundle, self.store, self.text = bundle, store, text

    @classmethod
    def load(cls, path: str | os.PathLike) -> KnowledgeGraph:
        """The bundle ``path`` names: a warehouse root, its ``indexes`` folder (both through CURRENT) or
        a bundle folder."""
        bundle = IndexBundle.load(path)
        store_folder = Path(bundle.folder) / "store"
        if not (store_folder / "store.json").exists():
            raise StoreError(f"bundle {bundle.folder} has no graph store: it was built without the entities "
                             f"table or by an older kgpipe; rerun `kgpipe index`")
        return cls(bundle, GraphStore.open(store_folder), TextIndex.of_bundle(bundle.folder))

    @property
    def version(self) -> str:
        return self.bundle.version

    def info(self) -> dict:
        manifest = self.bundle.manifest
        return {"version": self.version, "store": self.store.counts,
                "index": {key: manifest.get(key) for key in ("factory", "metric", "dimension", "count",
                                                             "embedding_model", "embedding_run_id",
                                                             "recall_at_10")}}

    # ------------------------------------------------------------------ lookups

    def _require_entity(self, entity_id: str) -> None:
        if not self.store.has_entity(entity_id):
            raise NotFound(f"unknown entity {entity_id!r}; find ids with search")

    def _require_embedding(self, entity_id: str) -> None:
        self._require_entity(entity_id)
        if entity_id not in self.bundle.row:
            raise NotFound(f"entity {entity_id!r} has no embedding: it takes part in no entity-to-entity fact "
                           f"the embeddings were trained on")

    def relations(self) -> list[str]:
        """Relations link prediction knows (those with a trained embedding), most frequent first."""
        counts = self.store.predicates()
        return sorted(self.bundle.relations, key=lambda p: (-counts.get(p, 0), p))

    def _described(self, pairs: list[tuple[str, float]]) -> list[dict]:
        info = self.store.entities([entity_id for entity_id, _ in pairs])
        return [{"entity_id": entity_id, "name": info.get(entity_id, {}).get("name"),
                 "type": info.get(entity_id, {}).get("type"), "score": round(float(score), 6)}
                for entity_id, score in pairs]

    # ------------------------------------------------------------------ queries

    def search(self, q: str, k: int = 10) -> list[dict]:
        return self.store.search(q, k)

    def entity_card(self, entity_id: str, facts_limit: int = CARD_FACTS) -> dict | None:
        """The entity with its statistics, its facts (outgoing first; each extracted fact with its
        evidence sentences and source documents, each inferred one with its rule and premises) and how
        many facts it has in each direction."""
        entity = self.store.entity(entity_id)
        if entity is None:
            return None
        counts = self.store.fact_count(entity_id)
        facts = self.store.facts(entity_id, "both", facts_limit)
        documents = {}
        for fact in facts:
            for evidence in fact["evidence"]:
                if evidence["doc_id"] not in documents:
                    documents[evidence["doc_id"]] = {"doc_id": evidence["doc_id"], "title": evidence["title"],
                                                     "url": evidence["url"]}
        return {**entity, "facts": facts, "fact_counts": counts,
                "facts_truncated": counts["out"] + counts["in"] > len(facts),
                "documents": list(documents.values()), "has_embedding": entity_id in self.bundle.row}

    def similar(self, entity_id: str, k: int = 10) -> list[dict]:
        """The k entities nearest in embedding space, best first (score: higher is closer)."""
        self._require_embedding(entity_id)
        return self._described(self.bundle.similar(entity_id, k))

    def predict(self, head_id: str, predicate: str, k: int = 10) -> list[dict]:
        """Most likely tails of (head, predicate, ?) by the embedding model, best first, the head itself left
        out; ``known`` is true where the graph already states the fact (extracted or inferred)."""
        self._require_embedding(head_id)
        if predicate not in self.bundle.relations:
            known = self.relations()
            hint = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
            raise NotFound(f"unknown relation {predicate!r}; relations with embeddings: {hint or 'none'}")
        try:
            # the head itself is left out: h + r lands near h for weak relations, and a fact from an
            # entity to itself is almost never what is asked for
            pairs = [p for p in self.bundle.predict(head_id, predicate, k + 1) if p[0] != head_id][:k]
        except BundleError as exc:   # e.g. a model without a nearest-neighbour form of prediction
            raise NotFound(str(exc)) from exc
        stated = {f["object_id"]: f for f in self.store.facts(head_id, "out")
                  if f["predicate"] == predicate and f["object_id"]}
        out = self._described(pairs)
        for item in out:
            fact = stated.get(item["entity_id"])
            item["known"] = fact is not None
            item["edge_id"] = fact["edge_id"] if fact else None
            item["kind"] = fact["kind"] if fact else None
        return out

    def _neighbours(self, entity_id: str, limit: int | None = None) -> dict[str, list[str]]:
        """Entity neighbours (either direction) with the predicates that connect them."""
        out: dict[str, list[str]] = {}
        for fact in self.store.facts(entity_id, "both", limit):
            other = fact["object_id"] if fact["subject_id"] == entity_id else fact["subject_id"]
            if other and other != entity_id:
                out.setdefault(other, []).append(fact["predicate"])
        return out

    def recommend(self, entity_id: str, k: int = 10) -> list[dict]:
        """Related entities: embedding neighbours combined with the graph neighbourhood.

        score = w * embedding + (1 - w) * graph, with w = RECOMMEND_EMBEDDING_WEIGHT, where ``embedding`` is
        1 - rank / n among the 2k nearest embedding neighbours (rank-based, so L2 and inner-product bundles
        score alike) and ``graph`` is 0.5 for a direct neighbour plus 0.5 times the share of this entity's
        neighbours that the candidate is also connected to. An entity without an embedding is
        recommended from the graph alone; the entity itself is never recommended."""
        self._require_entity(entity_id)
        embedding: dict[str, float] = {}
        if entity_id in self.bundle.row:
            nearest = self.bundle.similar(entity_id, 2 * k)
            for rank, (other, _) in enumerate(nearest):
                embedding[other] = 1.0 - rank / max(len(nearest), 1)
        direct = self._neighbours(entity_id)
        shared: dict[str, int] = {}
        for neighbour in list(direct)[:RECOMMEND_MAX_NEIGHBOURS]:
            for other in self._neighbours(neighbour, RECOMMEND_FACTS_PER_NEIGHBOUR):
                if other != entity_id:
                    shared[other] = shared.get(other, 0) + 1
        width = max(len(direct), 1)
        candidates = (set(embedding) | set(direct) | set(shared)) - {entity_id}
        scored = []
        for other in candidates:
            graph = 0.5 * (other in direct) + 0.5 * min(shared.get(other, 0) / width, 1.0)
            emb = embedding.get(other, 0.0)
            score = RECOMMEND_EMBEDDING_WEIGHT * emb + (1 - RECOMMEND_EMBEDDING_WEIGHT) * graph
            scored.append((score, other, emb, graph))
        scored.sort(key=lambda item: (-item[0], item[1]))
        top = scored[:k]
        info = self.store.entities([other for _, other, _, _ in top])
        return [{"entity_id": other, "name": info.get(other, {}).get("name"),
                 "type": info.get(other, {}).get("type"), "score": round(score, 6),
                 "embedding_score": round(emb, 6), "graph_score": round(graph, 6),
                 "direct": other in direct, "predicates": sorted(set(direct.get(other, []))),
                 "shared_neighbours": shared.get(other, 0)}
                for score, other, emb, graph in top]

    # ------------------------------------------------------------------ question answering

    def search_text(self, text: str, k: int = 10) -> list[dict]:
        """Facts and entity cards nearest to ``text`` in the text index (cosine similarity), best first."""
        if self.text is None:
            raise NotFound("this bundle has no text index (built by an older kgpipe or with index.text=false)")
        return self.text.search(text, k)

    def ask(self, question: str, mode: str = "graph", k: int = qa.RETRIEVED) -> dict:
        return qa.answer(self, question, mode=mode, k=k)

    def summary(self, entity_id: str) -> dict:
        self._require_entity(entity_id)
        return qa.summarize(self, entity_id)


def warm_up() -> None:
    """Load what question answering needs (spaCy) now, so that the first question does not wait for it."""
    qa.warm_up()
