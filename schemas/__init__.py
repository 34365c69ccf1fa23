"""Single source of truth for table schemas; see ``schemas.tables``."""
from schemas.tables import TABLES, Column, TableSchema, arrow_schema, table

__all__ = ["TABLES", "Column", "TableSchema", "arrow_schema", "table"]
