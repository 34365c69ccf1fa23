"""Relation extraction from a dependency parse: the patterns that turn a spaCy sentence into triples.

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
relative clause        Curie, who was born in Warsaw, moved to Paris.    (Curie, born in, Warsaw), (.., move to, Paris)
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
rounded to 3 places (the constants below):
base ``BASE_SPECIFIC`` 0.9 (verbal, passive, relational noun, apposition, possessive),
``BASE_VAGUE`` 0.7 (copula or apposition with a class noun, adjective + preposition,
"be" + preposition); subject: entity/link ``ARG_ENTITY`` 1.0, proper noun or title
``ARG_PROPER_NOUN`` 0.85, resolved pronoun ``ARG_PRONOUN`` 0.75; object: entity/link
``ARG_ENTITY`` 1.0, typed literal ``ARG_LITERAL`` 0.95, proper noun ``ARG_PROPER_NOUN``
0.85, string ``ARG_STRING`` 0.6; subject inherited from a conjoined verb, relative or
participle clause x``CTX_INHERITED_SUBJECT`` 0.9; modal verb (may, would, ...)
x``CTX_MODAL`` 0.7; reported clause ("said that ...") x``CTX_REPORTED`` 0.8; sentence
over ``LONG_SENTENCE_TOKENS`` 60 tokens x``CTX_LONG_SENTENCE`` 0.9.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from kgpipe.dates import date_at

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span, Token

    from kgpipe.extract.vocabulary import Vocabulary

# Confidence factors (see the module docstring); a triple's confidence is their product.
#: base of a specific pattern: verbal, passive, relational noun, apposition, possessive
BASE_SPECIFIC = 0.9
#: base of a vague pattern: copula/apposition with a class noun, adjective + preposition, "be" + preposition
BASE_VAGUE = 0.7
#: argument that is an NER entity of a non-literal type or a link anchor
ARG_ENTITY = 1.0
#: argument that is a typed literal: date, number, quantity
ARG_LITERAL = 0.95
#: argument that is a proper noun without NER, or a subject equal to the document title
ARG_PROPER_NOUN = 0.85
#: argument that is a pronoun resolved to an earlier entity
ARG_PRONOUN = 0.75
#: object that is any other noun phrase (such subjects are dropped)
ARG_STRING = 0.6
#: subject inherited from a conjoined verb, a relative or a participle clause
CTX_INHERITED_SUBJECT = 0.9
#: clause with a modal auxiliary (may, would, ...; not will/shall)
CTX_MODAL = 0.7
#: reported clause: "said that ..."
CTX_REPORTED = 0.8
#: sentence with more than LONG_SENTENCE_TOKENS tokens, where parses get unreliable
CTX_LONG_SENTENCE = 0.9
#: token count above which CTX_LONG_SENTENCE applies
LONG_SENTENCE_TOKENS = 60
#: pattern base marking a date object that is used only when the clause has no other argument
_DATE_ONLY = -1.0


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



_SUBJ = frozenset({"nsubj", "nsubjpass"})
_NP_MODS = frozenset({"compound", "amod", "nummod", "nmod", "flat"})
LITERAL_KINDS = {"DATE": "date", "TIME": "date", "CARDINAL": "number", "ORDINAL": "number",
            "MONEY": "quantity", "QUANTITY": "quantity", "PERCENT": "quantity"}
_PRONOUN_LABEL = {"he": "PERSON", "she": "PERSON", "him": "PERSON", "her": "PERSON",
                  "his": "PERSON", "hers": "PERSON", "it": "ORG", "its": "ORG"}
_REL_PRONOUNS = frozenset({"who", "whom", "which", "that", "whose"})
_RESOLVE_SUBJ_LABELS = ("PERSON", "ORG")
_COUNTRY_NOUNS = frozenset({"country", "nation"})
#: "one of the leaders": the part that stands for the whole's noun
_PARTITIVES = frozenset({"one", "two", "three", "some", "several", "many", "each", "all", "both"})
_DEFINITE = frozenset({"the", "that", "this"})
_TITLE_QUALIFIER = re.compile(r"\s*\([^()]*\)\s*$")
_BORN = re.compile(r"\s*(?:born|b\.)\s+", re.IGNORECASE)
_DASH = re.compile(r"\s*[–—]\s*|\s+-\s+|(?<=\d)-(?=\d)")
#: NER labels of things "it" may stand for
THING_LABELS = frozenset({"ORG", "GPE", "LOC", "FAC", "NORP", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
                           "LANGUAGE"})
_PLACE_LABELS = frozenset({"GPE", "LOC"})
#: the predicate of "Graz, Austria" (:func:`_address`)
_PLACE_CHAIN = "part of"
#: "Washington, D.C.", "Austin, TX": a postal abbreviation after a city is part of its name or address
_POSTAL_CODE = re.compile(r"^(?!U\.?[SK]\.?$)[A-Z]\.?[A-Z]\.?$")
_HYPOTHETICAL = frozenset({"if", "unless", "whether"})


class _Arg(NamedTuple):
    start: int  # char offsets in doc.text
    end: int
    head: int  # char offset of the head token
    kind: str  # entity, date, number, quantity, string
    factor: float


class ArticleSubject(NamedTuple):
    """What a page is about, as its first sentence names it ("Alabama is a state ..."): in a Wikipedia
    article "it", "its", "he", "the state" mostly mean the page's subject, and its later paragraphs never
    name it again, so paragraph-local resolution loses those facts ("Its capital is Montgomery")."""

    start: int  # offsets in the parsed text; negative when the subject lies in an earlier piece
    end: int
    head: int
    text: str
    #: pronouns that can stand for the subject: {it, its}, or a person's he/his/him or she/her/hers
    pronouns: frozenset[str]
    #: lemmas of the subject's class nouns: "the state" means Alabama
    nouns: frozenset[str]

    @property
    def person(self) -> bool:
        return "it" not in self.pronouns

    def arg(self, factor: float = ARG_PRONOUN) -> _Arg:
        return _Arg(self.start, self.end, self.head, "entity", factor)

    def shifted(self, by: int) -> "ArticleSubject":
        return self._replace(start=self.start - by, end=self.end - by, head=self.head - by)


class ParseContext:
    """Per-Doc lookups: entity and link of each token, pronoun antecedents."""

    def __init__(self, doc: "Doc", link_spans: Sequence[tuple[int, int]], title: str | None,
                 text: str | None = None, subject: ArticleSubject | None = None,
                 vocabulary: Vocabulary | None = None):
        self.doc = doc
        #: the relation vocabulary, where the caller maps predicates with one (modifiers, countries)
        self.vocabulary = vocabulary
        #: the page's subject, once its first sentence has named it (see :class:`ArticleSubject`)
        self.subject = subject
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
        self._token_starts: dict[int, Any] | None = None
        # antecedent candidates: (end_char, span) per label; subject ones preferred
        self._ante: dict[str, list[tuple[int, Any]]] = {}
        self._ante_subj: dict[str, list[tuple[int, Any]]] = {}
        for e in doc.ents:
            if e.label_ in _RESOLVE_SUBJ_LABELS:
                self._ante.setdefault(e.label_, []).append((e.end_char, e))
                if any(t.dep_ in _SUBJ for t in e):
                    self._ante_subj.setdefault(e.label_, []).append((e.end_char, e))
        #: named countries, the antecedents of "the country" ("... in Romania. The country's capital is ...")
        country = vocabulary.object_class("country") if vocabulary is not None else None
        self._countries = [(e.end_char, e) for e in doc.ents
                           if e.label_ == "GPE" and country is not None and country.holds(e.text)]

    def antecedent(self, tok: "Token") -> _Arg | None:
        """What a pronoun stands for: the page's subject when the pronoun can mean it and no nearer
        antecedent fits, else the nearest preceding entity of the paragraph of the pronoun's type
        (grammatical subjects first), else None."""
        word = tok.lower_
        subject = self.subject
        if subject is not None and word in subject.pronouns and not self._nearer_antecedent(tok):
            return subject.arg()
        label = _PRONOUN_LABEL.get(word)
        if label is None:
            return None
        for table in (self._ante_subj, self._ante):
            cands = table.get(label)
            if cands:
                k = bisect_right(cands, tok.idx, key=lambda c: c[0]) - 1
                if k >= 0:
                    ante = cands[k][1]
                    return _Arg(ante.start_char, ante.end_char, ante.root.idx, "entity", ARG_PRONOUN)
        return None

    def _nearer_antecedent(self, tok: "Token") -> bool:
        """Whether something nearer than the page's subject can be what the pronoun means: an entity
        of the pronoun's type that is a grammatical subject earlier in the same sentence ("Bohr said he
        ..."), or, for "it"/"its", the grammatical subject of the previous sentence of the paragraph
        when that is another thing ("The constitution was adopted in 1901. It ...")."""
        label = _PRONOUN_LABEL.get(tok.lower_)
        sent = tok.sent
        for cand in self._ante_subj.get(label, ()):
            span = cand[1]
            if sent.start_char <= span.start_char and span.end_char <= tok.idx and not self.is_subject(span.root):
                return True
        if label != "ORG" or sent.start == 0:
            return False
        for t in self.doc[sent.start - 1].sent:
            if t.dep_ in _SUBJ and t.head.dep_ == "ROOT":
                return not (t.pos_ == "PRON" or self.is_subject(t)
                            or (self.ent[t.i] is not None and self.ent[t.i].label_ not in THING_LABELS))
        return False

    def is_subject(self, tok: "Token") -> bool:
        """Whether ``tok`` is (inside) the page's subject or a definite mention of its class ("the state")."""
        subject = self.subject
        if subject is None:
            return False
        return subject.start <= tok.idx < subject.end or self.class_reference(tok)

    def class_reference(self, tok: "Token") -> bool:
        """"the state", "this state" in the article Alabama: a bare definite noun of the subject's class."""
        subject = self.subject
        return subject is not None and tok.lemma_.lower() in subject.nouns and self._definite(tok)

    def country_reference(self, tok: "Token") -> _Arg | None:
        """"the country", "that country": the nearest country named before it (the page's subject first,
        where it is of that class: :meth:`class_reference`)."""
        if tok.lemma_.lower() not in _COUNTRY_NOUNS or not self._definite(tok):
            return None
        k = bisect_right(self._countries, tok.idx, key=lambda c: c[0]) - 1
        if k < 0:
            return None
        ante = self._countries[k][1]
        return _Arg(ante.start_char, ante.end_char, ante.root.idx, "entity", ARG_PRONOUN)

    def _definite(self, tok: "Token") -> bool:
        """A bare common noun with "the" (or a demonstrative), neither an entity nor a link itself."""
        if tok.pos_ != "NOUN" or self.ent[tok.i] is not None or self.link[tok.i] is not None:
            return False
        deps = [c for c in tok.children if c.dep_ not in ("case", "punct")]
        return len(deps) == 1 and deps[0].dep_ == "det" and deps[0].lower_ in _DEFINITE

    def token_at(self, char: int) -> "Token | None":
        """The token that starts at character offset ``char`` of the doc."""
        if self._token_starts is None:
            self._token_starts = {t.idx: t for t in self.doc}
        return self._token_starts.get(char)

    def span_text(self, start: int, end: int) -> str:
        """Text of an argument span; a negative start is the page's subject in an earlier paragraph."""
        if start < 0 and self.subject is not None and (start, end) == (self.subject.start, self.subject.end):
            return self.subject.text
        return self.text[start:end]


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


def _arg(tok: "Token", ctx: ParseContext, subject: bool) -> _Arg | None:
    """Argument headed by ``tok`` or None when it cannot be an argument."""
    doc = ctx.doc
    if tok.pos_ == "PRON" or tok.tag_ in ("PRP", "PRP$", "WP", "WP$", "WDT"):
        return ctx.antecedent(tok)
    if ctx.class_reference(tok):
        return ctx.subject.arg()
    if (country := ctx.country_reference(tok)) is not None:
        return country
    if tok.pos_ in ("DET", "PUNCT", "SPACE", "CCONJ", "ADP", "X") and ctx.link[tok.i] is None:
        return None
    link = ctx.link[tok.i]
    ent = ctx.ent[tok.i]
    if link is not None:
        s, e = link
        kind, factor = "entity", ARG_ENTITY
        if ent is not None and ent.label_ in LITERAL_KINDS:
            kind = LITERAL_KINDS[ent.label_]
    elif ent is not None:
        s, e = ent.start, ent.end
        kind = LITERAL_KINDS.get(ent.label_, "entity")
        factor = ARG_ENTITY if kind == "entity" else ARG_LITERAL
    else:
        s, e = _np_span(tok)
        if tok.pos_ == "PROPN":
            kind, factor = "entity", ARG_PROPER_NOUN
        elif tok.pos_ == "NUM" or tok.like_num:
            kind, factor = "number", ARG_LITERAL
        elif tok.pos_ == "NOUN" and any(c.dep_ == "nummod" for c in tok.children):
            kind, factor = "quantity", ARG_LITERAL  # a counted noun: "164,000 employees"
        else:
            kind, factor = "string", ARG_STRING
    start, end = doc[s].idx, doc[e - 1].idx + len(doc[e - 1])
    if subject:
        if kind != "entity":
            if ctx.title and ctx.text[start:end].casefold() == ctx.title:
                return _Arg(start, end, tok.idx, "entity", ARG_PROPER_NOUN)
            return None
    if not subject and kind == "string":
        if any(c.lower_ in ("no", "neither") and c.dep_ == "det" for c in tok.children):
            return None
    return _Arg(start, end, tok.idx, kind, factor)


def _with_conj(tok: "Token", addresses: bool = False) -> list["Token"]:
    """``tok`` and its conjuncts; the later parts of an address ("born in Godalming, Surrey, England") are
    no conjuncts but the places that hold the first (:func:`_address`), unless ``addresses``."""
    out = [tok]
    for c in tok.children:
        if c.dep_ == "conj" and (addresses or not _address_part(c)):
            out.extend(_with_conj(c, addresses))
    return out


def _rel_antecedent(pron: "Token") -> "Token | None":
    """Noun a relative pronoun stands for: the head of the relative clause it belongs to, reached through
    conjoined verbs and through the noun and preposition it hangs off ("States, whose capital is ...",
    "Austria, the leader of which is ...")."""
    v = pron.head
    for _ in range(6):
        if v.dep_ == "relcl" and v.head.pos_ in ("VERB", "AUX"):
            # a relative clause hangs off a noun: on a verb it is a misparse ("died in Russia which is led
            # by ..."), and the noun just before the pronoun is what it stands for
            before = pron.doc[pron.i - 1] if pron.i > 0 else None
            if before is not None and before.is_punct and before.i > 0:
                before = pron.doc[before.i - 1]
            return before if before is not None and before.pos_ in ("NOUN", "PROPN") else None
        if v.dep_ == "relcl":
            return v.head
        if v.head.i == v.i or not (v.dep_ == "conj" or v.dep_ in ("prep", "pobj", "poss")
                                   or (v.pos_ in ("NOUN", "PROPN") and v.head.pos_ in ("AUX", "VERB"))):
            return None
        v = v.head
    return None


def _resolve_rel(tok: "Token") -> "Token":
    """What a relative pronoun stands for; where that is the class noun or nationality a copula gives its
    subject, the subject: "Aristotle was a Greek philosopher who was born in Stagira" is about Aristotle,
    "Buzz Aldrin was an American, who was born in ..." about Aldrin."""
    if tok.lower_ in _REL_PRONOUNS and tok.tag_ in ("WP", "WDT", "WP$"):
        ante = _rel_antecedent(tok)
        if ante is not None:
            if ante.pos_ == "NOUN" or ante.ent_type_ == "NORP":
                described = _described_by(ante)
                if len(described) == 1:
                    return described[0]
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
        out = [_named_appos(_resolve_rel(s)) for s in out]
        return ([_partitive(s) for s in out] if v.lemma_ == "be" else out), False
    if depth < 6 and v.dep_ == "conj" and v.head.i != v.i and v.head.pos_ in ("VERB", "AUX"):
        subs, _ = _subjects(v.head, depth + 1)
        return subs, True
    if v.dep_ == "acl" and v.head.pos_ in ("NOUN", "PROPN"):
        described = _described_by(v.head)
        if described:
            return described, True
        return [v.head], True
    return [], False


def _partitive(tok: "Token") -> "Token":
    """"One of the leaders of Indonesia is Jusuf Kalla": the leaders are what the copula is about (other
    verbs say something of the one: "one of the reliefs depicts a demon")."""
    if tok.lower_ not in _PARTITIVES:
        return tok
    wholes = [o for p in tok.children if p.dep_ == "prep" and p.lower_ == "of" for o in _prep_objects(p)]
    return wholes[0] if len(wholes) == 1 and wholes[0].pos_ == "NOUN" and wholes[0].tag_ == "NNS" else tok


def _described_by(noun: "Token") -> list["Token"]:
    """Subjects that a class noun describes, so that a participle on the noun is about them: "Animal Farm
    is a novella [by Orwell,] first published in 1945", "Actrius is a 1997 film directed by Ventura Pons"
    (the noun itself, or an apposition or conjunct of it, is the attribute of "be")."""
    n = noun
    for _ in range(4):
        if n.dep_ in ("appos", "conj") and n.head.i != n.i and n.head.pos_ in ("NOUN", "PROPN"):
            n = n.head
            continue
        break
    if n.dep_ == "attr" and n.head.lemma_.lower() == "be":
        return [_resolve_rel(s) for c in n.head.children if c.dep_ in _SUBJ for s in _with_conj(c)]
    return []


def _rel_noun(n: "Token", ctx: ParseContext, prep: str) -> str:
    """The predicate of a relational noun and its preposition: the noun with its compounds ("member state of"
    is no "state of"), and with those of its adjectives the vocabulary decides with. Adjectives are dropped
    from the left until the vocabulary maps what is left: "largest city of" (largestCity) is no "city of";
    a kept adjective stops the dropping ("former capital of" is no "capital of"); adjectives that decide
    nothing are left out ("significant amount of" is "amount of"). They keep their form: the lemma of
    "largest" is "large"."""
    modifiers = [c for c in n.lefts if c.is_alpha and (c.dep_ == "compound" or (c.dep_ == "amod" and c.pos_ == "ADJ"))]
    words = [c.lemma_.lower() if c.dep_ == "compound" else c.lower_ for c in modifiers]
    noun = [n.lemma_.lower(), prep]
    plain = " ".join([w for w, c in zip(words, modifiers) if c.dep_ == "compound"] + noun)
    vocabulary = ctx.vocabulary
    for i, modifier in enumerate(modifiers if vocabulary is not None else ()):
        candidate = " ".join(words[i:] + noun)
        if vocabulary.maps(candidate):
            return candidate
        if modifier.dep_ == "compound":
            break
        if words[i] in vocabulary.kept_modifiers:
            return candidate if vocabulary.maps(plain) else plain
    return plain


def _relational(n: "Token", ctx: ParseContext) -> bool:
    """A common noun (or an un-typed capitalized title like 'CEO') usable as relation."""
    return n.pos_ in ("NOUN", "PROPN") and ctx.ent[n.i] is None and ctx.link[n.i] is None and n.is_alpha


def _prep_objects(p: "Token") -> list["Token"]:
    out = []
    for c in p.children:
        if c.dep_ == "pobj":
            out.extend(_class_named(o) for o in _with_conj(c))
    return out


def _class_named(tok: "Token") -> "Token":
    """"the club PAS Tehran F.C.", "the dish Bandeja paisa": a common noun right before a name it is the class
    of stands for the name."""
    if tok.pos_ != "NOUN" or tok.ent_type_:
        return tok
    return next((c for c in tok.rights if c.dep_ == "appos" and c.pos_ == "PROPN" and c.left_edge.i == tok.i + 1),
                tok)


def _is_time(tok: "Token", ctx: ParseContext) -> bool:
    e = ctx.ent[tok.i]
    return e is not None and e.label_ in ("DATE", "TIME")


def _ent_text(tok: "Token", ctx: ParseContext) -> str:
    e = ctx.ent[tok.i]
    return e.text if e is not None else tok.text


class _Collector:
    def __init__(self, ctx: ParseContext, long_sentence: bool):
        self.ctx = ctx
        self.best: dict[tuple, Triple] = {}
        self.long = long_sentence
        self.guard = -1

    def add(self, subj: _Arg | None, pred: str, obj: _Arg | None, base: float,
            qualifiers: dict[str, str], extra: float = 1.0) -> None:
        if subj is None or obj is None or not pred:
            return
        if subj.start < obj.end and obj.start < subj.end:
            return  # overlapping arguments
        span_text = self.ctx.span_text
        if span_text(subj.start, subj.end).casefold() == span_text(obj.start, obj.end).casefold():
            return  # "the Olympic Stadium (Athens) in Athens": a thing is no relation of itself
        g = self.guard  # char offset of the verb / relational noun: no argument may cover it
        if g >= 0 and (subj.start <= g < subj.end or obj.start <= g < obj.end):
            return  # an argument swallowed the predicate (long link anchors)
        conf = base * subj.factor * obj.factor * extra * (CTX_LONG_SENTENCE if self.long else 1.0)
        conf = round(min(1.0, max(0.0, conf)), 3)
        key = (subj.start, subj.end, pred, obj.start, obj.end)
        old = self.best.get(key)
        if old is not None and old.confidence >= conf:
            return
        self.best[key] = Triple(
            subject=span_text(subj.start, subj.end), subject_start=subj.start, subject_end=subj.end,
            predicate=pred, object=span_text(obj.start, obj.end), object_start=obj.start,
            object_end=obj.end, object_type=obj.kind, qualifiers=dict(qualifiers),
            confidence=conf, subject_head=subj.head, object_head=obj.head)
        vocabulary = self.ctx.vocabulary
        # an address's own steps are stated one by one (the reasoning rules chain them)
        if (obj.kind == "entity" and pred != _PLACE_CHAIN and vocabulary is not None
                and vocabulary.along_address(pred)):
            place = self.ctx.token_at(obj.head)
            for part in _address_parts(place, vocabulary) if place is not None else ():
                self.add(subj, pred, _arg(part, self.ctx, False), base, qualifiers, extra)


def _noun_extension(n: "Token", ctx: ParseContext) -> list[tuple[str, "Token"]]:
    """For a relational noun: (noun + prep, object) pairs from its prepositional children."""
    out = []
    if not _relational(n, ctx):
        return out
    for p in n.children:
        if p.dep_ == "prep":
            for o in _prep_objects(p):
                if not _is_time(o, ctx):
                    out.append((_rel_noun(n, ctx, p.lower_), o))
    return out


def _possessor(n: "Token") -> "Token | None":
    for c in n.children:
        if c.dep_ == "poss":
            return c
    return None


def _where_clause_place(v: "Token") -> "Token | None":
    """The place a "where" clause headed by ``v`` is about: "Texas, where English is spoken", "cakes found
    in France where the leader is ..." (the parser may hang the clause on the verb, but "where" means the
    place named just before it)."""
    where = next((c for c in v.children if c.dep_ == "advmod" and c.lower_ == "where"), None)
    if v.dep_ == "conj" and v.head.i != v.i and v.head.pos_ in ("VERB", "AUX"):
        # "Mexico, where Spanish is spoken and (where) the leader is Enrique Pena Nieto": both clauses are the
        # place's
        place = _where_clause_place(v.head)
        if place is not None or where is None:
            return place
    if where is None or v.dep_ not in ("relcl", "advcl"):
        return None
    if v.dep_ == "relcl":
        return v.head
    before = v.doc[where.i - 1] if where.i > 0 else None
    if before is not None and before.text == "," and where.i > 1:
        before = v.doc[where.i - 2]
    return before if before is not None and before.ent_type_ in _PLACE_LABELS else None


def _where_place(n: "Token") -> "Token | None":
    """The place a clause is about, for a noun of that clause: "Texas, where Austin is the capital", and
    the fronted place of "In the United States, the leader is Barack Obama"."""
    place = _where_clause_place(n.head)
    if place is None and n.head.pos_ == "AUX":
        place = next((o for p in n.head.children if p.dep_ == "prep" and p.lower_ == "in" and p.i < n.i
                      for o in _prep_objects(p) if o.ent_type_ in _PLACE_LABELS), None)
    return place


def _relational_pairs(n: "Token", ctx: ParseContext) -> list[tuple[str, "Token"]]:
    """Relational noun with its arguments: "CEO of Apple", "Apple's CEO", "its CEO", "whose CEO", and in a
    "where" clause the place it is about ("Texas, where the capital is Austin")."""
    pairs = _noun_extension(n, ctx)
    if _relational(n, ctx):
        poss = _possessor(n)
        if poss is not None:
            pairs.append((_rel_noun(n, ctx, "of"), _resolve_rel(poss)))
        elif not pairs and (place := _where_place(n)) is not None:
            pairs.append((_rel_noun(n, ctx, "of"), place))
    return pairs


class _ClauseParts(NamedTuple):
    """What hangs off one verb, before any triple is formed."""

    #: (predicate suffix, object head, pattern base); a negative base marks a date,
    #: which is an object only when the clause has nothing else
    objects: list[tuple[str, "Token", float]]
    agents: list["Token"]  # objects of a "by" agent
    attrs: list["Token"]  # attr / acomp heads, conjuncts expanded
    time_toks: list["Token"]


class _Emit(NamedTuple):
    """Destination of one clause's triples with the qualifiers and context factor they all share."""

    col: _Collector
    ctx: ParseContext
    qualifiers: dict[str, str]
    extra: float

    def add(self, subj: _Arg | None, pred: str, obj: _Arg | None, base: float) -> None:
        self.col.add(subj, pred, obj, base, self.qualifiers, self.extra)

    def add_object(self, subj: _Arg | None, pred: str, obj: "Token", base: float) -> None:
        self.col.add(subj, pred, _arg(obj, self.ctx, False), base, self.qualifiers, self.extra)


def _context_factor(v: "Token", inherited: bool) -> float:
    # the factors are multiplied in this fixed order so confidences stay bit-identical
    return ((CTX_INHERITED_SUBJECT if inherited or v.dep_ in ("relcl", "acl") else 1.0)
            * (CTX_MODAL if _modal(v) else 1.0) * (CTX_REPORTED if v.dep_ == "ccomp" else 1.0))


def _extended_objects(prefix: str, o: "Token", ctx: ParseContext) -> list[tuple[str, "Token", float]]:
    """Object ``o`` after ``prefix`` (a preposition or ""), or, when ``o`` is a relational noun
    whose own arguments name something ("president of France"), those arguments instead."""
    ext = _noun_extension(o, ctx)
    if ext and any(ctx.ent[x.i] is not None or ctx.link[x.i] is not None or x.pos_ == "PROPN"
                   for _, x in ext):
        return [(f"{prefix} {suffix}" if prefix else suffix, x, BASE_SPECIFIC) for suffix, x in ext]
    return [(prefix, o, BASE_SPECIFIC)]


def _passive_predicatives(c: "Token", ctx: ParseContext) -> list[tuple[str, "Token", float]]:
    """"was elected President of the United States" -> elected president of."""
    out: list[tuple[str, "Token", float]] = []
    for o in _with_conj(c):
        pairs = _relational_pairs(o, ctx)
        if pairs:
            out.extend((suffix, x, BASE_SPECIFIC) for suffix, x in pairs)
        elif o.pos_ == "NOUN":
            out.append(("", o, BASE_SPECIFIC))
    return out


def _clause_parts(v: "Token", ctx: ParseContext, passive: bool) -> _ClauseParts:
    parts = _ClauseParts([], [], [], [])
    for c in v.children:
        dep = c.dep_
        if dep == "agent":
            parts.agents.extend(_prep_objects(c))
        elif dep == "prep":
            if ctx.link[c.i] is not None:
                continue  # the preposition is part of a link anchor
            for o in _prep_objects(c):
                if _is_time(o, ctx):
                    parts.time_toks.append(o)
                    parts.objects.append((c.lower_, o, _DATE_ONLY))
                else:
                    parts.objects.extend(_extended_objects(c.lower_, o, ctx))
        elif dep == "npadvmod" and _is_time(c, ctx):
            parts.time_toks.append(c)
        elif dep == "oprd" and passive:
            parts.objects.extend(_passive_predicatives(c, ctx))
        elif dep in ("dobj", "oprd"):
            for o in _with_conj(c):
                parts.objects.extend(_extended_objects("", _class_named(_resolve_rel(o)), ctx))
        elif dep in ("attr", "acomp"):
            parts.attrs.extend(_with_conj(c))
    return parts


def _time_qualifier(parts: _ClauseParts, ctx: ParseContext
                    ) -> tuple[dict[str, str], list[tuple[str, "Token", float]]]:
    """(qualifiers, objects) of the clause: a date qualifies the clause's other arguments,
    but when there are none it is the object itself (the first date only)."""
    objects = [o for o in parts.objects if o[2] > 0]
    if objects or parts.agents or parts.attrs:
        return ({"time": _ent_text(parts.time_toks[0], ctx)} if parts.time_toks else {}), objects
    return {}, [(s, o, BASE_SPECIFIC) for s, o, b in parts.objects if b < 0][:1]


def _inverse_subjects(v: "Token", subj_toks: list["Token"], attrs: list["Token"],
                      ctx: ParseContext) -> list["Token"]:
    """Relational subjects of "be" with their own argument ("The CEO of Apple is Tim Cook"):
    the attribute, not the subject, is what the relation is about."""
    return [t for t in subj_toks if v.lemma_.lower() == "be" and attrs and _relational(t, ctx)
            and (_possessor(t) is not None or any(c.dep_ == "prep" for c in t.children)
                 or _where_place(t) is not None)]


def _passive_agent_triples(subj_toks: list["Token"], agents: list["Token"], lemma: str, out: _Emit) -> None:
    # active orientation: agent -> lemma -> patient
    patients = [_arg(t, out.ctx, False) for t in subj_toks]
    for a in agents:
        sa = _arg(a, out.ctx, True)
        for pt in patients:
            out.add(sa, lemma, pt, BASE_SPECIFIC)


def _verb_object_triples(sa: _Arg, verb_pred: str, objects: list[tuple[str, "Token", float]],
                         out: _Emit) -> None:
    vocabulary = out.ctx.vocabulary
    for suffix, o, base in objects:
        pred = f"{verb_pred} {suffix}".strip()
        if verb_pred == "be":
            base = min(base, BASE_VAGUE)  # "X is in Y": vaguer than a content verb
        elif not suffix and vocabulary is not None and vocabulary.maps(f"{pred} {o.lemma_.lower()}"):
            pred = f"{pred} {o.lemma_.lower()}"   # "has 1500 members", "has a V12 engine": what it has says which
        out.add_object(sa, pred, o, base)


def _attribute_pairs(attrs: list["Token"], ctx: ParseContext) -> dict[int, list[tuple[str, "Token"]]]:
    """Relational pairs of each attribute; conjoined ones share the arguments of the last one:
    "the capital and largest city of Germany"."""
    attr_pairs: dict[int, list[tuple[str, "Token"]]] = {}
    shared: list[tuple[str, "Token"]] = []
    for at in reversed(attrs):
        pairs = _relational_pairs(at, ctx) if at.pos_ != "ADJ" else []
        if pairs:
            shared = pairs
        elif shared and _relational(at, ctx) and at.pos_ == "NOUN":
            pairs = [(_rel_noun(at, ctx, p.split()[-1]), o) for p, o in shared]
        attr_pairs[at.i] = pairs
    return attr_pairs


def _attribute_triples(sa: _Arg, linking: str, attrs: list["Token"],
                       attr_pairs: dict[int, list[tuple[str, "Token"]]], out: _Emit) -> None:
    """Copula / linking-verb triples: "is famous for", "became CEO of", "was a physicist"."""
    ctx = out.ctx
    prefix = "" if linking == "be" else linking + " "
    for at in attrs:
        if at.dep_ == "acomp" or at.pos_ == "ADJ":
            for p in at.children:
                if p.dep_ == "prep":
                    for o in _prep_objects(p):
                        if not _is_time(o, ctx):
                            out.add_object(sa, f"{prefix}{at.lemma_.lower()} {p.lower_}", o, BASE_VAGUE)
            continue
        ext = attr_pairs[at.i]
        if ext:
            for suffix, o in ext:
                out.add_object(sa, prefix + suffix, o, BASE_SPECIFIC)
            continue
        aa = _arg(at, ctx, False)
        if aa is not None and aa.kind in ("entity", "string") and at.pos_ in ("NOUN", "PROPN"):
            out.add(sa, linking, aa, BASE_VAGUE)


def _inverse_copula_triples(st: "Token", attrs: list["Token"], out: _Emit) -> None:
    """"The CEO of Apple is Tim Cook", "Apple's CEO is Tim Cook"."""
    pairs = _relational_pairs(st, out.ctx)
    for at in attrs:
        na = _arg(at, out.ctx, True)
        for pred, o in pairs:
            out.add_object(na, pred, o, BASE_SPECIFIC)


def _clause(v: "Token", ctx: ParseContext, col: _Collector) -> None:
    """Triples of the clause headed by verb ``v``."""
    if _negated(v) or any(c.dep_ == "mark" and c.lower_ in _HYPOTHETICAL for c in v.children):
        return
    col.guard = v.idx
    subj_toks, inherited = _subjects(v)
    if not subj_toks:
        return
    passive = _is_passive(v)
    prts = [c.lower_ for c in v.children if c.dep_ == "prt"]
    parts = _clause_parts(v, ctx, passive)
    qualifiers, objects = _time_qualifier(parts, ctx)
    # without an agent a passive keeps its participle: "born in", not "bear in"
    verb_pred = " ".join([v.lower_ if passive else v.lemma_.lower()] + prts)
    if ctx.vocabulary is not None and not any(c.dep_ == "dobj" for c in v.children):
        # "was born on July 23, 1927 in Dallas": the date of a verb whose date is a property (birthDate) is a
        # fact of its own, besides the time of the clause's other facts; with a direct object the date is the
        # object's ("Jobs founded Apple in 1976")
        objects = [*objects, *((prep, o, BASE_SPECIFIC) for prep, o, base in parts.objects
                               if base < 0 and (prep, o, BASE_SPECIFIC) not in objects
                               and ctx.vocabulary.canonical(f"{verb_pred} {prep}", "date") is not None)]
    place = _where_clause_place(v)
    if place is not None and not parts.attrs and not any(suffix == "" for suffix, _, _ in objects):
        # a verb without an object in a "where" clause happens in the place: "the town where he was born"
        objects = [*objects, ("in", place, BASE_SPECIFIC)]
    out = _Emit(col, ctx, qualifiers, _context_factor(v, inherited))
    inverse = _inverse_subjects(v, subj_toks, parts.attrs, ctx)
    if passive and parts.agents:
        _passive_agent_triples(subj_toks, parts.agents, " ".join([v.lemma_.lower()] + prts), out)
    attr_pairs = _attribute_pairs(parts.attrs, ctx)
    for t in subj_toks:
        sa = None if t in inverse else _arg(t, ctx, True)
        if sa is None:
            continue
        _verb_object_triples(sa, verb_pred, objects, out)
        if parts.attrs:
            _attribute_triples(sa, v.lemma_.lower(), parts.attrs, attr_pairs, out)
    for st in inverse:
        _inverse_copula_triples(st, parts.attrs, out)


def _entity_of(tok: "Token") -> "Span | None":
    """The NER entity ``tok`` is part of (from the token's IOB tags, so that no parse context is needed)."""
    if not tok.ent_type_:
        return None
    doc, start, end = tok.doc, tok.i, tok.i + 1
    while start > 0 and doc[start].ent_iob_ == "I":
        start -= 1
    while end < len(doc) and doc[end].ent_iob_ == "I":
        end += 1
    return doc[start:end]


def _listed(tok: "Token") -> bool:
    """Whether the conjuncts ``tok`` belongs to are joined by "and"/"or" somewhere: a list of places
    ("Paris, London and Rome"), not an address."""
    first = tok
    while first.dep_ == "conj" and first.head.i != first.i:
        first = first.head
    return any(c.dep_ == "cc" for conjunct in _with_conj(first, addresses=True) for c in conjunct.children)


def _address_part(tok: "Token") -> bool:
    """"Godalming, Surrey, England", "Graz, Austria": a place name followed, after a comma, by the name of
    the place that holds it, the way English writes addresses and birthplaces ("Washington, D.C." and
    "Austin, TX" are one name: a postal abbreviation is no place of its own). Only political places (GPE):
    "Europe, Africa, Asia" lists continents, it does not nest them."""
    head = tok.head
    if tok.dep_ not in ("appos", "conj") or head.i == tok.i or tok.ent_type_ != "GPE" or head.ent_type_ != "GPE":
        return False
    entity = _entity_of(tok)
    if entity.start <= head.i < entity.end or entity.start < 2 or tok.doc[entity.start - 1].text != ",":
        return False
    if tok.doc[entity.start - 2].ent_type_ != "GPE":
        return False  # "Cambodia (96%), Thailand (95%)": places with words between them are listed
    return not _POSTAL_CODE.match(entity.text) and not (tok.dep_ == "conj" and _listed(tok))


def _address_in(tok: "Token") -> bool:
    """"Washington in the U.S.", "California in the United States": a place attached to a place by "in"
    holds it, as an address part does."""
    prep = tok.head
    return (tok.dep_ == "pobj" and prep.dep_ == "prep" and prep.lower_ == "in" and prep.head.i != prep.i
            and tok.ent_type_ == "GPE" and prep.head.ent_type_ == "GPE" and not _POSTAL_CODE.match(tok.text))


def _address_parts(tok: "Token", vocabulary: Vocabulary) -> list["Token"]:
    """The places that hold ``tok`` in its address, nearest first ("Haputale, Sri Lanka": Sri Lanka)."""
    parts = []
    for c in tok.children:
        if c.dep_ in ("appos", "conj") and _address_part(c):
            parts.append(c)
        elif c.dep_ == "prep":
            parts.extend(o for o in c.children if _address_in(o))
    return [part for part in parts if not _two_countries(tok, part, vocabulary)]


def _two_countries(place: "Token", part: "Token", vocabulary: Vocabulary | None) -> bool:
    """"Russia, Armenia, Azerbaijan": a country holds no country, so commas between countries list them."""
    country = vocabulary.object_class("country") if vocabulary is not None else None
    return country is not None and all(country.holds((_entity_of(t) or t).text) for t in (place, part))


def _address(tok: "Token", ctx: ParseContext, col: _Collector) -> bool:
    """An address part states that the place before it is part of it (each step of a longer address is
    its own fact; :meth:`_Collector.add` carries it along the rest of the address)."""
    if _address_part(tok):
        held = tok.head
    elif _address_in(tok):
        held = tok.head.head
    else:
        return False
    if _two_countries(held, tok, ctx.vocabulary):
        return False
    col.guard = -1
    col.add(_arg(held, ctx, True), _PLACE_CHAIN, _arg(tok, ctx, False), BASE_SPECIFIC, {})
    return True


def _appositions(tok: "Token", ctx: ParseContext, col: _Collector) -> None:
    """``tok`` has dep appos; relate it to its head."""
    head = tok.head
    col.guard = -1
    if _address(tok, ctx, col):
        return
    # "Tim Cook, CEO of Apple" / "Tim Cook, Apple's CEO" / "Tim Cook, a businessman"
    ha = _arg(head, ctx, True)
    if ha is not None and _relational(tok, ctx):
        pairs = _relational_pairs(tok, ctx)
        if pairs:
            for pred, o in pairs:
                col.add(ha, pred, _arg(o, ctx, False), BASE_SPECIFIC, {})
        elif tok.pos_ == "NOUN":
            col.add(ha, "be", _arg(tok, ctx, False), BASE_VAGUE, {})
        return
    # "Apple's CEO, Tim Cook" / "the CEO of Apple, Tim Cook"
    if _relational(head, ctx):
        ta = _arg(tok, ctx, True)
        if ta is None:
            return
        for pred, o in _relational_pairs(head, ctx):
            col.add(ta, pred, _arg(o, ctx, False), BASE_SPECIFIC, {})


def _possessive_name(rel: "Token", ctx: ParseContext, col: _Collector) -> None:
    """``rel`` is a compound of a name and has a possessor: "Apple's CEO Tim Cook"."""
    poss = _possessor(rel)
    name = rel.head
    col.guard = rel.idx
    if poss is None or name.i == rel.i or not _relational(rel, ctx):
        return
    if ctx.ent[name.i] is None and ctx.link[name.i] is None and name.pos_ != "PROPN":
        return
    col.add(_arg(name, ctx, True), _rel_noun(rel, ctx, "of"), _arg(poss, ctx, False), BASE_SPECIFIC, {})


def _lifespan(sent: "Span", ctx: ParseContext, col: _Collector) -> None:
    """The dates in parentheses after a person's name in the lead sentence: "Albert Einstein (14 March 1879
    – 18 April 1955) was ...", "Alain Connes (born 1 April 1947) is ...", "Ayn Rand (born Alisa Rosenbaum;
    – March 6, 1982)". A year without the era its partner has ("384–322 BC") is left out, not guessed."""
    subject, text = ctx.subject, ctx.text
    if subject is None or not subject.person or not sent.start_char <= subject.start < sent.end_char:
        return
    opening = subject.end + len(text[subject.end:sent.end_char]) - len(text[subject.end:sent.end_char].lstrip())
    closing = text.find(")", opening, sent.end_char)
    if not text.startswith("(", opening) or closing < 0:
        return
    col.guard = -1
    who = subject.arg(ARG_ENTITY)
    start = opening + 1
    for part in text[start:closing].split(";"):
        end = start + len(part)
        born = _BORN.match(text, start, end)
        dash = _DASH.search(text, start, end)
        if born:
            dates = [("born", _whole_date(text, born.end(), end))]
        elif dash:
            dates = [("born", _whole_date(text, start, dash.start())), ("died", _whole_date(text, dash.end(), end))]
            if dates[1][1] and dates[1][1][0].endswith("BC") and dates[0][1] and not dates[0][1][0].endswith("BC"):
                dates = dates[1:]
        else:
            dates = []
        for predicate, found in dates:
            if found:
                col.add(who, predicate, _Arg(found[1], found[2], found[1], "date", ARG_LITERAL), BASE_SPECIFIC, {})
        start = end + 1


def _whole_date(text: str, start: int, end: int) -> tuple[str, int, int] | None:
    """(value, start, end) of the date that fills ``text[start:end]`` but for white space, else None."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    found = date_at(text[:end], start) if start < end else None
    return (found[0], start, end) if found and found[1] == end else None


def sentence_triples(sent: "Span", ctx: ParseContext) -> list[Triple]:
    col = _Collector(ctx, len(sent) > LONG_SENTENCE_TOKENS)
    _lifespan(sent, ctx, col)
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
        elif dep in ("conj", "pobj"):
            _address(tok, ctx, col)
        elif dep == "compound" and pos in ("NOUN", "PROPN"):
            _possessive_name(tok, ctx, col)
    return sorted(col.best.values(), key=lambda t: (t.subject_start, t.object_start, t.predicate))


def lead_subject(sent: "Span", ctx: ParseContext) -> tuple[int, int, int] | None:
    """(start, end, head offset) of what a page's first sentence is about: the entity or link anchor that
    reads as the page's title (without a trailing "(disambiguation)"-style qualifier), else the grammatical
    subject of the sentence when that is an entity or link anchor ("Aldous Leonard Huxley (26 July 1894 ...)
    was" in the article Aldous Huxley)."""
    title = _TITLE_QUALIFIER.sub("", ctx.title or "")
    spans = [(e.start, e.end) for e in sent.ents if e.label_ not in LITERAL_KINDS]
    spans += sorted({ctx.link[i] for i in range(sent.start, sent.end) if ctx.link[i] is not None})
    spans = [(s, next((i for i in range(s + 1, e) if ctx.doc[i].text == "("), e)) for s, e in spans]
    for s, e in spans:   # NER runs "Aristotle (Aristotélēs" together; the name ends at the parenthesis
        if title and ctx.doc[s:e].text.casefold() == title:
            return ctx.doc[s].idx, ctx.doc[e - 1].idx + len(ctx.doc[e - 1]), ctx.doc[s:e].root.idx
    for tok in sent:
        if tok.dep_ in _SUBJ and tok.head.dep_ == "ROOT" and (ctx.ent[tok.i] is not None or ctx.link[tok.i]):
            arg = _arg(tok, ctx, True)
            if arg is not None and arg.kind == "entity" and arg.factor == ARG_ENTITY:
                return arg.start, arg.end, arg.head
            break
    return None


def class_nouns(sent: "Span", head: int) -> set[str]:
    """Lemmas of the nouns that a page's first sentence says its subject (head token at char ``head``) is:
    "Alabama is a state", "Aristotle was a Greek philosopher and scientist", "X is a drama film"."""
    return {noun.lemma_.lower() for tok in sent
            if tok.dep_ in _SUBJ and tok.left_edge.idx <= head <= tok.right_edge.idx
            for noun in _defining_nouns(tok)}


def _defining_nouns(subject: "Token") -> list["Token"]:
    """The class nouns a copula gives its ``subject``, in sentence order: "is a Greek philosopher and
    scientist" -> philosopher, scientist."""
    if subject.head.lemma_ != "be":
        return []
    nouns = [noun for attr in subject.head.children if attr.dep_ == "attr"
             for noun in _with_conj(attr) + [c for c in attr.children if c.dep_ == "appos"]]
    return sorted((noun for noun in nouns if noun.pos_ == "NOUN" and noun.is_alpha), key=lambda t: t.i)


#: ``mentions.origin`` of the vote a wiki page's first sentence casts for its subject's type
LEAD = "lead"


class Definition(NamedTuple):
    """What a page's first sentence says its subject is: "Aristotle was a Greek philosopher" (a named
    subject and its class nouns), "The aardvark is a ... mammal" (a kind: written as a common noun)."""
    start: int   # the subject's words, up to a parenthesis
    end: int
    named: bool
    nouns: tuple[str, ...]   # lemmas, in sentence order ("is the largest of ..." names none)
    #: the last word of the title, lower case: what a name says of its kind ("Atlantic Ocean")
    title_noun: str


def lead_definition(sent: "Span", title: str, text: str) -> Definition | None:
    """The definition a page's first sentence gives of the page's subject ("X is/was a N"), or None when
    its copula's subject is not the page's (titled ``title``; "This article is about ..."). The subject
    is a kind rather than a name when ``text`` (the page) writes the title in lower case: names keep
    their capitals, common nouns lose them mid-sentence ("the abacus", "of alchemy")."""
    name = _TITLE_QUALIFIER.sub("", title or "").strip()
    if not name:
        return None
    last = name.split()[-1].casefold()
    for tok in sent:
        # the first subject of a copula (the small model hangs "is" off a later parenthesis now and then)
        if tok.dep_ not in _SUBJ or tok.head.lemma_ != "be":
            continue
        # the subject's words up to a parenthesis or an apposition ("ASCII, abbreviated from ...")
        words = list(tok.subtree)
        cut = next((i for i, t in enumerate(words) if t.i > words[0].i and t.text in "(,"), len(words))
        words = [t for t in words[:cut] if t.pos_ != "DET"] or [tok]
        phrase = sent.doc.text[words[0].idx:words[-1].idx + len(words[-1])]
        if name.casefold() not in phrase.casefold() and last not in (tok.lemma_.casefold(), tok.text.casefold()):
            return None
        nouns = _defining_nouns(tok)
        lower = name[0].lower() + name[1:]
        named = lower == name or re.search(rf"(?<![\w-]){re.escape(lower)}(?![\w-])", text) is None
        return Definition(words[0].idx, words[-1].idx + len(words[-1]), named,
                          tuple(noun.lemma_.lower() for noun in nouns), last)
    return None


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
    ctx = ParseContext(doc, link_spans, title)
    return [(sent, sentence_triples(sent, ctx)) for sent in doc.sents
            if max_sentence_tokens is None or len(sent) <= max_sentence_tokens]


def candidate_mentions(sent, noun_chunks: bool = True) -> list:
    """Entities of the sentence, plus noun chunks overlapping none that are not bare pronouns."""
    ents = list(sent.ents)
    taken = {i for e in ents for i in range(e.start, e.end)}
    mentions = list(ents)
    for chunk in (sent.noun_chunks if noun_chunks else ()):
        if any(i in taken for i in range(chunk.start, chunk.end)):
            continue
        if all(t.pos_ in ("PRON", "DET") for t in chunk):
            continue
        mentions.append(chunk)
    return sorted(mentions, key=lambda span: span.start)
