"""``kgpipe eval entities`` over hand-made resolved tables (cases of the English sample: Aristotle and
Aristotle Mountains, Alabama and Alabama (people), Lincoln, a disambiguation page), and the linkable
probes of ``kgpipe eval linking`` on a tiny warehouse run through the resolve stage."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from kgpipe.cli import main
from kgpipe.config import ResolveConfig
from kgpipe.evaluate.entities import evaluate_entities
from kgpipe.graph.resolve import entity_id_for
from kgpipe.warehouse import Warehouse
from tests.graphfactory import document, link, make_warehouse, mention, write_table

DAY = datetime(2020, 1, 1, tzinfo=timezone.utc)
ARISTOTLE, ALABAMA, PEOPLE, ABERDEEN = "docAristotle", "docAlabama", "docAlabamaPeople", "docAberdeenDab"
DOCUMENTS = [document(ARISTOTLE, "Aristotle"), document(ALABAMA, "Alabama"),
             document(PEOPLE, "Alabama (people)"), document(ABERDEEN, "Aberdeen (disambiguation)"),
             document("docNews", "Aristotle exhibition opens", kind="news")]


def entity(entity_id: str, name: str, entity_type: str | None, mentions: int, wiki_title: str | None = None) -> dict:
    return {"entity_id": entity_id, "canonical_name": name, "entity_type": entity_type,
            "aliases": [{"alias": name, "count": mentions}], "type_votes": [], "wiki_title": wiki_title,
            "mention_count": mentions, "first_seen": DAY, "last_seen": DAY}


def infobox_row(doc_id: str, template: str, entity_type: str | None, index: int) -> dict:
    return {"doc_id": doc_id, "template": template, "infobox_class": None, "entity_type": entity_type,
            "parameter": f"p{index}", "parameter_index": index, "item_index": 0, "raw_value": "x",
            "status": "unmapped", "predicate": None, "value": None, "value_type": None, "target_title": None,
            "detail": None}


# Aristotle is linked and typed ORG (the slip the issue reports); the article also names "Aristotle" for an
# unlinked PER entity and for the mountains; Alabama's own name went to Alabama (people)
E_ARISTOTLE = entity(entity_id_for("Aristotle"), "Aristotle", "ORG", 3, "Aristotle")
E_ARISTOTLE_PER = entity("c1", "Aristotle", "PER", 2)
E_MOUNTAINS = entity(entity_id_for("Aristotle Mountains"), "Aristotle Mountains", "PER", 78, "Aristotle Mountains")
E_ALABAMA = entity(entity_id_for("Alabama"), "Alabama", "LOC", 5, "Alabama")
E_PEOPLE = entity(entity_id_for("Alabama (people)"), "Alabama (people)", "LOC", 189, "Alabama (people)")
E_ABERDEEN = entity(entity_id_for("Aberdeen"), "Aberdeen", "LOC", 1, "Aberdeen")
E_LINCOLN = entity("c2", "Lincoln", "ORG", 354)
ENTITIES = [E_ARISTOTLE, E_ARISTOTLE_PER, E_MOUNTAINS, E_ALABAMA, E_PEOPLE, E_ABERDEEN, E_LINCOLN]

# (mention, its entity); "Aristotle's" normalises to the title, the anchor and the infobox line do not count
RESOLVED = [
    (mention(ARISTOTLE, "Aristotle", "PERSON", 0), E_ARISTOTLE),
    (mention(ARISTOTLE, "Aristotle's", "PERSON", 40, sentence=1), E_ARISTOTLE),
    (mention(ARISTOTLE, "Aristotle", "ORG", 90, sentence=2), E_MOUNTAINS),
    (mention(ARISTOTLE, "Aristotle", "PERSON", 130, sentence=3), E_ARISTOTLE_PER),
    (mention(ARISTOTLE, "Aristotle", "PERSON", 170, link="Aristotle Mountains", sentence=4), E_MOUNTAINS),
    (mention(ARISTOTLE, "Plato", "PERSON", 200, sentence=4), E_LINCOLN),
    (mention(ALABAMA, "Alabama", "GPE", 0), E_PEOPLE),
    (mention(ALABAMA, "ALABAMA", "GPE", 50, sentence=1), E_ALABAMA),
    (mention(PEOPLE, "Alabama", "NORP", 0), E_PEOPLE),
    (mention(ABERDEEN, "Aberdeen", "GPE", 0), E_ABERDEEN),
    (mention("docNews", "Aristotle", "PERSON", 0), E_ARISTOTLE_PER),
]
# an infobox line: its subject is the page by construction
INFOBOX_SUBJECT = {**mention(ALABAMA, "Alabama", "GPE", 1000, link="Alabama", sentence=-1), "origin": "infobox"}
UNRESOLVED = mention(ALABAMA, "Alabama", "GPE", 400, sentence=5)   # an entity mention resolve never wrote
A_DATE = mention(ARISTOTLE, "Aristotle", "DATE", 300, sentence=6)   # a literal label: no entity mention
MENTIONS = [m for m, _ in RESOLVED] + [INFOBOX_SUBJECT, UNRESOLVED, A_DATE]
MENTION_ENTITIES = [{"mention_id": m["mention_id"], "doc_id": m["doc_id"], "entity_id": e["entity_id"],
                     "wiki_title": e["wiki_title"], "link_method": "alias", "link_score": 1.0}
                    for m, e in RESOLVED + [(INFOBOX_SUBJECT, E_ALABAMA)]]
# Aristotle: a person box; Alabama: a state box with an unmapped second template; Aberdeen: no box;
# Alabama (people): typed, but no entity is linked to it in this graph (entities are dropped below)
INFOBOX = [infobox_row(ARISTOTLE, "infobox philosopher", "PERSON", 0),
           infobox_row(ARISTOTLE, "infobox philosopher", "PERSON", 1),
           infobox_row(ALABAMA, "infobox u.s. state", "GPE", 0),
           infobox_row(ALABAMA, "infobox navbox", None, 1),
           infobox_row(PEOPLE, "infobox ethnic group", "NORP", 0)]


def frames(entities=ENTITIES):
    return (pd.DataFrame(DOCUMENTS), pd.DataFrame(MENTIONS), pd.DataFrame(MENTION_ENTITIES),
            pd.DataFrame(entities), pd.DataFrame(INFOBOX))


def test_type_agreement_with_the_infobox_class():
    result = evaluate_entities(*frames())
    # Aristotle: PERSON box, entity ORG; Alabama: GPE box, entity LOC; Alabama (people): NORP box, LOC
    assert (result["type_checked"], result["type_agreeing"], result["type_agreement"]) == (3, 1, 0.3333)
    assert result["type_by_infobox_type"] == {"LOC": {"checked": 1, "agreeing": 1},
                                              "MISC": {"checked": 1, "agreeing": 0},
                                              "PER": {"checked": 1, "agreeing": 0}}
    assert result["type_disagreements"] == [
        {"title": "Alabama (people)", "entity_type": "LOC", "infobox_type": "MISC"},
        {"title": "Aristotle", "entity_type": "ORG", "infobox_type": "PER"}]
    assert result["type_no_entity"] == 0
    unlinked = evaluate_entities(*frames([e for e in ENTITIES if e is not E_PEOPLE]))
    assert (unlinked["type_checked"], unlinked["type_no_entity"]) == (2, 1)


def test_self_links_count_the_linkers_decisions_on_the_articles_own_name():
    result = evaluate_entities(*frames())
    # Aristotle: 2 of 4 (anchor, "Plato" and the date left out); Alabama: 1 of 3 (one went to the people,
    # one was never resolved; the infobox line left out); Alabama (people): its "Alabama" is its own name
    # once the disambiguator is dropped, 1 of 1; the disambiguation page and the news story do not count
    assert (result["self_link_mentions"], result["self_link_correct"]) == (8, 4)
    assert result["self_link_accuracy"] == 0.5
    errors = {(e["title"], e["resolved_title"], e["resolved_to"]): e["mentions"] for e in result["self_link_errors"]}
    assert errors == {("Aristotle", "Aristotle Mountains", "Aristotle Mountains"): 1,
                      ("Aristotle", None, "Aristotle"): 1, ("Alabama", "Alabama (people)", "Alabama (people)"): 1,
                      ("Alabama", None, None): 1}


def test_split_titles_and_largest_entities():
    result = evaluate_entities(*frames())
    assert result["split_titles"] == 1                   # "Lincoln" names one entity and is no article title
    [split] = result["split_title_entities"]
    assert split["title"] == "Aristotle"
    assert [(e["entity_id"], e["entity_type"], e["wiki_title"], e["mention_count"]) for e in split["entities"]] == [
        (E_ARISTOTLE["entity_id"], "ORG", "Aristotle", 3), ("c1", "PER", None, 2)]
    assert [(e["canonical_name"], e["entity_type"], e["mention_count"]) for e in result["largest_entities"][:3]] == [
        ("Lincoln", "ORG", 354), ("Alabama (people)", "LOC", 189), ("Aristotle Mountains", "PER", 78)]
    assert len(result["largest_entities"]) == len(ENTITIES)


def test_eval_entities_command_reads_the_warehouse(tmp_path, capsys):
    warehouse = Warehouse(tmp_path / "wh")
    for name, rows in (("documents", DOCUMENTS), ("mentions", MENTIONS), ("mention_entities", MENTION_ENTITIES),
                       ("entities", ENTITIES), ("infobox", INFOBOX)):
        write_table(warehouse, name, rows)
    assert main(["eval", "entities", "--warehouse", str(warehouse.root)]) == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    result = json.loads(line)
    assert (result["articles"], result["entities"], result["type_agreement"]) == (4, 7, 0.3333)
    assert (result["self_link_mentions"], result["self_link_accuracy"], result["split_titles"]) == (8, 0.5, 1)
    assert result["largest_entities"][0]["canonical_name"] == "Lincoln"


def test_eval_linking_reports_the_probes_the_alias_table_can_still_link(spark, tmp_path):
    """All links held out: "London" keeps its title as a candidate and is linked right; "Paris" keeps
    Paris, Texas as a candidate (a redirect) but the prior picks Paris; "The Smoke" has no candidate."""
    from jobs.resolve import evaluate_linking
    docs = [document("dL", "London"), document("dP", "Paris"), document("dT", "Paris, Texas"),
            document("dX", "Texas")]
    london = mention("dX", "London", "GPE", 0, link="London")
    smoke = mention("dX", "The Smoke", "GPE", 20, link="London", sentence=1)
    paris = mention("dX", "Paris", "GPE", 40, link="Paris, Texas", sentence=2)
    links = [link("dX", m["text"], m["link_target"], m["start"]) for m in (london, smoke, paris)]
    warehouse = make_warehouse(tmp_path, docs, [london, smoke, paris], [], links,
                               [("Paris (Texas)", "Paris, Texas"), ("Paris (France)", "Paris")])
    result = evaluate_linking(spark, warehouse, ResolveConfig(), fraction=0.999999)
    assert (result["held_out_links"], result["held_out_ner_mentions"], result["correct"]) == (3, 3, 1)
    assert result["accuracy"] == pytest.approx(1 / 3)
    assert result["linkable_probes"] == 2
    assert result["linkable_accuracy"] == 0.5
