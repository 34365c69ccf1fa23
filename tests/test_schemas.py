"""The schema module is the single source of truth; Spark types derive from it."""
from __future__ import annotations

import pyarrow as pa
import pytest

from schemas import TABLES, arrow_schema

EXPECTED_TABLES = {"documents", "links", "redirects", "rejects", "mentions", "triples_raw", "aliases",
                   "mention_entities", "entity_keys", "entities", "edges", "entity_stats", "inferred_edges",
                   "embeddings", "relation_embeddings", "labels", "infobox"}


def test_every_table_of_the_pipeline_is_defined():
    assert set(TABLES) == EXPECTED_TABLES


@pytest.mark.parametrize("name", sorted(EXPECTED_TABLES))
def test_each_column_has_a_meaning_and_each_table_a_version(name):
    schema = arrow_schema(name)
    assert schema.metadata[b"kgpipe.table"] == name.encode()
    assert int(schema.metadata[b"kgpipe.version"]) >= 1
    assert len(set(schema.names)) == len(schema.names)
    for field in schema:
        assert len(field.metadata[b"meaning"]) > 5, field.name


def test_spark_struct_types_derive_from_arrow():
    pytest.importorskip("pyspark")
    from pyspark.sql import types as T

    from schemas.spark import spark_schema
    docs = spark_schema("documents")
    assert docs.fieldNames() == arrow_schema("documents").names
    assert docs["doc_id"].nullable is False and docs["title"].nullable is True
    assert docs["source_timestamp"].dataType == T.TimestampType()
    assert docs["paragraphs"].dataType.elementType["level"].dataType == T.ByteType()
    edges = spark_schema("edges")
    assert edges["qualifiers"].dataType == T.MapType(T.StringType(), T.StringType())
    assert arrow_schema("embeddings").field("vector").type == pa.list_(pa.float32())
