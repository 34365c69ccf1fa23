"""Candidates for labelling: argument pairs of a parsed sentence with their features, and the target
relations a labeller chooses from."""
from __future__ import annotations

from collections import defaultdict
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

    from kgpipe.config import Config
    from kgpipe.warehouse import Warehouse

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


def parse_sentences(warehouse: Warehouse, config: Config, nlp, wanted: dict[tuple[str, int], int]
                    ) -> dict[tuple[str, int], tuple[int, Span]]:
    """``(doc_id, sentence_index) -> offset inside the sentence`` (document coordinates) -> (start of the
    paragraph piece, the parsed sentence). Each sentence is re-parsed inside the very piece the extract stage
    parsed (``prepare_document``: same cleaning, PII masks and paragraph cuts), so offsets agree with
    ``mentions`` and ``triples_raw``; a sentence whose offset falls in no piece or sentence is left out."""
    from pyarrow import compute as pc

    from kgpipe.extract.documents import DocumentInput, prepare_document
    doc_ids = sorted({d for d, _ in wanted})
    documents = warehouse.dataset("documents").to_table(
        columns=["doc_id", "text", "paragraphs", "language", "title"],
        filter=pc.field("doc_id").isin(doc_ids)).to_pylist()
    pieces: dict[tuple[str, int], tuple[int, int]] = {}
    prepared: dict[str, str] = {}
    by_doc: dict[str, list[tuple[tuple[str, int], int]]] = defaultdict(list)
    for key, offset in wanted.items():
        by_doc[key[0]].append((key, offset))
    for row in documents:
        doc = DocumentInput(doc_id=row["doc_id"], text=row["text"] or "",
                            paragraphs=tuple((p["start"], p["end"]) for p in row["paragraphs"] or ()),
                            language=row["language"] or "en", title=row["title"])
        state, _ = prepare_document(doc, config.extract)
        if state is None:
            continue
        prepared[row["doc_id"]] = state.text
        for key, offset in by_doc[row["doc_id"]]:
            pieces[key] = next(((s, e) for s, e in state.pieces if s <= offset < e), None)
    spans = sorted({(d, span) for (d, _), span in pieces.items() if span is not None})
    parsed = dict(zip(spans, nlp.pipe([prepared[d][s:e] for d, (s, e) in spans],
                                      batch_size=config.extract.batch_size)))
    out: dict[tuple[str, int], tuple[int, Span]] = {}
    for key, offset in wanted.items():
        piece = pieces.get(key)
        if piece is None:
            continue
        local = offset - piece[0]
        sent = next((s for s in parsed[(key[0], piece)].sents if s.start_char <= local < s.end_char), None)
        if sent is not None:
            out[key] = (piece[0], sent)
    return out
