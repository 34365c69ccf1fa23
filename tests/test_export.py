"""kgpipe export: Neo4j CSVs, N-Triples and GraphML read back with independent parsers."""
from __future__ import annotations

import csv
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kgpipe.config import ExportConfig
from kgpipe.graph import export as fmt
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from schemas import arrow_schema

TRICKY = 'Ada "Countess" Lovelace,\nof; C:\\Byron\\ \u2014 caf\u00e9 \u2615 \r\ttab'
SENTENCE = 'She said: "I found it; really, \\o/"\nand left.'
ALIAS_WITH_DELIMITERS = "Lovelace; Ada, Countess"
STRING_LITERAL = 'a "big" city, with; commas\\'
SEEN = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

ENTITIES = [
    {"entity_id": "ada", "canonical_name": TRICKY, "entity_type": "PER", "wiki_title": "Ada Lovelace",
     "aliases": [{"alias": TRICKY, "count": 3}, {"alias": ALIAS_WITH_DELIMITERS, "count": 2},
                 {"alias": "Ada", "count": 1}], "mention_count": 6, "first_seen": SEEN, "last_seen": SEEN},
    {"entity_id": "att", "canonical_name": "AT&T", "entity_type": "ORG", "wiki_title": "AT&T",
     "aliases": [{"alias": "AT&T", "count": 1}], "mention_count": 1},
    {"entity_id": "london", "canonical_name": "London", "mention_count": 2},
]


def _edge(edge_id, subject, predicate, obj=None, literal=None, object_type="entity", **extra):
    return {"edge_id": edge_id, "subject_id": subject, "predicate": predicate, "object_id": obj,
            "object_literal": literal, "object_type": object_type, "support_count": 1, "confidence": 0.8,
            "evidence_count": 1, **extra}


EDGES = [
    _edge("x1", "ada", "found", "att", qualifiers=[("time", "1976")], first_seen=SEEN,
          evidence=[{"doc_id": "d1", "sentence_index": 0, "start": 0, "end": 5, "sentence_text": SENTENCE}]),
    _edge("x2", "ada", "born in", literal="1815", object_type="date"),
    _edge("x3", "ada", "age", literal="36", object_type="number"),
    _edge("x4", "att", "locate in", "london"),
    _edge("x5", "london", "describe as", literal=STRING_LITERAL, object_type="string"),
    _edge("x6", "london", "twin with", "ghost"),    # object is no entity: left out, counted
    _edge("x7", "ghost", "found", "att"),           # subject is no entity: left out, counted
    _edge("x8", "att", "found in", literal="1815", object_type="date"),  # shares x2's literal
]
INFERRED = [
    {"edge_id": "i1", "subject_id": "ada", "predicate": "live in", "object_id": "london", "rule": "born_lives",
     "supporting_edge_ids": ["x1", "x4"], "depth": 2, "confidence": 0.5},
    {"edge_id": "i2", "subject_id": "ada", "predicate": "know", "object_id": "ghost", "rule": "r",
     "supporting_edge_ids": ["x1"], "depth": 1, "confidence": 0.5},
]
REJECTS = {"edges: unknown_object": 1, "edges: unknown_subject": 1, "inferred_edges: unknown_object": 1}


def _commit(warehouse: Warehouse, name: str, rows: list[dict]) -> None:
    folder = warehouse.root.parent / f"input-{name}"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(name)), folder / "part-0.parquet")
    warehouse.commit(name, folder, "v1")


def _warehouse(root: Path, inferred: bool = True) -> Warehouse:
    warehouse = Warehouse(root / "wh")
    _commit(warehouse, "entities", ENTITIES)
    _commit(warehouse, "edges", EDGES)
    if inferred:
        _commit(warehouse, "inferred_edges", INFERRED)
    return warehouse


def _export(warehouse: Warehouse, spark=None, run_id: str = "export-1", **settings):
    from jobs.export import run_stage
    return run_stage(ExportConfig(**settings), StageContext(warehouse, run_id, str(warehouse.root)), spark=spark)


@pytest.fixture(scope="module")
def graph_warehouse(tmp_path_factory) -> Warehouse:
    return _warehouse(tmp_path_factory.mktemp("export"))


# --------------------------------------------------------------------------- N-Triples

@pytest.fixture(scope="module")
def ntriples(graph_warehouse, spark):
    rdflib = pytest.importorskip("rdflib")
    record = _export(graph_warehouse, spark, format="ntriples", iri_base="http://kg.test/")
    out = Path(record.details["out"])
    graph = rdflib.Graph()
    for part in sorted((out / "triples").glob("*.nt")):
        graph.parse(str(part), format="nt")
    return record, graph, out


def test_ntriples_round_trip_through_rdflib(ntriples):
    from rdflib import OWL, RDF, RDFS, SKOS, XSD, Literal, URIRef
    record, graph, _ = ntriples
    ada, att, london = (URIRef(f"http://kg.test/entity/{e}") for e in ("ada", "att", "london"))
    # 15 entity triples (7 + 5 + 3), 6 facts + 6 statement triples of qualified x1, 1 + 10 for inferred i1
    assert len(graph) == record.outputs["triples"] == 38
    assert graph.value(ada, RDFS.label) == Literal(TRICKY)
    assert set(graph.objects(ada, SKOS.altLabel)) == {Literal(ALIAS_WITH_DELIMITERS), Literal("Ada")}
    assert graph.value(ada, OWL.sameAs) == URIRef("https://en.wikipedia.org/wiki/Ada_Lovelace")
    assert graph.value(att, OWL.sameAs) == URIRef("https://en.wikipedia.org/wiki/AT%26T")
    assert set(graph.objects(ada, RDF.type)) == {URIRef("http://kg.test/schema/Entity"),
                                                  URIRef("http://kg.test/type/PER")}
    assert graph.value(ada, URIRef("http://kg.test/schema/mentionCount")) == Literal(6)
    predicate = lambda p: URIRef(f"http://kg.test/predicate/{p}")  # noqa: E731
    assert (ada, predicate("found"), att) in graph
    assert (ada, predicate("born%20in"), Literal("1815", datatype=XSD.gYear)) in graph
    assert (ada, predicate("age"), Literal("36", datatype=XSD.integer)) in graph
    assert (london, predicate("describe%20as"), Literal(STRING_LITERAL)) in graph
    assert (ada, predicate("live%20in"), london) in graph


def test_ntriples_statement_nodes_carry_qualifiers_and_inference(ntriples):
    from rdflib import RDF, Literal, URIRef
    _, graph, _ = ntriples
    qualified, inferred = URIRef("http://kg.test/edge/x1"), URIRef("http://kg.test/edge/i1")
    assert graph.value(qualified, URIRef("http://kg.test/qualifier/time")) == Literal("1976")
    assert (qualified, RDF.type, URIRef("http://kg.test/schema/InferredStatement")) not in graph
    assert graph.value(inferred, RDF.subject) == URIRef("http://kg.test/entity/ada")
    assert graph.value(inferred, RDF.predicate) == URIRef("http://kg.test/predicate/live%20in")
    assert (inferred, RDF.type, URIRef("http://kg.test/schema/InferredStatement")) in graph
    assert graph.value(inferred, URIRef("http://kg.test/schema/rule")) == Literal("born_lives")
    assert set(graph.objects(inferred, URIRef("http://kg.test/schema/derivedFrom"))) == {
        URIRef("http://kg.test/edge/x1"), URIRef("http://kg.test/edge/x4")}


def test_ntriples_record_counts_left_out_edges_and_lists_files(ntriples):
    record, graph, out = ntriples
    assert record.rejects == 3 and record.details["rejects_by_reason"] == REJECTS
    assert not any("ghost" in str(term) for triple in graph for term in triple)
    assert record.inputs == {"entities": 3, "edges": 8, "inferred_edges": 2}
    listed = set(record.details["files"])
    assert listed == {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert json.loads((out / "export.json").read_text())["outputs"] == {"triples": 38}


# --------------------------------------------------------------------------- Neo4j

def _read_group(out: Path, name: str) -> list[dict[str, str]]:
    """Header file + part files as neo4j-admin sees them: one logical CSV."""
    with (out / f"{name}_header.csv").open(newline="", encoding="utf-8") as f:
        [header] = list(csv.reader(f))
    rows = []
    for part in sorted((out / name).glob("part-*.csv")):
        with part.open(newline="", encoding="utf-8") as f:
            rows += [dict(zip(header, record, strict=True)) for record in csv.reader(f)]
    return rows


@pytest.fixture(scope="module")
def neo4j(graph_warehouse, spark):
    record = _export(graph_warehouse, spark, run_id="export-2", format="neo4j")
    out = Path(record.details["out"])
    return record, out, {name: _read_group(out, name) for name in ("entities", "literals", "relationships")}


def test_neo4j_headers_declare_ids_labels_and_types(neo4j):
    _, out, _ = neo4j
    assert (out / "entities_header.csv").read_text().startswith("entity_id:ID,:LABEL,name,")
    assert "aliases:string[]" in (out / "entities_header.csv").read_text()
    assert (out / "relationships_header.csv").read_text().startswith(":START_ID,:END_ID,:TYPE,edge_id,")
    assert (out / "literals_header.csv").read_text() == "literal_id:ID,:LABEL,value,value_type\n"


def test_neo4j_nodes_keep_tricky_strings_and_arrays(neo4j):
    record, _, groups = neo4j
    entities = {row["entity_id:ID"]: row for row in groups["entities"]}
    ada = entities["ada"]
    assert ada["name"] == TRICKY
    assert ada[":LABEL"].split("\x1f") == ["Entity", "Person"]
    assert ada["aliases:string[]"].split("\x1f") == [TRICKY, ALIAS_WITH_DELIMITERS, "Ada"]
    assert ada["alias_counts:long[]"] == "3\x1f2\x1f1"
    assert ada["first_seen:datetime"] == "2020-01-02T03:04:05+00:00"
    assert entities["att"]["wiki_url"] == "https://en.wikipedia.org/wiki/AT%26T"
    assert entities["london"][":LABEL"] == "Entity" and entities["london"]["wiki_title"] == ""
    literals = {(row["value_type"], row["value"]) for row in groups["literals"]}
    assert literals == {("date", "1815"), ("number", "36"), ("string", STRING_LITERAL)}
    assert record.outputs == {"nodes": 6, "relationships": 7}


def test_neo4j_relationships_connect_exported_nodes(neo4j):
    record, _, groups = neo4j
    node_ids = ({row["entity_id:ID"] for row in groups["entities"]}
                | {row["literal_id:ID"] for row in groups["literals"]})
    relationships = {row["edge_id"]: row for row in groups["relationships"]}
    assert set(relationships) == {"x1", "x2", "x3", "x4", "x5", "x8", "i1"}
    assert all(r[":START_ID"] in node_ids and r[":END_ID"] in node_ids for r in relationships.values())
    assert relationships["x2"][":END_ID"] == relationships["x8"][":END_ID"]  # one node for "1815"
    assert relationships["x2"][":TYPE"] == "BORN_IN" and relationships["x2"]["predicate"] == "born in"
    found = relationships["x1"]
    assert (found[":START_ID"], found[":END_ID"], found[":TYPE"]) == ("ada", "att", "FOUND")
    assert found["qualifiers:string[]"] == "time=1976" and found["evidence_sentences:string[]"] == SENTENCE
    assert found["inferred:boolean"] == "false" and found["confidence:double"] == "0.8"
    lives = relationships["i1"]
    assert lives["inferred:boolean"] == "true" and lives["rule"] == "born_lives"
    assert lives["supporting_edge_ids:string[]"].split("\x1f") == ["x1", "x4"]
    assert record.details["rejects_by_reason"] == REJECTS


def test_neo4j_import_script_names_every_group(neo4j):
    _, out, _ = neo4j
    script = (out / "import.sh").read_text()
    assert 'database import full "${1:-neo4j}"' in script
    assert "--array-delimiter=U+001F" in script and "--multiline-fields=true" in script
    groups = re.findall(r"--(nodes|relationships)=([^,\s]+),'([^']+)'", script)
    assert [(kind, header) for kind, header, _ in groups] == [
        ("nodes", "entities_header.csv"), ("nodes", "literals_header.csv"),
        ("relationships", "relationships_header.csv")]
    for _, header, pattern in groups:
        folder, _, name_pattern = pattern.partition("/")
        assert (out / header).is_file()
        assert [p.name for p in (out / folder).iterdir()] and all(
            re.fullmatch(name_pattern, p.name) for p in (out / folder).iterdir())


# --------------------------------------------------------------------------- GraphML (no Spark)

def test_graphml_round_trips_through_networkx(tmp_path):
    nx = pytest.importorskip("networkx")
    record = _export(_warehouse(tmp_path), format="graphml")
    graph = nx.read_graphml(Path(record.details["out"]) / "graph.graphml")
    assert record.outputs == {"nodes": 6, "edges": 7} and record.rejects == 3
    assert graph.number_of_nodes() == 6 and graph.number_of_edges() == 7
    assert graph.nodes["ada"]["name"] == TRICKY and graph.nodes["ada"]["mention_count"] == 6
    assert json.loads(graph.nodes["ada"]["aliases"])[1] == {"alias": ALIAS_WITH_DELIMITERS, "count": 2}
    literal = fmt.literal_node_id("string", STRING_LITERAL)
    assert graph.nodes[literal] == {"kind": "literal", "value": STRING_LITERAL, "value_type": "string"}
    edges = {data["id"]: (u, v, data) for u, v, data in graph.edges(data=True)}
    assert edges["x1"][:2] == ("ada", "att") and json.loads(edges["x1"][2]["qualifiers"]) == {"time": "1976"}
    assert json.loads(edges["x1"][2]["evidence"])[0]["sentence_text"] == SENTENCE
    assert edges["i1"][2]["inferred"] is True and edges["i1"][2]["rule"] == "born_lives"
    assert edges["x4"][2]["inferred"] is False


def test_graphml_above_the_edge_limit_is_refused(tmp_path):
    warehouse = _warehouse(tmp_path)
    with pytest.raises(fmt.ExportError, match="10 edges .* exceed export.graphml_max_edges=9"):
        _export(warehouse, format="graphml", graphml_max_edges=9)
    assert not (warehouse.root / "exports").exists() or not any((warehouse.root / "exports").iterdir())


def test_export_replaces_its_own_folder_but_refuses_others(tmp_path):
    warehouse = _warehouse(tmp_path, inferred=False)  # inferred_edges is optional
    first = _export(warehouse, format="graphml", out=str(tmp_path / "g"))
    assert first.outputs == {"nodes": 6, "edges": 6}
    (tmp_path / "g" / "graph.graphml").write_text("stale")
    _export(warehouse, run_id="export-3", format="graphml", out=str(tmp_path / "g"))
    assert (tmp_path / "g" / "graph.graphml").read_text().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a kgpipe export"):
        _export(warehouse, format="graphml", out=str(tmp_path / "mine"))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_bad_iri_base_is_refused_before_any_work(tmp_path):
    with pytest.raises(fmt.ExportError, match="iri_base"):
        _export(_warehouse(tmp_path), spark=object(), format="ntriples", iri_base="kg base/")


# --------------------------------------------------------------------------- formatting rules

@pytest.mark.parametrize("text, expected", [
    ('say "hi"\\', 'say \\"hi\\"\\\\'),
    ("a\nb\rc\td\be\ff", "a\\nb\\rc\\td\\be\\ff"),
    ("\x00\x1f\x7f", "\\u0000\\u001F\\u007F"),
    ("caf\u00e9 \u2615", "caf\u00e9 \u2615"),
])
def test_ntriples_escaping_follows_the_canonical_form(text, expected):
    assert fmt.nt_escape(text) == expected


@pytest.mark.parametrize("value, object_type, datatype", [
    ("1815", "date", "gYear"), ("1815-12", "date", "gYearMonth"), ("1815-12-10", "date", "date"),
    ("1815-02-30", "date", None), ("10 December 1815", "date", None), ("-36", "number", "integer"),
    ("3.5", "number", "decimal"), ("1e6", "number", "double"), ("2,000", "number", None),
    ("three", "number", None), ("36", "quantity", None), ("1815", "string", None),
])
def test_literals_are_typed_only_when_valid(value, object_type, datatype):
    assert fmt.literal_datatype(value, object_type) == datatype


def test_csv_fields_tell_null_from_empty_and_quote_strings():
    assert fmt.csv_record(["x", None, "", 1, 2.5, True, 'a "b"']) == '"x",,"",1,2.5,true,"a ""b"""'
    assert fmt.csv_field(fmt.Neo4jArray(["a;b", "c\x1fd", None])) == '"a;b\x1fc\ufffdd\x1f"'
    assert fmt.csv_field(fmt.Neo4jArray([])) == ""


def test_relationship_types_and_wikipedia_urls():
    assert fmt.relationship_type("born in") == "BORN_IN" and fmt.relationship_type("n\u00e9 \u00e0") == "N\u00c9_\u00c0"
    assert fmt.relationship_type("--") == "RELATED_TO"
    assert fmt.wikipedia_url("Ada Lovelace's caf\u00e9 (1815)") == \
        "https://en.wikipedia.org/wiki/Ada_Lovelace%27s_caf%C3%A9_(1815)"


def test_xml_escaping_keeps_what_xml_can_carry():
    import xml.etree.ElementTree as ET
    text = 'a<b>&"c"\r\n\td\x01'
    assert ET.fromstring(f"<x>{fmt.xml_escape(text)}</x>").text == 'a<b>&"c"\r\n\td\ufffd'
    assert ET.fromstring(f'<x a="{fmt.xml_escape(text, attribute=True)}"/>').get("a") == 'a<b>&"c"\r\n\td\ufffd'
