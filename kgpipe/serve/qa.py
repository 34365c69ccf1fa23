"""Question answering and entity summaries over the knowledge graph, grounded in its evidence.

    from kgpipe.serve.kg import KnowledgeGraph
    from kgpipe.serve import qa
    kg = KnowledgeGraph.load("warehouse")
    qa.answer(kg, "Where was Marie Curie born?")    # answer, citations, reasoning path
    qa.summarize(kg, entity_id)                     # a short paragraph, every sentence cited
    qa.evaluate_qa(kg, "questions.jsonl")           # accuracy under the matching rule below

Nothing is generated that a fact does not state: answers and summaries are realised from facts of the
graph by templates (no language model), and every sentence cites the evidence sentences of its facts.

**Answering** (:func:`answer`), each step recorded in ``reasoning``:

1. *Question analysis* (spaCy, the model the extract stage uses, loaded once): the wh-word gives the
   expected answer (who: a person or organisation; where: a place; when: a date; how many/much: a number;
   what/which + a type noun such as "which city": that type; an opening auxiliary: yes/no).
2. *Entity linking*: name-like spans of the question (proper nouns, capitalised words, inner "of"/"the")
   are looked up with ``kg.search``: exact matches first, longest span first, then prefix and fuzzy ones
   for the tokens left; up to :data:`MAX_CANDIDATES` entities per span, so that the relation can decide
   between two entities of one name. A one-word short form of a linked personal name that shares a source
   document with it ("Torvalds" beside "Linus Torvalds") is a candidate too (:func:`_short_forms`).
3. *Relation choice*: the remaining content words (lemmas, their inflections, nominalisations such as
   founder -> found, the paraphrases of :data:`PARAPHRASES` and converses of :data:`CONVERSES`) are matched
   against the words of each candidate fact's predicate (:func:`relation_score`).
4. *Direction* from the parse: the linked entity is the subject, the object or a passive subject of the
   relation asked about; a fact read the other way answers the converse question and is dropped ("Who was
   Apollo the son of?" is not answered by "Asclepius son of Apollo"); symmetric relations go both ways.
5. *Retrieval*: facts whose relation score reaches :data:`RELATION_THRESHOLD`, whose answer side fits the
   expected type (dates from date literals or the fact's ``time`` qualifier) and whose overall score
   reaches :data:`MIN_SCORE`. Extracted facts are used first; facts inferred by rules only when no
   extracted fact matches; embedding predictions (``kg.predict``) only as a last resort, never as the
   answer. A yes/no question is answered "yes" by a fact between its two entities, else "not known"
   (the graph is incomplete: a missing fact is no evidence for "no").
6. *Realisation*: the best fact group (same entity, predicate and direction) becomes one English sentence,
   its answer items joined ("Steve Jobs, Steve Wozniak and Ronald Wayne founded Apple [1]."), citing
   each fact's evidence (document title, url and sentence); inferred facts cite their premises.

"Not known": when no stated or inferred fact supports an answer, ``answer`` is ``"not known"`` and ``known``
is false. If the embeddings then suggest tails for the best-matching relation, they are listed as facts with
``source: "predicted"`` and mentioned in ``text`` as a guess ("Not known from the sources. The embeddings
suggest ..."), but the answer stays "not known" and is scored as such: a prediction is a ranking of
plausible tails by vector similarity, not evidence, and stating it as fact would be inventing.

**Summaries** (:func:`summarize`): every fact of the entity that can be cited gets a relevance score from
its confidence, its support, the predicate's informativeness (IDF over the graph's predicates), the PageRank
of the entity at the other end, its direction and kind; a softmax over those scores is the attention over
the retrieved facts (weights sum to 1). The most relevant predicate groups become sentences, facts with the
same predicate merged, each citing its evidence; sentence weights are their facts' attention, renormalised
over the sentences shown.

**Modes** (``mode`` of :func:`answer`): ``graph`` is the method above. ``hybrid`` adds a second route, a vector
search of the question over the bundle's text index (facts as sentences with their evidence, entity cards:
kgpipe/serve/text.py). The answer stays the graph's whenever the graph route finds one; when it finds none,
the entities of the vector hits that the store's name search also finds for a question span (or whose name
the question contains) become extra link candidates (:data:`VECTOR_LINK_WEIGHT`) and steps 3-6 run again, so a
fact reached through a name the linker ranked too low can answer, under the same relation, type and score
thresholds. Both modes report ``retrieved``: the facts (and, in hybrid, entity cards) each route found, merged
by reciprocal-rank fusion (:data:`RRF_K`), each with its ``routes`` and per-route scores. A bundle without a
text index answers hybrid questions in graph mode (``mode`` in the answer says which ran).

**Evaluation** (:func:`evaluate_qa`) uses the matching rule of :func:`answer_matches`.
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kgpipe.config import ExtractConfig
from kgpipe.dates import date_key
from kgpipe.errors import CommandError
from kgpipe.extract.nlp import load_nlp
from kgpipe.extract.text import split_property
from kgpipe.extract.vocabulary import load_vocabulary
from kgpipe.graph.resolve import normalize_surface
from kgpipe.ingest.infobox import EMBEDDED_MAPPINGS, load_mappings
from kgpipe.serve.text import DEFAULT_MODEL as DEFAULT_TEXT_MODEL
from kgpipe.serve.text import TextIndexError, load_encoder

NOT_KNOWN = "not known"

#: entities kept per linked question span (the relation decides between them)
MAX_CANDIDATES = 3
#: longest question span looked up, in tokens
MAX_SPAN_TOKENS = 7
#: relation score a fact needs to support an answer
RELATION_THRESHOLD = 0.5
#: most answer items in one answer (a longer list is more likely noise than an answer)
MAX_ITEMS = 5
#: facts of a group (same anchor, predicate, direction) within this share of the best score join the answer
GROUP_SHARE = 0.8
#: inferred facts rank below extracted ones of the same score
INFERRED_FACTOR = 0.85
#: embedding predictions listed when nothing is known
PREDICTIONS = 3
#: summary: sentences at most, items merged per sentence, softmax temperature
SUMMARY_SENTENCES = 5
SUMMARY_ITEMS = 4
SUMMARY_TEMPERATURE = 0.5

#: weights of the link quality: which kind of name match the span made
MATCH_WEIGHT = {"exact": 1.0, "prefix": 0.75, "fuzzy": 0.6}
#: answering modes: the graph route alone, or with vector search over the text index
MODES = ("graph", "hybrid")
#: facts listed in ``retrieved`` by default
RETRIEVED = 10
#: text-index hits read per question in hybrid mode
VECTOR_HITS = 30
#: link weight of an entity that both the vector search and the name search found for a question span
VECTOR_LINK_WEIGHT = 0.7
#: the name-search matches such an entity may have: the span's name, or a longer name that starts with it
VECTOR_LINK_MATCHES = frozenset({"exact", "prefix"})
#: reciprocal-rank fusion constant: score = sum over routes of 1 / (RRF_K + rank)
RRF_K = 60
#: evidence sentences listed per retrieved fact
RETRIEVED_EVIDENCE = 3

WH_WORDS = frozenset({"who", "whom", "whose", "what", "which", "where", "when", "how"})
#: answer kinds the wh-word (or the noun after what/which) asks for
PERSON, PLACE, DATE, NUMBER, THING, YESNO = "person", "place", "date", "number", "thing", "yes/no"
#: auxiliaries that open a yes/no question ("Did Steve Jobs found Apple?")
YESNO_OPENERS = frozenset({"is", "was", "are", "were", "did", "does", "do", "has", "have", "had"})
TYPE_NOUNS = {
    PLACE: {"city", "town", "country", "state", "place", "region", "river", "province", "village",
            "continent", "island", "location", "nation", "county"},
    PERSON: {"person", "man", "woman", "people", "writer", "author", "scientist", "player", "king", "queen"},
    DATE: {"year", "date", "day", "month", "century", "decade", "time"},
    NUMBER: {"number", "amount"},
}
#: entity types that fit each answer kind, with their weight; other types get OTHER_TYPE. Both spaCy's
#: labels and resolve's coarse ones (PER, LOC, ORG, MISC) occur in entities.entity_type
TYPE_FIT = {
    PERSON: {"PERSON": 1.0, "PER": 1.0, "ORG": 0.9, "NORP": 0.8},
    PLACE: {"GPE": 1.0, "LOC": 1.0, "FAC": 0.9, "ORG": 0.6},
}
OTHER_TYPE, UNTYPED = 0.35, 0.7
#: literal object types that can answer each kind
LITERALS = {DATE: {"date"}, NUMBER: {"number", "quantity"}}

#: prepositions: matched separately from content words
PREPOSITIONS = frozenset({"in", "of", "to", "at", "on", "by", "for", "from", "with", "as", "into", "through",
                          "over", "under", "about", "after", "before", "since", "during", "among", "between",
                          "against", "near", "onto", "upon", "within", "without", "across", "behind", "until"})
#: the preposition a wh-word stands for ("Where was X born?" ~ "born in")
WH_PREPOSITIONS = {PLACE: {"in", "at", "to", "from", "on", "near"}, DATE: {"in", "on", "since", "at"}}
#: verbs that carry little meaning of their own in a predicate ("become ceo of")
LIGHT_VERBS = frozenset({"be", "have", "become", "do", "get", "make", "take", "serve"})
LIGHT_WEIGHT = 0.3
#: question words that modify rather than name the relation ("the first version") count half
MODIFIER_POS = frozenset({"ADJ", "ADV", "NUM"})

#: paraphrases between the words of questions and of predicates, both ways; kept small and general
#: (relation nouns and their verbs), each pair a synonym, not a hint for one question
PARAPHRASES = {
    "ceo": {"executive", "chief"}, "executive": {"ceo"}, "chief": {"ceo"},
    "bear": {"born", "birth", "birthplace"}, "born": {"bear", "birth", "birthplace"},
    "birthplace": {"born"}, "birth": {"born"},
    "die": {"death", "kill"}, "death": {"die"},
    "wife": {"marry", "spouse"}, "husband": {"marry", "spouse"}, "spouse": {"marry"},
    "marry": {"wife", "husband", "spouse"},
    "mother": {"parent"}, "father": {"parent"}, "parent": {"mother", "father"},
    "sister": {"sibling"}, "brother": {"sibling"}, "sibling": {"sister", "brother"},
    "author": {"write"}, "write": {"author"}, "composer": {"compose"}, "compose": {"write"},
    "headquarters": {"headquartered", "headquarter", "base"}, "headquartered": {"base"},
    "found": {"establish", "founder"}, "establish": {"found"}, "founder": {"found"},
    "direct": {"director"}, "director": {"direct"}, "publish": {"publisher", "publication"}, "publisher": {"publish"},
    "publication": {"publish"},
    "live": {"reside"}, "reside": {"live"}, "move": {"relocate", "emigrate"},
    "locate": {"located", "situate", "lie"}, "located": {"locate", "situate"},
    "lead": {"head", "leader"}, "head": {"lead"}, "leader": {"lead"},
    "name": {"call", "named"}, "call": {"name", "known"},
    "develop": {"create", "invent"}, "invent": {"develop", "create"}, "create": {"develop", "invent"},
}
PARAPHRASE_WEIGHT = 0.8
#: verbs of making a work, which "<work noun> by <author>" predicates answer ("novel by", "song by")
CREATION_VERBS = frozenset({"write", "compose", "direct", "create", "paint", "design", "author", "produce",
                            "sing", "record", "film", "draw", "sculpt", "build", "make", "publish"})
#: converse relation words: "Who was the mother of X?" is answered by "X son of Y" read the other way round
CONVERSES = {
    "father": {"son", "daughter", "child"}, "mother": {"son", "daughter", "child"},
    "parent": {"son", "daughter", "child"}, "son": {"father", "mother", "parent"},
    "daughter": {"father", "mother", "parent"}, "child": {"father", "mother", "parent"},
    "wife": {"husband"}, "husband": {"wife"},
}
#: relation words that hold both ways ("X married Y" = "Y married X"): no direction preference
SYMMETRIC = frozenset({"marry", "married", "spouse", "border", "meet", "sibling", "twin", "ally", "neighbour"})
#: final score an answer needs (relation x type fit x link x confidence): a fact of the right relation
#: whose answer has the wrong type ("Where was Aristotle born?" -> a comic strip) is not an answer
MIN_SCORE = 0.4
#: a single name token of a linked multi-word span ("Torvalds" in "Linus Torvalds") may name the same
#: entity when both occur in one source document, as resolve's short-form rule says; weight of such a link
SHORT_FORM_WEIGHT = 0.7
#: nominalisation suffixes: "founder" -> "found", "creator" -> "create", "invention" -> "invent"
_NOMINAL = (("ers", ""), ("er", ""), ("er", "e"), ("or", ""), ("or", "e"), ("ion", ""), ("ion", "e"),
            ("ation", "e"), ("ation", ""), ("ment", ""))

#: predicate heads read as a state, realised in the present ("is located in"); other participles in the past
STATIVE = frozenset({"located", "headquartered", "based", "known", "called", "named", "situated", "divided",
                     "composed", "made", "found", "used", "associated", "related", "connected"})
_HAS_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"^\s*[-+]?\d[\d,]*(\.\d+)?\s*(thousand|million|billion|trillion)?\s*$", re.IGNORECASE)
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_NUMBER_WORDS = {w: i for i, w in enumerate([
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"])}


class QuestionError(CommandError, ValueError):
    """A question file or question that cannot be read (the message says which line and why)."""


# --------------------------------------------------------------------------- language helpers

#: the spaCy pipeline questions and evidence are parsed with: the extract stage's, whose lemmas the graph's
#: predicates were built from (:func:`configure` sets it from the configuration)
_pipeline = ExtractConfig()
#: the infobox mappings whose properties facts carry (``ingest.infobox_mappings``)
_mappings = EMBEDDED_MAPPINGS


def configure(extract: ExtractConfig, infobox_mappings: str = EMBEDDED_MAPPINGS) -> None:
    """Parse with the configured extract pipeline (``extract.model``, ``extract.disable``) and read facts
    with its vocabulary and the configured infobox mappings from now on."""
    global _pipeline, _mappings
    if (extract.model, extract.disable) != (_pipeline.model, _pipeline.disable):
        _evidence_pos.cache_clear()
    _pipeline, _mappings = extract, infobox_mappings


def _nlp():
    """The configured spaCy pipeline, loaded once per process (about 2 s; ``load_nlp`` caches it)."""
    return load_nlp(_pipeline.model, tuple(_pipeline.disable))


def warm_up() -> None:
    """Load the models (spaCy, lemminflect's tables) now rather than during the first question: the
    service calls this once a bundle is loaded."""
    _nlp()
    word_forms("founded")
    verb_phrase("born in")
    try:   # hybrid questions embed the question with the text index's sentence model
        load_encoder(DEFAULT_TEXT_MODEL)
    except TextIndexError:   # not installed: hybrid questions are answered in graph mode
        pass


@functools.lru_cache(maxsize=65536)
def word_forms(word: str) -> frozenset[str]:
    """A word with its lemmas (lemminflect, every part of speech), inflections and nominalisation bases:
    what it may look like inside a predicate. ``founded`` -> {founded, found, find, ...}."""
    from lemminflect import getAllInflections, getAllLemmas
    word = word.lower()
    forms = {word}
    for lemmas in getAllLemmas(word).values():
        forms.update(lemmas)
    inflected: set[str] = set()
    for base in forms:
        for inflections in getAllInflections(base, upos="VERB").values():
            inflected.update(inflections)
    forms |= inflected
    for suffix, repl in _NOMINAL:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms.add(word[: len(word) - len(suffix)] + repl)
    return frozenset(f.lower() for f in forms)


def _table_forms(table: dict, word: str) -> frozenset[str]:
    """What ``table`` lists for any form of ``word``."""
    return frozenset(x for form in word_forms(word) for x in table.get(form, ()))


@functools.lru_cache(maxsize=65536)
def _paraphrases(word: str) -> frozenset[str]:
    return _table_forms(PARAPHRASES, word)


def _inflect(lemma: str, tag: str) -> str:
    from lemminflect import getInflection
    if lemma == "be":
        return {"VBD": "was", "VBZ": "is", "VBN": "been"}.get(tag, lemma)
    forms = getInflection(lemma, tag=tag)
    return forms[0] if forms else lemma


def _is_participle(word: str) -> bool:
    """``born``, ``headquartered``, ``found`` (of find): a past participle that is not also a base verb."""
    from lemminflect import getAllLemmas, getInflection
    lemmas = getAllLemmas(word)
    for lemma in lemmas.get("VERB", ()):
        if lemma != word and word in getInflection(lemma, tag="VBN"):
            return True
    return "ADJ" in lemmas and word.endswith(("ed", "n")) and "VERB" not in lemmas


def _participle_predicate(predicate: str) -> bool:
    """A predicate headed by a past participle ("born in", "headquartered in", "found in"); "found" alone is
    the verb found, "found in" the participle of find."""
    words = predicate.lower().split()
    if not words or not _is_participle(words[0]):
        return False
    return not _is_base_verb(words[0]) or (len(words) > 1 and words[1] in PREPOSITIONS)


def _is_base_verb(word: str) -> bool:
    from lemminflect import getAllLemmas
    return word in getAllLemmas(word).get("VERB", ())


def _is_noun_head(word: str) -> bool:
    """``capital`` in "capital of": a noun with no verb reading (``head`` and ``book`` read as verbs)."""
    from lemminflect import getAllLemmas
    lemmas = getAllLemmas(word)
    return bool(lemmas) and "VERB" not in lemmas and ("NOUN" in lemmas or "ADJ" in lemmas) or not lemmas


def _cased(word: str, evidence: Iterable[str]) -> str:
    """``word`` as the evidence writes it ("ceo" -> "CEO"), else as is."""
    pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
    for sentence in evidence:
        match = pattern.search(sentence or "")
        if match and match.group(0) != match.group(0).lower():
            return match.group(0)
    return word


#: question words of the wh-word's own kind, which a property's name may carry ("birth place", "birth date")
WH_NOUNS = {PLACE: frozenset({"place", "location", "site"}), DATE: frozenset({"date", "year", "day", "time"})}


def _vocabulary():
    return load_vocabulary(_pipeline.vocabulary)


@functools.lru_cache(maxsize=4)
def _canonical_properties(vocabulary: str, infobox_mappings: str) -> frozenset[str]:
    """Properties of the vocabulary and of the infobox mappings: what canonical predicates facts carry."""
    mappings = load_mappings(infobox_mappings)
    return load_vocabulary(vocabulary).properties | {p.predicate for props in mappings.properties.values()
                                                     for p in props.values()}


@dataclass(frozen=True)
class Reading:
    """How a canonical property reads as a predicate of the extractor's kind: ``words`` as a relation
    phrase, and whether the phrase runs from the fact's object to its subject (``capital(Algeria, Algiers)``
    reads "Algiers capital of Algeria")."""
    words: str
    inverse: bool


def canonical_reading(predicate: str) -> Reading | None:
    """None for an extractor's predicate; else the phrase the question analysis reads the property as: its
    English phrase where it has one ("born in" for birthPlace: the question's verb has the property's
    subject as its own), else a property named as a noun is "<noun> of" its subject ("capital of" Algeria)
    and one named as "... by" or a participle reads as it is."""
    camel_case = any(c.isupper() for c in predicate[1:])
    if not camel_case and predicate not in _canonical_properties(_pipeline.vocabulary, _mappings):
        return None
    phrase = _vocabulary().phrases.get(predicate)
    if phrase:
        words = re.sub(r"^(?:(?:was|is|were|are)\s+)?(?:(?:a|an|the)\b\s*)?", "", phrase).strip()
        return Reading(words or "be", False)     # "is a": the class of the subject, what "What is X?" asks
    words = split_property(predicate)
    head = words.split()[0] if words else ""
    if words.endswith(" by") or _is_participle(head):
        return Reading(words, False)
    return Reading(f"{words} of", True)


def verb_phrase(predicate: str, evidence: Iterable[str] = ()) -> str:
    """English for a predicate between subject and object: ``found`` -> "founded", ``born in`` -> "was
    born in", ``capital of`` -> "is the capital of", ``become ceo of`` -> "became CEO of",
    ``be`` -> "is"; a canonical property: its phrase, or "'s birth date is"."""
    if canonical_reading(predicate) is not None:
        return _vocabulary().phrases.get(predicate) or f"'s {split_property(predicate)} is"
    evidence = list(evidence)
    words = [_cased(w, evidence) for w in predicate.split()]
    if not words:
        return predicate
    head, rest = words[0].lower(), words[1:]
    tail = (" " + " ".join(rest)) if rest else ""
    if head == "be":
        return "is" + tail
    if _participle_predicate(predicate):
        return ("is " if head in STATIVE else "was ") + words[0] + tail
    if rest and rest[-1].lower() in PREPOSITIONS and len(words) == 2:
        # "capital of" (a noun) or "die of" (a verb): the evidence sentence's parse says which, and where
        # there is none, whether the word can be a verb at all
        pos = _evidence_pos(head, tuple(evidence))
        if pos == "NOUN" or (pos is None and _is_noun_head(head)):
            return "is the " + words[0] + tail
    return _inflect(head, "VBD") + tail


@functools.lru_cache(maxsize=4096)
def _evidence_pos(word: str, evidence: tuple[str, ...]) -> str | None:
    """The part of speech ``word`` has in the first evidence sentence that contains it (NOUN or VERB), or
    None: "His father, Nicomachus, died ..." makes "father of" a noun relation, not "fathered"."""
    for sentence in evidence:
        if sentence and word in sentence.lower():
            for tok in _nlp()(sentence):
                if tok.lower_ == word or tok.lemma_.lower() == word:
                    if tok.pos_ in ("NOUN", "PROPN"):
                        return "NOUN"
                    if tok.pos_ in ("VERB", "AUX"):
                        return "VERB"
            return None
    return None


_DISAMBIGUATOR = re.compile(r"^(.+?) \([^()]+\)$")


def display_name(name: str | None) -> str:
    """An entity's name as text shows it: a wiki title without its trailing disambiguator, as Wikipedia's
    own link text does ("Paris (mythology)" -> "Paris"); the entity id in the facts says which one."""
    match = _DISAMBIGUATOR.match(name or "")
    return match.group(1) if match else (name or "")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _time_phrase(value: str) -> str:
    """``1867`` -> "in 1867", ``June 12, 1806`` -> "on June 12, 1806"."""
    key = date_key(value)
    return ("on " if key and key[2] is not None else "in ") + value


# --------------------------------------------------------------------------- answer matching

def number_value(text: str) -> float | None:
    """``1,500`` -> 1500.0, ``200 million`` -> 2e8, ``three`` -> 3.0; None for other text."""
    text = (text or "").strip().lower()
    if text in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[text])
    match = _NUMBER.match(text)
    if not match:
        return None
    digits = re.sub(r"[^\d.\-+]", "", text.split()[0] if " " in text.strip() else text)
    try:
        value = float(digits)
    except ValueError:
        return None
    return value * _SCALE.get((match.group(2) or "").lower(), 1.0)


# --------------------------------------------------------------------------- question analysis

@dataclass
class Word:
    text: str
    lemma: str
    pos: str
    forms: frozenset[str]
    weight: float


@dataclass
class Analysis:
    question: str
    wh: str | None                 # who, where, when, what, which, how many, how much, or None (yes/no)
    expects: str                   # person, place, date, number or thing
    words: list[Word]              # relation words (content words outside entity spans)
    prepositions: set[str]
    spans: list[dict] = field(default_factory=list)   # linked spans with their candidate entities
    copula: bool = False           # "What is X?": no relation word, the main verb is "be"


def _expected(doc) -> tuple[str | None, str, set[int]]:
    """The wh-word, the answer kind it asks for and the token indices that state it."""
    tokens = list(doc)
    for i, tok in enumerate(tokens[:4]):
        low = tok.lower_
        if low not in WH_WORDS:
            continue
        used = {i}
        if low == "how":
            nxt = tokens[i + 1].lower_ if i + 1 < len(tokens) else ""
            if nxt in ("many", "much"):
                return f"how {nxt}", NUMBER, used | {i + 1}
            if nxt in ("old", "long", "far", "big", "large", "tall", "high"):
                return f"how {nxt}", NUMBER, used | {i + 1}
            return "how", THING, used
        if low in ("who", "whom", "whose"):
            return low, PERSON, used
        if low == "where":
            return low, PLACE, used
        if low == "when":
            return low, DATE, used
        # what / which, maybe followed by a type noun: "which city", "in what year"
        if i + 1 < len(tokens) and tokens[i + 1].pos_ in ("NOUN", "PROPN"):
            noun = tokens[i + 1].lemma_.lower()
            for kind, nouns in TYPE_NOUNS.items():
                if noun in nouns:
                    return low, kind, used | {i + 1}
        return low, THING, used
    if tokens and tokens[0].lower_ in YESNO_OPENERS:
        return None, YESNO, {0}
    return None, THING, set()


def _span_ok(tokens, i: int, j: int) -> bool:
    """A span worth looking up: no punctuation or wh-word, no function word at its edges, and at least one
    proper noun, number, named-entity token or capitalised word that does not open the question."""
    span = tokens[i:j]
    if any(t.is_punct and t.text not in ("-", "&", ".") for t in span) or any(t.lower_ in WH_WORDS for t in span):
        return False
    edge_bad = {"DET", "ADP", "AUX", "PART", "CCONJ", "PRON", "SCONJ", "PUNCT"}
    if span[0].pos_ in edge_bad and not span[0].is_title or span[-1].pos_ in edge_bad:
        return False
    return any(t.pos_ in ("PROPN", "NUM") or t.ent_type_ or (t.is_title and t.i > 0) for t in span)


def _name_like(tokens, i: int, j: int) -> bool:
    """Every token of the span could be part of a name (proper noun, number, entity, capitalised, or a
    function word inside it: "University of Helsinki"); partial matches are only tried on such spans."""
    return all(t.pos_ in ("PROPN", "NUM") or t.ent_type_ or t.is_title
               or (i < t.i < j - 1 and t.pos_ in ("ADP", "DET", "CCONJ")) for t in tokens[i:j])


def _link(kg, doc, skip: set[int]) -> list[dict]:
    """Non-overlapping question spans linked to entities: exact name matches first (longest spans first),
    then prefix and then fuzzy matches for the tokens left, so a fuzzy "Marie Curie born" never beats an
    exact "Marie Curie"."""
    tokens = list(doc)
    spans = []
    for length in range(min(MAX_SPAN_TOKENS, len(tokens)), 0, -1):
        for i in range(len(tokens) - length + 1):
            j = i + length
            if not any(k in skip for k in range(i, j)) and _span_ok(tokens, i, j) \
                    and normalize_surface(doc[i:j].text):
                spans.append((i, j))
    results: dict[tuple[int, int], list[dict]] = {}
    found: list[tuple[int, int, list[dict]]] = []
    # only name-like spans are looked up: a span with a verb or a common noun ("Torvalds announce") names
    # nothing, and each lookup that finds no name costs a fuzzy search over every name of the graph
    spans = [(i, j) for i, j in spans if _name_like(tokens, i, j)
             and not all(t.pos_ == "NUM" or t.like_num for t in tokens[i:j])]   # a year is not a name
    for match, minimum in (("exact", 1.0), ("prefix", 0.5), ("fuzzy", 0.9)):
        for i, j in spans:
            if any(not (j <= a or i >= b) for a, b, _ in found):
                continue
            if (i, j) not in results:
                results[(i, j)] = kg.search(doc[i:j].text, k=MAX_CANDIDATES * 3)
            best = [r for r in results[(i, j)] if r["match"] == match and r["score"] >= minimum]
            if best:
                found.append((i, j, best[:MAX_CANDIDATES]))
    spans = []
    for i, j, results in sorted(found):
        candidates = []
        for rank, r in enumerate(results):
            weight = MATCH_WEIGHT.get(r["match"], 0.5) * (r["score"] if r["match"] != "exact" else 1.0)
            candidates.append({**r, "link_weight": round(weight * (1.0 - 0.1 * rank), 4)})
        if j - i > 1:
            candidates += _short_forms(kg, doc, i, j, candidates)
        spans.append({"text": doc[i:j].text, "start": i, "end": j, "candidates": candidates,
                      "role": _role(doc[i:j])})
    return spans


def _documents_of(kg, entity_id: str) -> set[str]:
    return {e["doc_id"] for f in kg.store.facts(entity_id, "both") for e in f.get("evidence") or []}


def _short_forms(kg, doc, i: int, j: int, candidates: list[dict]) -> list[dict]:
    """Entities named by one proper-noun token of a linked span ("Torvalds", "Han") that share a source
    document with one of the span's entities: resolve keeps them apart when NER typed the two mentions
    differently, but within one document a short form names the full name's bearer. They are shown under
    the full name (``display``), and the reasoning says so."""
    full = [c for c in candidates if c["match"] == "exact"]
    if not full or j - i > 3 or not all(t.pos_ == "PROPN" for t in doc[i:j]):
        return []   # only personal-name-like spans ("Linus Torvalds", not "President of Algeria")
    docs = set().union(*(_documents_of(kg, c["entity_id"]) for c in full))
    if not docs:
        return []
    known = {c["entity_id"] for c in candidates}
    out = []
    for tok in doc[i:j]:
        if tok.pos_ != "PROPN" or len(tok.text) < 3:
            continue
        for r in kg.search(tok.text, k=MAX_CANDIDATES * 3):
            if r["match"] != "exact" or r["entity_id"] in known:
                continue
            if _documents_of(kg, r["entity_id"]) & docs:
                known.add(r["entity_id"])
                out.append({**r, "link_weight": SHORT_FORM_WEIGHT, "display": full[0]["name"],
                            "short_form": tok.text})
    return out


def _role(span) -> str | None:
    """The span's part in the question's syntax: the subject or the object of the relation asked about,
    a passive subject, or None when the parse does not say."""
    root = span.root
    if root.dep_ in ("nsubj", "csubj", "expl"):
        return "subject"
    if root.dep_ == "nsubjpass":
        return "passive"
    if root.dep_ == "pobj" and root.head.dep_ == "agent":
        return "subject"            # "... founded by Steve Jobs?"
    if root.dep_ in ("dobj", "pobj", "poss", "dative"):
        return "object"
    return None


def analyze(kg, question: str) -> Analysis:
    """The question's wh-word and expected answer, its linked entities and its relation words."""
    doc = _nlp()(question.strip())
    wh, expects, wh_tokens = _expected(doc)
    spans = _link(kg, doc, wh_tokens)
    in_span = {k for s in spans for k in range(s["start"], s["end"])}
    words, preps = [], set()
    verbs = [t for t in doc if t.pos_ in ("VERB", "AUX") and t.dep_ == "ROOT"]
    copula = bool(verbs) and verbs[0].lemma_ == "be"
    for tok in doc:
        if tok.i in wh_tokens or tok.i in in_span or tok.is_punct:
            continue
        low = tok.lower_
        if tok.pos_ == "ADP" or low in PREPOSITIONS:
            preps.add(low)
            continue
        if tok.pos_ in ("DET", "PRON", "PART", "CCONJ", "SCONJ", "PUNCT", "SYM", "X", "NUM") or tok.like_num \
                or tok.is_stop and tok.pos_ not in ("VERB", "NOUN"):
            continue   # function words, and numbers ("since 1999"), which qualify the relation, not name it
        if tok.pos_ == "AUX" or tok.lemma_ in ("be", "do", "have") and tok.dep_ in ("aux", "auxpass", "ROOT"):
            continue
        weight = 0.5 if tok.pos_ in MODIFIER_POS else 1.0
        forms = word_forms(low) | word_forms(tok.lemma_.lower())
        words.append(Word(tok.text, tok.lemma_.lower(), tok.pos_, forms, weight))
    return Analysis(question=question, wh=wh, expects=expects, words=words, prepositions=preps, spans=spans,
                    copula=copula and not words)


# --------------------------------------------------------------------------- relation scoring

@dataclass(frozen=True)
class RelationMatch:
    score: float              # 0..1
    hits: tuple[str, ...]     # predicate words explained by the question
    converse: bool = False    # matched through a converse word: read the fact the other way round
    symmetric: bool = False   # the relation holds both ways


NO_MATCH = RelationMatch(0.0, ())


@functools.lru_cache(maxsize=65536)
def _converses(word: str) -> frozenset[str]:
    return _table_forms(CONVERSES, word)


def relation_score(analysis: Analysis, predicate: str) -> RelationMatch:
    """How well ``predicate`` names the question's relation: F-measure of the predicate's content words
    explained by the question's relation words (light verbs weigh LIGHT_WEIGHT) and of the question's
    words explained by the predicate (modifiers weigh half); same word form 1, paraphrase or converse
    PARAPHRASE_WEIGHT; +0.1 when a preposition agrees, -0.05 when the predicate's does not. A canonical
    property is read as its phrase (:func:`canonical_reading`); a word of the wh-word's kind in it ("place"
    for where) is explained by the wh-word."""
    reading = canonical_reading(predicate)
    tokens = (reading.words if reading else predicate).lower().split()
    content = [t for t in tokens if t not in PREPOSITIONS]
    preps = [t for t in tokens if t in PREPOSITIONS]
    if not analysis.words:
        # "What is X?" / "Who is X?": only the copula answers a question without a relation word
        return RelationMatch(0.6, ()) if analysis.copula and tokens == ["be"] else NO_MATCH
    if not content:
        return NO_MATCH
    if _work_by(predicate):
        # "Animal Farm novella by George Orwell" answers "Who wrote Animal Farm?": the verb of making a work
        # stands for "<work> by"; a question word naming the work ("the novel") counts as well
        total_q = sum(w.weight for w in analysis.words)
        made = sum(w.weight for w in analysis.words
                   if w.forms & CREATION_VERBS or w.forms & word_forms(content[0]))
        if made:
            r = made / total_q
            score = 2 * PARAPHRASE_WEIGHT * r / (PARAPHRASE_WEIGHT + r)
            return RelationMatch(score, (content[0],))
    matched_pred, matched_q = 0.0, [0.0] * len(analysis.words)
    total_pred = sum(LIGHT_WEIGHT if t in LIGHT_VERBS else 1.0 for t in content)
    hits, converse, direct = [], False, False
    wh_nouns = WH_NOUNS.get(analysis.expects, frozenset()) if reading else frozenset()
    for t in content:
        weight = LIGHT_WEIGHT if t in LIGHT_VERBS else 1.0
        if t in wh_nouns:
            matched_pred += weight
            continue
        t_forms = word_forms(t)
        best = 0.0
        for n, word in enumerate(analysis.words):
            if t_forms & word.forms:
                s, kind = 1.0, "direct"
            elif _paraphrases(t) & word.forms or t_forms & _paraphrases(word.lemma):
                s, kind = PARAPHRASE_WEIGHT, "direct"
            elif t_forms & _converses(word.lemma):
                s, kind = PARAPHRASE_WEIGHT, "converse"
            else:
                continue
            if weight == 1.0:
                converse |= kind == "converse"
                direct |= kind == "direct"
            best = max(best, s)
            matched_q[n] = max(matched_q[n], s)
        if best:
            hits.append(t)
        matched_pred += weight * best
    total_q = sum(w.weight for w in analysis.words)
    covered_q = sum(w.weight * m for w, m in zip(analysis.words, matched_q))
    p, r = matched_pred / total_pred, covered_q / total_q
    if p == 0 or r == 0:
        return NO_MATCH
    score = 2 * p * r / (p + r)
    wanted = analysis.prepositions | WH_PREPOSITIONS.get(analysis.expects, set())
    if preps and wanted:
        score += 0.1 if set(preps) & wanted else -0.05
    symmetric = any(word_forms(t) & SYMMETRIC for t in content)
    return RelationMatch(max(0.0, min(1.0, score)), tuple(hits), converse and not direct, symmetric)


def _type_fit(expects: str, entity_type: str | None) -> float:
    fits = TYPE_FIT.get(expects)
    if fits is None:
        return 1.0
    if not entity_type:
        return UNTYPED
    return fits.get(entity_type, OTHER_TYPE)


def _answer_side(fact: dict, anchor: str, expects: str) -> tuple[str, str | None, str | None, float] | None:
    """(answer text, answer entity id, where it came from, type fit) of a fact read from ``anchor``'s side,
    or None when that side cannot answer this kind of question."""
    outgoing = fact["subject_id"] == anchor
    if expects == DATE:
        if outgoing and fact["object_type"] in LITERALS[DATE] and date_key(fact["object"] or ""):
            return fact["object"], None, "object", 1.0
        when = (fact.get("qualifiers") or {}).get("time")
        if when and _HAS_DIGIT.search(when):
            return when, None, "time qualifier", 1.0 if date_key(when) else 0.8
        return None
    if expects == NUMBER:
        if outgoing and fact["object_type"] in LITERALS[NUMBER]:
            return fact["object"], None, "object", 1.0
        return None
    if outgoing:
        if fact["object_type"] in ("date", "number", "quantity"):
            if expects == THING and fact["object_type"] != "date" and canonical_reading(fact["predicate"]):
                # "What is the population of Algeria?": a property's number is what a "what" asks for
                return fact["object"], None, "object", 1.0
            return None
        if fact["object_id"]:
            return (display_name(fact["object"]), fact["object_id"], "object",
                    _type_fit(expects, fact.get("object_entity_type")))
        return fact["object"], None, "object", 0.5 if expects in TYPE_FIT else 0.8
    return display_name(fact["subject"]), fact["subject_id"], "subject", None   # type filled in by the caller


@dataclass
class Candidate:
    fact: dict
    anchor: dict            # the linked entity the fact was read from
    direction: str          # "out": anchor is the subject, "in": anchor is the object
    answer: str
    answer_id: str | None
    origin: str             # object, subject or time qualifier
    relation: float
    hits: list[str]
    score: float
    joins: bool = False     # the fact connects two entities of the question


def _agentive(predicate: str) -> bool:
    """A predicate whose object is the agent: a participle or a work noun with "by" ("founded by",
    "novel by")."""
    words = predicate.lower().split()
    return len(words) >= 2 and words[-1] == "by" and (_participle_predicate(predicate) or _is_noun_head(words[0]))


def _work_by(predicate: str) -> bool:
    """"novel by", "song by", "film by": a work noun and its author."""
    words = predicate.lower().split()
    return len(words) == 2 and words[1] == "by" and _is_noun_head(words[0]) and not _is_participle(words[0])


def _expected_direction(role: str | None, predicate: str, match: RelationMatch) -> str | None:
    """The direction ("out": the linked entity is the fact's subject) the question's syntax asks for."""
    reading = canonical_reading(predicate)
    if reading is not None:
        want = _expected_direction(role, reading.words, match)
        return {"out": "in", "in": "out"}.get(want) if reading.inverse else want
    if role is None or match.symmetric:
        return None
    if role == "passive":
        # "Where was X born?" -> X born in ...; "Who was Apple founded by?" -> ... found Apple
        want = "out" if _participle_predicate(predicate) else "in"
    else:
        want = "out" if role == "subject" else "in"
        if _agentive(predicate):
            # "Who founded Apple?" read off "Apple founded by Steve Jobs": the agent is the object
            want = "in" if want == "out" else "out"
    if match.converse:
        want = "in" if want == "out" else "out"
    return want


def _candidates(kg, analysis: Analysis) -> list[Candidate]:
    out: list[Candidate] = []
    matches: dict[str, RelationMatch] = {}
    for n, span in enumerate(analysis.spans):
        others = {c["entity_id"] for m, s in enumerate(analysis.spans) if m != n for c in s["candidates"]}
        for cand in span["candidates"]:
            anchor = cand["entity_id"]
            facts = kg.store.facts(anchor, "both")
            subject_types = kg.store.entities([f["subject_id"] for f in facts if f["subject_id"] != anchor])
            for fact in facts:
                if fact["predicate"] not in matches:
                    matches[fact["predicate"]] = relation_score(analysis, fact["predicate"])
                match = matches[fact["predicate"]]
                if match.score < RELATION_THRESHOLD:
                    continue
                side = _answer_side(fact, anchor, analysis.expects)
                if side is None:
                    continue
                text, answer_id, origin, fit = side
                if fit is None:
                    fit = _type_fit(analysis.expects, (subject_types.get(answer_id) or {}).get("type"))
                if not text or answer_id == anchor:
                    continue
                direction = "out" if fact["subject_id"] == anchor else "in"
                factor = 1.0
                other_end = fact["object_id"] if direction == "out" else fact["subject_id"]
                if others:
                    if analysis.expects in (DATE, NUMBER):
                        # "When did Curie win the Nobel Prize?": the fact should link both entities
                        factor = 1.0 if other_end in others else 0.6
                    elif analysis.expects == YESNO:
                        if answer_id not in others:
                            continue   # "Did X found Y?" is answered by a fact between X and Y only
                    elif answer_id in others:
                        continue   # the question's other entity is not its answer
                elif analysis.expects == YESNO:
                    continue
                want = _expected_direction(span.get("role"), fact["predicate"], match)
                # a property's literal value is its object whatever the question's syntax: no converse to drop
                literal_property = fact["object_type"] != "entity" and canonical_reading(fact["predicate"])
                if want is not None and want != direction and not literal_property:
                    # read against the question's syntax a fact answers the converse question: "Who was
                    # Apollo the son of?" is not answered by "Asclepius son of Apollo"
                    continue
                kind = 1.0 if fact["kind"] == "extracted" else INFERRED_FACTOR
                score = (match.score * fit * cand["link_weight"] * kind * factor
                         * (0.75 + 0.25 * float(fact["confidence"] or 0.0)))
                if score < MIN_SCORE:
                    continue
                out.append(Candidate(fact, cand, direction, text, answer_id, origin, match.score,
                                     list(match.hits), score, bool(others) and other_end in others))
    out.sort(key=lambda c: (-c.score, -int(c.fact["support_count"] or 0), c.fact["edge_id"]))
    if any(c.joins for c in out) and analysis.expects in (DATE, NUMBER):
        # a fact that connects the question's entities answers it; facts of one of them alone do not
        out = [c for c in out if c.joins]
    return out


def _select(candidates: list[Candidate]) -> list[Candidate]:
    """The answer group: candidates sharing anchor, predicate and direction, each within GROUP_SHARE of the
    best score, one per distinct answer (only the best where the property is functional and read from its
    subject: one birth date). Of the groups whose best member is within GROUP_SHARE of the
    overall best, the one with the largest summed score wins: "Jobs and Wozniak found Apple" over "Apple
    founded by Jobs", which says less with the same confidence."""
    if not candidates:
        return []
    top = candidates[0].score
    functional = _vocabulary().functional
    groups: dict[tuple, list[Candidate]] = {}
    for c in candidates:   # best first
        key = (c.anchor["entity_id"], c.fact["predicate"], c.direction)
        members = groups.setdefault(key, [])
        if c.score < GROUP_SHARE * (members[0].score if members else c.score):
            continue
        answer_key = normalize_surface(c.answer) or c.answer
        if any((normalize_surface(m.answer) or m.answer) == answer_key for m in members):
            continue
        one_value = c.direction == "out" and c.fact["predicate"] in functional
        if len(members) < (1 if one_value else MAX_ITEMS):
            members.append(c)
    eligible = [(key, members) for key, members in groups.items() if members[0].score >= GROUP_SHARE * top]
    # ties: the higher best score, then by predicate, direction and entity id, so that reruns agree
    _, best = min(eligible, key=lambda item: (-sum(c.score for c in item[1]), -item[1][0].score,
                                              item[0][1], item[0][2], item[0][0]))
    return best


# --------------------------------------------------------------------------- citations

class _Citations:
    """Numbered citations, one per distinct evidence sentence, in order of first use."""

    def __init__(self, kg):
        self.kg = kg
        self.items: list[dict] = []
        self._index: dict[tuple, int] = {}

    def _evidence(self, fact: dict, depth: int = 0) -> list[tuple[dict, str]]:
        """Evidence of a fact; an inferred fact's is that of its premises (followed up to 3 rules deep)."""
        if fact.get("evidence"):
            return [(e, fact["edge_id"]) for e in fact["evidence"]]
        out = []
        if depth < 3:
            for edge_id in fact.get("supporting_edge_ids") or []:
                premise = self.kg.store.fact(edge_id)
                if premise is not None:
                    out += self._evidence(premise, depth + 1)
        return out

    def cite(self, fact: dict) -> list[int]:
        ids = []
        for ev, edge_id in self._evidence(fact):
            key = (ev.get("doc_id"), ev.get("sentence_index"), ev.get("sentence_text"))
            if key not in self._index:
                self._index[key] = len(self.items) + 1
                self.items.append({"id": len(self.items) + 1, "doc_id": ev.get("doc_id"), "title": ev.get("title"),
                                   "url": ev.get("url"), "sentence_index": ev.get("sentence_index"),
                                   "sentence_text": ev.get("sentence_text"), "edge_ids": []})
            n = self._index[key]
            if edge_id not in self.items[n - 1]["edge_ids"]:
                self.items[n - 1]["edge_ids"].append(edge_id)
            if n not in ids:
                ids.append(n)
        return ids

    def of(self, ids: list[int]) -> list[dict]:
        return [self.items[n - 1] for n in ids]


def _marks(ids: list[int]) -> str:
    return "".join(f"[{n}]" for n in ids)


def _fact_view(fact: dict, source: str, cited: list[int]) -> dict:
    keep = ("edge_id", "subject_id", "subject", "predicate", "object_id", "object", "object_type", "kind",
            "confidence", "support_count", "evidence", "rule", "supporting_edge_ids", "qualifiers")
    return {**{k: fact.get(k) for k in keep}, "source": source, "citations": cited}


def realise(subjects: list[str], predicate: str, objects: list[str], evidence: Iterable[str] = (),
            when: str | None = None) -> str:
    """One English sentence for facts sharing a predicate: ``["Steve Jobs", "Steve Wozniak"], "found",
    ["Apple"]`` -> "Steve Jobs and Steve Wozniak founded Apple"; ``when`` adds "in 1976"."""
    sentence = f"{_join(subjects)} {verb_phrase(predicate, evidence)} {_join(objects)}".replace(" 's ", "'s ")
    if when:
        sentence += " " + _time_phrase(when)
    return sentence


# --------------------------------------------------------------------------- answering

def _describe_link(span: dict) -> str:
    best = span["candidates"][0]
    others = ", ".join(f"{c['name']} ({c['entity_id']})" for c in span["candidates"][1:])
    text = (f"linked '{span['text']}' to {best['name']} ({best['entity_id']}, {best['type'] or 'untyped'}; "
            f"{best['match']} match, {best.get('mention_count') or 0} mentions)")
    shorts = [c for c in span["candidates"] if c.get("short_form")]
    text += (f"; also considered {others}" if others else "")
    for c in shorts:
        text += (f"; '{c['short_form']}' ({c['name']}, {c['entity_id']}) shares a source document with it "
                 f"and is read as its short form")
    return text


def _predictions(kg, analysis: Analysis, reasoning: list[str]) -> list[dict]:
    """Embedding guesses for (linked entity, best-matching relation, ?): the last resort, never an answer."""
    if analysis.expects in (DATE, NUMBER) or not analysis.spans or not analysis.words:
        return []
    known_relations = getattr(kg, "relations", None)
    relations = known_relations() if callable(known_relations) else list(kg.store.predicates())
    scored = sorted(((relation_score(analysis, p).score, p) for p in relations), key=lambda x: (-x[0], x[1]))
    if not scored or scored[0][0] < RELATION_THRESHOLD:
        reasoning.append("no relation with embeddings matches the question: no prediction tried")
        return []
    predicate = scored[0][1]
    anchor = analysis.spans[0]["candidates"][0]
    try:
        guesses = kg.predict(anchor["entity_id"], predicate, k=PREDICTIONS * 3)
    except LookupError as exc:
        reasoning.append(f"no embedding prediction: {exc}")
        return []
    out = []
    for g in guesses:
        if g.get("known") or g["entity_id"] == anchor["entity_id"]:
            continue
        if _type_fit(analysis.expects, g.get("type")) < UNTYPED:
            continue   # not even a guess of the asked kind ("Where ...?" -> a person)
        out.append({"edge_id": None, "subject_id": anchor["entity_id"], "subject": anchor["name"],
                    "predicate": predicate, "object_id": g["entity_id"], "object": g.get("name"),
                    "object_type": "entity", "kind": "predicted", "confidence": None, "support_count": 0,
                    "evidence": [], "rule": None, "supporting_edge_ids": [], "qualifiers": {},
                    "score": g.get("score"), "source": "predicted", "citations": []})
        if len(out) == PREDICTIONS:
            break
    if out:
        reasoning.append(f"embedding link prediction for ({anchor['name']}, {predicate}, ?): "
                         + ", ".join(f"{p['object']} ({p['score']:.3f})" for p in out)
                         + " - a guess from vector similarity, not stated by any source, so not the answer")
    return out


def answer(kg, question: str, mode: str = "graph", k: int = RETRIEVED) -> dict:
    """Answer an English question from the graph (see the module docstring for the method and the modes).

    Returns ``{"question", "answer", "answers", "known", "text", "answer_type", "entities", "relation",
    "relation_detail", "facts", "citations", "reasoning", "mode", "retrieved"}``: ``answer`` is the short
    answer ("not known" when nothing supports one), ``answers`` its items, ``text`` the realised sentence with
    citation marks [n] into ``citations`` (document title, url, sentence), ``facts`` the facts used, each with
    ``source`` extracted / inferred / predicted; ``mode`` the mode that ran, ``retrieved`` the k best facts
    and entity cards the routes found (:func:`_retrieved`).
    """
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty")
    if mode not in MODES:
        raise QuestionError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    analysis = analyze(kg, question)
    reasoning, entities = _report_analysis(analysis)
    hits: list[dict] = []
    if mode == "hybrid":
        if getattr(kg, "text", None) is None:
            reasoning.append("hybrid asked, but this bundle has no text index: graph mode")
            mode = "graph"
        else:
            try:
                hits = kg.text.search(question, VECTOR_HITS)
            except TextIndexError as exc:   # the sentence model is not installed here
                reasoning.append(f"hybrid asked, but the text index cannot be searched ({exc}): graph mode")
                mode = "graph"
        if hits:
            reasoning.append(f"vector search: {len(hits)} facts and entity cards of the text index"
                             + (f", best {hits[0]['text']!r} ({hits[0]['score']:.2f})" if hits else ""))
    result = {"question": question, "answer": NOT_KNOWN, "answers": [], "known": False, "text": "",
              "answer_type": analysis.expects, "entities": entities, "relation": None,
              "relation_detail": None, "facts": [], "citations": [], "reasoning": reasoning, "mode": mode,
              "retrieved": []}
    candidates = _candidates(kg, analysis) if analysis.spans else []
    chosen = _choose(candidates, reasoning) if candidates else []
    if not chosen and hits:
        widened = _with_vector_links(kg, analysis, hits)
        if widened is not None:
            more = _candidates(kg, widened)
            chosen = _choose(more, reasoning) if more else []
            if chosen:
                reasoning.append(f"linked through the vector search: {chosen[0].anchor['name']} "
                                 f"({chosen[0].anchor['entity_id']})")
                analysis, candidates = widened, more
    result["retrieved"] = _retrieved(kg, candidates, hits, k)
    if not analysis.spans:
        reasoning.append("no entity of the graph is named in the question: not known")
        result["text"] = "Not known: the question names no entity the graph knows."
        return result
    if not chosen:
        result["facts"], result["text"] = _not_known(kg, analysis, reasoning)
        return result
    best = chosen[0]
    anchor_name = display_name(best.anchor.get("display") or best.anchor["name"])
    result["relation"] = best.fact["predicate"]
    result["relation_detail"] = _relation_detail(best, anchor_name, reasoning)
    cites = _Citations(kg)
    facts = _cited_facts(chosen, cites, reasoning)
    items, text = _realise_answer(analysis, chosen, facts, anchor_name)
    result.update(answer=_join(items), answers=items, known=True, text=text, facts=facts,
                  citations=cites.items)
    return result


def _hit_entities(kg, hits: list[dict]) -> list[str]:
    """Entity ids of vector hits, in hit order: a card's entity, a fact's subject and object."""
    out: list[str] = []
    for hit in hits:
        if hit["kind"] == "entity":
            ids = [hit["ref_id"]]
        else:
            fact = kg.store.fact(hit["ref_id"]) or {}
            ids = [fact.get("subject_id"), fact.get("object_id")]
        out += [i for i in ids if i and i not in out]
    return out


def _with_vector_links(kg, analysis: Analysis, hits: list[dict]) -> Analysis | None:
    """The analysis with extra link candidates from the vector hits (None when there are none): for each
    question span, the entities the name search finds for it (exact or prefix matches, beyond the first few)
    that the vector search found too; with no span, hit entities whose whole name the question contains."""
    found = _hit_entities(kg, hits)
    if not found:
        return None
    rank = {entity_id: i for i, entity_id in enumerate(found)}
    spans, added = [], False
    for span in analysis.spans:
        have = {c["entity_id"] for c in span["candidates"]}
        # exact and prefix name matches only: a longer name that starts with the span ("Aristotle (Aristotélēs")
        # names the same thing more fully, a fuzzy one ("Nobel Prize in Physics" for "... in Chemistry") another
        extra = [{**r, "link_weight": VECTOR_LINK_WEIGHT, "vector": True}
                 for r in kg.search(span["text"], k=MAX_CANDIDATES * 10)
                 if r["match"] in VECTOR_LINK_MATCHES and r["entity_id"] in rank and r["entity_id"] not in have]
        extra.sort(key=lambda r: rank[r["entity_id"]])
        added = added or bool(extra)
        spans.append({**span, "candidates": span["candidates"] + extra[:MAX_CANDIDATES]})
    if not analysis.spans:
        question = f" {normalize_surface(analysis.question)} "
        info = kg.store.entities(found)
        for entity_id in found:
            key = normalize_surface((info.get(entity_id) or {}).get("name") or "")
            if key and len(key) > 2 and f" {key} " in question:
                entity = info[entity_id]
                spans.append({"text": entity["name"], "start": -1, "end": -1, "role": None, "candidates": [
                    {**entity, "match": "vector", "score": 1.0, "link_weight": VECTOR_LINK_WEIGHT,
                     "vector": True}]})
                added = True
                if len(spans) == MAX_CANDIDATES:
                    break
    if not added:
        return None
    return Analysis(question=analysis.question, wh=analysis.wh, expects=analysis.expects, words=analysis.words,
                    prepositions=analysis.prepositions, spans=spans, copula=analysis.copula)


def _retrieved(kg, candidates: list[Candidate], hits: list[dict], k: int) -> list[dict]:
    """The k best facts and entity cards of both routes, merged by reciprocal-rank fusion: the graph route's
    candidate facts (ranked by answer score) and the vector route's hits (ranked by cosine similarity).
    Each lists ``routes`` (graph, vector or both), ``score`` (the fused one) and each route's score and rank."""
    merged: dict[tuple[str, str], dict] = {}

    def entry(kind: str, ref: str) -> dict:
        return merged.setdefault((kind, ref), {"kind": kind, "routes": [], "score": 0.0})

    for rank, c in enumerate(_unique_facts(candidates)):
        item = entry("fact", c.fact["edge_id"])
        item.setdefault("fact", c.fact)
        item["routes"].append("graph")
        item.update(graph_score=round(c.score, 4), graph_rank=rank + 1)
        item["score"] += 1.0 / (RRF_K + rank + 1)
    for rank, hit in enumerate(hits):
        item = entry(hit["kind"], hit["ref_id"])
        item["routes"].append("vector")
        item.update(vector_score=round(hit["score"], 4), vector_rank=rank + 1, text=hit["text"])
        item["score"] += 1.0 / (RRF_K + rank + 1)
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1]["score"], kv[0]))[:max(k, 0)]
    out = []
    for (kind, ref), item in ranked:
        view: dict[str, Any] = {"kind": kind, "edge_id": ref if kind == "fact" else None,
                                "entity_id": ref if kind == "entity" else None}
        fact = (item.pop("fact", None) or kg.store.fact(ref) or {}) if kind == "fact" else {}
        view.update({key: fact.get(key) for key in ("subject_id", "subject", "predicate", "object_id", "object")})
        view["evidence"] = [e.get("sentence_text") for e in (fact.get("evidence") or [])][:RETRIEVED_EVIDENCE]
        view["text"] = item.get("text")
        if view["text"] is None and kind == "fact":
            view["text"] = f"{view['subject']} — {view['predicate']} — {view['object']}"
        view.update(score=round(item["score"], 6), routes=item["routes"],
                    graph_score=item.get("graph_score"), vector_score=item.get("vector_score"),
                    graph_rank=item.get("graph_rank"), vector_rank=item.get("vector_rank"))
        out.append(view)
    return out


def _unique_facts(candidates: list[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    out = []
    for c in candidates:
        if c.fact["edge_id"] not in seen:
            seen.add(c.fact["edge_id"])
            out.append(c)
    return out


def _report_analysis(analysis: Analysis) -> tuple[list[str], list[dict]]:
    """Steps 1 and 2 of :func:`answer` as its first reasoning lines, and the linked entities it reports."""
    reasoning = [f"question type: {analysis.wh or 'yes/no or statement'}, expects {analysis.expects}"]
    entities = []
    for span in analysis.spans:
        reasoning.append(_describe_link(span))
        best = span["candidates"][0]
        entities.append({"span": span["text"], "entity_id": best["entity_id"], "name": best["name"],
                         "type": best["type"], "match": best["match"], "score": best["score"],
                         "candidates": [c["entity_id"] for c in span["candidates"]]})
    words = [w.text for w in analysis.words]
    reasoning.append(f"relation words: {', '.join(words) if words else '(none: copula question)'}"
                     + (f"; prepositions: {', '.join(sorted(analysis.prepositions))}" if analysis.prepositions
                        else ""))
    return reasoning, entities


def _choose(candidates: list[Candidate], reasoning: list[str]) -> list[Candidate]:
    """The answer group (:func:`_select`) of the extracted facts, or of the inferred ones when no extracted
    fact matches."""
    extracted = [c for c in candidates if c.fact["kind"] == "extracted"]
    if extracted:
        return _select(extracted)
    inferred = [c for c in candidates if c.fact["kind"] != "extracted"]
    if inferred:
        reasoning.append("no extracted fact matches; using facts inferred by rules")
    return _select(inferred)


def _not_known(kg, analysis: Analysis, reasoning: list[str]) -> tuple[list[dict], str]:
    """The facts and text of a "not known" answer to a question whose entities were linked."""
    if analysis.expects == YESNO:
        reasoning.append("no fact between the question's entities matches its relation; the graph is not "
                         "complete, so that is no evidence for 'no': not known")
        return [], "Not known from the sources."
    reasoning.append(f"no fact of the linked entities has a relation matching the question "
                     f"(threshold {RELATION_THRESHOLD}) with an answer of the expected kind")
    predicted = _predictions(kg, analysis, reasoning)
    text = "Not known from the sources."
    if predicted:
        text += (f" The embeddings suggest {_join([p['object'] for p in predicted])} for "
                 f"'{predicted[0]['predicate']}', a guess, not a stated fact.")
    return predicted, text


def _relation_detail(best: Candidate, anchor_name: str, reasoning: list[str]) -> dict:
    """Steps 3 and 4 of :func:`answer` for the chosen answer: the relation and the direction it was read in."""
    reasoning.append(f"relation: '{best.fact['predicate']}' (score {best.relation:.2f}, matched "
                     f"{', '.join(best.hits) or 'copula'}), read {'from' if best.direction == 'out' else 'into'} "
                     f"{anchor_name} as the {'subject' if best.direction == 'out' else 'object'}")
    return {"predicate": best.fact["predicate"], "score": round(best.relation, 4),
            "matched_words": best.hits, "direction": best.direction, "anchor": best.anchor["entity_id"]}


def _cited_facts(chosen: list[Candidate], cites: _Citations, reasoning: list[str]) -> list[dict]:
    """The answer's facts as ``answer`` reports them, each citing its evidence, and a reasoning line each."""
    facts = []
    for c in chosen:
        ids = cites.cite(c.fact)
        facts.append(_fact_view(c.fact, c.fact["kind"], ids))
        how = (f"rule {c.fact.get('rule')} from edges {', '.join(c.fact.get('supporting_edge_ids') or [])}"
               if c.fact["kind"] != "extracted" else f"{len(c.fact.get('evidence') or [])} evidence sentence(s)")
        reasoning.append(f"fact {c.fact['edge_id']}: {c.fact['subject']} | {c.fact['predicate']} | "
                         f"{c.fact['object']} ({c.fact['kind']}, confidence {float(c.fact['confidence'] or 0):.2f}, "
                         f"{how}); answer from its {c.origin}: {c.answer}")
    return facts


def _realise_answer(analysis: Analysis, chosen: list[Candidate], facts: list[dict],
                    anchor_name: str) -> tuple[list[str], str]:
    """Step 6 of :func:`answer`: the answer items and the text that states them with citation marks."""
    best = chosen[0]
    items = [c.answer for c in chosen]
    sentences = []
    evidence_text = [e["sentence_text"] for c in chosen for e in (c.fact.get("evidence") or [])]
    all_ids = [n for f in facts for n in f["citations"]]
    if analysis.expects == YESNO:
        # the fact itself is the answer: "yes", said with the fact and its evidence
        c, f = chosen[0], facts[0]
        sentences.append("Yes: " + realise([display_name(c.fact["subject"])], c.fact["predicate"],
                                           [display_name(c.fact["object"])], evidence_text)
                         + " " + _marks(f["citations"]))
        items = ["yes"]
    elif analysis.expects in (DATE, NUMBER) and best.origin == "time qualifier":
        # one sentence per fact: each has its own time
        for c, f in zip(chosen, facts):
            subject, obj = ((anchor_name, display_name(c.fact["object"])) if c.direction == "out"
                            else (display_name(c.fact["subject"]), anchor_name))
            sentences.append(realise([subject], c.fact["predicate"], [obj], evidence_text, when=c.answer)
                             + " " + _marks(f["citations"]))
    elif best.direction == "out":
        sentences.append(realise([anchor_name], best.fact["predicate"], items, evidence_text)
                         + " " + _marks(sorted(set(all_ids))))
    else:
        sentences.append(realise(items, best.fact["predicate"], [anchor_name], evidence_text)
                         + " " + _marks(sorted(set(all_ids))))
    text = " ".join(s.strip() + "." if not s.strip().endswith(".") else s.strip() for s in sentences)
    if not all_ids:
        text += " (No evidence sentence is stored for these facts.)"
    return items, text


# --------------------------------------------------------------------------- summaries

def _softmax(scores: list[float], temperature: float) -> list[float]:
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp((s - top) / temperature) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def _one_fact_per_statement(entity_id: str, facts: list[dict], cites: _Citations) -> list[dict]:
    """Facts that can be cited (a summary sentence must cite evidence), one per statement: facts read off
    the same evidence sentences about the same other entity ("Jobs found Apple" and "Apple founded by
    Jobs") say one thing; the one whose predicate the entity shares with more facts is kept, so that it
    merges into their sentence."""
    def direction_predicate(f: dict) -> tuple[str, str]:
        return ("out" if f["subject_id"] == entity_id else "in", f["predicate"])

    group_size: dict[tuple[str, str], int] = {}
    for f in facts:
        group_size[direction_predicate(f)] = group_size.get(direction_predicate(f), 0) + 1
    best: dict[tuple, tuple[tuple, dict]] = {}
    for f in facts:
        evidence = frozenset((e.get("doc_id"), e.get("sentence_index")) for e, _ in cites._evidence(f))
        if not evidence:
            continue
        other = f["object_id"] if f["subject_id"] == entity_id else f["subject_id"]
        key = (evidence, other or normalize_surface(f["object"] or ""))
        rank = (group_size[direction_predicate(f)], float(f["confidence"] or 0.0), f["kind"] == "extracted")
        if key not in best or rank > best[key][0]:
            best[key] = (rank, f)
    kept = {id(f) for _, f in best.values()}
    return [f for f in facts if id(f) in kept]


def summarize(kg, entity_id: str, max_sentences: int = SUMMARY_SENTENCES) -> dict:
    """A short paragraph about an entity from its most relevant facts (see the module docstring).

    Returns ``{"entity_id", "name", "summary", "sentences": [{"text", "citations", "weight", "edge_ids"}],
    "attention": [{"edge_id", "weight", "score"}]}``; attention weights sum to 1 over the facts that can be
    cited, sentence weights sum to 1 over the sentences. Raises ``LookupError`` for an unknown entity.
    """
    entity = kg.store.entity(entity_id)
    if entity is None:
        raise LookupError(f"unknown entity {entity_id!r}")
    name = display_name(entity["name"])
    facts = kg.store.facts(entity_id, "both")
    cites = _Citations(kg)
    usable = _one_fact_per_statement(entity_id, [f for f in facts if cites._evidence(f)], cites)
    result = {"entity_id": entity_id, "name": name, "summary": "", "sentences": [], "attention": []}
    if not usable:
        result["summary"] = f"Nothing about {name} can be stated with evidence."
        return result
    scores = _relevance(kg, entity_id, usable)
    weights = _softmax(scores, SUMMARY_TEMPERATURE)
    result["attention"] = sorted(({"edge_id": f["edge_id"], "weight": w, "score": round(s, 4)}
                                  for f, w, s in zip(usable, weights, scores)), key=lambda a: -a["weight"])
    sentences = _summary_sentences(entity_id, name, usable, weights, cites, max_sentences)
    shown = sum(s["weight"] for s in sentences) or 1.0
    for s in sentences:
        s["weight"] = s["weight"] / shown
    result["sentences"] = sentences
    result["summary"] = " ".join(s["text"] for s in sentences)
    return result


def _relevance(kg, entity_id: str, usable: list[dict]) -> list[float]:
    """Each fact's relevance score (confidence, support, the predicate's IDF, the other end's PageRank,
    direction and kind), before the softmax."""
    counts = kg.store.predicates()
    total = sum(counts.values()) or 1
    idf = {p: math.log(total / max(counts.get(p, 1), 1)) for p in {f["predicate"] for f in usable}}
    max_idf = max(idf.values()) or 1.0
    others = [f["object_id"] if f["subject_id"] == entity_id else f["subject_id"] for f in usable]
    info = kg.store.entities([o for o in others if o])
    ranks = [(info.get(o) or {}).get("pagerank") or 0.0 for o in others]
    max_rank = max(ranks) or 1.0
    scores = []
    for fact, rank in zip(usable, ranks):
        outgoing = fact["subject_id"] == entity_id
        score = (float(fact["confidence"] or 0.0) + 0.5 * math.log1p(int(fact["support_count"] or 0))
                 + idf[fact["predicate"]] / max_idf + rank / max_rank + (0.3 if outgoing else 0.0)
                 - (0.5 if fact["object_type"] == "string" else 0.0)
                 - (0.3 if fact["kind"] != "extracted" else 0.0))
        scores.append(score)
    return scores


def _summary_sentences(entity_id: str, name: str, usable: list[dict], weights: list[float], cites: _Citations,
                       max_sentences: int) -> list[dict]:
    """The sentences of the most relevant predicate groups, their weights not yet renormalised."""
    groups: dict[tuple, list[tuple[dict, float]]] = {}
    for fact, w in zip(usable, weights):
        key = ("out" if fact["subject_id"] == entity_id else "in", fact["predicate"])
        groups.setdefault(key, []).append((fact, w))
    ranked = sorted(groups.items(), key=lambda kv: -sum(w for _, w in kv[1]))
    sentences = []
    said_evidence: set[tuple] = set()
    said_others: set[str] = set()
    for (direction, predicate), members in ranked:
        if len(sentences) == max_sentences:
            break
        picked = _distinct_others(members, direction)
        evidence = {(e.get("doc_id"), e.get("sentence_index")) for f, _, _ in picked for e, _ in cites._evidence(f)}
        others_keys = {normalize_surface(o) or o for _, _, o in picked}
        if evidence <= said_evidence and others_keys <= said_others:
            # the same sentences about the same entities, read as another predicate ("founded by" beside
            # "found"): saying it twice adds nothing
            continue
        said_evidence |= evidence
        said_others |= others_keys
        sentences.append(_summary_sentence(name, direction, predicate, picked, cites))
    return sentences


def _distinct_others(members: list[tuple[dict, float]], direction: str) -> list[tuple[dict, float, str]]:
    """The heaviest facts of a group, one per entity at the other end, at most SUMMARY_ITEMS: (fact, weight,
    the other end's name)."""
    members.sort(key=lambda m: -m[1])
    picked, seen = [], set()
    for fact, w in members:
        other = display_name(fact["object"] if direction == "out" else fact["subject"])
        key = normalize_surface(other or "") or other
        if key in seen:
            continue
        seen.add(key)
        picked.append((fact, w, other))
        if len(picked) == SUMMARY_ITEMS:
            break
    return picked


def _summary_sentence(name: str, direction: str, predicate: str, picked: list[tuple[dict, float, str]],
                      cites: _Citations) -> dict:
    """One summary sentence for the facts of a group, citing their evidence."""
    evidence_text = [e["sentence_text"] for f, _, _ in picked for e in (f.get("evidence") or [])]
    ids = []
    for fact, _, _ in picked:
        ids += [n for n in cites.cite(fact) if n not in ids]
    others = [o for _, _, o in picked]
    when = None
    if len(picked) == 1:
        time_q = (picked[0][0].get("qualifiers") or {}).get("time")
        when = time_q if time_q and _HAS_DIGIT.search(time_q) else None
    if direction == "out":
        text = realise([name], predicate, others, evidence_text, when)
    else:
        text = realise(others, predicate, [name], evidence_text, when)
    return {"text": f"{text} {_marks(ids)}.", "citations": cites.of(ids), "weight": sum(w for _, w, _ in picked),
            "edge_ids": [f["edge_id"] for f, _, _ in picked]}


def json_ready(value: Any) -> Any:
    """Results as plain JSON types: numpy scalars (scores from the index) as numbers, datetimes as ISO text."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):   # numpy scalar
        return value.item()
    return value
