"""Infobox facts as evidence: the ``infobox`` rows ingest read become mentions and ``triples_raw`` rows,
so that resolve, reason, train, the index and the service treat them as they treat facts from prose.

Each mapped parameter of a page is one evidence "sentence" of the page, written for a reader and for
the citation the service shows: ``Albert Einstein (infobox scientist): birth_place = Ulm; Kingdom of
Württemberg`` . Its ``sentence_index`` is negative (``-1 - parameter_index``) so it can never collide with
a sentence of the text, and the offsets of its mentions and triples are offsets in that line, not in
``documents.text``. The subject is the page itself: a mention of its title linked to the page (label: the
infobox class's entity type, which resolve prefers to the votes of NER labels); entity items are
mentions linked to the title they name; literal items (dates, numbers, quantities, strings) are objects
of their type. The predicate is the mapping's canonical property, the surface predicate the parameter.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from kgpipe.ids import stable_id

EXTRACTOR = "infobox"
EXTRACTOR_VERSION = "1"
#: an infobox states its facts outright; what is left uncertain is the mapping of a parameter and the
#: reading of its value
INFOBOX_CONFIDENCE = 0.95
#: mention label of an entity item: its type is the linked page's, which resolve learns from the anchors
ITEM_LABEL = "LINK"
ORIGIN = "infobox"


@dataclass(frozen=True)
class InfoboxFact:
    """One ``infobox`` row with status ``fact`` (see kgpipe/ingest/infobox.py)."""
    template: str
    parameter: str
    parameter_index: int
    item_index: int
    predicate: str
    value: str
    value_type: str
    target_title: str | None = None
    entity_type: str | None = None
    infobox_class: str | None = None


def sentence_index(parameter_index: int) -> int:
    return -1 - parameter_index


def infobox_records(doc_id: str, title: str, facts: Sequence[InfoboxFact]) -> Iterator[tuple[str, dict]]:
    """``(table, row)`` for ``mentions`` and ``triples_raw`` of one page's infobox facts."""
    by_parameter: dict[int, list[InfoboxFact]] = {}
    for fact in facts:
        if fact.value and title:
            by_parameter.setdefault(fact.parameter_index, []).append(fact)
    for index in sorted(by_parameter):
        items = sorted(by_parameter[index], key=lambda f: f.item_index)
        yield from _parameter_records(doc_id, title, items)


def _parameter_records(doc_id: str, title: str, items: list[InfoboxFact]) -> Iterator[tuple[str, dict]]:
    first = items[0]
    head = f"{title} ({first.template}): {first.parameter} = "
    spans, parts, position = [], [], len(head)
    for item in items:
        spans.append((position, position + len(item.value)))
        parts.append(item.value)
        position += len(item.value) + 2
    text = head + "; ".join(parts)
    index = sentence_index(first.parameter_index)
    sentence_id = stable_id(doc_id, index)
    subject = _mention(doc_id, sentence_id, index, (0, len(title)), title, first.entity_type or ITEM_LABEL, title)
    yield "mentions", subject
    for item, span in zip(items, spans):
        obj = None
        if item.value_type == "entity":
            obj = _mention(doc_id, sentence_id, index, span, item.value, ITEM_LABEL, item.target_title)
            yield "mentions", obj
        yield "triples_raw", {
            "triple_id": stable_id(sentence_id, 0, len(title), item.predicate, span[0], span[1]),
            "doc_id": doc_id, "sentence_index": index, "sentence_text": text,
            "subject": title, "subject_start": 0, "subject_end": len(title),
            "subject_mention_id": subject["mention_id"],
            "predicate": item.predicate, "surface_predicate": item.parameter,
            "object": item.value, "object_start": span[0], "object_end": span[1],
            "object_mention_id": obj["mention_id"] if obj else None, "object_type": item.value_type,
            "qualifiers": {}, "extractor": EXTRACTOR, "extractor_version": EXTRACTOR_VERSION,
            "confidence": INFOBOX_CONFIDENCE}


def _mention(doc_id: str, sentence_id: str, index: int, span: tuple[int, int], text: str, label: str,
             target: str | None) -> dict:
    return {"mention_id": stable_id(doc_id, ORIGIN, index, span[0], span[1]), "doc_id": doc_id,
            "sentence_id": sentence_id, "sentence_index": index, "start": span[0], "end": span[1], "text": text,
            "label": label, "link_target": target, "origin": ORIGIN}
