"""Engine-free entity resolution and edge aggregation rules.

Pure functions, no global mutable state, no Spark imports: ``jobs/resolve.py`` applies them
row-wise (Python and pandas UDFs), per document or per connected component (``mapInArrow`` over the
rows of one group, sorted by it), and re-expresses the aggregations documented
here with DataFrame operations. Every rule the job relies on is written down once, here.

Overview of the resolve stage
-----------------------------
1. **Alias table** (:func:`alias_rows`): from ``links`` (anchor -> target), article titles
   and ``redirects``: ``(alias_key, target_title, count, commonness)``.
2. **Linking** (:func:`link_mention`, per mention, with the document's own link targets):
   a mention that is a link anchor keeps its (redirect-resolved) target; other mentions
   are linked to a wiki title or left unlinked.
3. **Same-as evidence** (:func:`document_graph_edges`, per document): within-document
   pairs from :func:`same_as_pairs`, rewritten to graph vertices, plus one edge from each
   unlinked mention to its cross-document key vertex (:func:`cross_document_key`).
4. **Connected components** (GraphFrames) over those edges; each component goes through
   :func:`split_oversized` (size and one-wiki-title guard).
5. **Identity** (:func:`cluster_identity`, :func:`entity_id_for`, :func:`canonical_name`,
   :func:`majority_type`): one entity per resulting group.
6. **Edges** (:func:`edge_key`, :func:`edge_confidence`/:func:`noisy_or`,
   :func:`evidence_sample`): triples_raw rows mapped to entity ids and deduplicated.

Graph vertices
--------------
* ``W:<wiki title>`` -- one vertex per linked wiki title. A linked mention *is* its title
  vertex (it gets no vertex of its own), so components stay small: a title mentioned a
  million times is one vertex.
* ``N:<coarse type>:<normalized name>`` -- cross-document name key of unlinked mentions
  (see :func:`cross_document_key`).
* ``<mention_id>`` -- each unlinked entity mention (32 hex digits, never contains ':').

Cross-document merging happens only through these key vertices: the same wiki title, or
the same specific unlinked name with the same coarse type. A single-token PERSON name
("Cook", "Holmes") never gets a key, so two people sharing a surname in different
documents never merge; within a document the short form joins its long form
("Holmes" -> "Sherlock Holmes") and through it the long form's key.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from kgpipe.config import ResolveConfig
from kgpipe.dates import date_key, iso_date
from kgpipe.ids import stable_id
from kgpipe.ingest.wikitext import normalize_title

__all__ = [
    "TITLE_TYPE_MIN_VOTES", "title_type", "ARTICLES", "HONORIFICS", "CORPORATE_SUFFIXES", "COARSE_TYPES", "ANY",
    "DOC_LINK_SCORE", "TITLE_COUNT", "REDIRECT_COUNT", "MAX_REDIRECT_HOPS",
    "RULE_STRENGTH", "CROSS_DOC_RULE", "PRIOR_RULE",
    "normalize_surface", "title_key", "is_proper_name", "coarse_type", "compatible",
    "resolve_redirect", "AliasRow", "alias_rows", "candidate_index", "name_compatible", "page_is_person",
    "full_name", "link_mention", "PAGE_SUBJECT_SCORE", "WEAK_TYPES", "TITLE_NAME_RULE", "title_name_edges",
    "MentionLite", "same_as_pairs", "cross_document_key", "vertex_for",
    "document_graph_edges", "components", "split_oversized", "cluster_identity",
    "entity_id_for", "canonical_name", "majority_type", "edge_key", "qualifiers_string",
    "noisy_or", "edge_confidence", "evidence_sample", "in_holdout",
]

# --------------------------------------------------------------------------- normalization

#: leading articles dropped (once, only when other tokens remain, never an initial "A.")
ARTICLES = frozenset({"the", "a", "an"})
#: leading honorifics dropped (repeatedly, only when other tokens remain). Deliberately small:
#: "st" is NOT here (St. Louis, St Petersburg are names), nor are offices such as
#: "president" or "king" (they are often the whole name: "the President").
HONORIFICS = frozenset({"mr", "mrs", "ms", "mx", "miss", "dr", "prof", "sir", "dame", "rev"})
#: trailing corporate suffixes dropped (repeatedly, only when other tokens remain).
#: Dots are deleted before matching, so "S.A." -> "sa", "Co." -> "co".
CORPORATE_SUFFIXES = frozenset({"inc", "incorporated", "ltd", "limited", "llc", "plc", "corp",
                                "corporation", "co", "gmbh", "ag", "sa"})

# letters that NFKD does not decompose into base letter + combining mark
_FOLD = str.maketrans({"ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ı": "i",
                       "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH",
                       "ð": "d", "Ð": "D", "ħ": "h", "Ħ": "H"})
_APOSTROPHES = "'\u2019\u02bc`\u00b4"
_POSSESSIVE_RE = re.compile(rf"[{_APOSTROPHES}]s\b", re.IGNORECASE)
_PAREN_RE = re.compile(r"\s*\([^()]*\)\s*\Z")


def _fold_diacritics(s: str) -> str:
    s = s.translate(_FOLD)
    return "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))


def _tokens(text: str) -> list[tuple[str, bool]]:
    """(token, had_dot) after steps 1-5 of :func:`normalize_surface`."""
    s = unicodedata.normalize("NFKC", text or "")
    s = _fold_diacritics(s)
    s = s.casefold()
    s = _POSSESSIVE_RE.sub("", s)
    s = s.replace("&", " and ")
    out: list[tuple[str, bool]] = []
    buf: list[str] = []
    dot = False
    for ch in s + " ":
        if ch in _APOSTROPHES:
            continue  # O'Brien -> obrien
        if ch == ".":
            dot = True  # U.S. -> us, S.A. -> sa
            continue
        cat = unicodedata.category(ch)
        if ch.isspace() or cat[0] in "PSZC":
            if buf:
                out.append(("".join(buf), dot))
            elif dot and out:
                out[-1] = (out[-1][0], True)
            buf, dot = [], False
            continue
        buf.append(ch)
    return out


def normalize_surface(text: str) -> str:
    """THE normalization of surface forms (alias keys, name comparison), in this order:

    1. Unicode NFKC (``"ｆｕｌｌ"`` -> ``"full"``, ligature ``"ﬁ"`` -> ``"fi"``).
    2. Diacritics folded: NFKD with combining marks removed, plus a small table for letters
       without a decomposition (ø->o, ł->l, đ->d, æ->ae, œ->oe, þ->th):
       ``"Gödel"`` -> ``"godel"``, ``"Søren"`` -> ``"soren"``.
    3. Case-folded (``"Straße"`` -> ``"strasse"``).
    4. Possessive ``'s`` / ``’s`` removed at the end of a word (``"Apple's"`` -> ``"apple"``;
       note ``"McDonald's"`` -> ``"mcdonald"`` too, consistently); ``&`` becomes ``and``.
    5. Punctuation: apostrophes and dots are deleted (``"O'Brien"`` -> ``"obrien"``,
       ``"U.S."`` -> ``"us"``); every other punctuation, symbol or control character is a
       word break (``"Jean-Paul"`` -> ``"jean paul"``). Whitespace collapsed.
    6. One leading article (the/a/an) dropped, unless it is the only word or written as an
       initial ``"A."``: ``"The Beatles"`` -> ``"beatles"``, ``"A. Smith"`` -> ``"a smith"``.
    7. Leading honorifics (:data:`HONORIFICS`) dropped repeatedly while a word remains:
       ``"Prof. Dr. Marie Curie"`` -> ``"marie curie"``, ``"Mr."`` alone stays ``"mr"``.
    8. Trailing corporate suffixes (:data:`CORPORATE_SUFFIXES`) dropped repeatedly while a
       word remains: ``"Apple Inc."`` -> ``"apple"``, ``"Renault S.A."`` -> ``"renault"``,
       ``"Foo Co., Ltd."`` -> ``"foo"``.

    The result is the words joined by one space ("" for text without letters or digits).
    Never raises.
    """
    toks = _tokens(text)
    if toks and len(toks) > 1 and toks[0][0] in ARTICLES and not toks[0][1]:
        toks = toks[1:]
    while len(toks) > 1 and toks[0][0] in HONORIFICS:
        toks = toks[1:]
    while len(toks) > 1 and toks[-1][0] in CORPORATE_SUFFIXES:
        toks = toks[:-1]
    return unicodedata.normalize("NFC", " ".join(t for t, _ in toks))


def title_key(title: str) -> str:
    """Alias key of a wiki title: :func:`~kgpipe.ingest.wikitext.normalize_title`, then one trailing
    parenthetical disambiguator removed, then :func:`normalize_surface`.

    ``"Mercury (planet)"`` -> ``"mercury"``, ``"Apple_Inc."`` -> ``"apple"``. A comma
    qualifier is part of the name and kept: ``"Paris, Texas"`` -> ``"paris texas"``.
    A title that is only a parenthetical keeps it.
    """
    t = normalize_title(title or "")
    stripped = _PAREN_RE.sub("", t)
    return normalize_surface(stripped if stripped.strip() else t)


def is_proper_name(text: str) -> bool:
    """Case-sensitive proper-name check: some cased letter is uppercase, or the text has no
    cased letters at all (CJK, digits). ``"Apple"``, ``"iPhone"``, ``"3M"`` -> True;
    ``"apple"`` (the fruit, a common noun) -> False. Only proper names take part in the
    name-based rules (``same_name``, ``short_form``, ``acronym``, cross-document keys)."""
    s = text or ""
    has_cased = False
    for ch in s:
        if ch.isupper() or ch.istitle():
            return True
        if ch.islower():
            has_cased = True
    return not has_cased and any(ch.isalnum() for ch in s)


# --------------------------------------------------------------------------- types

ANY = "ANY"
#: spaCy label -> coarse type. Literal labels (DATE, TIME, PERCENT, MONEY, QUANTITY,
#: ORDINAL, CARDINAL) and unknown labels map to None: never entities. LINK (an anchor NER
#: missed) is ANY. Coarse names are idempotent (coarse_type("PER") == "PER").
COARSE_TYPES: Mapping[str, str] = {
    "PERSON": "PER", "PER": "PER",
    "ORG": "ORG",
    "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
    "NORP": "MISC", "EVENT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC",
    "LANGUAGE": "MISC", "PRODUCT": "MISC", "MISC": "MISC",
    "LINK": ANY, ANY: ANY,
}


def coarse_type(label: str | None) -> str | None:
    """Coarse type of a spaCy label (see :data:`COARSE_TYPES`); None = not an entity."""
    if not label:
        return None
    return COARSE_TYPES.get(str(label).upper())


def compatible(type_a: str | None, type_b: str | None) -> bool:
    """Whether two labels (spaCy or coarse) may denote the same entity: both entity types
    and equal coarse types, or one of them ANY. ``PER`` vs ``ORG`` -> False,
    ``GPE`` vs ``LOC`` -> True (both LOC), ``DATE`` vs anything -> False."""
    a, b = coarse_type(type_a), coarse_type(type_b)
    if a is None or b is None:
        return False
    return a == ANY or b == ANY or a == b


#: prefix of the type votes an infobox's class casts for the page's subject (``infobox:PERSON``)
INFOBOX_VOTE = "infobox:"
#: prefix of the vote a page's first sentence casts for its subject ("X is a Greek philosopher": ``lead:PERSON``)
LEAD_VOTE = "lead:"


def majority_type(labels: Iterable[Any]) -> str | None:
    """Entity type of a cluster or wiki title: the most frequent concrete coarse type among
    its mentions' labels (items are labels or ``(label, count)`` pairs). ANY and literal
    labels do not vote. Votes of infobox classes (``infobox:PERSON``), where there are any,
    decide alone: a page's infobox says what its subject is, NER guesses it from a context;
    without them the page's definition of its subject (``lead:MISC``) decides. Ties: PER > ORG >
    LOC > MISC. None when nothing voted (unknown, which :func:`link_mention` treats as compatible
    with everything)."""
    tiers: dict[str, Counter[str]] = {INFOBOX_VOTE: Counter(), LEAD_VOTE: Counter(), "": Counter()}
    for item in labels:
        label, n = (item if isinstance(item, tuple) else (item, 1))
        label = str(label or "")
        prefix = next((p for p in (INFOBOX_VOTE, LEAD_VOTE) if label.startswith(p)), "")
        t = coarse_type(label.removeprefix(prefix))
        if t is not None and t != ANY:
            tiers[prefix][t] += int(n)
    votes = next((tally for tally in tiers.values() if tally), None)
    if not votes:
        return None
    order = {"PER": 0, "ORG": 1, "LOC": 2, "MISC": 3}
    return min(votes, key=lambda t: (-votes[t], order.get(t, 9), t))


#: a wiki title's type filters link candidates only when this many typed anchor mentions
#: voted for it: NER labels are noisy (CoNLL ORG F1 0.33 here), and on the English sample a
#: type read off one or two anchors rejected more right links than wrong ones (docs/evaluate.md).
TITLE_TYPE_MIN_VOTES = 3


def title_type(labels: Iterable[Any], min_votes: int = TITLE_TYPE_MIN_VOTES) -> str | None:
    """Type of a wiki title for :func:`link_mention`: :func:`majority_type` of the labels of
    the mentions anchored to it, or None (unknown: compatible with everything) when fewer
    than ``min_votes`` of them carry a concrete type."""
    items = [item if isinstance(item, tuple) else (item, 1) for item in labels]
    typed = sum(int(n) for label, n in items if coarse_type(label) not in (None, ANY))
    return majority_type(items) if typed >= min_votes else None


# --------------------------------------------------------------------------- alias table

class AliasRow(NamedTuple):
    alias_key: str
    target_title: str
    count: int
    commonness: float


#: pseudo-counts of an article's own title and of each redirect as aliases of the target
TITLE_COUNT = 1
REDIRECT_COUNT = 1
MAX_REDIRECT_HOPS = 5


def resolve_redirect(title: str, redirects: Mapping[str, str], max_hops: int = MAX_REDIRECT_HOPS) -> str:
    """Follow redirects (``from_title -> to_title``, both normalized titles) at most
    ``max_hops`` times; a cycle or a too-long chain stops at the last title reached.
    Spark: join ``redirects`` on ``from_title`` up to ``max_hops`` times (a double redirect
    is rare; one hop resolves almost all)."""
    seen = {title}
    cur = title
    for _ in range(max_hops):
        nxt = redirects.get(cur)
        if not nxt or nxt in seen:
            break
        seen.add(nxt)
        cur = nxt
    return cur


def alias_rows(links: Iterable[tuple[str, str]], titles: Iterable[str] = (),
               redirects: Iterable[tuple[str, str]] = (), *, min_count: int = 1) -> list[AliasRow]:
    """The candidate table, exactly as the Spark job must compute it.

    Inputs: ``links`` as ``(anchor, target_title)`` (one per ``links`` row), article
    ``titles`` (namespace 0, non-redirect pages), ``redirects`` as ``(from_title, to_title)``.

    Rule:

    1. ``R`` = redirect map; every target below is ``resolve_redirect(normalize_title(t), R)``.
    2. Each link row contributes ``(normalize_surface(anchor), target, 1)``.
    3. Each article title contributes ``(title_key(title), title, TITLE_COUNT)``.
    4. Each redirect contributes ``(title_key(from_title), target(to_title), REDIRECT_COUNT)``.
    5. Rows with an empty alias key or target are dropped.
    6. ``count`` = sum per ``(alias_key, target_title)``; rows with ``count < min_count``
       dropped; ``commonness = count / sum(count) over alias_key`` (computed after the
       ``min_count`` filter).

    Spark: ``union`` of the three sources, ``groupBy(alias_key, target_title).agg(sum)``,
    filter, then ``count / sum(count).over(Window.partitionBy(alias_key))``.
    Output sorted by alias_key, count descending, target_title.
    """
    rmap: dict[str, str] = {}
    for frm, to in redirects:
        f, t = normalize_title(frm or ""), normalize_title(to or "")
        if f and t and f != t:
            rmap[f] = t

    def target(t: str) -> str:
        return resolve_redirect(normalize_title(t or ""), rmap) if t else ""

    counts: Counter[tuple[str, str]] = Counter()
    for anchor, t in links:
        counts[(normalize_surface(anchor), target(t))] += 1
    for t in titles:
        counts[(title_key(t), target(t))] += TITLE_COUNT
    for frm, to in redirects:
        counts[(title_key(frm), target(to))] += REDIRECT_COUNT
    totals: Counter[str] = Counter()
    kept = {k: c for k, c in counts.items() if k[0] and k[1] and c >= min_count}
    for (key, _), c in kept.items():
        totals[key] += c
    rows = [AliasRow(key, t, c, c / totals[key]) for (key, t), c in kept.items()]
    rows.sort(key=lambda r: (r.alias_key, -r.count, r.target_title))
    return rows


def candidate_index(rows: Iterable[AliasRow], title_types: Mapping[str, str | None] | None = None
                    ) -> dict[str, list[tuple[str, float, str | None]]]:
    """alias_key -> ``[(title, commonness, target_type)]`` as :func:`link_mention` wants it.
    ``title_types`` (title -> :func:`title_type` of the mentions anchored to it) is optional;
    a missing type is None (unknown)."""
    idx: dict[str, list[tuple[str, float, str | None]]] = defaultdict(list)
    for r in rows:
        idx[r.alias_key].append((r.target_title, r.commonness, (title_types or {}).get(r.target_title)))
    return dict(idx)


# --------------------------------------------------------------------------- linking

#: floor of the score of a mention linked because its own document links the target
DOC_LINK_SCORE = 0.9


#: score of a mention linked because it names the article it stands in
PAGE_SUBJECT_SCORE = 1.0
#: NER labels too unreliable to keep a name from the title or the mentions it names: spaCy's ORG has
#: precision 0.385 on CoNLL-2003 dev here (PER 0.78, LOC 0.81; docs/evaluate.md), and on the sample it is
#: what split "Lincoln" (ORG) from Abraham Lincoln and "Angola" (ORG) from the country
WEAK_TYPES = frozenset({"ORG"})


def full_name(title: str) -> str:
    """A title's whole name as an alias key, its disambiguator kept: "Alabama" -> "alabama", "Alabama
    (people)" -> "alabama people". The title written so is Wikipedia's primary topic of the name."""
    return normalize_surface(normalize_title(title or ""))


def _initials(words: Sequence[str]) -> set[str]:
    """The acronyms a multi-word name can be written as: all initials, or without function words."""
    return {"".join(w[0] for w in words), "".join(w[0] for w in words if w not in _FUNCTION_WORDS)}


def name_compatible(mention_key: str, title: str, person: bool = False) -> bool:
    """Whether a mention's text can name ``title`` on its own: the title's name (its disambiguator aside:
    "Alabama" names "Alabama (people)" as well as "Alabama"), for a person the last words of the name (the
    surname: "Lincoln" for "Abraham Lincoln"), or the initials of a multi-word name ("NASA"). "Aristotle"
    does not name "Aristotle Mountains": a name's first word is no short form of it."""
    name = title_key(title)
    if not mention_key or not name:
        return False
    if mention_key == name:
        return True
    words, key_words = name.split(), mention_key.split()
    if person and len(key_words) < len(words) and words[-len(key_words):] == key_words:
        return True
    return len(words) >= 2 and len(key_words) == 1 and mention_key in _initials(words)


def page_is_person(page_type: str | None, name_labels: Iterable[Any]) -> bool:
    """Whether an article is about a person, so that its subject's surname names it: the title's type
    (anchors and infobox), else the NER labels of the mentions that write the title's name in full."""
    return (coarse_type(page_type) or majority_type(name_labels)) == "PER"


def link_mention(mention_key: str, mention_type: str | None,
                 candidates: Sequence[tuple[str, float, str | None]],
                 doc_link_targets: Iterable[str] = (), *,
                 min_commonness: float = ResolveConfig.model_fields["min_commonness"].default,
                 proper_name: bool = True, page_title: str | None = None,
                 page_person: bool = False) -> tuple[str | None, float, str]:
    """Link one (non-anchor) mention to a wiki title.

    ``mention_key`` = ``normalize_surface(text)``; ``candidates`` = the alias table rows of
    that key as ``(title, commonness, target_type)``; ``doc_link_targets`` = the
    (redirect-resolved) titles the mention's own document links to. Mentions that are link
    anchors are not passed here: they keep their target.

    Rules, in order; the result is ``(title | None, score, reason)``:

    1. Label not an entity type (literal) -> ``(None, 0.0, "not_entity")``; the mention text
       is not a proper name (``proper_name=False``, see :func:`is_proper_name`: "apple" the
       fruit is not linked to Apple Inc.) -> ``"not_proper_name"``, after rule 2.
    2. **The article's subject**: in the article ``page_title`` (a wiki page's own,
       redirect-resolved title), a mention whose text names it (:func:`name_compatible`, the
       surname too where ``page_person``) or is one of its known aliases (a candidate) is the
       article's subject, whatever its NER label: ``(page_title, PAGE_SUBJECT_SCORE,
       "page_subject")``; so is the page's name written in lower case ("albedo" in Albedo), which
       rule 1 would leave unlinked elsewhere. "Lincoln" in the article Abraham Lincoln is the president even where
       NER says ORG; "Alabama" in the article Alabama is the state, not "Alabama (people)",
       which the article links to.
    3. No candidates -> ``"no_candidates"``. Candidates whose ``target_type`` is incompatible
       with the mention type are skipped (unknown target type = compatible), except a title
       whose whole name (:func:`full_name`) the mention is when its label is one of
       :data:`WEAK_TYPES` or the document itself links that title (its author's link outweighs
       one NER guess: "the writings of Aristotle" tagged GPE in Alchemy, which links Aristotle);
       none left -> ``"type_incompatible"``.
    4. **Document link**: a candidate the same document links to wins (highest commonness,
       then smallest title): score ``max(DOC_LINK_SCORE, commonness)``, ``"doc_link"``. Every
       candidate is a known alias of its title (an anchor or a redirect wrote it), so a page
       that links "Apple Records" means that by its "Apple"; a page's link to another title does
       not outweigh the page's own subject (rule 2).
    5. A single-token PERSON key ("cook") is not linked on commonness alone (surnames are
       ambiguous): ``"ambiguous_short_person"``; it can still join its long form through
       :func:`same_as_pairs`. A mononym whose best candidate is titled by exactly that word
       ("Aristotle", "Plato") is a whole name, not a surname, and goes on to rule 6.
    6. **Commonness**: the candidate with the highest commonness (then smallest title) when
       commonness > ``min_commonness``: score = commonness, ``"commonness"``; otherwise
       ``(None, best commonness, "below_threshold")``.

    Commonness is the share among *all* targets of the alias (not renormalized after the
    type filter).
    """
    mtype = coarse_type(mention_type)
    if mtype is None:
        return None, 0.0, "not_entity"
    if page_title and mention_key and (
            (not proper_name and mention_key == title_key(page_title))
            or (proper_name and (name_compatible(mention_key, page_title, page_person or mtype == "PER")
                                 or any(t == page_title for t, _, _ in candidates)))):
        return page_title, PAGE_SUBJECT_SCORE, "page_subject"
    if not proper_name:
        return None, 0.0, "not_proper_name"
    if not mention_key or not candidates:
        return None, 0.0, "no_candidates"
    targets = set(doc_link_targets or ())
    ok = [(t, float(c), tt) for t, c, tt in candidates
          if tt is None or compatible(mtype, tt)
          or ((mtype in WEAK_TYPES or t in targets) and full_name(t) == mention_key)]
    if not ok:
        return None, 0.0, "type_incompatible"
    ok.sort(key=lambda x: (-x[1], x[0]))
    for t, c, _ in ok:
        if t in targets:
            return t, max(DOC_LINK_SCORE, c), "doc_link"
    if mtype == "PER" and len(mention_key.split()) == 1 and full_name(ok[0][0]) != mention_key:
        return None, 0.0, "ambiguous_short_person"
    t, c, _ = ok[0]
    if c > min_commonness:
        return t, c, "commonness"
    return None, c, "below_threshold"


# --------------------------------------------------------------------------- same-as evidence

class MentionLite(NamedTuple):
    """What the resolution rules need of a ``mentions`` row. ``wiki_title`` is the
    resolved title: the redirect-resolved anchor target, or the :func:`link_mention` result."""
    mention_id: str
    text: str
    label: str
    start: int = 0
    wiki_title: str | None = None


#: rule strength, used by :func:`split_oversized` (higher first). Rules of strength >= 2
#: are within-document evidence; ``name`` (cross-document key) is the weakest.
#: ``resolved`` ties a key vertex to an entity of an earlier run (``E:<entity_id>``):
#: an increment may merge existing entities, but never splits one.
RULE_STRENGTH: Mapping[str, int] = {"resolved": 4, "same_link": 3, "same_name": 2, "short_form": 2,
                                    "acronym": 2, "name": 1, "title_name": 1}
CROSS_DOC_RULE = "name"
PRIOR_RULE = "resolved"
#: a name qualified by another ("Aberdeen, Sierra Leone", "Aa (Möhne)")
_QUALIFIED = re.compile(r"[,(]")
_FUNCTION_WORDS = frozenset({"of", "the", "and", "for", "de", "la", "le", "du", "des", "der", "von",
                           "in", "on", "at"})
_ACRONYM_TYPES = frozenset({"ORG", "LOC"})
_ACRONYM_LONG_TYPES = _ACRONYM_TYPES | {ANY}


class _M(NamedTuple):
    m: MentionLite
    type: str
    key: str
    tokens: tuple[str, ...]
    proper: bool


def _blocked_vals(type_a: str, title_a: str | None, type_b: str, title_b: str | None) -> bool:
    if not (type_a == type_b or type_a == ANY or type_b == ANY):
        return True
    return bool(title_a and title_b and title_a != title_b)


def _blocked(a: _M, b: _M) -> bool:
    """Never pair: incompatible (coarse) types, or linked to two different titles."""
    return _blocked_vals(a.type, a.m.wiki_title, b.type, b.m.wiki_title)


def _star(group: list[_M], rule: str, out: dict[tuple[str, str], str]) -> None:
    """Pair each member with the earliest earlier member of its type class. When the group
    holds two concrete types (PER and LOC "Jordan"), ANY members pair only among
    themselves, so ANY never bridges incompatible types. For a name, a label of
    :data:`WEAK_TYPES` is no type of its own: it joins the group's one other concrete type."""
    concrete = {g.type for g in group if g.type != ANY}
    if rule == "same_name" and len(concrete - WEAK_TYPES) == 1 and concrete & WEAK_TYPES:
        strong = next(iter(concrete - WEAK_TYPES))
        group = [g._replace(type=strong) if g.type in WEAK_TYPES else g for g in group]
        concrete = {strong}
    classes: dict[str, list[_M]] = defaultdict(list)
    for g in group:
        cls = (next(iter(concrete)) if concrete else ANY) if len(concrete) <= 1 else g.type
        classes[cls].append(g)
    for members in classes.values():
        for i, g in enumerate(members):
            for h in members[:i]:
                if not _blocked(g, h):
                    _add(out, g, h, rule)
                    break


def _add(out: dict[tuple[str, str], str], a: _M, b: _M, rule: str) -> None:
    x, y = sorted((a.m.mention_id, b.m.mention_id))
    if x != y and (x, y) not in out:
        out[(x, y)] = rule


def _acronym_of(text: str) -> str | None:
    raw = _POSSESSIVE_RE.sub("", unicodedata.normalize("NFKC", text or "").strip())
    raw = raw.replace(".", "").replace(" ", "")
    if 2 <= len(raw) <= 6 and raw.isalpha() and raw.isupper():
        return raw.casefold()
    return None


def same_as_pairs(doc_mentions: Iterable[MentionLite]) -> list[tuple[str, str, str]]:
    """Within-document same-as evidence: ``[(mention_id_a, mention_id_b, rule)]`` with
    ``a < b``, sorted, one rule per pair (the first in this order):

    * ``same_link`` -- both resolved to the same wiki title.
    * ``same_name`` -- both proper names (:func:`is_proper_name`) with the same non-empty
      :func:`normalize_surface` key; a :data:`WEAK_TYPES` label does not keep a name from its
      other mentions ("Lincoln" ORG and PERSON in one article are one name; "Jordan" PERSON and
      GPE are not).
    * ``short_form`` -- a PERSON proper name (or one NER tagged with a weak label: "Orwell" ORG
      in Animal Farm) whose key tokens are a strict prefix or suffix
      of the tokens of an *earlier* PERSON (or ANY) proper name: "Holmes" / "Sherlock" ->
      "Sherlock Holmes", "Cook" -> "Tim Cook". A weak-labelled short form also takes a strict
      *suffix* of an earlier name NER gave the same weak label: NER often tags a person's whole
      name and surname ORG alike ("Linus Torvalds" ... "Torvalds"), and a company's last words
      name it too ("Goldman Sachs" ... "Sachs"); a prefix of an organisation's name is often another
      organisation ("Microsoft" of "Microsoft Research") and is not taken, nor are the last words of
      a name with a function word ("Congress" of "Library of Congress") or a qualifier ("Sierra
      Leone" of "Aberdeen, Sierra Leone"). Paired with the nearest
      such long form; when the earlier long forms have two different keys or titles ("Sherlock
      Holmes" and "Mycroft Holmes") the short form is ambiguous and not paired.
    * ``acronym`` -- an ORG/LOC mention written as 2-6 uppercase letters (dots ignored:
      "I.B.M.") equal to the initials of a multi-word ORG/LOC (or ANY) proper name anywhere
      in the document, all words or without function words (of, the, and, ...):
      "IBM" <- "International Business Machines", "US" <- "United States". Ambiguous
      (two different long keys) -> not paired; otherwise paired with the earliest.

    Never paired: literal labels (DATE, ...), type-incompatible mentions (:func:`compatible`;
    "Jordan" PERSON vs "Jordan" GPE), mentions linked to two different titles, and
    lowercase common nouns ("apple") by the name rules. Same-key/same-title groups are
    paired as a star on their earliest member (O(n) pairs), and an ANY mention never
    bridges two concrete types.
    """
    return _same_as(doc_mentions)[0]


def _same_as(doc_mentions: Iterable[MentionLite]) -> tuple[list[tuple[str, str, str]], set[str]]:
    """:func:`same_as_pairs`, and the weak-labelled short forms it paired (their long form carries
    their identity across documents: see :func:`document_graph_edges`)."""
    ms = _entity_mentions(doc_mentions)
    out: dict[tuple[str, str], str] = {}
    weak_shorts: set[str] = set()
    _pair_same_link_and_name(ms, out)
    _pair_short_forms(ms, out, weak_shorts)
    _pair_acronyms(ms, out)
    return sorted((a, b, r) for (a, b), r in out.items()), weak_shorts


def _entity_mentions(doc_mentions: Iterable[MentionLite]) -> list[_M]:
    """The entity mentions (literal labels dropped) with their keys, in document order."""
    ms: list[_M] = []
    for m in doc_mentions:
        t = coarse_type(m.label)
        if t is None:
            continue
        key = normalize_surface(m.text)
        ms.append(_M(m, t, key, tuple(key.split()), is_proper_name(m.text)))
    ms.sort(key=lambda x: (x.m.start, x.m.mention_id))
    return ms


def _pair_same_link_and_name(ms: list[_M], out: dict[tuple[str, str], str]) -> None:
    """The ``same_link`` and ``same_name`` rules of :func:`same_as_pairs`."""
    by_title: dict[str, list[_M]] = defaultdict(list)
    by_key: dict[str, list[_M]] = defaultdict(list)
    for x in ms:
        if x.m.wiki_title:
            by_title[x.m.wiki_title].append(x)
        if x.proper and x.key:
            by_key[x.key].append(x)
    for title in sorted(by_title):
        _star(by_title[title], "same_link", out)
    for key in sorted(by_key):
        _star(by_key[key], "same_name", out)


def _pair_short_forms(ms: list[_M], out: dict[tuple[str, str], str], weak_shorts: set[str]) -> None:
    """The ``short_form`` rule of :func:`same_as_pairs`: strict token prefixes/suffixes of earlier
    PER/ANY proper names and strict suffixes of earlier weak-labelled ones, kept per affix as
    (key, title, type) -> latest index, filled in document order. Weak-labelled shorts that are
    paired go into ``weak_shorts``."""
    affixes: dict[tuple[str, ...], dict[tuple[str, str | None, str], int]] = defaultdict(dict)
    weak_suffixes: dict[tuple[str, ...], dict[tuple[str, str | None, str], int]] = defaultdict(dict)
    i = 0
    while i < len(ms):
        j = i
        while j < len(ms) and ms[j].m.start == ms[i].m.start:
            j += 1
        for s in ms[i:j]:  # shorts first: a long form must start strictly earlier
            if (s.type != "PER" and s.type not in WEAK_TYPES) or not s.proper:
                continue
            cands = {kt: k for kt, k in affixes.get(s.tokens, {}).items()
                     if not _blocked_vals("PER", s.m.wiki_title, kt[2], kt[1])}
            if s.type in WEAK_TYPES:
                # a short form the linker tied to a title keeps it: "Navy" linked to Navy does not make
                # the Angolan Navy the navy of that page
                cands.update((kt, k) for kt, k in weak_suffixes.get(s.tokens, {}).items()
                             if s.m.wiki_title in (None, kt[1]) and not _blocked_vals(s.type, None, kt[2], None))
            if not cands or len({kt[0] for kt in cands}) > 1 or len({kt[1] for kt in cands if kt[1]}) > 1:
                continue
            _add(out, s, ms[max(cands.values())], "short_form")
            if s.type in WEAK_TYPES:
                weak_shorts.add(s.m.mention_id)
        for k in range(i, j):
            x = ms[k]
            if not x.proper or len(x.tokens) < 2:
                continue
            if x.type in ("PER", ANY):
                for n in range(1, len(x.tokens)):
                    for affix in (x.tokens[:n], x.tokens[-n:]):
                        affixes[affix][(x.key, x.m.wiki_title, x.type)] = k
            elif x.type in WEAK_TYPES and not _FUNCTION_WORDS & set(x.tokens[1:]) and not _QUALIFIED.search(x.m.text):
                # the last words of "Library of Congress", "Bank of America" or "Aberdeen, Sierra Leone" are
                # another entity
                for n in range(1, len(x.tokens)):
                    weak_suffixes[x.tokens[-n:]][(x.key, x.m.wiki_title, x.type)] = k
        i = j


def _pair_acronyms(ms: list[_M], out: dict[tuple[str, str], str]) -> None:
    """The ``acronym`` rule of :func:`same_as_pairs`: multi-word ORG/LOC/ANY proper names by
    initials, (key, title, type) -> earliest index."""
    initials: dict[str, dict[tuple[str, str | None, str], int]] = defaultdict(dict)
    for k, x in enumerate(ms):
        if x.proper and len(x.tokens) >= 2 and x.type in _ACRONYM_LONG_TYPES:
            for ini in _initials(x.tokens):
                initials[ini].setdefault((x.key, x.m.wiki_title, x.type), k)
    for s in ms:
        if s.type not in _ACRONYM_TYPES:
            continue
        acro = _acronym_of(s.m.text)
        if acro is None or acro not in initials:
            continue
        cands = {kt: k for kt, k in initials[acro].items()
                 if ms[k] is not s and not _blocked_vals(s.type, s.m.wiki_title, kt[2], kt[1])}
        if cands and len({kt[0] for kt in cands}) == 1:
            _add(out, s, ms[min(cands.values())], "acronym")


def cross_document_key(text: str, label: str | None, wiki_title: str | None = None) -> str | None:
    """The vertex through which a mention merges across documents, or None (document-local).

    * linked mention -> ``"W:" + wiki_title``;
    * unlinked entity mention that is a proper name with a non-empty key ->
      ``"N:" + coarse type + ":" + normalize_surface(text)``, except single-word PERSON
      names ("Cook", "Holmes": surnames or first names are ambiguous across documents) and
      ANY (an unlinked LINK mention has no type to key on);
    * otherwise None.

    So "Tim Cook" in two articles is one entity; "Cook" in an article about Tim Cook and
    "Cook" in one about James Cook are not (each joins its own long form in-document).
    Trade-off: two different "John Smith"s merge across documents unless linked.
    """
    if wiki_title:
        return "W:" + wiki_title
    t = coarse_type(label)
    if t is None or t == ANY or not is_proper_name(text):
        return None
    key = normalize_surface(text)
    if not key or (t == "PER" and len(key.split()) < 2):
        return None
    return f"N:{t}:{key}"


#: rule of the edge from an unlinked name's key to the linked title of that whole name
TITLE_NAME_RULE = "title_name"


def name_of_key(key: str) -> tuple[str, str] | None:
    """(coarse type, name) of a :func:`cross_document_key` ``N:TYPE:name``, else None."""
    parts = key.split(":", 2) if key.startswith("N:") else ()
    return (parts[1], parts[2]) if len(parts) == 3 else None


def joins_title(key: str, title_type: str | None) -> bool:
    """Whether the unlinked name ``key`` may join a linked title of the same whole name whose type is
    ``title_type``: unknown, compatible, or the name's own label is weak (:data:`WEAK_TYPES`)."""
    named = name_of_key(key)
    return named is not None and (title_type is None or compatible(named[0], title_type)
                                  or named[0] in WEAK_TYPES)


def title_name_edges(name_keys: Iterable[str], titles: Iterable[tuple[str, str | None]]
                     ) -> list[tuple[str, str, str]]:
    """Edges that merge an unlinked name into the linked title of that whole name across documents
    (``titles``: the linked titles with their types): ``N:LOC:alabama`` -> ``W:Alabama``, not
    ``W:Alabama (people)`` (:func:`full_name`: the bare name is the primary topic), when
    :func:`joins_title`. A name the linker left alone in one article ("Alabama" where the alias is
    split between the state and the people) is still the entity every other article links. Two
    different "Holmes" never meet here: a one-word PERSON name has no key."""
    by_name: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for title, title_type in titles:
        by_name[full_name(title)].append((title, title_type))
    return sorted((key, "W:" + title, TITLE_NAME_RULE) for key in set(name_keys) if name_of_key(key)
                  for title, title_type in by_name.get(name_of_key(key)[1], ()) if joins_title(key, title_type))


def vertex_for(m: MentionLite) -> str:
    """Graph vertex of a mention: ``"W:" + wiki_title`` when linked, else its mention_id."""
    return "W:" + m.wiki_title if m.wiki_title else m.mention_id


def document_graph_edges(doc_mentions: Iterable[MentionLite]) -> list[tuple[str, str, str]]:
    """All graph edges contributed by one document, ``[(src, dst, rule)]``, sorted:
    :func:`same_as_pairs` rewritten with :func:`vertex_for` (self-loops dropped, so
    ``same_link`` pairs vanish: both ends are the same ``W:`` vertex), plus
    ``(mention_id, cross_document_key, "name")`` for each unlinked mention with a key, but for
    the weak-labelled short forms: "Army" after "Continental Army" is that army, while the key of
    "Army" would join it to every other document's "Army" (and through them to their armies); nor
    does the same name where the document uses it as such a short form elsewhere.
    Vertices of the graph: every ``src``/``dst`` plus every unlinked entity mention
    (isolated ones become singleton entities)."""
    ms = list(doc_mentions)
    by_id = {m.mention_id: m for m in ms}
    edges: dict[tuple[str, str], str] = {}
    pairs, weak_shorts = _same_as(ms)
    # one name means one thing in a document: where it is a short form once ("Navy" after "the Angolan
    # Navy"), its earlier and later mentions are that thing too and carry no key of their own
    short_names = {normalize_surface(by_id[i].text) for i in weak_shorts}
    for a, b, rule in pairs:
        va, vb = vertex_for(by_id[a]), vertex_for(by_id[b])
        if va != vb:
            x, y = sorted((va, vb))
            if (x, y) not in edges or RULE_STRENGTH[rule] > RULE_STRENGTH[edges[(x, y)]]:
                edges[(x, y)] = rule
    for m in ms:
        if m.wiki_title or coarse_type(m.label) is None or m.mention_id in weak_shorts:
            continue
        if coarse_type(m.label) in WEAK_TYPES and normalize_surface(m.text) in short_names:
            continue
        k = cross_document_key(m.text, m.label)
        if k:
            edges.setdefault((m.mention_id, k), CROSS_DOC_RULE)
    return sorted((a, b, r) for (a, b), r in edges.items())


# --------------------------------------------------------------------------- components

class _UF:
    def __init__(self, items: Iterable[str]):
        self.p = {x: x for x in items}
        self.size = {x: 1 for x in self.p}
        self.titles = {x: (1 if x.startswith("W:") else 0) for x in self.p}

    def find(self, x: str) -> str:
        self.p.setdefault(x, x)
        self.size.setdefault(x, 1)
        self.titles.setdefault(x, 1 if x.startswith("W:") else 0)
        while self.p[x] != x:
            self.p[x] = self.p[self.p[x]]
            x = self.p[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if ra > rb:
            ra, rb = rb, ra
        self.p[rb] = ra
        self.size[ra] += self.size[rb]
        self.titles[ra] += self.titles[rb]

    def groups(self) -> list[list[str]]:
        g: dict[str, list[str]] = defaultdict(list)
        for x in self.p:
            g[self.find(x)].append(x)
        return sorted((sorted(v) for v in g.values()), key=lambda v: v[0])


def components(vertices: Iterable[str], edges: Iterable[tuple[str, str, str]]) -> list[list[str]]:
    """Connected components (what GraphFrames computes), for tests and small inputs: sorted
    groups of sorted vertex ids."""
    uf = _UF(vertices)
    for a, b, _ in edges:
        uf.union(a, b)
    return uf.groups()


def split_oversized(component_members: Iterable[str], edges: Iterable[tuple[str, str, str]],
                    max_size: int) -> list[list[str]]:
    """Guard applied by the job to each connected component (its vertices and the edges
    between them). A component is *valid* when it has at most ``max_size`` vertices and at
    most one ``W:`` (wiki title) vertex; a valid component is returned whole.

    Otherwise:

    1. If it is oversized, all cross-document ``name`` edges are dropped (such a name is too
       common to identify anything); only within-document evidence remains.
    2. The remaining edges are added greedily, strongest rule first (:data:`RULE_STRENGTH`),
       then by ``(src, dst)``; an edge is taken only if the merged group still has at most
       one ``W:`` vertex and at most ``max_size`` vertices.

    Deterministic (independent of input order). Returns sorted groups of sorted vertex ids;
    every member is in exactly one group.
    """
    members = sorted(set(component_members))
    edge_list = sorted({(min(a, b), max(a, b), r) for a, b, r in edges if a != b})
    n_titles = sum(1 for v in members if v.startswith("W:"))
    if len(members) <= max_size and n_titles <= 1:
        return [members]
    if len(members) > max_size:
        edge_list = [e for e in edge_list if e[2] != CROSS_DOC_RULE]
    edge_list.sort(key=lambda e: (-RULE_STRENGTH.get(e[2], 0), e[0], e[1], e[2]))
    member_set = set(members)
    uf = _UF(members)
    for a, b, _ in edge_list:
        if a not in member_set or b not in member_set:
            continue
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        if uf.titles[ra] + uf.titles[rb] > 1 or uf.size[ra] + uf.size[rb] > max_size:
            continue
        uf.union(a, b)
    return uf.groups()


# --------------------------------------------------------------------------- identity

def cluster_identity(group: Iterable[str]) -> tuple[str | None, str]:
    """``(wiki_title | None, cluster_key)`` of one group from :func:`split_oversized`:
    its ``W:`` vertex if any (``(title, "W:" + title)``), else its smallest ``N:`` key
    (``(None, "N:...")``), else ``(None, "M:" + smallest mention_id)``."""
    g = sorted(group)
    for v in g:
        if v.startswith("W:"):
            return v[2:], v
    for v in g:
        if v.startswith("N:"):
            return None, v
    return None, "M:" + g[0] if g else "M:"


def entity_id_for(wiki_title: str | None, cluster_key: str | None = None) -> str:
    """Canonical entity id.

    * Linked: ``stable_id("wiki", wiki_title)`` -- stable across runs and increments; only
      a page rename (redirect-resolved to a new title) changes it.
    * Unlinked: ``stable_id("cluster", cluster_key)`` with the key of
      :func:`cluster_identity`. ``N:`` keys (type + normalized name) do not depend on which
      documents happen to be present, so a new document joining an existing cluster keeps
      its id (it changes only if the new document brings a smaller name key into the
      cluster, or if the cluster becomes linked). ``M:`` keys (document-local clusters: e.g.
      a lone "Holmes") use the smallest mention_id, itself a hash of doc_id and offsets,
      hence stable while the document is unchanged. Chosen over "smallest mention_id of the
      whole cluster", which changes whenever a new document adds a smaller id.
    Spark: ``substring(sha2(concat_ws('\\x1f', 'wiki', title), 256), 1, 32)``.
    """
    if wiki_title:
        return stable_id("wiki", wiki_title)
    return stable_id("cluster", cluster_key or "")


def canonical_name(aliases_with_counts: Iterable[tuple[str, int]], wiki_title: str | None = None) -> str:
    """Display name: the wiki title verbatim when linked (it is unique, disambiguator
    included: "Mercury (planet)"). Otherwise among the aliases (surface form, mention
    count) -- aliases with the same surface form summed -- prefer proper names, drop short
    forms (an alias whose key tokens are a strict prefix/suffix of another alias's, so
    "Tim Cook" beats a more frequent "Cook"), then the highest count, then the longest,
    then the smallest string. "" when there are no aliases."""
    if wiki_title:
        return wiki_title
    counts: Counter[str] = Counter()
    for alias, n in aliases_with_counts:
        if alias and alias.strip():
            counts[" ".join(alias.split())] += int(n)
    if not counts:
        return ""
    names = list(counts)
    proper = [a for a in names if is_proper_name(a)] or names
    toks = {a: tuple(normalize_surface(a).split()) for a in proper}

    def is_short(a: str) -> bool:
        ta = toks[a]
        return bool(ta) and any(len(tb) > len(ta) and (tb[:len(ta)] == ta or tb[-len(ta):] == ta)
                                for b, tb in toks.items() if b != a)

    pool = [a for a in proper if not is_short(a)] or proper
    return min(pool, key=lambda a: (-counts[a], -len(a), a))


# --------------------------------------------------------------------------- edges

_QUAL_SEP = "\x1e"


def qualifiers_string(qualifiers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> str:
    """Canonical qualifier string: ``key=value`` items sorted, joined by U+001E; "" for
    none. Spark: ``array_join(array_sort(transform(map_entries(q),
    e -> concat(e.key, '=', e.value))), '\\x1e')`` (null map -> "")."""
    if not qualifiers:
        return ""
    items = qualifiers.items() if isinstance(qualifiers, Mapping) else qualifiers
    return _QUAL_SEP.join(sorted(f"{k}={'' if v is None else v}" for k, v in items))


def edge_literal(text: str | None, object_type: str) -> str | None:
    """An edge's literal object: the text with whitespace collapsed, and a date written out to the month or
    the day ("14 March 1879", "March 1879") as its ISO value, the form infobox facts carry, so that a
    sentence and an infobox that state one date make one edge. A year, a decade or a circa date stays as
    written (its ISO value would say less, or more, than the text)."""
    if text is None:
        return None
    value = " ".join(text.split())
    if object_type == "date" and (fields := date_key(value)) is not None and fields[1] is not None:
        return iso_date(*fields) or value
    return value


def edge_key(subject_id: str, predicate: str, object_id_or_literal: str | None,
             object_type: str, qualifiers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> str:
    """edge_id = ``stable_id("edge", subject_id, predicate, object_type, object, quals)``
    where ``object`` is the object entity id (object_type ``entity``) or the literal with
    whitespace collapsed, and ``quals`` is :func:`qualifiers_string` (order-independent).
    Spark: the parts must be ``coalesce(x, '')`` before ``concat_ws`` (``concat_ws`` skips
    nulls, :func:`~kgpipe.ids.stable_id` writes "" for None)."""
    obj = "" if object_id_or_literal is None else " ".join(str(object_id_or_literal).split())
    return stable_id("edge", subject_id, predicate, object_type, obj, qualifiers_string(qualifiers))


def noisy_or(confidences: Iterable[float | None]) -> float:
    """``1 - prod(1 - c)`` over the confidences (None skipped, each clamped to [0, 1]);
    0.0 for none. Factors are multiplied in ascending order of c so the float result is
    independent of input order. Spark: ``1 - aggregate(array_sort(collect_list(c)), 1D,
    (acc, x) -> acc * (1 - x))``."""
    cs = sorted(min(1.0, max(0.0, float(c))) for c in confidences
                if c is not None and not math.isnan(float(c)))
    p = 1.0
    for c in cs:
        p *= 1.0 - c
    return 1.0 - p


def _get(item: Any, name: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def edge_confidence(evidence: Iterable[Any]) -> float:
    """Confidence of a deduplicated edge: the best confidence per distinct evidence sentence
    ``(doc_id, sentence_index)`` (two patterns firing on one sentence are one piece of
    evidence), then :func:`noisy_or` across sentences. Items are mappings or objects with
    ``doc_id``, ``sentence_index``, ``confidence``."""
    best: dict[tuple[Any, Any], float] = {}
    for it in evidence:
        c = _get(it, "confidence")
        if c is None:
            continue
        k = (_get(it, "doc_id"), _get(it, "sentence_index"))
        best[k] = max(best.get(k, 0.0), float(c))
    return noisy_or(best.values())


def evidence_sample(evidence: Iterable[Any], k: int) -> list[Any]:
    """Bounded deterministic sample: the (at most) ``k`` evidence items with the smallest
    ``stable_id("evidence", doc_id, sentence_index, start, end)``, in that order; items
    with the same key are the same evidence and count once. (``end`` is in the key so that
    two spans of one sentence starting at the same offset cannot make the pick depend on
    input order.) A bottom-k hash sample is mergeable:
    ``evidence_sample(old_sample + new_items, k)`` equals the sample of all evidence, so
    increments need only the stored sample. Spark: add the hash column ``h``, then
    ``slice(array_sort(collect_set(struct(h, ...))), 1, k)``."""
    if k <= 0:
        return []
    keyed: dict[str, Any] = {}
    for it in evidence:
        h = stable_id("evidence", _get(it, "doc_id"), _get(it, "sentence_index"),
                      _get(it, "start"), _get(it, "end"))
        keyed.setdefault(h, it)
    return [keyed[h] for h in sorted(keyed)[:k]]


# --------------------------------------------------------------------------- evaluation

def in_holdout(doc_id: str, start: int, fraction: float, seed: int = 0) -> bool:
    """Whether the link at ``(doc_id, start)`` is held out by ``kgpipe eval linking``: the
    first 8 hex digits of ``stable_id("holdout", seed, doc_id, start)`` read as a number
    in [0, 1) fall below ``fraction``. A hash, not a random generator, so Spark picks
    the same links on any number of partitions and a seed reproduces the split."""
    h = stable_id("holdout", str(seed), doc_id, start)
    return int(h[:8], 16) / float(1 << 32) < fraction
