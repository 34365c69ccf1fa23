"""NER quality on CoNLL-2003 (``kgpipe eval ner``).

NER (``evaluate_ner``)
======================
* Input: CoNLL-2003 (``token POS chunk NER`` per line, blank line between sentences,
  ``-DOCSTART-`` lines between documents). The tag scheme (IOB1 or IOB2) is detected
  and reported; spans are decoded with the conlleval rule, which is exact for both
  schemes: an entity starts at ``B-X``, or at ``I-X`` whose previous tag is not of type X.
* spaCy runs on the GOLD tokens: ``Doc(nlp.vocab, words=..., spaces=...)`` handed to the
  enabled components in order, batched (``component.pipe``), so predicted and gold spans
  share token offsets. The tokenizer is never run.
* ``mode="sentence"`` (default) feeds one Doc per gold sentence; ``mode="document"`` one Doc
  per ``-DOCSTART-`` document (its sentences joined, so the CNN sees context across
  sentence edges). On the CoNLL-2003 dev file sentence mode scores higher (micro F1 0.644
  vs 0.637 with en_core_web_sm 3.8.0: recall 0.593 vs 0.579 at about equal precision,
  ORG and LOC gaining most; the cause was not investigated, a plausible one being the
  all-caps headlines and "LONDON 1996-08-30" datelines next to ordinary sentences), so it
  is the default; see ``NER_MODE_NOTE``.
* Labels: spaCy's OntoNotes labels are mapped to CoNLL types with ``DEFAULT_LABEL_MAP``
  (table below); unmapped labels (DATE, TIME, PERCENT, MONEY, QUANTITY, ORDINAL,
  CARDINAL) are dropped before scoring.

      PERSON                         -> PER
      ORG                            -> ORG
      GPE, LOC, FAC                  -> LOC
      NORP, EVENT, WORK_OF_ART, LAW,
      LANGUAGE, PRODUCT              -> MISC
      DATE TIME PERCENT MONEY
      QUANTITY ORDINAL CARDINAL      -> (dropped)

  The CoNLL types themselves map to themselves, so a gazetteer may use either vocabulary.
  Variants were measured on the dev file (sentence mode) and none moves micro F1 by more
  than 0.002, so the standard table stays: dropping PRODUCT (7 of its 51 predictions are
  MISC) +0.002, dropping LAW +0.0003, dropping FAC or EVENT or WORK_OF_ART -0.0004 to
  -0.001. ORG's low score is not a mapping issue: CoNLL tags sports teams named after
  places ("Leicestershire", "Essex") as ORG, which spaCy labels GPE (119 exact-span cases)
  or PERSON (110).
* Score: entity-level, exact span AND type, micro precision/recall/F1 over all entities,
  plus the same per CoNLL type with counts.
* ``gazetteer``: exact surface form -> type, compiled into an ``entity_ruler`` that runs
  just before ``ner`` (created with ``nlp.create_pipe``; the caller's pipeline, which may be
  the cached one, is not modified). Its matches are fixed entities; the statistical NER
  labels the rest around them.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Literal, Mapping, Sequence

from kgpipe.evaluate.scores import prf

if TYPE_CHECKING:  # pragma: no cover
    import spacy
    from spacy.tokens import Doc

CONLL_TYPES = ("PER", "LOC", "ORG", "MISC")

#: spaCy (OntoNotes) label -> CoNLL type; labels absent here are dropped before scoring.
DEFAULT_LABEL_MAP: dict[str, str] = {
    "PERSON": "PER",
    "ORG": "ORG",
    "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
    "NORP": "MISC", "EVENT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC",
    "LANGUAGE": "MISC", "PRODUCT": "MISC",
    # CoNLL types map to themselves (gazetteers may label with them directly)
    "PER": "PER", "MISC": "MISC",
}

NER_MODE_NOTE = ("sentence: one Doc per gold sentence scores higher than one Doc per -DOCSTART- "
                 "document on CoNLL-2003 dev (F1 0.644 vs 0.637); both are available")


# ----------------------------------------------------------------------------- CoNLL

@dataclass(frozen=True)
class ConllSentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    doc_index: int  # which -DOCSTART- document (0 when the file has none)


def read_conll(path: str | Path) -> list[ConllSentence]:
    """Sentences of a CoNLL-2003 style file: first column token, last column NER tag."""
    sentences: list[ConllSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    doc_index = 0
    seen_docstart = False

    def flush() -> None:
        if tokens:
            sentences.append(ConllSentence(tuple(tokens), tuple(tags), doc_index))
            tokens.clear()
            tags.clear()

    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                flush()
                continue
            fields = line.split()
            if fields[0] == "-DOCSTART-":
                flush()
                if seen_docstart:
                    doc_index += 1
                seen_docstart = True
                continue
            if len(fields) < 2:
                raise ValueError(f"{path}:{line_no}: expected 'token ... NER', got {line!r}")
            tokens.append(fields[0])
            tags.append(fields[-1])
    flush()
    return sentences


def _split_tag(tag: str) -> tuple[str, str | None]:
    if tag == "O":
        return "O", None
    prefix, sep, label = tag.partition("-")
    if not sep or prefix not in ("B", "I") or not label:
        raise ValueError(f"not an IOB tag: {tag!r}")
    return prefix, label


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> Literal["IOB1", "IOB2"]:
    """IOB1 when some entity starts with ``I-X`` (after O or another type); else IOB2."""
    for tags in tag_sequences:
        previous: str | None = None
        for tag in tags:
            prefix, label = _split_tag(tag)
            if prefix == "I" and label != previous:
                return "IOB1"
            previous = label
    return "IOB2"


def iob_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entity spans ``(start, end_exclusive, type)`` of one IOB1 or IOB2 tag sequence.

    The conlleval rule decodes both schemes exactly: ``B-X`` always starts an entity;
    ``I-X`` continues the current entity when it has type X and starts one otherwise.
    """
    spans: list[tuple[int, int, str]] = []
    start: int | None = None
    current: str | None = None
    for i, tag in enumerate(tags):
        prefix, label = _split_tag(tag)
        if prefix == "O" or prefix == "B" or label != current:
            if current is not None:
                spans.append((start, i, current))
            start, current = (i, label) if prefix != "O" else (None, None)
    if current is not None:
        spans.append((start, len(tags), current))
    return spans


def conll_stats(sentences: Sequence[ConllSentence]) -> dict:
    """Counts of a parsed CoNLL file: documents, sentences, tokens, entities per type."""
    per_type = Counter(label for s in sentences for _, _, label in iob_spans(s.tags))
    return {"documents": len({s.doc_index for s in sentences}), "sentences": len(sentences),
            "tokens": sum(len(s.tokens) for s in sentences), "entities": sum(per_type.values()),
            "per_type": dict(per_type), "scheme": detect_scheme(s.tags for s in sentences)}


# ----------------------------------------------------------------------------- NER

def _pipe_components(nlp: "spacy.Language", docs: Iterable["Doc"], batch_size: int,
                     before_ner: object | None = None) -> Iterator["Doc"]:
    """The enabled components over ready-made Docs, batched, like ``nlp.pipe`` does."""
    stream: Iterable[Doc] = docs
    for name, proc in nlp.pipeline:
        stages = [before_ner, proc] if (name == "ner" and before_ner is not None) else [proc]
        for stage in stages:
            if hasattr(stage, "pipe"):
                stream = stage.pipe(stream, batch_size=batch_size)
            else:
                stream = map(stage, stream)
    return iter(stream)


def _model_name(nlp: "spacy.Language") -> str:
    meta = nlp.meta
    return f"{meta.get('lang', '')}_{meta.get('name', '')}-{meta.get('version', '')}"


def evaluate_ner(conll_path: str | Path, nlp: "spacy.Language", *,
                 gazetteer: Mapping[str, str] | None = None,
                 label_map: Mapping[str, str] | None = None,
                 mode: Literal["document", "sentence"] = "sentence",
                 max_sentences: int | None = None,
                 batch_size: int = 64) -> dict:
    """Entity-level exact-span P/R/F1 of ``nlp``'s NER against a CoNLL-2003 file."""
    from spacy.tokens import Doc

    if mode not in ("document", "sentence"):
        raise ValueError(f"mode must be 'document' or 'sentence', not {mode!r}")
    if "ner" not in nlp.pipe_names:
        raise ValueError(f"the pipeline has no enabled 'ner' component: {nlp.pipe_names}")
    label_map = dict(DEFAULT_LABEL_MAP if label_map is None else label_map)
    sentences = read_conll(conll_path)
    if max_sentences is not None:
        sentences = sentences[:max_sentences]
    scheme = detect_scheme(s.tags for s in sentences)

    # Units fed to spaCy: (key, list of (sentence, token offset within the unit))
    units: list[list[tuple[ConllSentence, int]]] = []
    if mode == "sentence":
        units = [[(s, 0)] for s in sentences]
    else:
        by_doc: dict[int, list[tuple[ConllSentence, int]]] = {}
        for s in sentences:
            members = by_doc.setdefault(s.doc_index, [])
            offset = members[-1][1] + len(members[-1][0].tokens) if members else 0
            members.append((s, offset))
        units = list(by_doc.values())

    gold: set[tuple[int, int, int, str]] = set()
    for unit_index, members in enumerate(units):
        for sentence, offset in members:
            for start, end, label in iob_spans(sentence.tags):
                gold.add((unit_index, offset + start, offset + end, label))

    ruler = None
    if gazetteer:
        ruler = nlp.create_pipe("entity_ruler", name="gazetteer", config={"overwrite_ents": False})
        ruler.add_patterns([{"label": label, "pattern": surface}
                            for surface, label in gazetteer.items()])

    def make_docs() -> Iterator[Doc]:
        for members in units:
            words = [w for sentence, _ in members for w in sentence.tokens]
            spaces = [True] * len(words)
            spaces[-1] = False
            yield Doc(nlp.vocab, words=words, spaces=spaces)

    started = time.perf_counter()
    predicted: set[tuple[int, int, int, str]] = set()
    dropped = Counter()
    for unit_index, doc in enumerate(_pipe_components(nlp, make_docs(), batch_size, ruler)):
        for ent in doc.ents:
            conll_type = label_map.get(ent.label_)
            if conll_type is None:
                dropped[ent.label_] += 1
                continue
            predicted.add((unit_index, ent.start, ent.end, conll_type))
    seconds = time.perf_counter() - started

    tp_set = gold & predicted
    per_type = {}
    types = list(CONLL_TYPES) + sorted({g[3] for g in gold} - set(CONLL_TYPES))
    for t in types:
        per_type[t] = prf(sum(1 for x in tp_set if x[3] == t), sum(1 for x in predicted if x[3] == t),
                          sum(1 for x in gold if x[3] == t))
    micro = prf(len(tp_set), len(predicted), len(gold))
    return {
        "task": "ner", "model": _model_name(nlp), "data": str(conll_path), "scheme": scheme, "mode": mode,
        "documents": len({s.doc_index for s in sentences}), "sentences": len(sentences),
        "tokens": sum(len(s.tokens) for s in sentences),
        "gold_entities": len(gold), "predicted_entities": len(predicted),
        "precision": micro["precision"], "recall": micro["recall"], "f1": micro["f1"], "tp": micro["tp"],
        "per_type": per_type, "dropped_predictions": dict(sorted(dropped.items())),
        "gazetteer_entries": len(gazetteer or {}), "seconds": round(seconds, 2),
    }
