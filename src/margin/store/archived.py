"""Reads of raw facts over archived months are refused, never answered short.

``margin archive`` (``margin.store.archive``) moves whole months of signals, costs and
events to Parquet files and drops them from the database; the rollups stay, so reports of
cost and signal counts still answer for those months. Anything that needs the raw rows of a
month — a list, an export, an invoice's exact counts, a meter, a re-pricing — would answer
without them: a silent zero in a billing product. ``refuse_archived`` is the one check those
readers make first. It raises ``ArchivedRange``, a ``Refusal`` with status 409: the request
is well formed, but the store no longer holds what it asks about (the state of the store,
not the input, is what conflicts), and the problem names the field carrying the range, the
archived months it reaches and where their rows are.

The check reads ``fact_archives`` (a few rows per archived month) on every call: nothing is
cached, so a read right after an archive run is refused in every process. SQLite never
archives; its ``fact_archives`` is empty.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from margin._calendar import period_of
from margin._refusal import Refusal
from margin.store.archive import fact_archives

__all__ = ["ArchivedRange", "archived_months", "refuse_archived", "within"]

# The range of times a period can name (1970 … 2199), as µs.
_FIRST, _LAST = 0, 7_258_118_399_999_999


class ArchivedRange(Refusal):
    """A read of raw facts over months whose rows ``margin archive`` moved to Parquet."""

    def __init__(self, field: str, months: list[str]) -> None:
        span = months[0] if len(months) == 1 else f"{months[0]} … {months[-1]}"
        super().__init__(
            409,
            f"{field}: the raw facts of {span} are archived (margin archive moved them to "
            "Parquet files, listed in fact_archives); read those months from the files, or "
            "ask for a range after them (reports of cost and signal counts still answer "
            "from the rollups)",
            field,
        )
        self.months = months


def _periods(lo: int | None, hi: int | None) -> tuple[str, str] | None:
    """The first and last month [lo, hi) reaches (None is open); None when it is empty."""
    first = _FIRST if lo is None else min(max(lo, _FIRST), _LAST)
    last = _LAST if hi is None else min(max(hi - 1, _FIRST), _LAST)
    if last < first:
        return None
    return period_of(first), period_of(last)


def archived_months(conn: Connection, lo: int | None, hi: int | None) -> list[str]:
    """The archived months (``YYYY-MM``, sorted) that [lo, hi) reaches; None is open."""
    span = _periods(lo, hi)
    if span is None:
        return []
    t = fact_archives
    rows = conn.execute(
        select(t.c.period).distinct().where(t.c.period >= span[0], t.c.period <= span[1])
    ).scalars()
    return sorted(rows)


def within(months: list[str], lo: int, hi: int) -> list[str]:
    """The months of ``months`` (as ``archived_months`` lists them) that [lo, hi) reaches."""
    span = _periods(lo, hi)
    return [] if span is None else [m for m in months if span[0] <= m <= span[1]]


def refuse_archived(conn: Connection, lo: int | None, hi: int | None, field: str) -> None:
    """Raise ``ArchivedRange`` naming ``field`` when [lo, hi) reaches an archived month."""
    months = archived_months(conn, lo, hi)
    if months:
        raise ArchivedRange(field, months)
