"""Spark StructTypes derived from the Arrow definitions (never written twice)."""
from __future__ import annotations

from pyspark.sql import types as T
from pyspark.sql.pandas.types import from_arrow_schema

from schemas.tables import arrow_schema


def spark_schema(name: str) -> T.StructType:
    return from_arrow_schema(arrow_schema(name))
