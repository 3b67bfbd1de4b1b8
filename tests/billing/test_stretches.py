"""Facts are put in their stretch (a window, a UTC day, a billing period's piece) either by a
CASE in SQL or, past a few hundred stretches, by their own time read back and placed here:
both give every value the same stretch, on both stores."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, literal, select, union_all

from margin.billing.facts import _SQL_STRETCHES, stretch_expr, stretch_start, stretches
from margin.store.db import Database

MICROS = st.integers(min_value=0, max_value=7_258_118_400_000_000)  # 1970 … 2200


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    starts=st.lists(MICROS, min_size=1, max_size=40, unique=True).map(sorted),
    values=st.lists(MICROS, min_size=1, max_size=20),
)
def test_sql_and_python_put_every_value_in_the_same_stretch(
    db: Database, starts: list[int], values: list[int]
) -> None:
    # Values before the first start belong to the first stretch, as in a CASE's first branch.
    rows = union_all(*[select(literal(v, BigInteger).label("v")) for v in values]).subquery()
    with db.read() as conn:
        found = conn.execute(select(rows.c.v, stretch_expr(rows.c.v, starts))).all()
    assert sorted((int(v), int(s)) for v, s in found) == sorted(
        (v, stretch_start(starts, v)) for v in values
    )


def test_many_stretches_are_told_apart_after_reading_rows_by_their_time(db: Database) -> None:
    day = 86_400_000_000
    starts = [n * day for n in range(_SQL_STRETCHES + 1)]
    column = literal(0, BigInteger)
    grouped, start_of = stretches(column, starts)
    assert grouped is column  # read as it is
    assert [start_of(v) for v in (-1, 0, day - 1, day, 3 * day + 5, 10**18)] == [
        0, 0, 0, day, 3 * day, starts[-1]
    ]  # fmt: skip
    few, as_read = stretches(column, starts[:_SQL_STRETCHES])
    assert few is not column  # the CASE gives the stretch
    assert as_read(7) == 7
