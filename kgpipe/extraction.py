"""Engine-free extraction: spaCy NER + dependency-based relation extraction.

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
   each paragraph is masked with :func:`kgpipe.pii.mask_pii` (also length-preserving).
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
   set, a trained relation classifier (``kgpipe/labeling.py``, ``kgpipe label train``) then
   names and scores each sentence's triples: an accepted relation becomes the predicate and
   its probability the confidence; "no relation" keeps the triple as it was with confidence
   1 - p(no relation) (``relation_keep_rejected``, default) or drops it; with ``relation_add_pairs`` the
   mention pairs no pattern connected are classified too. ``extractor`` is then
   ``kgpipe-dep+relation-model``.

Rows of a document are buffered and emitted when its last piece is done; an
unexpected error inside one document drops its rows and emits one
``extract_error`` reject instead.

Relation patterns (:func:`triples_from_doc`)
--------------------------------------------
Predicates are lowercase lemmas; auxiliaries, determiners and negation never appear;
particles and prepositions are kept. A passive clause *without* a ``by`` agent keeps
the participle instead of the lemma, so "was born in" -> ``born in`` (not "bear
in"), "is located in" -> ``located in``.

=====================  ================================================  =======================================
pattern                example                                           triple(s)
=====================  ================================================  =======================================
verb + direct object   Steve Jobs founded Apple.                         (Steve Jobs, found, Apple)
verb + particle        He gave up the title.                             (.., give up, title)
verb + preposition     She moved to Paris in 1891.                       (.., move to, Paris) time=1891
noun inside a PP/obj   He served as president of France.                 (.., serve as president of, France)
passive with agent     Apple was founded by Steve Jobs.                  (Steve Jobs, found, Apple)
passive, no agent      Marie Curie was born in Warsaw.                   (Marie Curie, born in, Warsaw)
participle modifier    Apple, founded by Jobs, ...                       (Jobs, found, Apple)
copula + rel. noun     Tim Cook is the CEO of Apple.                     (Tim Cook, ceo of, Apple)
other linking verb     Cook became CEO of Apple in 2011.                 (Cook, become ceo of, Apple) time=2011
copula + noun          Curie was a Polish physicist.                     (Curie, be, Polish physicist) string
copula + adj + prep    Paris is famous for its museums.                  (Paris, famous for, museums) string
inverse copula         The CEO of Apple is Tim Cook. / Apple's CEO is ..  (Tim Cook, ceo of, Apple)
apposition             Tim Cook, CEO of Apple, spoke.                    (Tim Cook, ceo of, Apple)
apposition, possessor  Tim Cook, Apple's CEO, ... / Apple's CEO, Tim ..  (Tim Cook, ceo of, Apple)
apposition, class      Tim Cook, an American businessman, ...            (Tim Cook, be, American businessman)
possessive + name      Apple's CEO Tim Cook said ...                     (Tim Cook, ceo of, Apple)
relative clause        Curie, who was born in Warsaw, moved to Paris.    (Curie, born in, Warsaw), (Curie, move to, Paris)
conjunctions           subjects, objects and verbs sharing a subject     one triple per combination
=====================  ================================================  =======================================

Relational nouns are normalized as lowercase lemma with its compound modifiers
(``chief executive officer of``); adjectives such as "former" are dropped.

Arguments: a link anchor covering the head token wins, then the NER entity of the
head, else the head with its contiguous left compound/amod/nummod/nmod modifiers
(no determiners). Subjects must be entity-like: an NER entity of a non-literal type,
a link anchor, a proper noun, or the document title; common-noun subjects are
dropped. Pronoun subjects and objects (he/she/him/her -> nearest preceding PERSON,
it -> nearest preceding ORG, preferring entities that were grammatical subjects) are
resolved within the same spaCy Doc (= paragraph), else dropped; other pronouns are
dropped. A resolved argument carries the antecedent's text and offsets (which may lie
in an earlier sentence of the paragraph). Relative pronouns stand for the noun the
clause modifies.

Object types: DATE/TIME -> ``date``; CARDINAL/ORDINAL -> ``number``;
MONEY/QUANTITY/PERCENT and counted nouns ("164,000 employees") -> ``quantity``;
other NER types, link anchors and proper nouns -> ``entity``; other noun phrases ->
``string``. A DATE/TIME attached to the clause by a preposition or as a bare noun
phrase ("last year") becomes the ``time`` qualifier of every triple of that clause,
unless it is the only object, in which case it is the (date) object: "Curie was born
on 7 November 1867." -> (Curie, born on, 7 November 1867, date).

Negation ("not", "never", "n't", or an object determined by "no") and conditional
clauses ("if", "unless", "whether") are dropped: "Jobs did not found Microsoft."
yields nothing.

Confidence = pattern base x subject factor x object factor x context factors,
rounded to 3 places:
base 0.9 (verbal, passive, relational noun, apposition, possessive), 0.7 (copula or
apposition with a class noun, adjective + preposition, "be" + preposition); subject: entity/link 1.0,
proper noun or title 0.85, resolved pronoun 0.75; object: entity/link 1.0, typed
literal 0.95, proper noun 0.85, string 0.6; subject inherited from a conjoined verb,
relative or participle clause x0.9; modal verb (may, would, ...) x0.7; reported
clause ("said that ...") x0.8; sentence over 60 tokens x0.9.
"""
from __future__ import annotations

import functools
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator, NamedTuple, Sequence

from kgpipe.config import ExtractConfig
from kgpipe.ids import stable_id
from kgpipe.pii import mask_for, mask_pii

if TYPE_CHECKING:  # spaCy is imported lazily by load_nlp
    import spacy
    from spacy.tokens import Doc, Span, Token

__all__ = [
    "EXTRACTOR",
    "EXTRACTOR_VERSION",
    "Anchor",
    "DocumentInput",
    "Triple",
    "load_nlp",
    "triples_from_doc",
    "triples_by_sentence",
    "extract_documents",
    "prepare_text",
    "script_ratio",
]

EXTRACTOR = "kgpipe-dep"
EXTRACTOR_VERSION = "1"
#: ``triples_raw.extractor`` when ``extract.relation_model`` named and scored the triples
EXTRACTOR_WITH_MODEL = "kgpipe-dep+relation-model"
EXCERPT_CHARS = 300
STAGE = "extract"
PII_KINDS = ("EMAIL", "PHONE", "IBAN", "CARD", "SSN", "IPV4")


# --------------------------------------------------------------------------- public types


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


@dataclass(frozen=True)
class Triple:
    """One fact; offsets are relative to the text given to spaCy (``doc.text``)."""

    subject: str
    subject_start: int
    subject_end: int
    predicate: str
    object: str
    object_start: int
    object_end: int
    object_type: str
    qualifiers: dict[str, str]
    confidence: float
    # char offset of each argument's head token (mention lookup); not part of equality
    subject_head: int = field(default=-1, compare=False, repr=False)
    object_head: int = field(default=-1, compare=False, repr=False)


# --------------------------------------------------------------------------- model loading


def load_nlp(model: str, disable: Sequence[str] = ()) -> "spacy.Language":
    """Load a spaCy pipeline once per process (cached on ``(model, disable)``).

    PII masks (``[EMAIL]____``) are registered as tokenizer special cases so each
    mask is one token; without parser and senter a sentencizer is added.
    """
    return _load_nlp(model, tuple(disable))


@functools.lru_cache(maxsize=4)
def _load_nlp(model: str, disable: tuple[str, ...]) -> "spacy.Language":
    import spacy
    from spacy.symbols import ORTH

    nlp = spacy.load(model, disable=list(disable))
    for kind in PII_KINDS:
        for n in range(3, 129):
            mask = mask_for(kind, n)
            nlp.tokenizer.add_special_case(mask, [{ORTH: mask}])
    if not ({"parser", "senter", "sentencizer"} & set(nlp.pipe_names)):
        nlp.add_pipe("sentencizer", first=True)
    return nlp


# --------------------------------------------------------------------------- text preparation

# controls (but not the characters we replace below by a space), line/paragraph
# separators, zero-width and bidi format characters, BOM, soft hyphen
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LETTER = re.compile(r"[^\W\d_]")
_NON_LATIN = re.compile(  # letters outside Basic Latin, Latin-1, Extended-A/B/C/D/Additional, fullwidth
    "[^\\W\\d_A-Za-z\u00aa\u00b5\u00ba\u00c0-\u024f\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff"
    "\uff21-\uff3a\uff41-\uff5a]")
_BLANK_LINES = re.compile(r"\n\s*\n")
_SCRIPT_SAMPLE = 20_000


def prepare_text(text: str) -> str:
    """Replace control/format characters and line breaks by spaces, lone surrogates
    by U+FFFD; the result has the same length as ``text``."""
    if _CONTROL.search(text):
        text = _CONTROL.sub(" ", text)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


def script_ratio(text: str) -> tuple[int, float]:
    """(letters, share of letters outside the Latin script) of ``text`` (first 20k chars)."""
    sample = text[:_SCRIPT_SAMPLE]
    letters = len(_LETTER.findall(sample))
    if not letters:
        return 0, 0.0
    return letters, len(_NON_LATIN.findall(sample)) / letters


def _split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut text[start:end] into pieces of at most ``limit`` chars at sentence-like boundaries."""
    out: list[tuple[int, int]] = []
    while end - start > limit:
        hi = start + limit
        cut = -1
        pos = text.rfind(". ", start, hi - 1)
        while pos > start:
            nxt = pos + 2
            while nxt < hi and text[nxt] == " ":
                nxt += 1
            if nxt < hi and text[nxt].isupper():
                cut = pos + 1
                break
            pos = text.rfind(". ", start, pos)
        if cut <= start:
            for ws in (" ", "\t", "\n", "\u3000"):
                p = text.rfind(ws, start + 1, hi)
                if p > cut:
                    cut = p
        if cut <= start:
            cut = hi
        out.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        out.append((start, end))
    return out


def _paragraph_spans(text: str, paragraphs: Iterable[Any]) -> list[tuple[int, int]]:
    n = len(text)
    spans: list[tuple[int, int]] = []
    for p in paragraphs or ():
        try:
            if isinstance(p, dict):
                s, e = int(p["start"]), int(p["end"])
            else:
                s, e = int(p[0]), int(p[1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        s, e = max(0, s), min(n, e)
        if s < e:
            spans.append((s, e))
    if not spans:
        pos = 0
        for m in _BLANK_LINES.finditer(text):
            spans.append((pos, m.start()))
            pos = m.end()
        spans.append((pos, n))
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:  # overlapping spans are merged, never cut
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out: list[tuple[int, int]] = []
    for s, e in merged:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def _lang_ok(language: str | None, languages: Sequence[str]) -> bool:
    if not language:
        return True  # unknown: the script check decides
    primary = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]
    return primary in {l.strip().lower() for l in languages}


# --------------------------------------------------------------------------- relation extraction

_SUBJ = frozenset({"nsubj", "nsubjpass"})
_NP_MODS = frozenset({"compound", "amod", "nummod", "nmod", "flat"})
LITERAL_KINDS = {"DATE": "date", "TIME": "date", "CARDINAL": "number", "ORDINAL": "number",
            "MONEY": "quantity", "QUANTITY": "quantity", "PERCENT": "quantity"}
_PRONOUN_LABEL = {"he": "PERSON", "she": "PERSON", "him": "PERSON", "her": "PERSON",
                  "his": "PERSON", "hers": "PERSON", "it": "ORG", "its": "ORG"}
_REL_PRONOUNS = frozenset({"who", "whom", "which", "that", "whose"})
_RESOLVE_SUBJ_LABELS = ("PERSON", "ORG")
_HYPOTHETICAL = frozenset({"if", "unless", "whether"})


class _Arg(NamedTuple):
    start: int  # char offsets in doc.text
    end: int
    head: int  # char offset of the head token
    kind: str  # entity, date, number, quantity, string
    factor: float


class _Ctx:
    """Per-Doc lookups: entity and link of each token, pronoun antecedents."""

    def __init__(self, doc: "Doc", link_spans: Sequence[tuple[int, int]], title: str | None,
                 text: str | None = None):
        self.doc = doc
        self.text = doc.text if text is None else text  # Doc.text is rebuilt on every access
        n = len(doc)
        self.ent: list[Any] = [None] * n
        for e in doc.ents:
            for i in range(e.start, e.end):
                self.ent[i] = e
        self.link: list[tuple[int, int] | None] = [None] * n
        for s, e in link_spans:
            sp = doc.char_span(s, e, alignment_mode="expand")
            if sp is None or not len(sp):
                continue
            for i in range(sp.start, sp.end):
                if self.link[i] is None:
                    self.link[i] = (sp.start, sp.end)
        self.title = (title or "").strip().casefold() or None
        # antecedent candidates: (end_char, span) per label; subject ones preferred
        self._ante: dict[str, list[tuple[int, Any]]] = {}
        self._ante_subj: dict[str, list[tuple[int, Any]]] = {}
        for e in doc.ents:
            if e.label_ in _RESOLVE_SUBJ_LABELS:
                self._ante.setdefault(e.label_, []).append((e.end_char, e))
                if any(t.dep_ in _SUBJ for t in e):
                    self._ante_subj.setdefault(e.label_, []).append((e.end_char, e))

    def antecedent(self, tok: "Token") -> Any:
        label = _PRONOUN_LABEL.get(tok.lower_)
        if label is None:
            return None
        for table in (self._ante_subj, self._ante):
            cands = table.get(label)
            if cands:
                k = bisect_right(cands, tok.idx, key=lambda c: c[0]) - 1
                if k >= 0:
                    return cands[k][1]
        return None


def _np_span(tok: "Token") -> tuple[int, int]:
    """Token span of the head with its contiguous left modifiers (no determiners)."""
    left = tok.i
    for child in reversed(list(tok.lefts)):
        if child.dep_ in _NP_MODS and child.right_edge.i == left - 1:
            left = child.left_edge.i
            if tok.doc[left].dep_ == "det" or tok.doc[left].is_punct:
                left += 1
        else:
            break
    return left, tok.i + 1


def _arg(tok: "Token", ctx: _Ctx, subject: bool) -> _Arg | None:
    """Argument headed by ``tok`` or None when it cannot be an argument."""
    doc = ctx.doc
    if tok.pos_ == "PRON" or tok.tag_ in ("PRP", "PRP$", "WP", "WP$", "WDT"):
        ante = ctx.antecedent(tok)
        if ante is None:
            return None
        return _Arg(ante.start_char, ante.end_char, ante.root.idx, "entity", 0.75)
    if tok.pos_ in ("DET", "PUNCT", "SPACE", "CCONJ", "ADP", "X") and ctx.link[tok.i] is None:
        return None
    link = ctx.link[tok.i]
    ent = ctx.ent[tok.i]
    if link is not None:
        s, e = link
        kind, factor = "entity", 1.0
        if ent is not None and ent.label_ in LITERAL_KINDS:
            kind = LITERAL_KINDS[ent.label_]
    elif ent is not None:
        s, e = ent.start, ent.end
        kind = LITERAL_KINDS.get(ent.label_, "entity")
        factor = 1.0 if kind == "entity" else 0.95
    else:
        s, e = _np_span(tok)
        if tok.pos_ == "PROPN":
            kind, factor = "entity", 0.85
        elif tok.pos_ == "NUM" or tok.like_num:
            kind, factor = "number", 0.95
        elif tok.pos_ == "NOUN" and any(c.dep_ == "nummod" for c in tok.children):
            kind, factor = "quantity", 0.95  # a counted noun: "164,000 employees"
        else:
            kind, factor = "string", 0.6
    start, end = doc[s].idx, doc[e - 1].idx + len(doc[e - 1])
    if subject:
        if kind != "entity":
            if ctx.title and ctx.text[start:end].casefold() == ctx.title:
                return _Arg(start, end, tok.idx, "entity", 0.85)
            return None
    if not subject and kind == "string":
        if any(c.lower_ in ("no", "neither") and c.dep_ == "det" for c in tok.children):
            return None
    return _Arg(start, end, tok.idx, kind, factor)


def _with_conj(tok: "Token") -> list["Token"]:
    out = [tok]
    for c in tok.children:
        if c.dep_ == "conj":
            out.extend(_with_conj(c))
    return out


def _rel_antecedent(pron: "Token") -> "Token | None":
    """Noun a relative pronoun stands for: the head of the relative clause it belongs to."""
    v = pron.head
    for _ in range(6):
        if v.dep_ == "relcl":
            return v.head
        if v.dep_ == "conj" and v.head.i != v.i:
            v = v.head
            continue
        return None
    return None


def _resolve_rel(tok: "Token") -> "Token":
    if tok.lower_ in _REL_PRONOUNS and tok.tag_ in ("WP", "WDT", "WP$"):
        ante = _rel_antecedent(tok)
        if ante is not None:
            return ante
    return tok


def _negated(v: "Token") -> bool:
    for c in v.children:
        if c.dep_ == "neg" or (c.dep_ == "advmod" and c.lower_ == "never"):
            return True
    if v.dep_ == "conj" and not any(c.dep_ in _SUBJ or c.dep_ in ("aux", "auxpass") for c in v.children):
        return _negated(v.head) if v.head.i != v.i else False
    return False


def _is_passive(v: "Token") -> bool:
    for c in v.children:
        if c.dep_ in ("auxpass", "nsubjpass"):
            return True
    if v.tag_ == "VBN":
        if v.dep_ == "acl":
            return True
        if v.dep_ == "conj" and v.head.i != v.i and not any(
                c.dep_ in ("aux", "nsubj") for c in v.children):
            return _is_passive(v.head)
    return False


def _modal(v: "Token") -> bool:
    for c in v.children:
        if c.dep_ == "aux" and c.tag_ == "MD" and c.lower_ not in ("will", "'ll", "shall"):
            return True
    return False


def _named_appos(tok: "Token") -> "Token":
    """A common/title noun with a named apposition stands for the name:
    "Apple's CEO, Tim Cook, spoke" -> Tim Cook."""
    if tok.ent_type_ or tok.pos_ not in ("NOUN", "PROPN"):
        return tok
    for c in tok.children:
        if c.dep_ == "appos" and c.ent_type_ and c.ent_type_ not in LITERAL_KINDS:
            return c
    return tok


def _subjects(v: "Token", depth: int = 0) -> tuple[list["Token"], bool]:
    """Grammatical subject heads of clause ``v`` (conjuncts expanded) and whether inherited."""
    own = [c for c in v.children if c.dep_ in _SUBJ]
    if own:
        out = []
        for s in own:
            out.extend(_with_conj(s))
        return [_named_appos(_resolve_rel(s)) for s in out], False
    if depth < 6 and v.dep_ == "conj" and v.head.i != v.i and v.head.pos_ in ("VERB", "AUX"):
        subs, _ = _subjects(v.head, depth + 1)
        return subs, True
    if v.dep_ == "acl" and v.head.pos_ in ("NOUN", "PROPN"):
        return [v.head], True
    return [], False


def _rel_noun(n: "Token") -> str:
    parts = [c.lemma_.lower() for c in n.lefts if c.dep_ == "compound" and c.is_alpha]
    parts.append(n.lemma_.lower())
    return " ".join(parts)


def _relational(n: "Token", ctx: _Ctx) -> bool:
    """A common noun (or an un-typed capitalized title like 'CEO') usable as relation."""
    return n.pos_ in ("NOUN", "PROPN") and ctx.ent[n.i] is None and ctx.link[n.i] is None and n.is_alpha


def _prep_objects(p: "Token") -> list["Token"]:
    out = []
    for c in p.children:
        if c.dep_ == "pobj":
            out.extend(_with_conj(c))
    return out


def _is_time(tok: "Token", ctx: _Ctx) -> bool:
    e = ctx.ent[tok.i]
    return e is not None and e.label_ in ("DATE", "TIME")


def _ent_text(tok: "Token", ctx: _Ctx) -> str:
    e = ctx.ent[tok.i]
    return e.text if e is not None else tok.text


class _Collector:
    def __init__(self, text: str, long_sentence: bool):
        self.text = text
        self.best: dict[tuple, Triple] = {}
        self.long = long_sentence
        self.guard = -1

    def add(self, subj: _Arg | None, pred: str, obj: _Arg | None, base: float,
            qualifiers: dict[str, str], extra: float = 1.0) -> None:
        if subj is None or obj is None or not pred:
            return
        if subj.start < obj.end and obj.start < subj.end:
            return  # overlapping arguments
        g = self.guard  # char offset of the verb / relational noun: no argument may cover it
        if g >= 0 and (subj.start <= g < subj.end or obj.start <= g < obj.end):
            return  # an argument swallowed the predicate (long link anchors)
        text = self.text
        conf = base * subj.factor * obj.factor * extra * (0.9 if self.long else 1.0)
        conf = round(min(1.0, max(0.0, conf)), 3)
        key = (subj.start, subj.end, pred, obj.start, obj.end)
        old = self.best.get(key)
        if old is not None and old.confidence >= conf:
            return
        self.best[key] = Triple(
            subject=text[subj.start:subj.end], subject_start=subj.start, subject_end=subj.end,
            predicate=pred, object=text[obj.start:obj.end], object_start=obj.start,
            object_end=obj.end, object_type=obj.kind, qualifiers=dict(qualifiers),
            confidence=conf, subject_head=subj.head, object_head=obj.head)


def _noun_extension(n: "Token", ctx: _Ctx) -> list[tuple[str, "Token"]]:
    """For a relational noun: (noun + prep, object) pairs from its prepositional children."""
    out = []
    if not _relational(n, ctx):
        return out
    for p in n.children:
        if p.dep_ == "prep":
            for o in _prep_objects(p):
                if not _is_time(o, ctx):
                    out.append((f"{_rel_noun(n)} {p.lower_}", o))
    return out


def _possessor(n: "Token") -> "Token | None":
    for c in n.children:
        if c.dep_ == "poss":
            return c
    return None


def _relational_pairs(n: "Token", ctx: _Ctx) -> list[tuple[str, "Token"]]:
    """Relational noun with its arguments: "CEO of Apple", "Apple's CEO", "its CEO"."""
    pairs = _noun_extension(n, ctx)
    if _relational(n, ctx):
        poss = _possessor(n)
        if poss is not None:
            pairs.append((f"{_rel_noun(n)} of", poss))
    return pairs


def _clause(v: "Token", ctx: _Ctx, col: _Collector) -> None:
    if _negated(v) or any(c.dep_ == "mark" and c.lower_ in _HYPOTHETICAL for c in v.children):
        return
    col.guard = v.idx
    subj_toks, inherited = _subjects(v)
    if not subj_toks:
        return
    passive = _is_passive(v)
    extra = ((0.9 if inherited or v.dep_ in ("relcl", "acl") else 1.0)
             * (0.7 if _modal(v) else 1.0) * (0.8 if v.dep_ == "ccomp" else 1.0))
    prts = [c.lower_ for c in v.children if c.dep_ == "prt"]
    lemma = " ".join([v.lemma_.lower()] + prts)
    word = " ".join([v.lower_] + prts)

    # time qualifier and candidate objects: (predicate suffix, object token, base)
    time_toks: list["Token"] = []
    objects: list[tuple[str, "Token", float]] = []
    agents: list["Token"] = []
    attrs: list["Token"] = []
    for c in v.children:
        dep = c.dep_
        if dep == "agent":
            agents.extend(_prep_objects(c))
        elif dep == "prep":
            if ctx.link[c.i] is not None:
                continue  # the preposition is part of a link anchor
            for o in _prep_objects(c):
                if _is_time(o, ctx):
                    time_toks.append(o)
                    objects.append((c.lower_, o, -1.0))  # date object, used only if alone
                else:
                    ext = _noun_extension(o, ctx)
                    if ext and any(ctx.ent[x.i] is not None or ctx.link[x.i] is not None
                                   or x.pos_ == "PROPN" for _, x in ext):
                        for suffix, x in ext:
                            objects.append((f"{c.lower_} {suffix}", x, 0.9))
                    else:
                        objects.append((c.lower_, o, 0.9))
        elif dep == "npadvmod" and _is_time(c, ctx):
            time_toks.append(c)
        elif dep in ("dobj", "attr", "oprd", "acomp"):
            if dep == "oprd" and passive:
                # "was elected President of the United States" -> elected president of
                for o in _with_conj(c):
                    pairs = _relational_pairs(o, ctx)
                    if pairs:
                        objects.extend((suffix, x, 0.9) for suffix, x in pairs)
                    elif o.pos_ == "NOUN":
                        objects.append(("", o, 0.9))
            elif dep == "dobj" or dep == "oprd":
                for o in _with_conj(c):
                    o = _resolve_rel(o)
                    ext = _noun_extension(o, ctx)
                    if ext and any(ctx.ent[x.i] is not None or ctx.link[x.i] is not None
                                   or x.pos_ == "PROPN" for _, x in ext):
                        for suffix, x in ext:
                            objects.append((suffix, x, 0.9))
                    else:
                        objects.append(("", o, 0.9))
            elif dep in ("attr", "acomp"):
                attrs.extend(_with_conj(c))

    qualifiers: dict[str, str] = {}
    real_objects = [o for o in objects if o[2] > 0]
    if time_toks and (real_objects or agents or attrs):
        qualifiers["time"] = _ent_text(time_toks[0], ctx)
    else:
        # the date is the only object: keep it as object, first one only
        objects = [(s, o, 0.9) for s, o, b in objects if b < 0][:1]
    if not (real_objects or agents or attrs):
        real_objects = objects

    # a relational subject of "be" ("The CEO of Apple is Tim Cook") is handled below
    inverse = [t for t in subj_toks if v.lemma_.lower() == "be" and attrs and _relational(t, ctx)
               and (_possessor(t) is not None or any(c.dep_ == "prep" for c in t.children))]
    subjects = [(t, None if t in inverse else _arg(t, ctx, True)) for t in subj_toks]

    if passive and agents:
        # active orientation: agent -> lemma -> patient
        patients = [_arg(t, ctx, False) for t in subj_toks]
        for a in agents:
            sa = _arg(a, ctx, True)
            for pt in patients:
                col.add(sa, lemma, pt, 0.9, qualifiers, extra)
    verb_pred = word if passive else lemma

    # relational attributes; conjoined ones share the arguments of the last one:
    # "the capital and largest city of Germany"
    attr_pairs: dict[int, list[tuple[str, "Token"]]] = {}
    shared: list[tuple[str, "Token"]] = []
    for at in reversed(attrs):
        pairs = _relational_pairs(at, ctx) if at.pos_ != "ADJ" else []
        if pairs:
            shared = pairs
        elif shared and _relational(at, ctx) and at.pos_ == "NOUN":
            pairs = [(f"{_rel_noun(at)} {p.split()[-1]}", o) for p, o in shared]
        attr_pairs[at.i] = pairs

    for _, sa in subjects:
        if sa is None:
            continue
        for suffix, o, base in real_objects:
            if base < 0:
                continue
            pred = f"{verb_pred} {suffix}".strip()
            if verb_pred == "be":
                base = min(base, 0.7)  # "X is in Y": vaguer than a content verb
            col.add(sa, pred, _arg(o, ctx, False), base, qualifiers, extra)
        if not attrs:
            continue
        linking = v.lemma_.lower()
        prefix = "" if linking == "be" else linking + " "
        for at in attrs:
            if at.dep_ == "acomp" or at.pos_ == "ADJ":
                for p in at.children:
                    if p.dep_ == "prep":
                        for o in _prep_objects(p):
                            if not _is_time(o, ctx):
                                pred = f"{prefix}{at.lemma_.lower()} {p.lower_}"
                                col.add(sa, pred, _arg(o, ctx, False), 0.7, qualifiers, extra)
                continue
            ext = attr_pairs[at.i]
            if ext:
                for suffix, o in ext:
                    col.add(sa, prefix + suffix, _arg(o, ctx, False), 0.9, qualifiers, extra)
                continue
            aa = _arg(at, ctx, False)
            if aa is not None and aa.kind in ("entity", "string") and at.pos_ in ("NOUN", "PROPN"):
                col.add(sa, linking, aa, 0.7, qualifiers, extra)

    # inverse copula: "The CEO of Apple is Tim Cook", "Apple's CEO is Tim Cook"
    for st in inverse:
        pairs = _relational_pairs(st, ctx)
        for at in attrs:
            na = _arg(at, ctx, True)
            for pred, o in pairs:
                col.add(na, pred, _arg(o, ctx, False), 0.9, qualifiers, extra)


def _appositions(tok: "Token", ctx: _Ctx, col: _Collector) -> None:
    """``tok`` has dep appos; relate it to its head."""
    head = tok.head
    col.guard = -1
    # "Tim Cook, CEO of Apple" / "Tim Cook, Apple's CEO" / "Tim Cook, a businessman"
    ha = _arg(head, ctx, True)
    if ha is not None and _relational(tok, ctx):
        pairs = _relational_pairs(tok, ctx)
        if pairs:
            for pred, o in pairs:
                col.add(ha, pred, _arg(o, ctx, False), 0.9, {})
        elif tok.pos_ == "NOUN":
            col.add(ha, "be", _arg(tok, ctx, False), 0.7, {})
        return
    # "Apple's CEO, Tim Cook" / "the CEO of Apple, Tim Cook"
    if _relational(head, ctx):
        ta = _arg(tok, ctx, True)
        if ta is None:
            return
        for pred, o in _relational_pairs(head, ctx):
            col.add(ta, pred, _arg(o, ctx, False), 0.9, {})


def _possessive_name(rel: "Token", ctx: _Ctx, col: _Collector) -> None:
    """``rel`` is a compound of a name and has a possessor: "Apple's CEO Tim Cook"."""
    poss = _possessor(rel)
    name = rel.head
    col.guard = rel.idx
    if poss is None or name.i == rel.i or not _relational(rel, ctx):
        return
    if ctx.ent[name.i] is None and ctx.link[name.i] is None and name.pos_ != "PROPN":
        return
    col.add(_arg(name, ctx, True), f"{_rel_noun(rel)} of", _arg(poss, ctx, False), 0.9, {})


def _sentence_triples(sent: "Span", ctx: _Ctx) -> list[Triple]:
    col = _Collector(ctx.text, len(sent) > 60)
    for tok in sent:
        dep = tok.dep_
        pos = tok.pos_
        if pos in ("VERB", "AUX"):
            if pos == "AUX" and dep not in ("ROOT", "conj", "relcl", "ccomp", "advcl"):
                continue
            if pos == "AUX" and not any(c.dep_ in _SUBJ or c.dep_ in ("attr", "acomp")
                                        for c in tok.children):
                continue
            if dep in ("acl",) and tok.tag_ not in ("VBN", "VBG"):
                continue
            if dep in ("xcomp", "pcomp", "csubj", "auxpass", "aux") and not any(
                    c.dep_ in _SUBJ for c in tok.children):
                continue
            _clause(tok, ctx, col)
        elif dep == "appos":
            _appositions(tok, ctx, col)
        elif dep == "compound" and pos in ("NOUN", "PROPN"):
            _possessive_name(tok, ctx, col)
    return sorted(col.best.values(), key=lambda t: (t.subject_start, t.object_start, t.predicate))


def triples_from_doc(doc: "Doc", link_spans: Sequence[tuple[int, int]] = (),
                     title: str | None = None, max_sentence_tokens: int | None = None) -> list[Triple]:
    """Triples of every sentence of a parsed Doc (offsets relative to ``doc.text``).

    ``link_spans``: char spans of link anchors in ``doc.text``; an argument whose head
    lies in one becomes that span. ``title``: a subject with this exact text is
    entity-like even without NER. Sentences longer than ``max_sentence_tokens`` are
    skipped. A Doc without a dependency parse yields nothing.
    """
    return [t for _, triples in triples_by_sentence(doc, link_spans, title, max_sentence_tokens) for t in triples]


def triples_by_sentence(doc: "Doc", link_spans: Sequence[tuple[int, int]] = (), title: str | None = None,
                        max_sentence_tokens: int | None = None) -> list[tuple["Span", list[Triple]]]:
    """:func:`triples_from_doc` grouped by the sentence that states them (an argument may
    still lie in an earlier sentence, through a resolved pronoun)."""
    if not doc.has_annotation("DEP"):
        return []
    ctx = _Ctx(doc, link_spans, title)
    return [(sent, _sentence_triples(sent, ctx)) for sent in doc.sents
            if max_sentence_tokens is None or len(sent) <= max_sentence_tokens]


# --------------------------------------------------------------------------- documents -> rows


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
                 "anchors", "anchor_starts", "masks")

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


def prepare_document(doc: DocumentInput, cfg: ExtractConfig) -> tuple[_DocState | None, dict | None]:
    """Checks and text preparation; returns (state, None) or (None, reject row)."""
    raw = doc.text if isinstance(doc.text, str) else ("" if doc.text is None else str(doc.text))
    if not raw.strip():
        return None, _reject(doc, "empty_text", "document has no text", raw)
    if not _lang_ok(doc.language, cfg.languages):
        return None, _reject(doc, "unsupported_language",
                             f"language {doc.language!r} not in {list(cfg.languages)}",
                             _excerpt(raw, cfg.mask_pii))
    letters, share = script_ratio(raw)
    if letters and share > 0.5:
        return None, _reject(doc, "unsupported_script",
                             f"{share:.0%} of {letters} letters are not Latin",
                             _excerpt(raw, cfg.mask_pii))
    text = prepare_text(raw)
    paras = _paragraph_spans(text, doc.paragraphs)
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
            pieces.extend(_split_long(text, s, e, cfg.max_paragraph_chars))
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


def _process_piece(st: _DocState, sdoc: "Doc", offset: int, end_piece: int, cfg: ExtractConfig) -> None:
    doc = st.doc
    doc_id = doc.doc_id
    ptext = st.text[offset:end_piece]  # == sdoc.text
    # anchors inside this piece, piece-local coordinates
    lo = bisect_right(st.anchor_starts, offset - 1)
    hi = bisect_right(st.anchor_starts, end_piece)
    anchors = [(s - offset, e - offset, t) for s, e, t in st.anchors[lo:hi] if e <= end_piece]
    masks = [(a - offset, b - offset) for a, b in st.masks if a < end_piece and b > offset]
    if masks:
        anchors = [a for a in anchors if not _overlaps(masks, a[0], a[1])]
    ctx = (_Ctx(sdoc, [(s, e) for s, e, _ in anchors], doc.title, ptext)
           if sdoc.has_annotation("DEP") else None)
    # mentions of the piece: (start, end, mention_id), piece coordinates
    piece_mentions: list[tuple[int, int, str]] = []
    ents = [e for e in sdoc.ents if not (masks and _overlaps(masks, e.start_char, e.end_char))]
    ei = 0
    ai = 0
    text = st.text
    for sent in sdoc.sents:
        s0, s1 = sent.start_char, sent.end_char
        sent_text = ptext[s0:s1]
        if not sent_text.strip():
            continue
        idx = st.sentence_index
        st.sentence_index += 1
        sentence_id = stable_id(doc_id, idx)
        # entities / anchors belonging to this sentence (consume in order)
        sent_ents = []
        while ei < len(ents) and ents[ei].start < sent.end:
            if ents[ei].start >= sent.start and ents[ei].end <= sent.end:
                sent_ents.append(ents[ei])
            ei += 1
        sent_anchors = []
        while ai < len(anchors) and anchors[ai][0] < s1:
            a = anchors[ai]
            if a[0] >= s0 and a[1] <= s1:
                sent_anchors.append(a)
            ai += 1
        if len(sent) > cfg.max_sentence_tokens:
            st.rows.append(("rejects", _reject(
                doc, "sentence_too_long",
                f"sentence {idx} has {len(sent)} tokens (max {cfg.max_sentence_tokens})",
                sent_text, input_ref=f"{doc_id}#s{idx}")))
            continue
        mentions: dict[tuple[int, int], dict] = {}
        for e in sent_ents:
            key = (e.start_char, e.end_char)
            mentions[key] = _mention_row(doc_id, sentence_id, idx, offset, key,
                                         ptext[key[0]:key[1]], e.label_, None, "ner")
        for a_s, a_e, target in sent_anchors:
            label = "LINK"
            for e in sent_ents:
                if e.start_char == a_s and e.end_char == a_e:
                    label = e.label_
                    break
            else:
                for e in sent_ents:
                    if e.start_char < a_e and a_s < e.end_char:
                        label = e.label_
                        break
            key = (a_s, a_e)
            if key in mentions and mentions[key]["origin"] == "link":
                continue  # two anchors with one span: keep the first
            mentions[key] = _mention_row(doc_id, sentence_id, idx, offset, key,
                                         ptext[a_s:a_e], label, target, "link")
        for key in sorted(mentions):
            row = mentions[key]
            piece_mentions.append((key[0], key[1], row["mention_id"]))
            st.rows.append(("mentions", row))
        if ctx is None:
            continue
        triples = _sentence_triples(sent, ctx)
        if cfg.relation_model:
            triples = _classified(sent, triples, cfg)
        for t in triples:
            if masks and (_overlaps(masks, t.subject_start, t.subject_end)
                          or _overlaps(masks, t.object_start, t.object_end)):
                continue
            ss, se = t.subject_start + offset, t.subject_end + offset
            os_, oe = t.object_start + offset, t.object_end + offset
            st.rows.append(("triples_raw", {
                "triple_id": stable_id(sentence_id, ss, se, t.predicate, os_, oe),
                "doc_id": doc_id,
                "sentence_index": idx,
                "sentence_text": sent_text,
                "subject": text[ss:se],
                "subject_start": ss,
                "subject_end": se,
                "subject_mention_id": _find_mention(piece_mentions, t.subject_start, t.subject_end,
                                                    t.subject_head),
                "predicate": t.predicate,
                "object": text[os_:oe],
                "object_start": os_,
                "object_end": oe,
                "object_mention_id": _find_mention(piece_mentions, t.object_start, t.object_end,
                                                   t.object_head),
                "object_type": t.object_type,
                "qualifiers": dict(t.qualifiers),
                "extractor": EXTRACTOR_WITH_MODEL if cfg.relation_model else EXTRACTOR,
                "extractor_version": EXTRACTOR_VERSION,
                "confidence": float(t.confidence),
            }))


def _classified(sent: "Span", triples: list[Triple], cfg: ExtractConfig) -> list[Triple]:
    """``extract.relation_model`` set: the sentence's triples (and, with ``relation_add_pairs``,
    its other mention pairs) as the trained relation classifier names and scores them
    (``kgpipe.labeling.classify_sentence``); the model is loaded once per process."""
    from kgpipe.labeling import classify_sentence, load_model
    return classify_sentence(load_model(cfg.relation_model), sent, triples,
                             keep_rejected=cfg.relation_keep_rejected, add_pairs=cfg.relation_add_pairs,
                             threshold=cfg.relation_threshold)


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

    Rows match ``schemas.tables`` exactly; offsets are in document coordinates.
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
    if pending:
        yield from pending
        pending.clear()
