"""one index for each OTLP cost's key and trace

A cost received over OTLP has a key that names its trace (``otlp:{trace_id}:…``). It was
inserted into two indexes at random places, the unique key index and the trace index; at a
store's working size that is a page written for each. Now one unique index, on
``(org_id, trace_id, idempotency_key)`` and holding only OTLP costs, keeps those keys unique
and finds them by trace. The other costs keep a unique key index and a trace index of their
own (both partial, ``source != 'otlp'``).

On SQLite the costs table is rebuilt (a unique constraint cannot be dropped in place).

Revision ID: 0008_otlp_cost_keys
Revises: 0007_cost_price_context
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_otlp_cost_keys"
down_revision = "0007_cost_price_context"
branch_labels = None
depends_on = None

_OTLP = sa.text("source = 'otlp'")
_NOT_OTLP = sa.text("source != 'otlp'")
_UNPRICED = sa.text("priced_by = 'unpriced'")
_ATTRIBUTED = sa.text("signal_id IS NOT NULL")


def _partial(name: str, columns: list[str], where: sa.TextClause, unique: bool = False) -> None:
    op.create_index(
        name, "costs", columns, unique=unique, sqlite_where=where, postgresql_where=where
    )


def _rebuild(change: str) -> None:
    # The partial indexes are dropped around SQLite's table rebuild and made again, so that
    # their predicates do not depend on how the rebuild reads them back.
    op.drop_index("ix_costs_unpriced", table_name="costs")
    op.drop_index("ix_costs_attributed", table_name="costs")
    with op.batch_alter_table("costs") as batch_op:
        if change == "drop":
            batch_op.drop_constraint("uq_costs_org_id_idempotency_key", type_="unique")
        else:
            batch_op.create_unique_constraint(
                "uq_costs_org_id_idempotency_key", ["org_id", "idempotency_key"]
            )
    _partial("ix_costs_unpriced", ["org_id", "ts"], _UNPRICED)
    _partial("ix_costs_attributed", ["org_id", "signal_id"], _ATTRIBUTED)


def upgrade() -> None:
    op.drop_index("ix_costs_org_id_trace_id", table_name="costs")
    _rebuild("drop")
    _partial("uq_costs_otlp", ["org_id", "trace_id", "idempotency_key"], _OTLP, unique=True)
    _partial("uq_costs_key", ["org_id", "idempotency_key"], _NOT_OTLP, unique=True)
    _partial("ix_costs_traced", ["org_id", "trace_id"], _NOT_OTLP)


def downgrade() -> None:
    op.drop_index("ix_costs_traced", table_name="costs")
    op.drop_index("uq_costs_key", table_name="costs")
    op.drop_index("uq_costs_otlp", table_name="costs")
    _rebuild("add")
    op.create_index("ix_costs_org_id_trace_id", "costs", ["org_id", "trace_id"])
