"""Documents to rows, engine-free: spaCy NER mentions and dependency-pattern triples of each document.

The Spark job (``jobs/extract.py``) calls :func:`extract_documents` inside ``mapInArrow``; this module
imports neither Spark nor Beam and never raises on bad input.


Pipeline per document
---------------------
1. Checks: no text -> ``empty_text``; language (primary subtag of ``language``) not
   in ``cfg.languages`` -> ``unsupported_language``; more than half of the letters
   outside the Latin script -> ``unsupported_script``. Each gives one ``rejects`` row
   (``input_ref`` = doc_id) and nothing else for the document.
2. Paragraph spans are clipped, sorted, merged where they overlap and stripped of
   surrounding whitespace (no spans: the text is split at blank lines). Control characters,
   line breaks, zero-width/format characters and lone surrogates are replaced by one
   character each (space or U+FFFD), so offsets never move. With ``cfg.mask_pii``
   each paragraph is masked with :func:`kgpipe.extract.pii.mask_pii` (also length-preserving).
   A paragraph longer than ``cfg.max_paragraph_chars`` is cut at the last ". " +
   uppercase letter before the limit, else at the last whitespace, else hard.
3. All pieces of all documents go through one ``nlp.pipe(as_tuples=True,
   batch_size=cfg.batch_size)``, so batching spans many small documents.
4. Sentences are numbered per document across its paragraphs in order
   (``sentence_id = stable_id(doc_id, sentence_index)``). A sentence with more than
   ``cfg.max_sentence_tokens`` tokens is a ``sentence_too_long`` reject
   (``input_ref`` = ``doc_id#s<index>``) and yields no mentions or triples.
5. Mentions: every NER entity (literal labels such as DATE included: the label
   tells), plus every link anchor lying inside a sentence (origin ``link``; label of
   an overlapping NER entity, else ``LINK``). An entity and an anchor with the same
   span are one mention (origin ``link``, NER label, link target). Entities and
   anchors overlapping a PII mask are dropped, as are triples whose arguments do.
6. Triples come from :func:`triples_from_doc`; ``subject_mention_id`` /
   ``object_mention_id`` name the mention whose span equals the argument, else the
   smallest mention containing the argument's head token. With ``extract.relation_model``
   set, a trained relation classifier (``kgpipe/label/``, ``kgpipe label train``) then
   names and scores each sentence's triples: an accepted relation becomes the predicate and
   its probability the confidence; "no relation" keeps the triple as it was with confidence
   1 - p(no relation) (``relation_keep_rejected``, default) or drops it; with ``relation_add_pairs`` the
   mention pairs no pattern connected are classified too. ``extractor`` is then
   ``kgpipe-dep+relation-model``.

Rows of a document are buffered and emitted when its last piece is done; an
unexpected error inside one document drops its rows and emits one
``extract_error`` reject instead.
"""
from __future__ import annotations

import dataclasses
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple

from kgpipe.config import ExtractConfig
from kgpipe.extract.infobox import InfoboxFact, infobox_records
from kgpipe.extract.patterns import (
    LEAD,
    THING_LABELS,
    ArticleSubject,
    Definition,
    ParseContext,
    Triple,
    class_nouns,
    lead_definition,
    lead_subject,
    sentence_triples,
)
from kgpipe.extract.pii import mask_pii
from kgpipe.extract.relation_model import classify_sentence, load_model
from kgpipe.extract.text import (
    language_ok,
    paragraph_spans,
    prepare_text,
    script_ratio,
    split_long,
)
from kgpipe.extract.vocabulary import Vocabulary, load_vocabulary
from kgpipe.ids import stable_id

if TYPE_CHECKING:  # spaCy is imported lazily by load_nlp
    import spacy
    from spacy.tokens import Doc, Span

EXTRACTOR = "kgpipe-dep"
#: 2: canonical predicates (kgpipe/extract/vocabulary.py), surface predicate kept;
#: 3: article subject (pronouns, "the state"), lead dates and participles
EXTRACTOR_VERSION = "3"
#: ``triples_raw.extractor`` when ``extract.relation_model`` named and scored the triples
EXTRACTOR_WITH_MODEL = "kgpipe-dep+relation-model"
EXCERPT_CHARS = 300
_PERSONAL_PRONOUN = re.compile(r"\b(he|him|his|she|her|hers)\b", re.IGNORECASE)
_CAMEL_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
#: rejects reason of an entity-to-entity triple with a light predicate (kgpipe/data/vocabulary.yaml)
LIGHT_PREDICATE = "light_predicate"
STAGE = "extract"


@dataclass(frozen=True)
class Anchor:
    start: int  # wiki link anchor span in DOCUMENT coordinates
    end: int
    target: str


@dataclass(frozen=True)
class DocumentInput:
    doc_id: str
    text: str
    paragraphs: tuple[tuple[int, int], ...]
    anchors: tuple[Anchor, ...] = ()
    language: str | None = "en"
    title: str | None = None
    #: the page's infobox facts (kgpipe/extract/infobox.py), emitted with its rows
    infobox: tuple[InfoboxFact, ...] = ()
    #: ``documents.source_kind``: 'wiki' or 'news' (a wiki page's first sentence defines its subject)
    source_kind: str | None = None



def _excerpt(text: str, masked: bool) -> str:
    ex = text[:EXCERPT_CHARS]
    if masked:
        ex = mask_pii(ex)[0]
    return ex


def _reject(doc: DocumentInput | Any, reason: str, detail: str, excerpt: str,
            input_ref: str | None = None) -> dict:
    doc_id = str(getattr(doc, "doc_id", "") or "")
    return {
        "input_ref": input_ref or doc_id or "<unknown>",
        "stage": STAGE,
        "reason": reason,
        "detail": detail,
        "native_id": doc_id or None,
        "title": getattr(doc, "title", None),
        "excerpt": excerpt[:EXCERPT_CHARS],
    }


class _DocState:
    __slots__ = ("doc", "text", "pieces", "done", "sentence_index", "rows", "failed",
                 "anchors", "anchor_starts", "masks", "subject")

    def __init__(self, doc: DocumentInput, text: str, pieces: list[tuple[int, int]],
                 masks: list[tuple[int, int]]):
        self.doc = doc
        self.text = text
        self.pieces = pieces
        self.done = 0
        self.sentence_index = 0
        self.rows: list[tuple[str, dict]] = []
        self.failed = False
        anchors = []
        for a in doc.anchors or ():
            try:
                if isinstance(a, Anchor):
                    s, e, t = a.start, a.end, a.target
                elif isinstance(a, dict):
                    s, e, t = a["start"], a["end"], a["target"]
                else:
                    s, e, t = a
                s, e = int(s), int(e)
            except (KeyError, TypeError, ValueError):
                continue
            if 0 <= s < e <= len(text) and t:
                anchors.append((s, e, str(t)))
        anchors.sort()
        self.anchors = anchors
        self.anchor_starts = [a[0] for a in anchors]
        self.masks = masks
        #: the page's subject in document coordinates and its mention, once the first sentence named it
        self.subject: tuple[ArticleSubject, str] | None = None


def prepare_document(doc: DocumentInput, cfg: ExtractConfig) -> tuple[_DocState | None, dict | None]:
    """Checks and text preparation; returns (state, None) or (None, reject row)."""
    raw = doc.text if isinstance(doc.text, str) else ("" if doc.text is None else str(doc.text))
    if not raw.strip():
        return None, _reject(doc, "empty_text", "document has no text", raw)
    if not language_ok(doc.language, cfg.languages):
        return None, _reject(doc, "unsupported_language",
                             f"language {doc.language!r} not in {list(cfg.languages)}",
                             _excerpt(raw, cfg.mask_pii))
    letters, share = script_ratio(raw)
    if letters and share > 0.5:
        return None, _reject(doc, "unsupported_script",
                             f"{share:.0%} of {letters} letters are not Latin",
                             _excerpt(raw, cfg.mask_pii))
    text = prepare_text(raw)
    paras = paragraph_spans(text, doc.paragraphs)
    pieces: list[tuple[int, int]] = []
    masks: list[tuple[int, int]] = []
    if cfg.mask_pii:
        parts: list[str] = []
        pos = 0
        for s, e in paras:
            masked, spans = mask_pii(text[s:e])
            if spans:
                parts.append(text[pos:s])
                parts.append(masked)
                pos = e
                masks.extend((s + a, s + b) for a, b, _ in spans)
        if masks:
            parts.append(text[pos:])
            text = "".join(parts)
    for s, e in paras:
        if e - s > cfg.max_paragraph_chars:
            pieces.extend(split_long(text, s, e, cfg.max_paragraph_chars))
        else:
            pieces.append((s, e))
    if not pieces:
        return None, _reject(doc, "empty_text", "document has no paragraph with text", raw)
    return _DocState(doc, text, pieces, masks), None


def _overlaps(spans: list[tuple[int, int]], s: int, e: int) -> bool:
    for a, b in spans:
        if a < e and s < b:
            return True
    return False


@dataclass
class _Piece:
    """One parsed piece of a document; offsets in piece coordinates (``text`` == the spaCy Doc's text)."""

    st: _DocState
    offset: int  # where the piece starts in the document
    text: str
    anchors: list[tuple[int, int, str]]  # inside the piece and clear of PII masks
    masks: list[tuple[int, int]]
    #: (start, end, mention_id) of the piece's mentions so far: a resolved pronoun may point
    #: into an earlier sentence of the piece
    mentions: list[tuple[int, int, str]] = field(default_factory=list)


class _Sentence(NamedTuple):
    sentence_id: str
    index: int  # per document, across its pieces
    text: str


def _open_piece(st: _DocState, offset: int, end_piece: int) -> _Piece:
    lo = bisect_right(st.anchor_starts, offset - 1)
    hi = bisect_right(st.anchor_starts, end_piece)
    anchors = [(s - offset, e - offset, t) for s, e, t in st.anchors[lo:hi] if e <= end_piece]
    masks = [(a - offset, b - offset) for a, b in st.masks if a < end_piece and b > offset]
    if masks:
        anchors = [a for a in anchors if not _overlaps(masks, a[0], a[1])]
    piece = _Piece(st, offset, st.text[offset:end_piece], anchors, masks)
    if st.subject is not None and st.subject[0].start < offset:   # named in an earlier piece
        subject, mention_id = st.subject
        piece.mentions.append((subject.start - offset, subject.end - offset, mention_id))
    return piece


def _take_inside(items: list, i: int, lo: int, hi: int, bounds: Callable[[Any], tuple[int, int]]
                 ) -> tuple[list, int]:
    """Items (sorted by start) from cursor ``i`` that start before ``hi``; returns those lying
    within [lo, hi] and the advanced cursor, so each item is looked at once per piece."""
    inside = []
    while i < len(items):
        s, e = bounds(items[i])
        if s >= hi:
            break
        if s >= lo and e <= hi:
            inside.append(items[i])
        i += 1
    return inside, i


def _process_piece(st: _DocState, sdoc: "Doc", offset: int, end_piece: int, cfg: ExtractConfig) -> None:
    doc_id = st.doc.doc_id
    piece = _open_piece(st, offset, end_piece)
    masks = piece.masks
    ctx = (ParseContext(sdoc, [(s, e) for s, e, _ in piece.anchors], st.doc.title, piece.text,
                        st.subject[0].shifted(offset) if st.subject else None, load_vocabulary(cfg.vocabulary))
           if sdoc.has_annotation("DEP") else None)
    ents = [e for e in sdoc.ents if not (masks and _overlaps(masks, e.start_char, e.end_char))]
    ei = ai = 0
    for sent in sdoc.sents:
        s0, s1 = sent.start_char, sent.end_char
        sent_text = piece.text[s0:s1]
        if not sent_text.strip():
            continue
        sentence = _Sentence(stable_id(doc_id, st.sentence_index), st.sentence_index, sent_text)
        st.sentence_index += 1
        sent_ents, ei = _take_inside(ents, ei, sent.start, sent.end, lambda e: (e.start, e.end))
        sent_anchors, ai = _take_inside(piece.anchors, ai, s0, s1, lambda a: (a[0], a[1]))
        if len(sent) > cfg.max_sentence_tokens:
            idx = sentence.index
            st.rows.append(("rejects", _reject(
                st.doc, "sentence_too_long",
                f"sentence {idx} has {len(sent)} tokens (max {cfg.max_sentence_tokens})",
                sentence.text, input_ref=f"{doc_id}#s{idx}")))
            continue
        _add_mentions(piece, sentence, sent_ents, sent_anchors)
        if ctx is not None:
            if sentence.index == 0:
                _add_lead_type(piece, sentence, sent, load_vocabulary(cfg.vocabulary))
                st.subject = _article_subject(piece, sent, ctx)
                ctx.subject = st.subject[0].shifted(offset) if st.subject else None
            _add_triples(piece, sentence, sent, ctx, cfg)


def _article_subject(piece: _Piece, sent: "Span", ctx: ParseContext) -> tuple[ArticleSubject, str] | None:
    """The page's subject as its first sentence names it, with the pronouns and class nouns that stand for
    it later (see :class:`ArticleSubject`), in document coordinates; None when the sentence names no entity
    with a mention, or one that is neither a person nor a thing. A person's pronouns are those of the gender
    the page uses for most of its personal pronouns (none when it is unclear); a person's type comes from
    the infobox when there is one, which NER gets wrong more often than the mapping."""
    found = lead_subject(sent, ctx)
    if found is None:
        return None
    start, end, head = (offset + piece.offset for offset in found)
    mention = min((row for table, row in piece.st.rows    # the name's own mention, or NER's longer one
                   if table == "mentions" and row["start"] == start and row["end"] >= end),
                  key=lambda row: row["end"], default=None)
    if mention is None:
        return None
    infobox = piece.st.doc.infobox
    typed = next((fact.entity_type for fact in infobox if fact.entity_type), None)
    kind = typed or mention["label"]
    pronouns, personal = _person_pronouns(piece.st.text)
    if kind == "PERSON" and not typed and personal < 2:
        kind = "MISC"   # NER calls many a title a person; a page about a person says he or she
    if kind in THING_LABELS or kind in ("LINK", "MISC"):
        pronouns = frozenset({"it", "its"})
    elif kind != "PERSON":
        return None
    nouns = class_nouns(sent, found[2]) | {words[-1].lower() for fact in infobox
                                           for words in [_CAMEL_WORD.findall(fact.infobox_class or "")] if words}
    return ArticleSubject(start, end, head, piece.st.text[start:end], pronouns, frozenset(nouns)), mention["mention_id"]


def lead_type(definition: Definition, vocabulary: Vocabulary, ner_label: str | None,
              person_pronouns: bool) -> str | None:
    """The type a page's definition gives its subject, or None: a kind ("The aardvark is a mammal", even
    where the parser misses the noun) is MISC; a name takes the type of its first class noun that has one
    (``class_types``), else that of the title's last word ("The Atlantic Ocean is the second largest of
    ..."); a name of another class ("ASCII is a character-encoding scheme") is MISC, unless NER calls it a
    person and the page speaks of a he or she (a person of a class the lists lack)."""
    if not definition.named:
        return "MISC"
    typed = next((t for t in map(vocabulary.class_type, (*definition.nouns, definition.title_noun)) if t), None)
    if typed or not definition.nouns:
        return typed
    return "PERSON" if ner_label == "PERSON" and person_pronouns else "MISC"


def _add_lead_type(piece: _Piece, sentence: _Sentence, sent: "Span", vocabulary: Vocabulary) -> None:
    """A wiki page without an infobox class: its subject's type from its first sentence, as a mention of
    the subject linked to the page (origin ``lead``), whose label resolve prefers to NER's votes."""
    doc = piece.st.doc
    if doc.source_kind != "wiki" or not doc.title or any(fact.entity_type for fact in doc.infobox):
        return
    definition = lead_definition(sent, doc.title, piece.st.text)
    if definition is None:
        return
    ner_label = next((row["label"] for table, row in piece.st.rows if table == "mentions"
                      and row["origin"] == "ner" and row["start"] == definition.start + piece.offset), None)
    # the page's pronouns are counted only where they can decide (a scan of the whole text)
    person_pronouns = ner_label == "PERSON" and bool(_person_pronouns(piece.st.text)[0])
    label = lead_type(definition, vocabulary, ner_label, person_pronouns)
    if label is None:
        return
    row = _mention_row(doc.doc_id, sentence.sentence_id, sentence.index, piece.offset,
                       (definition.start, definition.end), piece.text[definition.start:definition.end], label,
                       doc.title, LEAD)
    row["mention_id"] = stable_id(doc.doc_id, LEAD, row["start"], row["end"])
    piece.st.rows.append(("mentions", row))


def _person_pronouns(text: str) -> tuple[frozenset[str], int]:
    """(he/him/his or she/her/hers, whichever a page uses at least twice as often as the other, else
    nothing; how many of them it uses)."""
    counts = {"he": 0, "she": 0}
    for word in _PERSONAL_PRONOUN.findall(text):
        counts["he" if word.lower() in ("he", "him", "his") else "she"] += 1
    total = counts["he"] + counts["she"]
    if counts["he"] >= max(2, 2 * counts["she"]):
        return frozenset({"he", "him", "his"}), total
    if counts["she"] >= max(2, 2 * counts["he"]):
        return frozenset({"she", "her", "hers"}), total
    return frozenset(), total


def _anchor_label(sent_ents: list["Span"], s: int, e: int) -> str:
    """Label of the entity with the anchor's span, else of the first one overlapping it, else LINK."""
    for ent in sent_ents:
        if ent.start_char == s and ent.end_char == e:
            return ent.label_
    for ent in sent_ents:
        if ent.start_char < e and s < ent.end_char:
            return ent.label_
    return "LINK"


def _add_mentions(piece: _Piece, sentence: _Sentence, sent_ents: list["Span"],
                  sent_anchors: list[tuple[int, int, str]]) -> None:
    doc_id, ptext = piece.st.doc.doc_id, piece.text
    sentence_id, idx = sentence.sentence_id, sentence.index
    mentions: dict[tuple[int, int], dict] = {}
    for e in sent_ents:
        key = (e.start_char, e.end_char)
        mentions[key] = _mention_row(doc_id, sentence_id, idx, piece.offset, key,
                                     ptext[key[0]:key[1]], e.label_, None, "ner")
    for a_s, a_e, target in sent_anchors:
        key = (a_s, a_e)
        if key in mentions and mentions[key]["origin"] == "link":
            continue  # two anchors with one span: keep the first
        mentions[key] = _mention_row(doc_id, sentence_id, idx, piece.offset, key,
                                     ptext[a_s:a_e], _anchor_label(sent_ents, a_s, a_e), target, "link")
    for key in sorted(mentions):
        row = mentions[key]
        piece.mentions.append((key[0], key[1], row["mention_id"]))
        piece.st.rows.append(("mentions", row))


def _add_triples(piece: _Piece, sentence: _Sentence, sent: "Span", ctx: ParseContext,
                 cfg: ExtractConfig) -> None:
    triples = sentence_triples(sent, ctx)
    vocabulary = load_vocabulary(cfg.vocabulary)
    if cfg.relation_model:
        triples = _classified(sent, triples, cfg, vocabulary)
    masks = piece.masks
    # the entity label of each token by its offset, for the vocabulary's type_narrows
    labels = {tok.idx: tok.ent_type_ for tok in sent} if triples else {}
    for t in triples:
        if masks and (_overlaps(masks, t.subject_start, t.subject_end)
                      or _overlaps(masks, t.object_start, t.object_end)):
            continue
        t, surface = canonical_triple(t, vocabulary, (labels.get(t.subject_head, ""), labels.get(t.object_head, "")))
        if t.object_type == "entity" and vocabulary.is_light(t.predicate):
            # "Alabama is a state": no relation between two entities; counted, not a fact of the graph
            piece.st.rows.append(("rejects", _reject(
                piece.st.doc, LIGHT_PREDICATE, f"a light predicate states no relation between two entities: "
                f"{t.subject} | {t.predicate} | {t.object}", sentence.text,
                input_ref=f"{piece.st.doc.doc_id}#s{sentence.index}")))
            continue
        piece.st.rows.append(("triples_raw", _triple_row(piece, sentence, t, surface, cfg)))


def canonical_triple(t: Triple, vocabulary: Vocabulary, labels: tuple[str, str] | None = None) -> tuple[Triple, str]:
    """The triple with its canonical predicate, turned round where the surface runs the other way, and its
    surface predicate; ``labels``: the entity labels of its subject and object."""
    canonical = vocabulary.canonical(t.predicate, t.object_type, t.object, labels, t.subject)
    if canonical is None:
        return t, t.predicate
    if canonical.inverse:
        t = dataclasses.replace(t, subject=t.object, subject_start=t.object_start, subject_end=t.object_end,
                                subject_head=t.object_head, object=t.subject, object_start=t.subject_start,
                                object_end=t.subject_end, object_head=t.subject_head)
    return dataclasses.replace(t, predicate=canonical.predicate), t.predicate


def _triple_row(piece: _Piece, sentence: _Sentence, t: Triple, surface: str, cfg: ExtractConfig) -> dict:
    offset, text = piece.offset, piece.st.text
    ss, se = t.subject_start + offset, t.subject_end + offset
    os_, oe = t.object_start + offset, t.object_end + offset
    return {
        "triple_id": stable_id(sentence.sentence_id, ss, se, t.predicate, os_, oe),
        "doc_id": piece.st.doc.doc_id,
        "sentence_index": sentence.index,
        "sentence_text": sentence.text,
        "subject": text[ss:se],
        "subject_start": ss,
        "subject_end": se,
        "subject_mention_id": _find_mention(piece.mentions, t.subject_start, t.subject_end, t.subject_head),
        "predicate": t.predicate,
        "surface_predicate": surface,
        "object": text[os_:oe],
        "object_start": os_,
        "object_end": oe,
        "object_mention_id": _find_mention(piece.mentions, t.object_start, t.object_end, t.object_head),
        "object_type": t.object_type,
        "qualifiers": dict(t.qualifiers),
        "extractor": EXTRACTOR_WITH_MODEL if cfg.relation_model else EXTRACTOR,
        "extractor_version": EXTRACTOR_VERSION,
        "confidence": float(t.confidence),
    }


def _classified(sent: "Span", triples: list[Triple], cfg: ExtractConfig, vocabulary: Vocabulary) -> list[Triple]:
    """``extract.relation_model`` set: the sentence's triples (and, with ``relation_add_pairs``,
    its other mention pairs) as the trained relation classifier names and scores them
    (:func:`classify_sentence`), except those the vocabulary maps unless ``relation_relabel_mapped``;
    the model is loaded once per process."""
    settled = None if cfg.relation_relabel_mapped else (
        lambda t: vocabulary.canonical(t.predicate, t.object_type, t.object) is not None)
    return classify_sentence(load_model(cfg.relation_model), sent, triples,
                             keep_rejected=cfg.relation_keep_rejected, add_pairs=cfg.relation_add_pairs,
                             threshold=cfg.relation_threshold, settled=settled)


def _mention_row(doc_id: str, sentence_id: str, idx: int, offset: int, key: tuple[int, int],
                 text: str, label: str, target: str | None, origin: str) -> dict:
    s, e = key[0] + offset, key[1] + offset
    return {
        "mention_id": stable_id(doc_id, s, e),
        "doc_id": doc_id,
        "sentence_id": sentence_id,
        "sentence_index": idx,
        "start": s,
        "end": e,
        "text": text,
        "label": label,
        "link_target": target,
        "origin": origin,
    }


def _find_mention(mentions: list[tuple[int, int, str]], s: int, e: int, head: int) -> str | None:
    best = None
    best_len = 1 << 30
    for ms, me, mid in mentions:
        if ms == s and me == e:
            return mid
        if head >= 0 and ms <= head < me and me - ms < best_len:
            best, best_len = mid, me - ms
    return best


def extract_documents(nlp: "spacy.Language", documents: Iterable[DocumentInput],
                      cfg: ExtractConfig) -> Iterator[tuple[str, dict]]:
    """Yield ``(table, row)`` for ``mentions``, ``triples_raw`` and ``rejects``.

    Rows match ``schemas.tables`` exactly; offsets are in document coordinates (infobox rows: in their
    parameter's line, see :mod:`kgpipe.extract.infobox`).
    Never raises on bad documents (see the module docstring).
    """
    pending: list[tuple[str, dict]] = []  # rows produced while feeding (document rejects)

    def feed() -> Iterator[tuple[str, tuple[_DocState, int]]]:
        for doc in documents:
            try:
                state, reject = prepare_document(doc, cfg)
            except Exception as exc:  # noqa: BLE001 - bad input must never stop the stream
                state, reject = None, _reject(doc, "extract_error", f"{type(exc).__name__}: {exc}",
                                              "")
            if reject is not None:
                pending.append(("rejects", reject))
                continue
            for i, (s, e) in enumerate(state.pieces):
                yield state.text[s:e], (state, i)

    for sdoc, (state, i) in nlp.pipe(feed(), as_tuples=True, batch_size=cfg.batch_size):
        if pending:
            yield from pending
            pending.clear()
        if not state.failed:
            try:
                _process_piece(state, sdoc, state.pieces[i][0], state.pieces[i][1], cfg)
            except Exception as exc:  # noqa: BLE001
                state.failed = True
                state.rows = [("rejects", _reject(state.doc, "extract_error",
                                                  f"{type(exc).__name__}: {exc}",
                                                  _excerpt(state.text, False)))]
        state.done += 1
        if state.done == len(state.pieces):
            yield from state.rows
            state.rows = []
            if not state.failed and state.doc.infobox:
                yield from infobox_records(state.doc.doc_id, state.doc.title or "", state.doc.infobox)
    if pending:
        yield from pending
        pending.clear()
