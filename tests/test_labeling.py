"""Active learning: candidates, features, classifier, selection, Label Studio formats, import."""
from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET

import pytest

from kgpipe.config import Config, ExtractConfig
from kgpipe.extract.relation_model import (
    NO_RELATION,
    LabelError,
    RelationModel,
    classify_sentence,
    relation_predicate,
)
from kgpipe.label.candidates import (
    ArgSpan,
    Candidate,
    candidates_from_doc,
    load_relations,
)
from kgpipe.label.selection import expected_calibration_error, select
from kgpipe.label.studio import (
    label_config_xml,
    label_rows,
    label_studio_task,
    merge_labels,
    parse_label_file,
    read_tasks,
    training_examples,
)

PEOPLE = ["Alice Brown", "Marie Curie", "John Smith", "Ada Lovelace", "Tim Cook", "Jane Austen",
          "Karl Marx", "Greta Garbo"]
CITIES = ["Paris", "Berlin", "Warsaw", "London", "Madrid", "Vienna", "Prague", "Dublin"]
FIRMS = ["Apple", "Google", "Siemens", "Nokia", "IBM", "Microsoft", "Toyota", "Airbus"]
RELATIONS = ["born in", "works for"]


@pytest.fixture(scope="module")
def nlp():
    from kgpipe.extract.nlp import load_nlp
    return load_nlp(ExtractConfig().model)


def _template_label(c: Candidate) -> str:
    pair = {c.subject.text, c.object.text}
    if pair & set(PEOPLE) and pair & set(CITIES) and "born" in c.text:
        return "born in"
    if pair & set(PEOPLE) and pair & set(FIRMS) and "works" in c.text:
        return "works for"
    return NO_RELATION


@pytest.fixture(scope="module")
def training(nlp):
    """Candidates of template sentences, labelled by the template they came from."""
    texts = []
    for i, person in enumerate(PEOPLE):
        texts.append(f"{person} was born in {CITIES[i]}.")
        texts.append(f"{person} works for {FIRMS[i]}.")
        texts.append(f"{person} visited {CITIES[(i + 3) % 8]} with a friend from {FIRMS[(i + 2) % 8]}.")
    candidates = []
    for k, doc in enumerate(nlp.pipe(texts)):
        candidates.extend(candidates_from_doc(doc, doc_id=f"d{k}"))
    return candidates, [_template_label(c) for c in candidates]


@pytest.fixture(scope="module")
def model(training):
    candidates, labels = training
    return RelationModel(RELATIONS, C=10.0).fit([c.features for c in candidates], labels,
                                                train_keys=[c.task_id for c in candidates])


def test_candidates_carry_the_extracted_fact_spans_and_stable_ids(nlp):
    doc = nlp("Marie Curie was born in Warsaw. She later worked with Pierre Curie in Paris.")
    first = candidates_from_doc(doc, doc_id="doc")
    again = candidates_from_doc(nlp(doc.text), doc_id="doc")
    assert [c.task_id for c in first] == [c.task_id for c in again]
    assert len({c.task_id for c in first}) == len(first)
    born = [c for c in first if c.extracted_predicate == "born in"]
    assert len(born) == 1
    c = born[0]
    assert (c.subject.text, c.object.text) == ("Marie Curie", "Warsaw")
    assert c.text[c.subject.start:c.subject.end] == "Marie Curie" and c.sentence_index == 0
    assert c.features["kp=born in"] == 1.0 and c.features["order=s<o"] == 1.0
    assert any(k.startswith("path=") for k in c.features)
    assert c.subject.label == "PERSON"
    # a mention pair no pattern connects is a candidate too, without an extracted predicate
    second = [c for c in first if c.sentence_index == 1]
    assert any(c.extracted_predicate is None for c in second)


def test_classifier_learns_relations_and_probabilities_sum_to_one(nlp, model):
    doc = nlp("Greta Garbo was born in Dublin. Karl Marx works for Airbus.")
    candidates = candidates_from_doc(doc)
    probabilities = model.predict_proba([c.features for c in candidates])
    assert probabilities.shape == (len(candidates), 3)
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-9
    found = {(c.subject.text, c.object.text): label
             for c, (label, _, _) in zip(candidates, model.decide(probabilities)) if label != NO_RELATION}
    assert found == {("Greta Garbo", "Dublin"): "born in", ("Karl Marx", "Airbus"): "works for"}


def test_model_round_trips_through_a_file(tmp_path, training, model):
    candidates, _ = training
    path = model.save(tmp_path / "m.joblib")
    loaded = RelationModel.load(path)
    rows = [c.features for c in candidates[:5]]
    assert (loaded.predict_proba(rows) == model.predict_proba(rows)).all()
    assert loaded.classes == model.classes and loaded.train_keys == model.train_keys
    (tmp_path / "bad.joblib").write_text("not a model")
    with pytest.raises(LabelError, match="not a readable relation model"):
        RelationModel.load(tmp_path / "bad.joblib")
    with pytest.raises(FileNotFoundError, match="label train"):
        RelationModel.load(tmp_path / "missing.joblib")


def test_fit_rejects_unknown_relations_and_handles_one_class(training):
    candidates, _ = training
    rows = [c.features for c in candidates[:3]]
    with pytest.raises(LabelError, match="not targets"):
        RelationModel(RELATIONS).fit(rows, ["born in", "married to", NO_RELATION])
    single = RelationModel(RELATIONS).fit(rows, [NO_RELATION] * 3)
    assert single.classes == [NO_RELATION]
    assert single.decide(single.predict_proba(rows)) == [(NO_RELATION, 1.0, 1.0)] * 3
    with pytest.raises(LabelError, match="no labels"):
        RelationModel(RELATIONS).fit([], [])


def test_threshold_turns_weak_relations_into_no_relation(model, training):
    candidates, labels = training
    probabilities = model.predict_proba([c.features for c in candidates])
    loose = [label for label, _, _ in model.decide(probabilities, threshold=0.0)]
    assert loose == labels  # the training pairs themselves are learnt
    strict = model.decide(probabilities, threshold=1.0)
    assert {label for label, _, _ in strict} == {NO_RELATION}


def test_classify_sentence_renames_rescores_keeps_or_drops(nlp, model):
    from kgpipe.extract.patterns import triples_from_doc
    doc = nlp("Ada Lovelace was born in Prague.")
    triples = triples_from_doc(doc)
    assert [t.predicate for t in triples] == ["born in"]
    out = classify_sentence(model, next(doc.sents), triples)
    assert [(t.subject, t.predicate, t.object) for t in out] == [("Ada Lovelace", "born in", "Prague")]
    p = model.decide(model.predict_proba([{**c.features} for c in candidates_from_doc(doc)[:1]]))[0][1]
    assert out[0].confidence == round(p, 3)
    # a rule triple the model rejects: dropped, or kept with 1 - p(no relation)
    doc = nlp("Jane Austen visited Madrid with a friend.")
    triples = triples_from_doc(doc)
    assert triples, "the rule extractor finds (Jane Austen, visit, Madrid)"
    assert classify_sentence(model, next(doc.sents), triples, add_pairs=False) == []
    kept = classify_sentence(model, next(doc.sents), triples, keep_rejected=True, add_pairs=False)
    assert [t.predicate for t in kept] == [t.predicate for t in triples]
    assert all(0.0 <= t.confidence < 0.5 for t in kept)


def test_classify_sentence_returns_every_triple_of_a_shared_pair(nlp, model):
    import dataclasses

    from kgpipe.extract.patterns import triples_from_doc
    doc = nlp("Ada Lovelace was born in Prague.")
    (born,) = triples_from_doc(doc)
    twin = dataclasses.replace(born, predicate="live in")
    out = classify_sentence(model, next(doc.sents), [born, twin], keep_rejected=True, add_pairs=False)
    assert len(out) == 2  # one candidate for labelling, but neither triple is lost in extraction
    assert len(candidates_from_doc(doc, triples=[born, twin])) == 1
    # a subject resolved from "She" to the previous sentence: no pair of this sentence, kept as is
    doc = nlp("Ada Lovelace was born in Prague. She moved to Vienna.")
    moved = [t for t in triples_from_doc(doc) if t.predicate == "move to"]
    assert moved and moved[0].subject == "Ada Lovelace"
    second = list(doc.sents)[1]
    assert classify_sentence(model, second, moved, add_pairs=False) == moved


def _cands(texts: list[str]) -> list[Candidate]:
    span = ArgSpan(0, 1, "x", "")
    return [Candidate(task_id=f"t{i}", doc_id="d", sentence_index=i, text=t, subject=span, object=span,
                      entity_ids=(f"e{i}",)) for i, t in enumerate(texts)]


def test_selection_strategies():
    cands = _cands(["a b c", "d e f", "g h i", "j k l"])
    probabilities = [[0.9, 0.1, 0.0], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0], [0.6, 0.2, 0.2]]
    # least confidence: 1 - max p = 0.1, 0.6, 0.5, 0.4
    assert select(cands, 2, "uncertainty", probabilities) == [1, 2]
    # margin: gaps 0.8, 0.05, 0.0, 0.4
    assert select(cands, 2, "margin", probabilities) == [2, 1]
    assert select(cands, 3, "random", seed=1) == select(cands, 3, "random", seed=1)
    assert len(set(select(cands, 4, "random"))) == 4
    with pytest.raises(ValueError, match="unknown strategy"):
        select(cands, 1, "loudest", probabilities)
    # representativeness: a central entity lifts an equally uncertain candidate
    even = [[0.5, 0.5]] * 4
    assert select(cands, 1, "uncertainty", even, pagerank={"e3": 5.0, "e0": 1.0})[0] == 3


def test_diversity_skips_near_duplicate_sentences():
    cands = _cands(["Paris is the capital of France today", "Paris is the capital of France today",
                    "Berlin hosts a film festival every year", "Rome was founded long ago"])
    probabilities = [[0.5, 0.5], [0.5, 0.5], [0.6, 0.4], [0.9, 0.1]]
    assert select(cands, 2, "uncertainty", probabilities) == [0, 1]
    assert select(cands, 2, "diversity", probabilities) == [0, 2]


def test_cold_start_uses_the_extractor_confidence():
    cands = _cands(["a", "b", "c"])
    cands[0].confidence, cands[1].confidence = 0.95, 0.55   # c: a pair without a triple
    assert select(cands, 1, "uncertainty") == [1]


def test_expected_calibration_error():
    assert expected_calibration_error([0.8] * 10, [True] * 8 + [False] * 2) == pytest.approx(0.0)
    assert expected_calibration_error([1.0, 1.0], [False, False]) == pytest.approx(1.0)


def test_relations_file(tmp_path):
    assert "born in" in load_relations("embedded:relations")
    path = tmp_path / "r.txt"
    path.write_text("# comment\nbirthPlace\n\nno relation\n")
    with pytest.raises(LabelError, match="implied"):
        load_relations(str(path))
    path.write_text("birthPlace\nbirthPlace\n")
    with pytest.raises(LabelError, match="twice"):
        load_relations(str(path))
    # the vocabulary's properties stay as they are; phrases are written as the extractor writes its own
    assert relation_predicate("birthPlace") == "birthPlace" and relation_predicate("Born In") == "born in"


# --------------------------------------------------------------------------- Label Studio


def _task_candidate() -> Candidate:
    text = "Marie Curie was born in Warsaw."
    return Candidate(task_id="task-1", doc_id="doc-1", sentence_index=4, text=text,
                     subject=ArgSpan(0, 11, "Marie Curie", "PERSON"), object=ArgSpan(24, 30, "Warsaw", "GPE"),
                     extracted_predicate="born in", confidence=0.9)


@pytest.fixture
def tasks(tmp_path):
    task = label_studio_task(_task_candidate(), RELATIONS, "born in", 0.9)
    path = tmp_path / "tasks-1.jsonl"
    path.write_text(json.dumps(task) + "\n")
    return read_tasks([path])


def test_label_studio_task_and_config_agree():
    task = label_studio_task(_task_candidate(), RELATIONS, "born in", 0.9)
    data = task["data"]
    assert data["text"][data["subject_start"]:data["subject_end"]] == "Marie Curie"
    assert data["candidate_relations"] == [*RELATIONS, NO_RELATION]
    result = task["predictions"][0]["result"]
    spans = [r for r in result if r["type"] == "labels"]
    assert [(r["value"]["start"], r["value"]["end"], r["value"]["labels"]) for r in spans] == \
        [(0, 11, ["Subject"]), (24, 30, ["Object"])]
    relation = next(r for r in result if r["type"] == "relation")
    assert (relation["from_id"], relation["to_id"], relation["labels"]) == ("subj", "obj", ["born in"])
    config = ET.fromstring(label_config_xml(RELATIONS))
    names = {el.get("name") for el in config.iter() if el.get("name")}
    # every from_name / to_name the predictions use is a control of the interface
    assert {r["from_name"] for r in result if "from_name" in r} | {"text"} <= names
    assert [c.get("value") for c in config.iter("Choice")] == [*RELATIONS, NO_RELATION]


def _export(choice, subject=None, cancelled=False, who=7):
    result = [{"from_name": "relation", "to_name": "text", "type": "choices", "value": {"choices": [choice]}}]
    if subject:
        result.append({"from_name": "entity", "to_name": "text", "type": "labels",
                       "value": {**subject, "labels": ["Subject"]}})
    return {"id": 101, "data": {"task_id": "task-1", "text": "Marie Curie was born in Warsaw."},
            "annotations": [{"completed_by": who, "was_cancelled": cancelled, "result": result}]}


def test_label_studio_export_is_read_with_corrected_spans(tmp_path, tasks):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([_export("born in", {"start": 6, "end": 11, "text": "Curie"}),
                                _export("works for", cancelled=True)]))
    labels, counts = parse_label_file(path, tasks, RELATIONS)
    assert counts == {"records": 2, "labels": 1, "cancelled": 1}
    (label,) = labels
    assert (label.relation, label.labeler, label.subject, label.object) == ("born in", "7", (6, 11), (24, 30))


def test_plain_jsonl_labels(tmp_path, tasks):
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"task_id": "task-1", "relation": NO_RELATION, "labeler": "ann"}) + "\n")
    (label,), _ = parse_label_file(path, tasks, RELATIONS)
    assert (label.relation, label.labeler, label.subject) == (NO_RELATION, "ann", (0, 11))


def test_bad_labels_are_all_reported_and_nothing_imported(tmp_path, tasks):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [
        {"task_id": "nope", "relation": "born in"},
        {"task_id": "task-1", "relation": "married to"},
        {"task_id": "task-1", "relation": "born in", "object": {"start": 24, "end": 99}},
        {"task_id": "task-1", "relation": "born in", "subject": {"start": 0, "end": 11, "text": "Pierre"}},
        {"task_id": "task-1", "relation": "born in", "object": {"start": 5, "end": 20}},
    ]))
    with pytest.raises(LabelError) as err:
        parse_label_file(path, tasks, RELATIONS)
    message = str(err.value)
    assert "5 problem(s)" in message
    for part in ("unknown task id 'nope'", "unknown relation 'married to'", "out of range",
                 "'Pierre' is not the sentence's", "overlap"):
        assert part in message
    (tmp_path / "broken.jsonl").write_text("{not json\n")
    with pytest.raises(LabelError, match="line 1: not JSON"):
        parse_label_file(tmp_path / "broken.jsonl", tasks, RELATIONS)


def test_merge_is_idempotent_and_training_takes_the_majority(tmp_path, tasks):
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"task_id": "task-1", "relation": "born in", "labeler": "a"}) + "\n")
    labels, _ = parse_label_file(path, tasks, RELATIONS)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = label_rows(labels, tasks, "labels.jsonl", t0)
    merged, counts = merge_labels([], rows)
    assert counts == {"added": 1, "updated": 0, "unchanged": 0}
    again, counts = merge_labels(merged, label_rows(labels, tasks, "labels.jsonl", t0 + dt.timedelta(1)))
    assert counts == {"added": 0, "updated": 0, "unchanged": 1} and again == merged
    other = [{**rows[0], "label_id": "x", "labeler": "b", "relation": NO_RELATION},
             {**rows[0], "label_id": "y", "labeler": "c", "relation": "born in"}]
    (example,) = training_examples(merged + other)
    assert example["relation"] == "born in" and example["votes"] == {"born in": 2, NO_RELATION: 1}


# --------------------------------------------------------------------------- warehouse commands


def test_import_twice_changes_nothing_and_train_writes_a_model(tmp_path, tasks, monkeypatch):
    from kgpipe.label.commands import import_labels, train_model
    from kgpipe.warehouse import Warehouse
    config = Config(warehouse=str(tmp_path / "wh"))
    folder = tmp_path / "wh" / "labeling" / "tasks"
    folder.mkdir(parents=True)
    relations = tmp_path / "relations.txt"
    relations.write_text("\n".join(RELATIONS))
    config = config.model_copy(update={"label": config.label.model_copy(update={"relations": str(relations)})})
    task = label_studio_task(_task_candidate(), RELATIONS, "born in", 0.9)
    other = _task_candidate()
    other.task_id, other.text = "task-2", "Marie Curie works for Paris."
    other.object = ArgSpan(22, 27, "Paris", "GPE")
    (folder / "tasks-1.jsonl").write_text(json.dumps(task) + "\n"
                                          + json.dumps(label_studio_task(other, RELATIONS)) + "\n")
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"task_id": "task-1", "relation": "born in", "labeler": "a"}) + "\n"
                      + json.dumps({"task_id": "task-2", "relation": NO_RELATION, "labeler": "a"}) + "\n")
    first = import_labels(config, str(labels))
    assert (first["status"], first["added"], first["total_labels"]) == ("committed", 2, 2)
    warehouse = Warehouse(config.warehouse)
    version = warehouse.table_path("labels").resolve()
    second = import_labels(config, str(labels))
    assert (second["status"], second["unchanged"], second["added"]) == ("unchanged", 2, 0)
    assert warehouse.table_path("labels").resolve() == version and warehouse.count("labels") == 2
    row = next(r for r in warehouse.read("labels").to_pylist() if r["task_id"] == "task-1")
    assert (row["subject"], row["object"], row["relation"]) == ("Marie Curie", "Warsaw", "born in")
    trained = train_model(config)
    assert trained["examples"] == 2 and trained["classes"] == ["born in", NO_RELATION]
    assert RelationModel.load(trained["model"]).train_keys == ["task-1", "task-2"]


def test_import_without_tasks_is_a_clear_error(tmp_path):
    from kgpipe.label.commands import import_labels
    config = Config(warehouse=str(tmp_path / "wh"))
    (tmp_path / "l.jsonl").write_text("{}\n")
    with pytest.raises(LabelError, match="label select"):
        import_labels(config, str(tmp_path / "l.jsonl"))


def test_extraction_uses_the_configured_model(tmp_path, nlp, model):
    from kgpipe.extract.documents import (
        EXTRACTOR_WITH_MODEL,
        DocumentInput,
        extract_documents,
    )
    path = model.save(tmp_path / "m.joblib")
    text = "Ada Lovelace was born in Prague. Jane Austen visited Madrid with a friend."
    docs = [DocumentInput(doc_id="d1", text=text, paragraphs=((0, len(text)),))]
    plain = [r for t, r in extract_documents(nlp, docs, ExtractConfig()) if t == "triples_raw"]
    cfg = ExtractConfig(relation_model=str(path), relation_keep_rejected=False)
    rows = [r for t, r in extract_documents(nlp, docs, cfg) if t == "triples_raw"]
    assert {r["predicate"] for r in plain} >= {"birthPlace", "visit"}
    # the classifier's relation "born in" is a phrase the vocabulary maps, as the extractor's own
    assert [(r["subject"], r["predicate"], r["object"]) for r in rows] == [("Ada Lovelace", "birthPlace", "Prague")]
    assert rows[0]["extractor"] == EXTRACTOR_WITH_MODEL and rows[0]["confidence"] > 0.5


def test_eval_re_reports_with_and_without_the_model_on_held_out_entries(tmp_path, nlp, model):
    from kgpipe.evaluate.relations import evaluate_re_with_model
    folder = tmp_path / "1triples"
    folder.mkdir()
    entries = [("Id1", "Karl_Marx | birthPlace | Berlin", "Karl Marx was born in Berlin."),
               ("Id2", "Tim_Cook | employer | Apple", "Tim Cook works for Apple."),
               ("Id3", "Jane_Austen | birthPlace | Vienna", "Jane Austen was born in Vienna.")]
    xml = "".join(f'<entry category="Person" eid="{eid}" size="1"><modifiedtripleset><mtriple>{t}</mtriple>'
                  f'</modifiedtripleset><lex comment="good" lid="Id1">{text}</lex></entry>'
                  for eid, t, text in entries)
    (folder / "Person.xml").write_text(f"<benchmark><entries>{xml}</entries></benchmark>")
    model.train_keys = ["1triples/Person.xml#Id3"]
    try:
        path = model.save(tmp_path / "model.joblib")
    finally:
        model.train_keys = []
    result = evaluate_re_with_model(tmp_path, nlp, path)
    assert (result["entries"], result["excluded_training_entries"]) == (2, 1)
    # both runs go through the extract stage's path, vocabulary included: the rules' "born in" and "work for"
    # and the model's "born in" and "works for" become birthPlace and employer, the gold's own properties
    assert result["without"]["canonical"]["tp"] == 2 and result["with"]["canonical"]["tp"] == 2
    assert result["with"]["pair"]["tp"] == 2


def _distant_warehouse(root, nlp):
    """One article as ingest, extract and resolve leave it: an infobox (birth place, birth date) and prose that
    names the subject with the place, the date and a place of no fact. Entities: a mention's link target or,
    unlinked, its text (resolve's own choice for these names)."""
    from kgpipe.extract.documents import Anchor, DocumentInput, extract_documents
    from kgpipe.extract.infobox import InfoboxFact
    from kgpipe.warehouse import Warehouse
    from tests.graphfactory import document, write_table
    person = dict(template="infobox person", entity_type="PERSON", infobox_class="Person")
    facts = (InfoboxFact(parameter="birth_place", parameter_index=0, item_index=0, predicate="birthPlace",
                         value="London", value_type="entity", target_title="London", **person),
             InfoboxFact(parameter="birth_date", parameter_index=1, item_index=0, predicate="birthDate",
                         value="1815-12-10", value_type="date", **person))
    text = ("Ada Lovelace was born in London on 10 December 1815.\n\n"
            "Ada Lovelace later worked with Charles Babbage in Paris.")
    doc = DocumentInput("ada", text, ((0, 52), (54, len(text))), (Anchor(25, 31, "London"),), title="Ada Lovelace",
                        infobox=facts)
    rows: dict[str, list[dict]] = {"mentions": [], "triples_raw": []}
    for table, row in extract_documents(nlp, [doc], ExtractConfig()):
        rows.setdefault(table, []).append(row)
    warehouse = Warehouse(root, keep_versions=5)
    write_table(warehouse, "documents", [{**document("ada", "Ada Lovelace"), "text": text,
                                          "paragraphs": [{"start": 0, "end": 52}, {"start": 54, "end": len(text)}]}])
    write_table(warehouse, "mentions", rows["mentions"])
    write_table(warehouse, "triples_raw", rows["triples_raw"])
    write_table(warehouse, "mention_entities", [
        {"mention_id": m["mention_id"], "doc_id": "ada", "entity_id": m["link_target"] or m["text"],
         "wiki_title": m["link_target"], "link_method": "anchor" if m["link_target"] else "unlinked",
         "link_score": None} for m in rows["mentions"]])
    return warehouse


def test_distant_labels_come_from_the_articles_infobox_and_human_labels_win(tmp_path, nlp):
    from kgpipe.label.distant import distant_labels
    warehouse = _distant_warehouse(tmp_path / "wh", nlp)
    config = Config(warehouse=str(warehouse.root))
    rows, counts = distant_labels(warehouse, config, nlp)
    labelled = {(r["subject"], r["object"]): r["relation"] for r in rows}
    assert labelled[("Ada Lovelace", "London")] == "birthPlace"
    assert labelled[("Ada Lovelace", "10 December 1815")] == "birthDate"   # a date matches the fact's value
    assert labelled[("London", "10 December 1815")] == NO_RELATION        # the other pairs of the sentence
    assert not any("Babbage" in r["object"] or "Paris" in r["object"] for r in rows)  # no fact, no sentence
    assert counts["positives_by_predicate"] == {"birthPlace": 1, "birthDate": 1}
    assert all(r["sentence_text"][r["subject_start"]:r["subject_end"]] == r["subject"] for r in rows)
    # a person's label of the same task overrides the distant one
    born = next(r for r in rows if r["relation"] == "birthPlace")
    human = {**born, "label_id": "h", "labeler": "ann", "relation": "died in"}
    examples = training_examples([*rows, human])
    assert next(e for e in examples if e["task_id"] == born["task_id"])["relation"] == "died in"
    assert len(examples) == len(rows)


def test_label_distant_then_train_gives_a_model_of_the_infobox_properties(tmp_path, nlp):
    from kgpipe.label.commands import distant_command, train_model
    warehouse = _distant_warehouse(tmp_path / "wh", nlp)
    config = Config(warehouse=str(warehouse.root))
    first = distant_command(config)
    assert (first["positives"], first["status"], first["human_labels"]) == (2, "committed", 0)
    again = distant_command(config)                   # replaces the distant rows, adds none
    assert again["total_labels"] == first["total_labels"] == warehouse.count("labels")
    trained = train_model(config)
    assert {"birthPlace", "birthDate", NO_RELATION} <= set(trained["classes"])
    assert trained["distant_examples"] == trained["examples"] == first["total_labels"]
