"""Infobox reading (kgpipe/ingest/infobox.py) and infobox facts as evidence (kgpipe/extract/infobox.py).

The expected values below were written by hand from the wikitext in each test, not produced by the code."""
from __future__ import annotations

import pytest

from kgpipe.extract.infobox import InfoboxFact, infobox_records
from kgpipe.ingest.infobox import (
    FACT,
    UNLINKED,
    UNMAPPED,
    UNREADABLE,
    InfoboxCounts,
    MappingError,
    date_from_text,
    infobox_rows,
    load_mappings,
    parameter_key,
    parse_mappings,
)

SCIENTIST = """{{Infobox scientist
| name        = Albert Einstein
| image       = Einstein 1921.jpg
| birth_date  = {{Birth date|df=yes|1879|3|14}}
| birth_place = [[Ulm]], [[Kingdom of Württemberg]]<ref>{{cite web|url=http://x|title=Birth}}</ref>
| death_date  = {{Death date and age|df=yes|1955|4|18|1879|3|14}}
| death_place = [[Princeton, New Jersey]], U.S.
| spouse      = [[Mileva Marić]] (1903–1919)<br />[[Elsa Löwenthal]] (1919–1936)
| fields      = {{hlist|[[Physics]]|[[philosophy]]}}
| residence   = Germany, Italy
| known_for   = <!-- see the lead --> [[General relativity]]
| signature   = Albert Einstein signature 1934.svg
}}
'''Albert Einstein''' was a physicist."""

STATE = """{{Infobox U.S. state
| Name      = Alabama
| Capital   = [[Montgomery, Alabama|Montgomery]]
| Governor  = [[Robert J. Bentley]] ([[Republican Party (United States)|R]])
| TimeZone  = [[Central Time Zone|Central]]: [[Coordinated Universal Time|UTC]] [[UTC−06:00|−6]]
| TotalArea = 135,765
| 2010Pop   = 4,858,979 (2015 est.)<ref name=PopEstUS/>
| AdmittanceDate = December 14, 1819
}}"""

COUNTRY = """{{Infobox country
| capital = [[Algiers]]
| largest_city = capital
| established_date1 = 5 July 1962
| population_estimate = garbled
}}"""


@pytest.fixture(scope="module")
def mappings():
    return load_mappings()


def facts(rows, predicate=None):
    return [(r.predicate, r.value, r.target_title) for r in rows
            if r.status == FACT and (predicate is None or r.predicate == predicate)]


def test_a_scientist_box_gives_typed_facts(mappings):
    rows = infobox_rows(SCIENTIST, mappings)
    assert {r.infobox_class for r in rows} == {"Scientist"} and {r.entity_type for r in rows} == {"PERSON"}
    assert facts(rows, "birthDate") == [("birthDate", "1879-03-14", None)]
    assert facts(rows, "deathDate") == [("deathDate", "1955-04-18", None)]
    # a list separated by commas gives one fact per linked part; the reference is not a part
    assert facts(rows, "birthPlace") == [("birthPlace", "Ulm", "Ulm"),
                                         ("birthPlace", "Kingdom of Württemberg", "Kingdom of Württemberg")]
    # "U.S." names no page: unlinked, not a fact and not dropped
    assert facts(rows, "deathPlace") == [("deathPlace", "Princeton, New Jersey", "Princeton, New Jersey")]
    assert [(r.status, r.value) for r in rows if r.predicate == "deathPlace" and r.status != FACT] == [
        (UNLINKED, "U.S.")]
    # the years in parentheses qualify each spouse
    assert facts(rows, "spouse") == [("spouse", "Mileva Marić", "Mileva Marić"),
                                     ("spouse", "Elsa Löwenthal", "Elsa Löwenthal")]
    assert facts(rows, "field") == [("field", "Physics", "Physics"), ("field", "philosophy", "Philosophy")]
    assert facts(rows, "knownFor") == [("knownFor", "General relativity", "General relativity")]
    assert [r.value for r in rows if r.predicate == "residence"] == ["Germany", "Italy"]
    assert {r.status for r in rows if r.predicate == "residence"} == {UNLINKED}
    assert {r.parameter for r in rows if r.status == UNMAPPED} == {"name", "image", "signature"}


def test_qualifying_links_names_and_numbers_of_a_state(mappings):
    rows = infobox_rows(STATE, mappings)
    assert facts(rows, "capital") == [("capital", "Montgomery", "Montgomery, Alabama")]
    assert facts(rows, "governor") == [("governor", "Robert J. Bentley", "Robert J. Bentley")]
    assert facts(rows, "timeZone") == [("timeZone", "Central", "Central Time Zone")]
    assert facts(rows, "areaTotal") == [("areaTotal", "135765 km2", None)]   # the unit the mapping names
    assert facts(rows, "populationTotal") == [("populationTotal", "4858979", None)]
    assert facts(rows, "admittanceDate") == [("admittanceDate", "1819-12-14", None)]


def test_largest_city_capital_and_unreadable_values(mappings):
    rows = infobox_rows(COUNTRY, mappings)
    assert facts(rows, "largestCity") == [("largestCity", "Algiers", "Algiers")]
    assert facts(rows, "foundingDate") == [("foundingDate", "1962-07-05", None)]
    garbled = [r for r in rows if r.predicate == "populationTotal"]
    assert [(r.status, r.raw_value) for r in garbled] == [(UNREADABLE, "garbled")]


def test_every_parameter_seen_is_accounted_for(mappings):
    counts = InfoboxCounts()
    for text in (SCIENTIST, STATE, COUNTRY):
        counts.add(infobox_rows(text, mappings))
    # SCIENTIST 11 parameters, STATE 7, COUNTRY 4: all non-empty
    assert counts.seen == 22
    assert counts.seen == counts.facts + counts.unmapped + counts.unlinked + counts.unreadable
    assert (counts.unmapped, counts.unlinked, counts.unreadable) == (4, 1, 1)   # name, image, signature, Name


@pytest.mark.parametrize("text, expected", [
    ("1 April 1947", "1947-04-01"), ("April 1, 1947", "1947-04-01"), ("1947-04-01", "1947-04-01"),
    ("April 1947", "1947-04"), ("1947", "1947"), ("384 BC", "384 BC"), ("c. 1879", "1879"),
    ("322 BC (aged 62)", "322 BC"), ("sometime", None), ("31 February 1990", None),
])
def test_written_dates(text, expected):
    assert date_from_text(text) == expected


def test_names_of_parameters_and_a_bad_mapping_file():
    assert parameter_key("Largest_City") == parameter_key("largest city") == parameter_key("LargestCity")
    mappings = load_mappings()
    assert mappings.property("Country", "leader_name2").predicate == "leader"      # a repeated parameter
    assert mappings.property("LanguageFamily", "iso5").predicate == "iso6395Code"   # a number that is the name
    with pytest.raises(MappingError, match="unknown class 'Nobody'"):
        parse_mappings("templates: {infobox x: Nobody}\nclasses: {}\n", "m.yaml")
    with pytest.raises(MappingError, match="kind"):
        parse_mappings("classes: {A: {type: PERSON}}\nproperties: {A: {x: [y, colour]}}\n", "m.yaml")


def test_infobox_facts_become_mentions_and_triples_with_provenance():
    items = [InfoboxFact("infobox scientist", "birth_place", 3, 0, "birthPlace", "Ulm", "entity", "Ulm", "PERSON"),
             InfoboxFact("infobox scientist", "birth_place", 3, 1, "birthPlace", "Kingdom of Württemberg", "entity",
                         "Kingdom of Württemberg", "PERSON"),
             InfoboxFact("infobox scientist", "birth_date", 2, 0, "birthDate", "1879-03-14", "date", None, "PERSON")]
    rows = list(infobox_records("d1", "Albert Einstein", items))
    triples = [r for t, r in rows if t == "triples_raw"]
    mentions = {r["mention_id"]: r for t, r in rows if t == "mentions"}
    line = "Albert Einstein (infobox scientist): birth_place = Ulm; Kingdom of Württemberg"
    place = [t for t in triples if t["predicate"] == "birthPlace"]
    assert [t["sentence_text"] for t in place] == [line, line]
    for t in triples:
        text = t["sentence_text"]
        assert text[t["subject_start"]:t["subject_end"]] == "Albert Einstein"
        assert text[t["object_start"]:t["object_end"]] == t["object"]
        assert t["sentence_index"] < 0 and t["extractor"] == "infobox"
        subject = mentions[t["subject_mention_id"]]
        assert (subject["link_target"], subject["label"], subject["origin"]) == ("Albert Einstein", "PERSON", "infobox")
    assert [mentions[t["object_mention_id"]]["link_target"] for t in place] == ["Ulm", "Kingdom of Württemberg"]
    [born] = [t for t in triples if t["predicate"] == "birthDate"]
    assert born["object_mention_id"] is None and born["object_type"] == "date"
    assert born["surface_predicate"] == "birth_date"
    # one sentence per parameter, each with its own subject mention
    assert len({t["sentence_index"] for t in triples}) == 2


def test_a_date_range_is_one_date_and_the_rest_is_kept(mappings):
    rows = infobox_rows("{{Infobox military conflict\n| date = April 19, 1775{{snds}}September 3, 1783\n}}", mappings)
    assert [(r.status, r.value) for r in rows] == [(FACT, "1775-04-19"), ("extra", "1783-09-03")]
