"""Small store helpers the control services share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert_ignore"]


def insert_ignore(conn: Connection, table: Table, row: dict[str, Any]) -> bool:
    """Insert unless a unique key holds it already; whether this call inserted it."""
    dialect: Any = sqlite if conn.dialect.name == "sqlite" else postgresql
    key = next(iter(table.primary_key.columns))
    stmt = dialect.insert(table).values(**row).on_conflict_do_nothing().returning(key)
    # (rowcount is -1 for this statement under psycopg: RETURNING tells instead.)
    return conn.execute(stmt).first() is not None
