"""Distant supervision (Mintz et al. 2009): relation labels that a page's infobox gives its own prose.

An infobox fact ``S p O`` of article T (``triples_raw`` rows with ``extractor = infobox``) says what a
sentence of T that names both S and O most likely states. Every sentence of T (its text, not its
infobox lines) holding a mention resolved to S and a mention of O gives a positive example of ``p``
for that pair: O is an entity (a mention resolved to O's entity) or a date (a DATE mention whose written
date has the fact's ISO value, so "born on 14 March 1879" teaches ``birthDate``). The other pairs of
mentions of those sentences are negatives (``no relation``). A pair that two facts of different
predicates fit (born and died in the same city) is ambiguous and left out, counted.

Rows go to the ``labels`` table with ``labeler = distant:infobox``, beside the human labels; a new
``kgpipe label distant`` replaces the earlier distant rows. Where a human labelled the same task (same
sentence and spans), the human's label wins (``kgpipe.label.studio.training_examples``). Entities come from
resolve (``mention_entities``), so the command runs on a warehouse that resolve has written.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from pyarrow import compute as pc

from kgpipe.dates import date_from_text
from kgpipe.extract.infobox import EXTRACTOR as INFOBOX_EXTRACTOR
from kgpipe.extract.relation_model import NO_RELATION
from kgpipe.ids import stable_id
from kgpipe.label.candidates import parse_sentences, task_id_for
from kgpipe.label.studio import DISTANT_LABELER

if TYPE_CHECKING:  # pragma: no cover
    from kgpipe.config import Config
    from kgpipe.warehouse import Warehouse

DISTANT_SOURCE = "infobox facts (kgpipe label distant)"
_DATE_LABELS = ("DATE",)


def _infobox_rows(warehouse: Warehouse) -> list[dict]:
    """The infobox facts with an entity or date object."""
    return warehouse.dataset("triples_raw").to_table(
        columns=["doc_id", "subject_mention_id", "predicate", "object_mention_id", "object_type", "object"],
        filter=(pc.field("extractor") == INFOBOX_EXTRACTOR)
        & pc.field("object_type").isin(["entity", "date"])).to_pylist()


def _entities(warehouse: Warehouse, doc_ids: list[str]) -> dict[str, str]:
    """mention_id -> entity_id of the documents' mentions (infobox lines and prose alike)."""
    linked = warehouse.dataset("mention_entities").to_table(
        columns=["mention_id", "entity_id"], filter=pc.field("doc_id").isin(doc_ids)).to_pydict()
    return dict(zip(linked["mention_id"], linked["entity_id"]))


def _facts(rows: list[dict], entity_of: dict[str, str]
           ) -> dict[str, tuple[set[str], dict[tuple[str, str], set[str]]]]:
    """doc_id -> (subject entities, (object kind, entity id or ISO date) -> predicates) of its infobox."""
    out: dict[str, tuple[set[str], dict[tuple[str, str], set[str]]]] = {}
    for r in rows:
        subject = entity_of.get(r["subject_mention_id"])
        target = (("entity", entity_of.get(r["object_mention_id"])) if r["object_type"] == "entity"
                  else ("date", r["object"]))
        if subject is None or target[1] is None:
            continue
        subjects, targets = out.setdefault(r["doc_id"], (set(), defaultdict(set)))
        subjects.add(subject)
        targets[target].add(r["predicate"])
    return out


def _sentence_mentions(warehouse: Warehouse, doc_ids: list[str], entity_of: dict[str, str]
                       ) -> dict[tuple[str, int], list[dict]]:
    """(doc_id, sentence_index) -> the prose mentions of the sentence, each with its ``keys``: the entity
    it resolved to and, for a date, its ISO value."""
    mentions = warehouse.dataset("mentions").to_table(
        columns=["mention_id", "doc_id", "sentence_index", "start", "end", "text", "label"],
        filter=pc.field("doc_id").isin(doc_ids) & (pc.field("sentence_index") >= 0)).to_pylist()
    out: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for m in mentions:
        keys = set()
        if m["mention_id"] in entity_of:
            keys.add(("entity", entity_of[m["mention_id"]]))
        if m["label"] in _DATE_LABELS and (value := date_from_text(m["text"])):
            keys.add(("date", value))
        if keys:
            out[(m["doc_id"], m["sentence_index"])].append({**m, "keys": keys})
    return out


def _surface_predicates(warehouse: Warehouse, doc_ids: list[str]) -> dict[tuple, str]:
    """(doc_id, span, span) in either order -> the rule-based extractor's surface predicate for the pair."""
    rows = warehouse.dataset("triples_raw").to_table(
        columns=["doc_id", "subject_start", "subject_end", "object_start", "object_end", "surface_predicate"],
        filter=pc.field("doc_id").isin(doc_ids) & (pc.field("sentence_index") >= 0)).to_pylist()
    out = {}
    for r in rows:
        a, b = (r["subject_start"], r["subject_end"]), (r["object_start"], r["object_end"])
        out[(r["doc_id"], *sorted((a, b)))] = r["surface_predicate"]
    return out


def _overlap(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def distant_labels(warehouse: Warehouse, config: Config, nlp, now: dt.datetime | None = None
                   ) -> tuple[list[dict], dict[str, Any]]:
    """Rows of the ``labels`` table that the infobox facts of ``warehouse`` give (module docstring), and
    counts: facts, sentences, positives by predicate, negatives, ambiguous pairs."""
    for table in ("documents", "mentions", "triples_raw", "mention_entities"):
        if not warehouse.exists(table):
            raise FileNotFoundError(f"label distant needs the {table} table in {warehouse.root}: "
                                    "run `kgpipe ingest`, `kgpipe extract` and `kgpipe resolve` first")
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    infobox = _infobox_rows(warehouse)
    entity_of = _entities(warehouse, sorted({r["doc_id"] for r in infobox}))
    facts = _facts(infobox, entity_of)
    doc_ids = sorted(facts)
    by_sentence = _sentence_mentions(warehouse, doc_ids, entity_of)
    wanted: dict[tuple[str, int], int] = {}
    for key, mentions in by_sentence.items():
        subjects, targets = facts[key[0]]
        if any(("entity", s) in m["keys"] for m in mentions for s in subjects) and \
                any(k in targets for m in mentions for k in m["keys"]):
            wanted[key] = min(m["start"] for m in mentions)
    sentences = parse_sentences(warehouse, config, nlp, wanted)
    surface = _surface_predicates(warehouse, sorted({d for d, _ in sentences}))
    rows: list[dict] = []
    positives: Counter[str] = Counter()
    counts = {"documents_with_facts": len(doc_ids), "sentences": len(sentences), "negatives": 0, "ambiguous": 0,
              "sentences_not_found": len(wanted) - len(sentences)}
    for (doc_id, index), (piece_start, sent) in sorted(sentences.items()):
        subjects, targets = facts[doc_id]
        lo, hi = piece_start + sent.start_char, piece_start + sent.end_char
        mentions = sorted({(m["start"], m["end"]): m for m in by_sentence[(doc_id, index)]
                           if lo <= m["start"] and m["end"] <= hi}.values(), key=lambda m: (m["start"], m["end"]))
        labelled: set[tuple[int, int, int, int]] = set()
        for a in mentions:
            if not any(("entity", s) in a["keys"] for s in subjects):
                continue
            for b in mentions:
                if b is a or _overlap(a, b):
                    continue
                predicates = set().union(*(targets.get(k, set()) for k in b["keys"]))
                if len(predicates) > 1:
                    counts["ambiguous"] += 1
                    labelled.update({(a["start"], a["end"], b["start"], b["end"]),
                                     (b["start"], b["end"], a["start"], a["end"])})
                elif predicates:
                    (predicate,) = predicates
                    positives[predicate] += 1
                    rows.append(_row(doc_id, index, sent.text, lo, a, b, predicate, surface, now))
                    labelled.update({(a["start"], a["end"], b["start"], b["end"]),
                                     (b["start"], b["end"], a["start"], a["end"])})
        for i, a in enumerate(mentions):
            for b in mentions[i + 1:]:
                if _overlap(a, b) or (a["start"], a["end"], b["start"], b["end"]) in labelled:
                    continue
                counts["negatives"] += 1
                rows.append(_row(doc_id, index, sent.text, lo, a, b, NO_RELATION, surface, now))
    counts["positives"] = sum(positives.values())
    counts["positives_by_predicate"] = dict(positives.most_common())
    return rows, counts


def _row(doc_id: str, index: int, text: str, sentence_start: int, subject: dict, obj: dict, relation: str,
         surface: dict[tuple, str], now: dt.datetime) -> dict:
    ss, se = subject["start"] - sentence_start, subject["end"] - sentence_start
    os_, oe = obj["start"] - sentence_start, obj["end"] - sentence_start
    task_id = task_id_for(doc_id, index, text, (ss, se), (os_, oe))
    spans = sorted(((subject["start"], subject["end"]), (obj["start"], obj["end"])))
    return {"label_id": stable_id("label", task_id, DISTANT_LABELER), "task_id": task_id, "doc_id": doc_id,
            "sentence_index": index, "sentence_text": text, "subject": text[ss:se], "subject_start": ss,
            "subject_end": se, "object": text[os_:oe], "object_start": os_, "object_end": oe,
            "relation": relation, "proposed_relation": None,
            "extracted_predicate": surface.get((doc_id, *spans)), "labeler": DISTANT_LABELER,
            "source_file": DISTANT_SOURCE, "imported_at": now}
