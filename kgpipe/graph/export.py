"""Formatting rules of ``kgpipe export``: the graph in formats other tools load.

Engine-free: every function takes plain rows (dicts, as ``pyarrow`` ``to_pylist`` gives
them) and returns text. ``jobs/export.py`` applies them inside Spark (``mapInArrow``, one
part file per task) or while streaming Parquet batches (GraphML); the rules live only here.

Inputs are the tables ``entities``, ``edges`` and, where it exists, ``inferred_edges``
(facts derived by rules; always entity to entity, always marked as inferred below).

N-Triples (``--format ntriples``)
=================================
W3C RDF 1.1 N-Triples, one triple per line, UTF-8, written in the canonical form of
RDF 1.2 N-Triples: ``"``, ``\\``, LF, CR, TAB, BS and FF as ``\\"``, ``\\\\``, ``\\n``,
``\\r``, ``\\t``, ``\\b``, ``\\f``; the other control characters (U+0000-U+001F, U+007F)
as ``\\uXXXX``; everything else, all of Unicode included, as itself. Part files may be
concatenated in any order (``cat triples/*.nt > graph.nt``).

IRI scheme, ``<base>`` = ``export.iri_base`` (an absolute IRI ending in ``/`` or ``#``;
default ``https://kgpipe.example.org/``). Path segments are percent-encoded UTF-8
(RFC 3986: everything but ``A-Z a-z 0-9 - . _ ~``), so ``born in`` is ``born%20in``:

=============================  ===============================================================
``<base>entity/<entity_id>``   an entity
``<base>predicate/<pred>``     a predicate; ``<pred>`` is the percent-encoded normalized
                               predicate (decode the last segment to get it back)
``<base>type/<entity_type>``   an entity type (PER, ORG, LOC, MISC)
``<base>edge/<edge_id>``       the statement node of one edge (see below)
``<base>qualifier/<key>``      a qualifier of an edge (``time``)
``<base>schema/<Name>``        kgpipe's own vocabulary: ``Entity``, ``InferredStatement``,
                               ``mentionCount``, ``confidence``, ``rule``, ``depth``,
                               ``derivedFrom``
=============================  ===============================================================

Per entity: ``rdf:type <base>schema/Entity``, ``rdf:type <base>type/<entity_type>`` (when
typed), ``rdfs:label`` the canonical name, ``skos:altLabel`` each other alias,
``<base>schema/mentionCount`` (``xsd:integer``) and, when linked to Wikipedia,
``owl:sameAs <https://en.wikipedia.org/wiki/<Title>>`` with the title written as MediaWiki
writes its own article URLs (spaces as ``_``, percent-encoded like PHP ``urlencode`` but
``; @ $ ! * ( ) , / : ~`` kept), e.g. ``AT&T`` -> ``.../wiki/AT%26T``.

Per edge, the fact itself: ``<subject> <predicate> <object>``, where the object is an
entity IRI or a literal. Literals are typed only where their text is a valid lexical form
of the type the ``object_type`` column names, so no literal is ever ill-typed: ``date``
``1815`` -> ``xsd:gYear``, ``1815-12`` -> ``xsd:gYearMonth``, ``1815-12-10`` ->
``xsd:date``; ``number`` ``36`` -> ``xsd:integer``, ``3.5`` -> ``xsd:decimal``, ``1e6`` ->
``xsd:double``; everything else (``10 December 1815``, ``three``, quantities, strings) is a
plain string literal.

An edge that is inferred or has qualifiers also gets a statement node ``<base>edge/<edge_id>``
(standard RDF reification): ``rdf:type rdf:Statement``, ``rdf:subject``, ``rdf:predicate``,
``rdf:object``, ``<base>schema/confidence`` (``xsd:double``), one ``<base>qualifier/<key>``
per qualifier, and for inferred edges ``rdf:type <base>schema/InferredStatement``,
``<base>schema/rule``, ``<base>schema/depth`` and one ``<base>schema/derivedFrom
<base>edge/<premise edge_id>`` per premise. The fact triple of an inferred edge is written
too, so a query for the fact finds it; ask for the statement node to tell the two apart.

Neo4j (``--format neo4j``)
==========================
CSV for ``neo4j-admin database import full`` (Neo4j 5): per group a header file and a folder
of data part files, plus ``import.sh`` with the exact command (:func:`neo4j_import_script`).

* ``entities``: ``(:Entity:<Person|Organization|Location|Misc>)`` keyed by ``entity_id``.
* ``literals``: literal-valued edges end at ``(:Literal {value, value_type})`` nodes, one per
  distinct (object_type, object_literal), id ``literal:<stable_id(type, value)>``. Nodes,
  not properties, because an entity can have many values of one predicate ("born in" a
  year and a place), each edge keeps its own confidence, qualifiers and evidence, and
  property columns would have to be known before the first row is written.
* ``relationships``: one per edge; ``:TYPE`` is the predicate in upper snake case
  (``born in`` -> ``BORN_IN``), the exact predicate is the ``predicate`` property;
  ``inferred`` (boolean) tells rule-derived edges apart, which also carry ``rule``,
  ``depth`` and ``supporting_edge_ids``.

One global ID space (entity ids are 32 hex digits, literal ids start with ``literal:``).
Fields: comma-separated; every non-null string is double-quoted with ``"`` doubled (RFC
4180, neo4j-admin's default quoting), null is an empty unquoted field (the property is not
set), numbers and booleans are bare. Values may contain newlines, hence
``--multiline-fields=true``. Arrays (``string[]``, ``long[]``, ``:LABEL``) are joined with
U+001F, passed as ``--array-delimiter=U+001F``: the default ``;`` occurs in aliases and
sentences and neo4j-admin has no escape for the array delimiter. A U+001F inside an array
element (a control character no cleaned text should hold) is written as U+FFFD.

GraphML (``--format graphml``)
==============================
One ``graph.graphml`` file (GraphML 1.0, directed, parallel edges allowed) for small graphs
(``export.graphml_max_edges``): entity nodes (``kind=entity``) and literal nodes
(``kind=literal``, same ids as for Neo4j), one edge per fact with ``inferred``. Lists and
maps (aliases, qualifiers, evidence, premises) are JSON strings. Text is XML-escaped; CR
is written as ``&#13;`` so it survives parsing; characters XML 1.0 cannot carry at all
(control characters other than TAB, LF, CR; U+FFFE, U+FFFF) are written as U+FFFD.
"""
from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from kgpipe.errors import CommandError
from kgpipe.ids import stable_id

WIKIPEDIA_ARTICLE_BASE = "https://en.wikipedia.org/wiki/"


class ExportError(CommandError, ValueError):
    """The export cannot be written as asked (bad IRI base, graph too large for GraphML, ...)."""


# --------------------------------------------------------------------------- shared row shape

#: columns of an edge row as the formatters see it; inferred edges lack some, which stay null
EDGE_DEFAULTS: dict[str, Any] = {
    "edge_id": None, "subject_id": None, "predicate": None, "object_id": None, "object_literal": None,
    "object_type": "entity", "qualifiers": None, "support_count": None, "confidence": None,
    "first_seen": None, "last_seen": None, "evidence": None, "evidence_count": None,
    "rule": None, "depth": None, "supporting_edge_ids": None,
}


def edge_row(row: Mapping[str, Any], inferred: bool) -> dict[str, Any]:
    """An ``edges`` or ``inferred_edges`` row in the one shape the formatters take."""
    return {**EDGE_DEFAULTS, **row, "inferred": inferred}


def qualifier_pairs(qualifiers: Any) -> list[tuple[str, str]]:
    """Qualifiers sorted by key, whichever way the engine handed the map over: a dict,
    (key, value) tuples (pyarrow) or {key, value} structs (Spark ``map_entries``)."""
    if not qualifiers:
        return []
    if isinstance(qualifiers, Mapping):
        items = qualifiers.items()
    else:
        items = [(q["key"], q["value"]) if isinstance(q, Mapping) else tuple(q) for q in qualifiers]
    return sorted((str(k), "" if v is None else str(v)) for k, v in items)


def literal_node_id(object_type: str | None, value: str) -> str:
    """Node id of a literal value (Neo4j and GraphML): equal values of one type share a node."""
    return "literal:" + stable_id(object_type, value)


def wikipedia_url(title: str, base: str = WIKIPEDIA_ARTICLE_BASE) -> str:
    """Article URL as MediaWiki writes it (``wfUrlencode``): ``AT&T Inc.`` -> ``.../AT%26T_Inc.``."""
    return base + quote(title.strip().replace(" ", "_"), safe=";@$!*(),/:~")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, (datetime, date)) else str(value)


# --------------------------------------------------------------------------- N-Triples

XSD = "http://www.w3.org/2001/XMLSchema#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS_LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"
SKOS_ALT_LABEL = "<http://www.w3.org/2004/02/skos/core#altLabel>"
OWL_SAME_AS = "<http://www.w3.org/2002/07/owl#sameAs>"
RDF_TYPE = f"<{RDF}type>"

_NT_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
_NT_TABLE = {c: _NT_ESCAPES.get(c, f"\\u{c:04X}") for c in [*range(0x20), 0x22, 0x5C, 0x7F]}
# IRIREF excludes these; percent-encoding our own segments keeps them out, the base is checked
_IRI_FORBIDDEN = re.compile(r'[\x00-\x20<>"{}|^`\\]')


def nt_escape(text: str) -> str:
    """The body of an N-Triples string literal (canonical form, see the module docstring)."""
    return text.translate(_NT_TABLE)


def nt_literal(value: Any, datatype: str | None = None) -> str:
    """``"value"`` or ``"value"^^<datatype>``; a datatype without namespace is an XSD name."""
    body = f'"{nt_escape(str(value))}"'
    if datatype is None:
        return body
    return f"{body}^^<{datatype if ':' in datatype else XSD + datatype}>"


_DATE_FORMS = ((re.compile(r"\d{4}"), "gYear"), (re.compile(r"\d{4}-(0[1-9]|1[0-2])"), "gYearMonth"))
_NUMBER_FORMS = ((re.compile(r"[+-]?\d+"), "integer"), (re.compile(r"[+-]?(\d+\.\d*|\.\d+)"), "decimal"),
                 (re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+"), "double"))


def literal_datatype(value: str, object_type: str | None) -> str | None:
    """XSD datatype for a literal edge's value, or None where the text is no valid lexical
    form of the type ``object_type`` names (then it stays a plain string)."""
    text = value.strip()
    if text != value:
        return None
    if object_type == "date":
        for pattern, name in _DATE_FORMS:
            if pattern.fullmatch(text):
                return name
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                date.fromisoformat(text)
            except ValueError:
                return None
            return "date"
    elif object_type == "number":
        for pattern, name in _NUMBER_FORMS:
            if pattern.fullmatch(text):
                return name
    return None


@dataclass(frozen=True)
class IriScheme:
    """The IRIs of one export (see the module docstring)."""
    base: str

    def __post_init__(self):
        parts = urlsplit(self.base)
        if not (parts.scheme and parts.netloc) or _IRI_FORBIDDEN.search(self.base) \
                or not self.base.endswith(("/", "#")):
            raise ExportError(f"export.iri_base must be an absolute IRI ending in '/' or '#' without spaces, "
                              f"quotes, <>{{}}|^` or backslashes; got {self.base!r}")

    def _iri(self, kind: str, segment: str) -> str:
        return f"<{self.base}{kind}/{quote(str(segment), safe='')}>"

    def entity(self, entity_id: str) -> str:
        return self._iri("entity", entity_id)

    def predicate(self, predicate: str) -> str:
        return self._iri("predicate", predicate)

    def entity_type(self, entity_type: str) -> str:
        return self._iri("type", entity_type)

    def edge(self, edge_id: str) -> str:
        return self._iri("edge", edge_id)

    def qualifier(self, key: str) -> str:
        return self._iri("qualifier", key)

    def schema(self, name: str) -> str:
        return self._iri("schema", name)


def entity_triples(row: Mapping[str, Any], scheme: IriScheme) -> list[str]:
    subject = scheme.entity(row["entity_id"])
    name = row["canonical_name"]
    lines = [f"{subject} {RDF_TYPE} {scheme.schema('Entity')} ."]
    if row.get("entity_type"):
        lines.append(f"{subject} {RDF_TYPE} {scheme.entity_type(row['entity_type'])} .")
    lines.append(f"{subject} {RDFS_LABEL} {nt_literal(name)} .")
    aliases = {a["alias"] for a in row.get("aliases") or () if a.get("alias") is not None} - {name}
    lines.extend(f"{subject} {SKOS_ALT_LABEL} {nt_literal(alias)} ." for alias in sorted(aliases))
    if row.get("wiki_title"):
        lines.append(f"{subject} {OWL_SAME_AS} <{wikipedia_url(row['wiki_title'])}> .")
    if row.get("mention_count") is not None:
        lines.append(f"{subject} {scheme.schema('mentionCount')} {nt_literal(row['mention_count'], 'integer')} .")
    return lines


def edge_triples(row: Mapping[str, Any], scheme: IriScheme) -> list[str]:
    """The fact, and the statement node where the edge is inferred or qualified (an
    :func:`edge_row`)."""
    subject, predicate = scheme.entity(row["subject_id"]), scheme.predicate(row["predicate"])
    if row["object_id"] is not None:
        obj = scheme.entity(row["object_id"])
    else:
        obj = nt_literal(row["object_literal"], literal_datatype(row["object_literal"], row["object_type"]))
    lines = [f"{subject} {predicate} {obj} ."]
    qualifiers = qualifier_pairs(row.get("qualifiers"))
    if not (row["inferred"] or qualifiers):
        return lines
    node = scheme.edge(row["edge_id"])
    lines += [f"{node} {RDF_TYPE} <{RDF}Statement> .", f"{node} <{RDF}subject> {subject} .",
              f"{node} <{RDF}predicate> {predicate} .", f"{node} <{RDF}object> {obj} ."]
    if row.get("confidence") is not None:
        lines.append(f"{node} {scheme.schema('confidence')} {nt_literal(repr(float(row['confidence'])), 'double')} .")
    lines.extend(f"{node} {scheme.qualifier(key)} {nt_literal(value)} ." for key, value in qualifiers)
    if row["inferred"]:
        lines.append(f"{node} {RDF_TYPE} {scheme.schema('InferredStatement')} .")
        if row.get("rule") is not None:
            lines.append(f"{node} {scheme.schema('rule')} {nt_literal(row['rule'])} .")
        if row.get("depth") is not None:
            lines.append(f"{node} {scheme.schema('depth')} {nt_literal(row['depth'], 'integer')} .")
        lines.extend(f"{node} {scheme.schema('derivedFrom')} {scheme.edge(premise)} ."
                     for premise in row.get("supporting_edge_ids") or ())
    return lines


# --------------------------------------------------------------------------- Neo4j

ARRAY_DELIMITER = "\x1f"
NEO4J_IMPORT_OPTIONS = ("--array-delimiter=U+001F", "--multiline-fields=true")
ENTITY_LABELS = {"PER": "Person", "ORG": "Organization", "LOC": "Location", "MISC": "Misc"}

#: (property name or None, neo4j-admin field type or None) per column, in file order
ENTITY_COLUMNS = (("entity_id", "ID"), (None, "LABEL"), ("name", None), ("entity_type", None),
                  ("wiki_title", None), ("wiki_url", None), ("aliases", "string[]"), ("alias_counts", "long[]"),
                  ("mention_count", "long"), ("first_seen", "datetime"), ("last_seen", "datetime"))
LITERAL_COLUMNS = (("literal_id", "ID"), (None, "LABEL"), ("value", None), ("value_type", None))
RELATIONSHIP_COLUMNS = ((None, "START_ID"), (None, "END_ID"), (None, "TYPE"), ("edge_id", None),
                        ("predicate", None), ("inferred", "boolean"), ("confidence", "double"),
                        ("support_count", "long"), ("evidence_count", "long"), ("first_seen", "datetime"),
                        ("last_seen", "datetime"), ("qualifiers", "string[]"), ("evidence_doc_ids", "string[]"),
                        ("evidence_sentences", "string[]"), ("rule", None), ("depth", "int"),
                        ("supporting_edge_ids", "string[]"))


def neo4j_header(columns: Iterable[tuple[str | None, str | None]]) -> str:
    """``entity_id:ID,:LABEL,name,...``: the header line of a neo4j-admin data source."""
    return ",".join(f"{name or ''}{':' + kind if kind else ''}" for name, kind in columns)


class Neo4jArray(tuple):
    """An array property value (joined with :data:`ARRAY_DELIMITER`)."""


def csv_field(value: Any) -> str:
    """One field as neo4j-admin reads it: null empty, strings quoted with ``"`` doubled,
    numbers and booleans bare, datetimes ISO 8601, arrays joined (see module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Java's Double.parseDouble spelling of the non-finite values
        return repr(value) if math.isfinite(value) else ("NaN" if math.isnan(value) else
                                                        ("Infinity" if value > 0 else "-Infinity"))
    if isinstance(value, Neo4jArray):
        if not value:
            return ""
        value = ARRAY_DELIMITER.join(_array_element(v) for v in value)
    elif isinstance(value, (datetime, date)):
        value = value.isoformat()
    return '"' + str(value).replace('"', '""') + '"'


def _array_element(value: Any) -> str:
    # arrays cannot hold nulls; "" keeps parallel arrays (evidence doc ids and sentences) aligned
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace(ARRAY_DELIMITER, "\ufffd")


def csv_record(values: Iterable[Any]) -> str:
    return ",".join(csv_field(v) for v in values)


def relationship_type(predicate: str) -> str:
    """``born in`` -> ``BORN_IN``: Neo4j's relationship-type convention (letters of any script kept)."""
    return re.sub(r"[\W_]+", "_", predicate).strip("_").upper() or "RELATED_TO"


def entity_labels(entity_type: str | None) -> Neo4jArray:
    if not entity_type:
        return Neo4jArray(["Entity"])
    return Neo4jArray(["Entity", ENTITY_LABELS.get(entity_type) or relationship_type(entity_type).title()])


def entity_node_record(row: Mapping[str, Any]) -> str:
    aliases = [a for a in row.get("aliases") or () if a.get("alias") is not None]
    return csv_record([row["entity_id"], entity_labels(row.get("entity_type")), row["canonical_name"],
                       row.get("entity_type"), row.get("wiki_title"),
                       wikipedia_url(row["wiki_title"]) if row.get("wiki_title") else None,
                       Neo4jArray(a["alias"] for a in aliases), Neo4jArray(a["count"] for a in aliases),
                       row.get("mention_count"), row.get("first_seen"), row.get("last_seen")])


def literal_node_record(row: Mapping[str, Any]) -> str:
    """A ``Literal`` node from an (object_type, object_literal) row."""
    return csv_record([literal_node_id(row["object_type"], row["object_literal"]), Neo4jArray(["Literal"]),
                       row["object_literal"], row["object_type"]])


def relationship_record(row: Mapping[str, Any]) -> str:
    """A relationship from an :func:`edge_row`."""
    end = row["object_id"] if row["object_id"] is not None else literal_node_id(row["object_type"],
                                                                               row["object_literal"])
    evidence = row.get("evidence") or ()
    return csv_record([row["subject_id"], end, relationship_type(row["predicate"]), row["edge_id"],
                       row["predicate"], row["inferred"], row.get("confidence"), row.get("support_count"),
                       row.get("evidence_count"), row.get("first_seen"), row.get("last_seen"),
                       Neo4jArray(f"{k}={v}" for k, v in qualifier_pairs(row.get("qualifiers"))),
                       Neo4jArray(e.get("doc_id") for e in evidence),
                       Neo4jArray(e.get("sentence_text") for e in evidence),
                       row.get("rule"), row.get("depth"), Neo4jArray(row.get("supporting_edge_ids") or ())])


def neo4j_import_script(node_groups: Iterable[tuple[str, str]],
                        relationship_groups: Iterable[tuple[str, str]]) -> str:
    """``import.sh``: the ``neo4j-admin database import full`` command for (header file,
    part-file regex) groups, paths relative to the export folder."""
    args = [*NEO4J_IMPORT_OPTIONS]
    args += [f"--nodes={header},{shlex.quote(parts)}" for header, parts in node_groups]
    args += [f"--relationships={header},{shlex.quote(parts)}" for header, parts in relationship_groups]
    options = " \\\n    ".join(args)
    return f"""#!/bin/sh
# Load this kgpipe export into a new, empty Neo4j 5 database with the offline importer.
#   sh import.sh [DATABASE]        (default database: neo4j)
# Set NEO4J_ADMIN to the neo4j-admin of your installation (default: neo4j-admin on PATH);
# the database must not exist yet (or add --overwrite-destination=true), then run
# CREATE DATABASE <name> unless it is the default one.
# Arrays are joined with U+001F (the default ';' occurs in names and sentences) and values
# may span lines; the header files name every property and its type.
set -e
cd "$(dirname "$0")"
"${{NEO4J_ADMIN:-neo4j-admin}}" database import full "${{1:-neo4j}}" \\
    {options}
"""


# --------------------------------------------------------------------------- GraphML

GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
#: (key id, for, attr.name, attr.type)
GRAPHML_KEYS = (
    ("n_kind", "node", "kind", "string"), ("n_name", "node", "name", "string"),
    ("n_entity_type", "node", "entity_type", "string"), ("n_wiki_title", "node", "wiki_title", "string"),
    ("n_aliases", "node", "aliases", "string"), ("n_mention_count", "node", "mention_count", "long"),
    ("n_first_seen", "node", "first_seen", "string"), ("n_last_seen", "node", "last_seen", "string"),
    ("n_value", "node", "value", "string"), ("n_value_type", "node", "value_type", "string"),
    ("e_predicate", "edge", "predicate", "string"), ("e_inferred", "edge", "inferred", "boolean"),
    ("e_confidence", "edge", "confidence", "double"), ("e_support_count", "edge", "support_count", "long"),
    ("e_evidence_count", "edge", "evidence_count", "long"), ("e_first_seen", "edge", "first_seen", "string"),
    ("e_last_seen", "edge", "last_seen", "string"), ("e_qualifiers", "edge", "qualifiers", "string"),
    ("e_evidence", "edge", "evidence", "string"), ("e_rule", "edge", "rule", "string"),
    ("e_depth", "edge", "depth", "int"), ("e_supporting_edge_ids", "edge", "supporting_edge_ids", "string"),
)
_XML_UNREPRESENTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_XML_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_XML_ATTRIBUTE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                "\r": "&#13;", "\n": "&#10;", "\t": "&#9;"})


def xml_escape(value: Any, attribute: bool = False) -> str:
    """Text (or a double-quoted attribute value) that an XML 1.0 parser reads back unchanged,
    but for the characters XML cannot carry at all, which become U+FFFD."""
    text = _XML_UNREPRESENTABLE.sub("\ufffd", str(value))
    return text.translate(_XML_ATTRIBUTE if attribute else _XML_TEXT)


def graphml_header() -> str:
    keys = "".join(f'  <key id="{key}" for="{domain}" attr.name="{name}" attr.type="{kind}"/>\n'
                   for key, domain, name, kind in GRAPHML_KEYS)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<graphml xmlns="{GRAPHML_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"\n'
            f'  xsi:schemaLocation="{GRAPHML_NS} {GRAPHML_NS}/1.0/graphml.xsd">\n'
            f'{keys}  <graph id="kgpipe" edgedefault="directed">\n')


GRAPHML_FOOTER = "  </graph>\n</graphml>\n"


def _graphml_data(values: Iterable[tuple[str, Any]]) -> str:
    out = []
    for key, value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (datetime, date)):
            value = value.isoformat()
        out.append(f'<data key="{key}">{xml_escape(value)}</data>')
    return "".join(out)


def _json(value: Any) -> str | None:
    return json.dumps(value, ensure_ascii=False, default=_iso) if value else None


def graphml_entity(row: Mapping[str, Any]) -> str:
    aliases = [{"alias": a["alias"], "count": a.get("count")} for a in row.get("aliases") or ()]
    data = _graphml_data([("n_kind", "entity"), ("n_name", row["canonical_name"]),
                          ("n_entity_type", row.get("entity_type")), ("n_wiki_title", row.get("wiki_title")),
                          ("n_aliases", _json(aliases)), ("n_mention_count", row.get("mention_count")),
                          ("n_first_seen", row.get("first_seen")), ("n_last_seen", row.get("last_seen"))])
    return f'    <node id="{xml_escape(row["entity_id"], True)}">{data}</node>\n'


def graphml_literal(object_type: str | None, value: str) -> str:
    data = _graphml_data([("n_kind", "literal"), ("n_value", value), ("n_value_type", object_type)])
    return f'    <node id="{xml_escape(literal_node_id(object_type, value), True)}">{data}</node>\n'


def graphml_edge(row: Mapping[str, Any]) -> str:
    """An edge from an :func:`edge_row` (literal targets: see :func:`graphml_literal`)."""
    target = row["object_id"] if row["object_id"] is not None else literal_node_id(row["object_type"],
                                                                                  row["object_literal"])
    qualifiers = dict(qualifier_pairs(row.get("qualifiers")))
    data = _graphml_data([
        ("e_predicate", row["predicate"]), ("e_inferred", row["inferred"]), ("e_confidence", row.get("confidence")),
        ("e_support_count", row.get("support_count")), ("e_evidence_count", row.get("evidence_count")),
        ("e_first_seen", row.get("first_seen")), ("e_last_seen", row.get("last_seen")),
        ("e_qualifiers", _json(qualifiers)), ("e_evidence", _json(row.get("evidence"))),
        ("e_rule", row.get("rule")), ("e_depth", row.get("depth")),
        ("e_supporting_edge_ids", _json(row.get("supporting_edge_ids")))])
    return (f'    <edge id="{xml_escape(row["edge_id"], True)}" source="{xml_escape(row["subject_id"], True)}" '
            f'target="{xml_escape(target, True)}">{data}</edge>\n')
