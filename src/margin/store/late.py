"""Late signals: a signal stored after its own month's invoice was finalized. The invoice of
the first later month not finalized before it arrived bills it (``margin.billing.rating``),
reading it from the store; ``margin.store.archive`` keeps its month until that one is final.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_

from margin.store.schema import invoices, signals

__all__ = ["stored_after_final"]


def stored_after_final() -> ColumnElement[bool]:
    """Joins a signal to the finalized invoice of its customer and month that was made before
    the signal was stored: the signals that join are late."""
    s, i = signals, invoices
    return and_(
        i.c.org_id == s.c.org_id,
        i.c.customer_id == s.c.customer_id,
        i.c.status == "finalized",
        s.c.ts >= i.c.period_start,
        s.c.ts < i.c.period_end,
        s.c.created_at > i.c.as_of,
    )
