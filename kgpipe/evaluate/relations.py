"""Relation-extraction quality on WebNLG 3.0 (``kgpipe eval re``).

Relation extraction (``evaluate_re``)
=====================================
* Input: WebNLG 3.0 XML (a file, or a folder searched recursively). Each ``<entry>`` is
  one example: its FIRST ``<lex>`` text is the input and its ``<modifiedtripleset>``
  triples ``subject | property | object`` are the gold set.
* Gold entity strings are cleaned (``clean_entity``): underscores -> spaces, surrounding
  quotes and ``^^xsd:...`` datatype suffixes stripped, parenthetical disambiguators such
  as ``(musician)`` removed.
* An extractor is any callable ``text -> list[(subject, predicate, object)]``. Exact
  duplicate triples within one entry are counted once.
* Protocols:

  ``pair``   a predicted triple matches a gold triple when its subject and object match
             the gold subject and object in either order. Strings are normalised by
             ``match_tokens``: Unicode accents folded (the texts often write "Suarez" for
             gold "Suárez"; also ø->o, æ->ae, ß->ss, ...), lower-cased, every
             punctuation/symbol character turned into a space, articles (a, an, the)
             dropped. Two strings match when the token sequence of one is contained,
             contiguously, in the other ("Texas" ~ "Abilene, Texas"; token-level so that
             "us" does not match "business"), or when the Jaccard index of their token
             sets is >= 0.5. This is lenient by design (it scores mention choice, not
             boundaries): "Singapore" matches "Singapore dollar", and a bare number
             matches a date containing it ("26" ~ "2005-11-26").
  ``strict`` a ``pair`` match AND the predicate matches the gold property: the property is
             split on camelCase, digits, "_" and "/" (``birthPlace`` -> "birth place"),
             both sides are lemmatised with ``simple_lemma`` (a small deterministic
             suffix-stripper with an irregular-verb table, no model needed), and they match
             when they share a content word: equal lemma, or one word/lemma a prefix of
             at least 5 letters of the other (offer ~ offered, discover ~ discoverer,
             national ~ nationality); function words such as "be", "of", "in", "have"
             never count. Otherwise the relation-normalisation map decides:
             ``RELATION_ALIASES`` phrases found inside the predicate ("born" ->
             birthPlace, "found" -> foundingYear/founder, "located" ->
             location/country/city, "led by" -> leader/leaderName, ...), and
             ``PREDICATE_ALIASES`` that must be the WHOLE predicate ("is in" / "in" ->
             location/country/isPartOf/..., "is from" -> origin/country/nationality/...):
             as a phrase inside a longer predicate, "in" would make the text between
             almost any two mentions match.
  ``canonical`` subject and object match the gold's, in the gold's direction, and the
             predicate IS the gold DBpedia property (case and separators aside:
             ``birthPlace`` = ``birthplace``); no map from phrases to properties, so it
             scores what the extractor's vocabulary (kgpipe/data/vocabulary.yaml) and the
             relation classifier name, nothing the evaluation adds.

  Matching is one-to-one within an entry, greedy in the extractor's order: each
  predicted triple takes the first still unmatched gold triple it matches. Scores are
  micro precision/recall/F1 over all entries (tp / predicted, tp / gold).

Baseline extractors (``EXTRACTORS``: name -> factory(nlp) -> extractor):
* ``all_pairs``: mentions are spaCy entities (all labels; gold objects include dates and
  numbers) plus noun chunks that overlap no entity and are not bare pronouns (gold
  subjects/objects are often common nouns, e.g. ingredients, genres); every ordered pair
  of mentions within one sentence is a triple whose predicate is the text between them
  (the sentence root's lemma when they are adjacent). Both orders are emitted, so at most
  one of the two can be correct: its precision is a floor, its pair recall a ceiling for
  mention detection. Noun chunks are included because they are fair game for any
  extractor (kgpipe's arguments are noun phrases too) and WebNLG gold arguments often
  are not named entities; ``all_pairs_extractor(nlp, noun_chunks=False)`` gives the
  entities-only variant (on the dev set: pair recall 0.63 instead of 0.78, precision
  0.17 instead of 0.09).
* ``textacy_svo``: ``textacy.extract.subject_verb_object_triples`` as is (its subject and
  object are head tokens plus what textacy attaches, joined with spaces).
* ``kgpipe``: the extract stage's path (``kgpipe.extract.documents.extract_documents``) on the text.
"""
from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

from kgpipe.config import ExtractConfig
from kgpipe.dates import date_at
from kgpipe.evaluate.scores import prf
from kgpipe.extract.documents import DocumentInput, extract_documents
from kgpipe.extract.nlp import load_nlp
from kgpipe.extract.patterns import candidate_mentions
from kgpipe.extract.relation_model import load_model
from kgpipe.extract.text import is_property, match_tokens, split_property

if TYPE_CHECKING:  # pragma: no cover
    import spacy

Triple3 = tuple[str, str, str]
Extractor = Callable[[str], list[Triple3]]


# ----------------------------------------------------------------------------- WebNLG

@dataclass(frozen=True)
class WebNLGEntry:
    eid: str
    category: str
    size: int
    text: str                      # the entry's first <lex>
    triples: tuple[Triple3, ...]   # modified triples, raw strings
    source: str                    # file it came from


def read_webnlg(path: str | Path) -> list[WebNLGEntry]:
    """Entries of a WebNLG 3.0 XML file, or of every ``*.xml`` below a folder (sorted)."""
    root_path = Path(path)
    files = sorted(root_path.rglob("*.xml")) if root_path.is_dir() else [root_path]
    if not files:
        raise ValueError(f"no WebNLG .xml files under {root_path}")
    entries: list[WebNLGEntry] = []
    for file in files:
        for entry in ET.parse(file).getroot().iter("entry"):
            triples = []
            tripleset = entry.find("modifiedtripleset")
            for mtriple in (tripleset.iter("mtriple") if tripleset is not None else ()):
                parts = [p.strip() for p in (mtriple.text or "").split(" | ")]
                if len(parts) != 3:
                    raise ValueError(f"{file}: entry {entry.get('eid')}: bad triple {mtriple.text!r}")
                triples.append(tuple(parts))
            lex = entry.find("lex")
            text = " ".join((lex.text or "").split()) if lex is not None else ""
            entries.append(WebNLGEntry(eid=entry.get("eid", ""), category=entry.get("category", ""),
                                       size=int(entry.get("size", len(triples))), text=text,
                                       triples=tuple(triples), source=str(file)))
    return entries


_XSD_SUFFIX = re.compile(r"\^\^(?:xsd:\w+|<[^>]*>)\s*$")
_PARENTHETICAL = re.compile(r"\s*\([^()]*\)")


def clean_entity(value: str) -> str:
    """A DBpedia resource or literal as plain text: ``Alan_Bean_(musician)`` -> ``Alan Bean``."""
    text = _XSD_SUFFIX.sub("", value.strip()).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    text = text.replace("_", " ")
    without = _PARENTHETICAL.sub("", text).strip()
    return " ".join((without or text).split())


# ----------------------------------------------------------------------------- matching

def _contains(longer: Sequence[str], shorter: Sequence[str]) -> bool:
    n = len(shorter)
    return any(tuple(longer[i:i + n]) == tuple(shorter) for i in range(len(longer) - n + 1))


def _whole_date(text: str) -> str | None:
    """The ISO value of ``text`` when all of it is one written date ("February 4, 1981", "1981-02-04")."""
    text = text.strip().strip("\"'").strip()
    found = date_at(text)
    return found[0] if found and found[1] == len(text) else None


def strings_match(a: str, b: str, jaccard: float = 0.5) -> bool:
    """Token containment (either way) or token-set Jaccard >= ``jaccard``; two dates match when their values
    are equal ("February 4, 1981" is 1981-02-04, as the resolve stage writes it; "1981" is not)."""
    da, db = _whole_date(a), _whole_date(b)
    if da is not None and db is not None:
        return da == db
    ta, tb = match_tokens(a), match_tokens(b)
    if not ta or not tb:
        return False
    shorter, longer = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    if _contains(longer, shorter):
        return True
    sa, sb = set(ta), set(tb)
    return len(sa & sb) / len(sa | sb) >= jaccard


def pair_match(predicted: Triple3, gold: Triple3) -> bool:
    """Subject and object match the gold subject and object, in either order."""
    ps, _, po = predicted
    gs, go = clean_entity(gold[0]), clean_entity(gold[2])
    return ((strings_match(ps, gs) and strings_match(po, go))
            or (strings_match(ps, go) and strings_match(po, gs)))


_IRREGULAR = {
    "born": "bear", "bore": "bear", "borne": "bear", "led": "lead", "won": "win", "wrote": "write",
    "written": "write", "made": "make", "began": "begin", "begun": "begin", "went": "go", "gone": "go",
    "is": "be", "was": "be", "were": "be", "are": "be", "been": "be", "am": "be", "being": "be",
    "has": "have", "had": "have", "having": "have", "did": "do", "does": "do", "done": "do",
    "built": "build", "flew": "fly", "flown": "fly", "grew": "grow", "grown": "grow", "held": "hold",
    "spoke": "speak", "spoken": "speak", "knew": "know", "known": "know", "gave": "give",
    "given": "give", "ran": "run", "taught": "teach", "sang": "sing", "sung": "sing", "chose": "choose",
    "chosen": "choose", "fought": "fight", "died": "die", "dies": "die", "dying": "die", "came": "come",
    "took": "take", "taken": "take", "became": "become", "sold": "sell", "bought": "buy",
    "brought": "bring", "fell": "fall", "men": "man", "women": "woman", "children": "child",
    "people": "person", "its": "it", "his": "he", "her": "she", "their": "they",
}
_KEEP_DOUBLE = ("ll", "ss", "zz", "ff")


def simple_lemma(word: str) -> str:
    """A deterministic lemma/stem: irregular table, then one suffix rule, then a final ``e``.

    Not linguistic lemmas, but the same function on both sides makes inflections and many
    derivations meet: located/location/locate -> ``locat``, leader/led -> ``lead``,
    served/serves -> ``serv``, born -> ``bear``, founded/founder -> ``found``.
    """
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(w) <= 3:
        return w
    stem = w
    for suffix, replacement, undouble in (("ies", "y", False), ("ied", "y", False), ("ings", "", True),
                                          ("ing", "", True), ("ions", "", False), ("ion", "", False),
                                          ("ments", "", False), ("ment", "", False), ("ers", "", True),
                                          ("er", "", True), ("ed", "", True)):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            stem = w[: len(w) - len(suffix)] + replacement
            if undouble and len(stem) > 3 and stem[-1] == stem[-2] and stem[-2:] not in _KEEP_DOUBLE \
                    and stem[-1] not in "aeiou":
                stem = stem[:-1]
            break
    else:
        if w.endswith(("sses", "xes", "zes", "ches", "shes")):
            stem = w[:-2]
        elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
            stem = w[:-1]
    if stem.endswith("e") and len(stem) > 3:
        stem = stem[:-1]
    return stem


#: function words: shared by predicate and property they do not make a predicate match
_FUNCTION_LEMMAS = frozenset(simple_lemma(w) for w in """
    a an the of in on at by to for from with as into onto over under than then and or but nor
    is are was were be been being am has have had do does did it its he his she her they their
    them this that these those which who whom whose what where when there here also has to
    while not no one s""".split())


def _lemmas(text: str) -> tuple[str, ...]:
    return tuple(simple_lemma(t) for t in match_tokens(text))


#: Relation normalisation: predicate phrase -> DBpedia properties it expresses. Phrases are
#: lemmatised with ``simple_lemma`` at import and matched as contiguous lemma sequences inside
#: the predicate. Written with the WebNLG property inventory in view (frequent properties whose
#: usual verbalisation shares no word with the property name); deliberately no bare "in"/"is".
RELATION_ALIASES: dict[str, tuple[str, ...]] = {
    "born": ("birthPlace", "birthDate", "birthYear"),
    "birthplace": ("birthPlace",),
    "die": ("deathPlace", "deathDate", "deathCause"),
    "dead": ("deathPlace", "deathDate", "deathCause"),
    "found": ("foundingYear", "foundingDate", "founder", "foundedBy", "foundationPlace", "established"),
    "establish": ("established", "foundingYear", "foundingDate", "foundationPlace"),
    "form": ("foundingYear", "foundingDate", "established", "activeYearsStartYear"),
    "located": ("location", "country", "city", "isPartOf", "region", "state", "headquarter", "ground",
                "address", "municipality", "district", "campus", "site"),
    "situated": ("location", "country", "city", "isPartOf", "region", "state"),
    "based": ("location", "headquarter", "city", "country", "ground"),
    "headquarters": ("headquarter", "location", "city", "country"),
    "capital of": ("capital",),
    "led by": ("leader", "leaderName", "keyPerson", "commander"),
    "head": ("leader", "leaderName", "keyPerson", "chairman", "dean"),
    "president": ("leader", "leaderName", "leaderTitle", "president"),
    "prime minister": ("leader", "leaderName", "leaderTitle"),
    "mayor": ("leader", "leaderName", "leaderTitle", "mayor"),
    "governor": ("leader", "leaderName", "leaderTitle"),
    "chancellor": ("leader", "leaderName", "leaderTitle", "chancellor"),
    "monarch": ("leader", "leaderName", "leaderTitle", "inOfficeWhileMonarch"),
    "king": ("leader", "leaderName", "leaderTitle"),
    "queen": ("leader", "leaderName", "leaderTitle"),
    "speak": ("language", "spokenIn", "officialLanguage"),
    "play": ("genre", "instrument", "position"),
    "perform": ("genre",),
    "play for": ("club", "formerTeam", "youthclub", "currentclub", "debutTeam", "team"),
    "member": ("club", "associatedBand/associatedMusicalArtist", "bandMember", "party", "numberOfMembers",
               "mission", "militaryBranch"),
    "perform with": ("associatedBand/associatedMusicalArtist",),
    "associated with": ("associatedBand/associatedMusicalArtist", "affiliation"),
    "coach": ("manager", "coach"),
    "stadium": ("ground",),
    "home match": ("ground",),
    "play at": ("ground",),
    "championship": ("champions",),
    "home ground": ("ground",),
    "ethnicity": ("ethnicGroup",),
    "citizen": ("nationality",),
    "study": ("almaMater", "academicDiscipline"),
    "graduate": ("almaMater",),
    "attend": ("almaMater",),
    "educated": ("almaMater",),
    "alma mater": ("almaMater",),
    "run by": ("operatingOrganisation", "operator"),
    "make": ("manufacturer", "builder", "assembly", "ingredient", "mainIngredient", "material"),
    "produce": ("manufacturer", "product", "builder"),
    "build": ("builder", "buildingStartDate", "yearOfConstruction", "buildDate", "completionDate"),
    "construct": ("builder", "buildingStartDate", "yearOfConstruction", "buildDate", "completionDate"),
    "contain": ("ingredient", "mainIngredient"),
    "used in": ("ingredient", "mainIngredient"),
    "include": ("ingredient", "mainIngredient"),
    "variation": ("dishVariation",),
    "variant": ("dishVariation",),
    "come from": ("origin", "countryOrigin", "stateOfOrigin", "region", "country", "nationality"),
    "originate": ("origin", "countryOrigin", "stateOfOrigin", "stylisticOrigin", "region", "country"),
    "write": ("author", "creator", "editor"),
    "create": ("creator", "designer", "founder"),
    "fight": ("battle", "isPartOfMilitaryConflict"),
    "war": ("battle", "isPartOfMilitaryConflict"),
    "succeed": ("successor", "precededBy"),
    "precede": ("precededBy", "predecessor", "successor"),
    "follow": ("followedBy", "successor"),
    "design": ("architect", "designer", "designCompany"),
    "above sea level": ("elevationAboveTheSeaLevel", "elevationAboveTheSeaLevelInMetres",
                        "elevationAboveTheSeaLevelInFeet"),
    "altitude": ("elevationAboveTheSeaLevel", "elevationAboveTheSeaLevelInMetres",
                 "elevationAboveTheSeaLevelInFeet"),
    "tall": ("height",),
    "inhabitant": ("populationTotal", "populationDensity"),
    "call": ("demonym", "alternativeName", "nickname", "fullName", "formerName", "nativeName"),
    "known as": ("demonym", "alternativeName", "nickname", "fullName", "formerName", "nativeName"),
    "style": ("genre", "musicFusionGenre", "musicSubgenre", "stylisticOrigin", "architecturalStyle"),
    "sign": ("recordLabel",),
    "win": ("award", "champions"),
    "receive": ("award",),
    "work as": ("occupation", "profession", "office"),
    "profession": ("occupation",),
    "marry": ("spouse",),
    "wife": ("spouse",),
    "husband": ("spouse",),
    "serve as": ("office", "position", "leaderTitle"),
    "compete": ("league", "competeIn"),
    "orbit": ("orbitalPeriod", "apoapsis", "periapsis"),
    "employ": ("numberOfEmployees", "employer"),
    "staff": ("academicStaffSize", "numberOfEmployees"),
    "complete": ("completionDate",),
    "open": ("inaugurationDate", "openingDate"),
    "inaugurate": ("inaugurationDate",),
    "crew": ("mission",),
    "star": ("starring",),
    "deputy": ("hasDeputy",),
    "serve in": ("militaryBranch", "battle"),
    "belong to": ("party", "isPartOf", "family", "genus", "order", "class", "division"),
    "similar to": ("relatedMeanOfTransportation", "comparable", "similarDish"),
    "related to": ("relatedMeanOfTransportation", "comparable", "similarDish"),
}


def _compile_aliases(aliases: Mapping[str, Sequence[str]]) -> list[tuple[tuple[str, ...], frozenset[str]]]:
    return [(_lemmas(phrase), frozenset(props)) for phrase, props in aliases.items()]


_ALIAS_LEMMAS = _compile_aliases(RELATION_ALIASES)


#: Whole-predicate aliases: they count only when they are the ENTIRE predicate (lemmas),
#: never as a phrase inside a longer one. "X is in Y" does express location/part-of, but
#: as a contained phrase "in" would match the text between almost any two mentions.
PREDICATE_ALIASES: dict[str, tuple[str, ...]] = {
    "is in": ("location", "country", "city", "isPartOf", "region", "state", "ground", "headquarter",
              "locationCity", "county", "district", "municipality"),
    "in": ("location", "country", "city", "isPartOf", "region", "state", "ground", "headquarter",
           "locationCity", "county", "district", "municipality"),
    "is from": ("origin", "countryOrigin", "stateOfOrigin", "country", "nationality", "region",
                "birthPlace", "location"),
    "from": ("origin", "countryOrigin", "stateOfOrigin", "country", "nationality", "region",
             "birthPlace", "location"),
}
_WHOLE_ALIAS_LEMMAS = {_lemmas(phrase): frozenset(props) for phrase, props in PREDICATE_ALIASES.items()}
_PREFIX_MIN = 5


def _forms(text: str) -> list[frozenset[str]]:
    """Per content word: its lower-case form and its ``simple_lemma`` (function words dropped)."""
    return [frozenset((t, simple_lemma(t))) for t in match_tokens(text)
            if simple_lemma(t) not in _FUNCTION_LEMMAS and t not in _FUNCTION_LEMMAS]


def _words_match(a: frozenset[str], b: frozenset[str]) -> bool:
    """Equal forms, or one form a prefix (>= 5 letters) of the other: offer ~ offered,
    discover ~ discoverer, assembl(ed) ~ assembly, national ~ nationality."""
    for x in a:
        for y in b:
            short, long_ = (x, y) if len(x) <= len(y) else (y, x)
            if x == y or (len(short) >= _PREFIX_MIN and long_.startswith(short)):
                return True
    return False


def predicate_matches(predicate: str, prop: str) -> bool:
    """The predicate shares a content word with the split property (equal lemma or a common
    prefix of >= 5 letters), or names the property through ``RELATION_ALIASES`` (a phrase
    inside the predicate) or ``PREDICATE_ALIASES`` (the whole predicate). A canonical predicate
    (``birthPlace``) is read as its words."""
    predicate = split_property(predicate) if is_property(predicate) else predicate
    pred = _lemmas(predicate)
    if not pred:
        return False
    if prop in _WHOLE_ALIAS_LEMMAS.get(pred, ()):
        return True
    prop_forms = _forms(split_property(prop))
    if any(_words_match(a, b) for a in _forms(predicate) for b in prop_forms):
        return True
    return any(prop in props and _contains(pred, phrase) for phrase, props in _ALIAS_LEMMAS
               if len(phrase) <= len(pred))


def strict_match(predicted: Triple3, gold: Triple3) -> bool:
    return pair_match(predicted, gold) and predicate_matches(predicted[1], gold[1])


def _property_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def canonical_match(predicted: Triple3, gold: Triple3) -> bool:
    """The pair matches in the gold's direction, and the predicate is the gold's DBpedia property itself
    (case and separators aside: ``birthPlace`` = ``birthplace``); no map from phrases to properties."""
    ps, pp, po = predicted
    return (strings_match(ps, clean_entity(gold[0])) and strings_match(po, clean_entity(gold[2]))
            and _property_key(pp) == _property_key(gold[1]))


PROTOCOLS: dict[str, Callable[[Triple3, Triple3], bool]] = {"pair": pair_match, "strict": strict_match,
                                                             "canonical": canonical_match}


def match_one_to_one(predicted: Sequence[Triple3], gold: Sequence[Triple3],
                     match: Callable[[Triple3, Triple3], bool]) -> int:
    """Greedy one-to-one matching: each prediction takes the first unmatched gold it matches."""
    used = [False] * len(gold)
    tp = 0
    for triple in predicted:
        for j, gold_triple in enumerate(gold):
            if not used[j] and match(triple, gold_triple):
                used[j] = True
                tp += 1
                break
    return tp


def _dedupe(triples: Iterable[Sequence[str]]) -> list[Triple3]:
    seen: dict[Triple3, None] = {}
    for t in triples:
        s, p, o = (str(x) for x in t)
        seen.setdefault((s, p, o), None)
    return list(seen)


def score_re(pairs: Iterable[tuple[Sequence[Triple3], Sequence[Triple3]]],
             protocol_names: Sequence[str] = ("pair", "strict", "canonical")) -> dict[str, dict]:
    """Micro P/R/F1 per protocol over (predicted, gold) triple lists, one pair per entry."""
    unknown = [p for p in protocol_names if p not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown protocol(s) {unknown}; known: {sorted(PROTOCOLS)}")
    counts = {p: [0, 0, 0] for p in protocol_names}
    for predicted, gold in pairs:
        predicted = _dedupe(predicted)
        for name in protocol_names:
            counts[name][0] += match_one_to_one(predicted, gold, PROTOCOLS[name])
            counts[name][1] += len(predicted)
            counts[name][2] += len(gold)
    return {name: prf(*c) for name, c in counts.items()}


def evaluate_re(webnlg_path: str | Path, extractor: Extractor | str,
                protocol_names: Sequence[str] = ("pair", "strict", "canonical"), *,
                nlp: "spacy.Language | None" = None, max_entries: int | None = None,
                name: str | None = None) -> dict:
    """Score ``extractor`` (a callable, or a name in ``EXTRACTORS``) on WebNLG entries."""
    if isinstance(extractor, str):
        if extractor not in EXTRACTORS:
            raise ValueError(f"unknown extractor {extractor!r}; known: {sorted(EXTRACTORS)}")
        name = name or extractor
        if nlp is None:
            config = ExtractConfig()
            nlp = load_nlp(config.model, config.disable)
        extractor = EXTRACTORS[extractor](nlp)
    name = name or getattr(extractor, "extractor_name", None) or getattr(extractor, "__name__", "extractor")
    entries = read_webnlg(webnlg_path)
    if max_entries is not None:
        entries = entries[:max_entries]
    started = time.perf_counter()
    results = [(extractor(entry.text) if entry.text else [], entry.triples) for entry in entries]
    extract_seconds = time.perf_counter() - started
    scores = score_re(results, protocol_names)
    return {"task": "re", "extractor": name, "data": str(webnlg_path), "entries": len(entries),
            "gold_triples": sum(len(e.triples) for e in entries), **scores,
            "seconds": round(time.perf_counter() - started, 2), "extract_seconds": round(extract_seconds, 2)}


def webnlg_key(entry: WebNLGEntry) -> str:
    """A stable name of an entry, the same on every machine: ``<size folder>/<file>#<eid>``
    (eids repeat across files). Relation models record the entries they learnt from by it."""
    source = Path(entry.source)
    return f"{source.parent.name}/{source.name}#{entry.eid}"


def evaluate_re_with_model(webnlg_path: str | Path, nlp: "spacy.Language", model_path: str | Path,
                           cfg: ExtractConfig | None = None,
                           protocol_names: Sequence[str] = ("pair", "strict", "canonical")) -> dict:
    """The extract stage's own path (:func:`kgpipe_extractor`, ``cfg`` as ``extract``) without and with the
    relation classifier at ``model_path`` (``extract.relation_model``), on the entries the model did not learn
    from (``model.train_keys`` against ``webnlg_key``)."""
    cfg = cfg or ExtractConfig()
    model = load_model(str(model_path))
    entries = [e for e in read_webnlg(webnlg_path) if e.text]
    trained = set(model.train_keys)
    held_out = [e for e in entries if webnlg_key(e) not in trained]
    started = time.perf_counter()
    scores = {}
    for name, relation_model in (("without", None), ("with", str(model_path))):
        extractor = kgpipe_extractor(nlp, cfg.model_copy(update={"relation_model": relation_model}))
        scores[name] = score_re([(extractor(e.text), e.triples) for e in held_out], protocol_names)
    return {"model": str(model_path), "trained_on_labels": model.trained_on,
            "entries": len(held_out), "excluded_training_entries": len(entries) - len(held_out),
            "gold_triples": sum(len(e.triples) for e in held_out),
            "keep_rejected": cfg.relation_keep_rejected, "add_pairs": cfg.relation_add_pairs, **scores,
            "seconds": round(time.perf_counter() - started, 2)}


# ----------------------------------------------------------------------------- extractors

def _named(fn: Extractor, name: str) -> Extractor:
    fn.extractor_name = name  # type: ignore[attr-defined]
    fn.__name__ = name
    return fn


def all_pairs_extractor(nlp: "spacy.Language", noun_chunks: bool = True) -> Extractor:
    """Every ordered pair of mentions within a sentence; predicate = the text between them.

    ``noun_chunks=False``: entities only (fewer, cleaner pairs: higher precision and F1,
    lower recall; see the module docstring)."""
    def extract(text: str) -> list[Triple3]:
        doc = nlp(text)
        triples: list[Triple3] = []
        for sent in doc.sents:
            mentions = candidate_mentions(sent, noun_chunks)
            for i, a in enumerate(mentions):
                for b in mentions[i + 1:]:
                    between = doc[a.end:b.start].text.strip() if b.start > a.end else ""
                    predicate = between or sent.root.lemma_
                    triples.append((a.text, predicate, b.text))
                    triples.append((b.text, predicate, a.text))
        return triples
    return _named(extract, "all_pairs" if noun_chunks else "all_pairs_entities")


def textacy_svo_extractor(nlp: "spacy.Language") -> Extractor:
    """``textacy.extract.subject_verb_object_triples``, tokens joined with spaces."""
    try:
        from textacy import extract as textacy_extract
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the textacy_svo baseline needs textacy: pip install 'kgpipe[eval]'") from exc

    def words(tokens) -> str:
        return " ".join(t.text for t in sorted(tokens, key=lambda t: t.i))

    def extract(text: str) -> list[Triple3]:
        return [(words(t.subject), words(t.verb), words(t.object))
                for t in textacy_extract.subject_verb_object_triples(nlp(text))]
    return _named(extract, "textacy_svo")


def kgpipe_extractor(nlp: "spacy.Language", cfg: ExtractConfig | None = None) -> Extractor:
    """The extract stage's own path (:func:`kgpipe.extract.documents.extract_documents`: text preparation,
    patterns, the vocabulary's properties) as an evaluation extractor."""
    cfg = cfg or ExtractConfig()

    def extract(text: str) -> list[Triple3]:
        document = DocumentInput(doc_id="eval", text=text, paragraphs=((0, len(text)),))
        return [(row["subject"], row["predicate"], row["object"])
                for table, row in extract_documents(nlp, [document], cfg) if table == "triples_raw"]
    return _named(extract, "kgpipe")


EXTRACTORS: dict[str, Callable[["spacy.Language"], Extractor]] = {
    "kgpipe": kgpipe_extractor,
    "all_pairs": all_pairs_extractor,
    "textacy_svo": textacy_svo_extractor,
}
