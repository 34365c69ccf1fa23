"""Rule-based reasoning: the rule format, its semantics (reference evaluator) and the Spark stage."""
from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from kgpipe.config import ReasonConfig
from kgpipe.graph.reason import (
    KINDS,
    RuleError,
    evaluate,
    inferred_edge_id,
    load_rules,
    parse_rules,
)
from kgpipe.stages import StageContext, stage_function
from kgpipe.warehouse import Warehouse
from schemas import arrow_schema


def edge(edge_id: str, subject: str, predicate: str, object_: str | None, confidence: float = 1.0,
         literal: str | None = None) -> dict:
    return {"edge_id": edge_id, "subject_id": subject, "predicate": predicate, "object_id": object_,
            "object_literal": literal, "object_type": "entity" if object_ else "string", "qualifiers": None,
            "support_count": 1, "confidence": confidence, "first_seen": None, "last_seen": None,
            "evidence": None, "evidence_count": 1}


def warehouse_with(root: Path, edges: list[dict]) -> Warehouse:
    folder = root / "edges-input"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(edges, schema=arrow_schema("edges")), folder / "part-0.parquet")
    warehouse = Warehouse(root / "warehouse")
    warehouse.commit("edges", folder, "v1")
    return warehouse


def rules_file(root: Path, text: str) -> str:
    path = root / "rules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def run(spark, warehouse: Warehouse, cfg: ReasonConfig, run_id: str = "r1"):
    from jobs.reason import run_stage
    record = run_stage(cfg, StageContext(warehouse, run_id, str(warehouse.root)), spark=spark)
    rows = sorted(warehouse.read("inferred_edges").to_pylist(), key=lambda r: (r["depth"], r["edge_id"]))
    return record, rows


def rule(text: str):
    [parsed] = parse_rules(yaml.safe_dump({"rules": [{"name": "r", "rule": text}]}))
    return parsed


# --------------------------------------------------------------------------- rule format


@pytest.mark.parametrize("text, kind, body, head", [
    ("capital of(x, y) -> located in(x, y)", "implies", ("capital of",), "located in"),
    ("found(a, b) -> founded by(b, a)", "inverse", ("found",), "founded by"),
    ("marry(x, y) -> marry(y, x)", "symmetric", ("marry",), "marry"),
    ("part of(x, y), part of(y, z) -> part of(x, z)", "transitive", ("part of", "part of"), "part of"),
    ("born in(x,y),located in(y,z)->born in(x,z)", "compose", ("born in", "located in"), "born in"),
    ("birthPlace(x, y), location(y, z) -> birthPlace(x, z)", "compose", ("birthPlace", "location"), "birthPlace"),
    ("part of(x, y), part of(y, z) -> inside(x, z)", "compose", ("part of", "part of"), "inside"),
    ("  Born   In ( p , q ) ->  BORN in country(q , p)", "inverse", ("born in",), "born in country"),
])
def test_rule_shapes_give_their_kind(text, kind, body, head):
    parsed = rule(text)
    assert (parsed.kind, parsed.body, parsed.head) == (kind, body, head)


def test_embedded_rules_cover_every_kind_with_extractor_predicates():
    rules = load_rules("embedded:rules")
    assert {r.kind for r in rules} == set(KINDS)
    assert len({r.name for r in rules}) == len(rules)
    assert all(r.description for r in rules)
    # the vocabulary's properties, which prose ("was born in", "is located in") and infoboxes share
    assert {("birthPlace", "location"), ("location", "location")} <= {r.body for r in rules}


def test_rules_from_a_file_and_unknown_settings(tmp_path):
    path = rules_file(tmp_path, """\
        rules:
          - name: spouse
            rule: "marry(x, y) -> marry(y, x)"
            description: both ways
        """)
    [spouse] = load_rules(path)
    assert (spouse.name, spouse.kind, spouse.description) == ("spouse", "symmetric", "both ways")
    with pytest.raises(RuleError, match="unknown embedded rule file 'embedded:other'"):
        load_rules("embedded:other")
    with pytest.raises(FileNotFoundError, match="rule file .*missing.yaml not found"):
        load_rules(str(tmp_path / "missing.yaml"))


@pytest.mark.parametrize("text, message", [
    ("rules: [", "not valid YAML"),
    ("- name: a", "exactly one key, 'rules'"),
    ("rules: {name: a}", "'rules' must be a list"),
    ("rules:\n  - just text", "rule #1 is not a mapping"),
    ('rules:\n  - rule: "p(x, y) -> q(x, y)"', "rule #1: needs a 'name'"),
    ('rules:\n  - {name: a, rule: "p(x, y) -> q(x, y)", kind: implies}', "rule 'a': unknown keys ['kind']"),
    ("rules:\n  - {name: a}", "rule 'a': needs a 'rule' string"),
    ('rules:\n  - {name: a, rule: "p(x, y) q(x, y)"}', "rule 'a': 'p(x, y) q(x, y)' needs exactly one '->'"),
    ('rules:\n  - {name: a, rule: "born in x, y -> q(x, y)"}', "rule 'a': cannot read the premises"),
    ('rules:\n  - {name: a, rule: "p(x, y) q(y, z) -> r(x, z)"}', "rule 'a': expected ',' between premises"),
    ('rules:\n  - {name: a, rule: "p(x, y) -> q(x, y), r(x, y)"}', "rule 'a': the conclusion is one atom"),
    ('rules:\n  - {name: a, rule: "p(x, y), q(y, z), r(z, w) -> s(x, w)"}', "rule 'a': 3 premises"),
    ('rules:\n  - {name: a, rule: "p(x, y), q(x, z) -> r(y, z)"}', "rule 'a': two premises must chain"),
    ('rules:\n  - {name: a, rule: "p(x, y), q(y, z) -> r(z, x)"}',
     "rule 'a': the conclusion of p(x, y), q(y, z) must be r(x, z)"),
    ('rules:\n  - {name: a, rule: "p(x, y) -> q(x, w)"}', "rule 'a': the conclusion must use the premise's"),
    ('rules:\n  - {name: a, rule: "p(x, y) -> p(x, y)"}', "rule 'a': the conclusion repeats the premise"),
    ('rules:\n  - {name: a, rule: "p(x, x) -> q(x, x)"}', "rule 'a': p(x, x) uses one variable twice"),
    ('rules:\n  - {name: a, rule: "p(x, y) -> q(x, y)"}\n  - {name: a, rule: "p(x, y) -> r(x, y)"}',
     "rule 'a': same name as rule 'a'"),
    ('rules:\n  - {name: a, rule: "p(x, y) -> q(x, y)"}\n  - {name: b, rule: "P(u, v) -> q(u, v)"}',
     "rule 'b': same rule as rule 'a'"),
])
def test_bad_rules_say_which_and_why(text, message):
    with pytest.raises(RuleError) as caught:
        parse_rules(text, "my-rules.yaml")
    assert str(caught.value).startswith("my-rules.yaml: ") and message in str(caught.value)


# --------------------------------------------------------------------------- semantics (reference evaluator)


def test_depth_counts_derivation_rounds_and_a_cycle_infers_no_self_loops():
    rules = [rule("part of(x, y), part of(y, z) -> part of(x, z)")]
    chain = [edge(f"p{i}", f"a{i}", "part of", f"a{i + 1}", 0.5) for i in range(5)]
    result = evaluate(rules, chain, ReasonConfig(max_depth=10))
    depth_of_length = {2: 1, 3: 2, 4: 2, 5: 3}
    got = {(r.subject_id, r.object_id): (r.depth, r.confidence) for r in result.inferred}
    assert got == {(f"a{i}", f"a{j}"): (depth_of_length[j - i], 0.5 ** (j - i))
                   for i in range(6) for j in range(i + 2, 6)}
    assert (result.rounds, result.fixpoint_reached, result.pending_beyond_max_depth) == (4, True, 0)

    cycle = [edge("ab", "a", "part of", "b"), edge("ba", "b", "part of", "a")]
    result = evaluate(rules, cycle, ReasonConfig())
    assert result.inferred == [] and (result.rounds, result.fixpoint_reached) == (1, True)


def test_best_derivation_wins_and_weak_inferences_are_written_but_not_premises():
    rules = parse_rules(yaml.safe_dump({"rules": [
        {"name": "born", "rule": "born in(x, y), located in(y, z) -> born in(x, z)"},
        {"name": "loc", "rule": "located in(x, y), located in(y, z) -> located in(x, z)"}]}))
    edges = [edge("b1", "ada", "born in", "london", 0.5), edge("b2", "ada", "born in", "london", 0.7),
             edge("l1", "london", "located in", "england", 0.4), edge("l2", "england", "located in", "uk", 0.5)]
    result = evaluate(rules, edges, ReasonConfig(min_confidence=0.3))
    got = {(r.subject_id, r.predicate, r.object_id): (r.rule, r.supporting_edge_ids, r.depth,
                                                      pytest.approx(r.confidence)) for r in result.inferred}
    # both depth-1 facts fall under 0.3, so neither may support "ada born in uk"
    assert got == {("ada", "born in", "england"): ("born", ("b2", "l1"), 1, 0.28),
                   ("london", "located in", "uk"): ("loc", ("l1", "l2"), 1, 0.2)}
    lenient = evaluate(rules, edges, ReasonConfig(min_confidence=0.0))
    assert [(r.subject_id, r.object_id, r.depth) for r in lenient.inferred if r.depth == 2] == [("ada", "uk", 2)]


# --------------------------------------------------------------------------- the Spark stage


RULES = """\
    rules:
      - name: loc
        rule: "located in(x, y), located in(y, z) -> located in(x, z)"
      - name: marry
        rule: "marry(x, y) -> marry(y, x)"
      - name: founded_by
        rule: "found(x, y) -> founded by(y, x)"
      - name: capital_loc
        rule: "capital of(x, y) -> located in(x, y)"
      - name: born
        rule: "born in(x, y), located in(y, z) -> born in(x, z)"
    """

EDGES = [
    edge("e1", "curie", "born in", "warsaw", 0.9),
    edge("e2", "warsaw", "located in", "poland", 0.8),
    edge("e3", "poland", "located in", "europe", 1.0),
    edge("e4", "curie", "marry", "pierre", 0.9),
    edge("e5", "jobs", "found", "apple", 0.8),
    edge("e6", "paris", "capital of", "france", 0.5),
    edge("e7", "france", "located in", "europe", 1.0),
    edge("e8", "warsaw", "located in", "europe", 0.6),   # already known: not inferred again
    edge("e9", "warsaw", "located in", None, 1.0, literal="Central Europe"),  # literal: not a premise
    edge("e10", "krakow", "located in", "poland", 0.1),  # under min_confidence: not a premise
    edge("e11", "curie", "born in", "warsaw", 0.5),      # the same fact again, weaker
]


@pytest.fixture(scope="module")
def reasoned(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("reason")
    warehouse = warehouse_with(root, EDGES)
    cfg = ReasonConfig(rules=rules_file(root, RULES), min_confidence=0.2)
    record, rows = run(spark, warehouse, cfg)
    return warehouse, cfg, record, rows


def test_every_kind_fires_with_its_explanation(reasoned):
    _, _, record, rows = reasoned
    paris_in_france = inferred_edge_id("paris", "located in", "france")
    got = {(r["subject_id"], r["predicate"], r["object_id"]): (r["rule"], r["supporting_edge_ids"], r["depth"],
                                                               pytest.approx(r["confidence"])) for r in rows}
    assert got == {
        ("pierre", "marry", "curie"): ("marry", ["e4"], 1, 0.9),
        ("apple", "founded by", "jobs"): ("founded_by", ["e5"], 1, 0.8),
        ("paris", "located in", "france"): ("capital_loc", ["e6"], 1, 0.5),
        ("curie", "born in", "poland"): ("born", ["e1", "e2"], 1, 0.72),
        ("curie", "born in", "europe"): ("born", ["e1", "e8"], 1, 0.54),
        ("paris", "located in", "europe"): ("loc", [paris_in_france, "e7"], 2, 0.5),
    }
    assert all(r["edge_id"] == inferred_edge_id(r["subject_id"], r["predicate"], r["object_id"]) for r in rows)
    assert record.outputs == {"inferred_edges": 6}
    assert record.inputs == {"edges": 11, "premise_edges": 9}
    details = record.details
    assert details["inferred_by_rule"] == {"loc": 1, "marry": 1, "founded_by": 1, "capital_loc": 1, "born": 2}
    assert details["inferred_by_depth"] == {1: 5, 2: 1}
    assert (details["rounds"], details["fixpoint_reached"], details["pending_beyond_max_depth"]) == (3, True, 0)
    assert details["fanout_skipped_keys"] == 0


def test_table_matches_its_schema(reasoned):
    warehouse, _, _, _ = reasoned
    assert Warehouse.check_schema("inferred_edges", warehouse.table_path("inferred_edges")) == 6


def test_rerun_gives_identical_output(reasoned, spark):
    warehouse, cfg, record, rows = reasoned
    again, rows_again = run(spark, warehouse, cfg, run_id="r2")
    assert rows_again == rows
    assert again.details == record.details


def test_long_chains_stop_at_max_depth_and_hubs_are_skipped(spark, tmp_path):
    rules = rules_file(tmp_path, """\
        rules:
          - name: part
            rule: "part of(x, y), part of(y, z) -> part of(x, z)"
          - name: loc
            rule: "located in(x, y), located in(y, z) -> located in(x, z)"
        """)
    chain = [edge(f"p{i}", f"a{i}", "part of", f"a{i + 1}", 0.9) for i in range(6)]
    hub = [edge(f"h{i}", f"city{i}", "located in", "france") for i in range(4)]
    sink = [edge(f"g{i}", f"town{i}", "located in", "germany") for i in range(4)]  # nothing leaves germany
    others = [edge("h9", "france", "located in", "europe"), edge("w1", "warsaw", "located in", "poland"),
              edge("w2", "poland", "located in", "europe")]
    warehouse = warehouse_with(tmp_path, chain + hub + sink + others)
    record, rows = run(spark, warehouse, ReasonConfig(rules=rules, max_depth=2, max_fanout=3))

    part = {(r["subject_id"], r["object_id"]): r for r in rows if r["rule"] == "part"}
    # a0..a6: paths of 2 edges at depth 1, of 3 and 4 edges at depth 2; 5 and 6 edges are beyond max_depth
    assert set(part) == {(f"a{i}", f"a{j}") for i in range(7) for j in range(i + 2, i + 5) if j <= 6}
    by_id = {e["edge_id"]: (e["subject_id"], e["object_id"], 0) for e in chain}
    by_id.update({r["edge_id"]: (r["subject_id"], r["object_id"], r["depth"]) for r in rows})
    for (subject, object_), row in part.items():
        length = int(object_[1:]) - int(subject[1:])
        assert row["depth"] == (1 if length == 2 else 2)
        assert row["confidence"] == pytest.approx(0.9 ** length)
        first, second = (by_id[i] for i in row["supporting_edge_ids"])
        assert (first[0], first[1]) == (subject, second[0]) and second[1] == object_
        assert max(first[2], second[2]) == row["depth"] - 1
    # the hub france (4 cities in, more than 3) is skipped; germany joins nothing, so it is not reported
    assert {(r["subject_id"], r["object_id"]) for r in rows if r["rule"] == "loc"} == {("warsaw", "europe")}
    details = record.details
    assert details["inferred_by_depth"] == {1: 6, 2: 7}
    assert (details["rounds"], details["fixpoint_reached"], details["pending_beyond_max_depth"]) == (2, False, 3)
    assert details["fanout_skipped_keys"] == 1
    assert details["fanout_skipped_by_rule"] == {"part": 0, "loc": 1}
    assert details["fanout_skipped_examples"] == {"loc": ["france"]}


def test_spark_agrees_with_the_reference_evaluator(spark, tmp_path):
    rng = random.Random(7)
    entities = [f"n{i}" for i in range(12)]
    predicates = ["located in", "part of", "born in", "marry", "capital of"]
    edges = []
    for i in range(70):
        subject, object_ = rng.sample(entities, 2)
        edges.append(edge(f"x{i}", subject, rng.choice(predicates), object_, round(rng.uniform(0.1, 1.0), 3)))
    text = """\
        rules:
          - {name: loc, rule: "located in(x, y), located in(y, z) -> located in(x, z)"}
          - {name: part, rule: "part of(x, y), part of(y, z) -> part of(x, z)"}
          - {name: loc_part, rule: "located in(x, y), part of(y, z) -> located in(x, z)"}
          - {name: born, rule: "born in(x, y), located in(y, z) -> born in(x, z)"}
          - {name: marry, rule: "marry(x, y) -> marry(y, x)"}
          - {name: capital, rule: "capital of(x, y) -> located in(x, y)"}
          - {name: has_capital, rule: "capital of(x, y) -> have capital(y, x)"}
        """
    cfg = ReasonConfig(rules=rules_file(tmp_path, text), max_depth=3, max_fanout=3, min_confidence=0.3)
    expected = evaluate(load_rules(cfg.rules), edges, cfg)
    # the graph exercises what the comparison is about
    assert len(expected.by_depth) >= 2 and expected.details()["fanout_skipped_keys"] > 0

    record, rows = run(spark, warehouse_with(tmp_path, edges), cfg)
    assert sorted(rows, key=lambda r: r["edge_id"]) == sorted((i.row() for i in expected.inferred),
                                                              key=lambda r: r["edge_id"])
    assert {k: v for k, v in record.details.items() if k != "rules_source"} == expected.details()


def test_no_applicable_rules_commit_an_empty_table(spark, tmp_path):
    warehouse = warehouse_with(tmp_path, [edge("e1", "jobs", "say", "cook")])
    record, rows = run(spark, warehouse, ReasonConfig())
    assert rows == [] and record.outputs == {"inferred_edges": 0}
    assert (record.details["rounds"], record.details["fixpoint_reached"]) == (1, True)
    assert record.inputs == {"edges": 1, "premise_edges": 0}


def test_bad_rule_files_and_missing_edges_fail_before_writing(spark, tmp_path):
    warehouse = warehouse_with(tmp_path, [edge("e1", "a", "part of", "b")])
    bad = rules_file(tmp_path, 'rules:\n  - {name: loop, rule: "part of(x, y) -> part of(x, y)"}\n')
    with pytest.raises(RuleError, match="rules.yaml: rule 'loop': the conclusion repeats the premise"):
        run(spark, warehouse, ReasonConfig(rules=bad))
    with pytest.raises(FileNotFoundError, match="run `kgpipe resolve` first"):
        run(spark, Warehouse(tmp_path / "empty"), ReasonConfig())
    assert not warehouse.exists("inferred_edges")


def test_the_stage_is_registered():
    from jobs.reason import run_stage
    assert stage_function("reason") is run_stage


def test_an_address_and_a_country_join_the_birthplace_chain_and_succession_has_both_sides():
    # "Aldous Huxley was born in Godalming, Surrey, England": extract states birthPlace(Huxley, Godalming),
    # isPartOf(Godalming, Surrey) and country(Surrey, England)
    edges = [edge("b", "huxley", "birthPlace", "godalming"), edge("p", "godalming", "isPartOf", "surrey"),
             edge("c", "surrey", "country", "england"), edge("s", "bush", "successor", "obama")]
    result = evaluate(load_rules("embedded:rules"), edges, ReasonConfig())
    got = {(r.subject_id, r.predicate, r.object_id) for r in result.inferred}
    assert {("huxley", "birthPlace", "surrey"), ("surrey", "location", "england"),
            ("obama", "predecessor", "bush")} <= got
    assert ("huxley", "birthPlace", "england") in got      # through Surrey's country
    assert ("godalming", "country", "england") in got      # an address names the country once, at its end
