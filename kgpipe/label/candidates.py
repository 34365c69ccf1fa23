"""Candidates for labelling: argument pairs of a parsed sentence with their features, and the target
relations a labeller chooses from."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kgpipe.extract.patterns import Triple, triples_from_doc
from kgpipe.extract.relation_model import (
    NO_RELATION,
    LabelError,
    arg_label,
    pair_features,
    sentence_pairs,
)
from kgpipe.ids import stable_id
from kgpipe.packaged import read_setting_file

if TYPE_CHECKING:  # pragma: no cover
    from spacy.tokens import Doc, Span

EMBEDDED_RELATIONS = "embedded:relations"


def load_relations(setting: str) -> list[str]:
    """Target relations: ``embedded:relations`` (kgpipe/data/relations.txt) or a file path.

    One relation a line; blank lines and ``#`` comments ignored; duplicates and the reserved
    ``no relation`` are errors."""
    text, source = read_setting_file(setting, EMBEDDED_RELATIONS, "relations.txt", "relation file",
                                     "label.relations", LabelError)
    relations: list[str] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if name == NO_RELATION:
            raise LabelError(f"{source}:{line_no}: {NO_RELATION!r} is implied, do not list it")
        if name in relations:
            raise LabelError(f"{source}:{line_no}: relation {name!r} listed twice")
        relations.append(name)
    if not relations:
        raise LabelError(f"{source}: no relations listed")
    return relations


@dataclass(frozen=True)
class ArgSpan:
    start: int  # character offsets in the candidate's sentence text
    end: int
    text: str
    label: str  # NER label, or "NC:<POS>" for a noun chunk, or "" when unknown


@dataclass
class Candidate:
    task_id: str
    doc_id: str
    sentence_index: int
    text: str
    subject: ArgSpan
    object: ArgSpan
    extracted_predicate: str | None = None
    confidence: float | None = None       # the rule-based extractor's, for triples
    features: dict[str, float] = field(default_factory=dict, repr=False)
    entity_ids: tuple[str, ...] = ()      # resolved entities of the arguments (representativeness)
    key: str = ""                         # free use by callers (bench: WebNLG entry)


def task_id_for(doc_id: str, sentence_index: int, text: str, subject: tuple[int, int],
                obj: tuple[int, int]) -> str:
    return stable_id("label-task", doc_id, sentence_index, text, subject[0], subject[1], obj[0], obj[1])


def _arg(span: Span, sent: Span) -> ArgSpan:
    return ArgSpan(span.start_char - sent.start_char, span.end_char - sent.start_char, span.text,
                   arg_label(span))


def candidates_from_doc(doc: Doc, doc_id: str = "", triples: Sequence[Triple] | None = None,
                        sentence_offset: int = 0, max_pairs: int = 200) -> list[Candidate]:
    """Candidates of every sentence of a parsed Doc, with features. ``triples`` default: kgpipe's
    own (``triples_from_doc``). ``sentence_offset`` numbers the Doc's sentences within a
    larger document."""
    if triples is None:
        triples = triples_from_doc(doc)
    out: list[Candidate] = []
    for index, sent in enumerate(doc.sents):
        text = sent.text
        for s, o, t in sentence_pairs(sent, triples, max_pairs):
            subj, obj = _arg(s, sent), _arg(o, sent)
            out.append(Candidate(
                task_id=task_id_for(doc_id, sentence_offset + index, text, (subj.start, subj.end),
                                    (obj.start, obj.end)),
                doc_id=doc_id, sentence_index=sentence_offset + index, text=text, subject=subj, object=obj,
                extracted_predicate=t.predicate if t is not None else None,
                confidence=t.confidence if t is not None else None,
                features=pair_features(s, o, t.predicate if t is not None else None)))
    return out

