"""What every table module shares: the one ``MetaData`` (with its naming convention) and
the column types of the schema's conventions (see ``margin.store.schema``)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, MetaData, String
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["Id", "Json", "Micros", "Nanos", "metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: JSON on SQLite, JSONB on PostgreSQL.
Json = JSON().with_variant(JSONB(), "postgresql")

Id = String(40)
Micros = BigInteger
Nanos = BigInteger
