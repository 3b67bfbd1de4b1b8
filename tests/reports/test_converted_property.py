"""Properties of converted reports, whatever the facts, their currencies and awkward
exchange rates (every example is a new organization):

- they reconcile to the nano-unit: the summary's rows add up to its total, which is the
  margin report's total under every grouping and window, which is the overview's headline,
  which its parts, series, customers, sources, providers and models add up to; figures
  without a rate are left apart the same way everywhere;
- each row is its cells (every dimension × UTC day × currency × cost source, or revenue)
  converted one by one by ``margin.fx`` and added up, and the identity path (nothing in
  another currency) gives the same rows as converting every cell.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from margin._calendar import boundaries, load_zone
from margin._time import to_micros
from margin.fx.conversion import rate_table
from margin.reports.currency import Converter, day_cuts
from margin.reports.facts import DIMENSIONS, Filters, read_facts
from margin.reports.tables import build_table
from margin_testing import Api, make_tenant

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api as Fixture

DAYS = 8
START = datetime(2026, 10, 1, tzinfo=UTC)
PERIOD = {"from": "2026-10-01T00:00:00Z", "to": "2026-10-09T00:00:00Z"}
CURRENCIES = ("USD", "EUR", "GBP")
AWKWARD = ("1.0000000003", "0.3333333333", "1.0867", "0.9999999997", "3.1415926535", "0.0000007")
CUSTOMERS, AGENTS = ("c0", "c1", "c2"), ("a0", "a1")
MODELS = (None, ("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-x"))
GROUPINGS = (
    [],
    ["customer"],
    ["agent"],
    ["event_name"],
    ["provider"],
    ["model"],
    ["customer", "agent"],
    ["provider", "model"],
    ["customer", "model"],
)
_orgs = itertools.count()

minutes = st.integers(min_value=0, max_value=DAYS * 24 * 60 - 1)
signals = st.fixed_dictionaries(
    {
        "customer": st.sampled_from(CUSTOMERS),
        "agent": st.sampled_from((None, *AGENTS)),
        "event_name": st.sampled_from(("won", "lost")),
        "minute": minutes,
    }
)


def _worlds(currencies: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Facts, plans and rates whose amounts are in ``currencies``."""
    costs = st.fixed_dictionaries(
        {
            "customer": st.sampled_from((None, *CUSTOMERS)),
            "agent": st.sampled_from((None, *AGENTS)),
            "model": st.sampled_from(MODELS),
            "nanos": st.integers(min_value=1, max_value=10**8),
            "currency": st.sampled_from(currencies),
            "minute": minutes,
            # Attributed to that signal (its trace, customer and agent) when there is one.
            "signal": st.none() | st.integers(min_value=0, max_value=9),
        }
    )
    return st.fixed_dictionaries(
        {
            "plans": st.lists(st.sampled_from(currencies), min_size=3, max_size=3),
            "fee": st.booleans(),
            "rates": st.lists(st.sampled_from(AWKWARD), min_size=2 * DAYS, max_size=2 * DAYS),
            "inverse": st.booleans(),  # GBP rates stored as USD/GBP: used inverted
            "gap": st.booleans(),  # no rate for the first day: its foreign figures unconverted
            "signals": st.lists(signals, max_size=10),
            "costs": st.lists(costs, min_size=1, max_size=25),
            "metered": st.lists(st.tuples(st.sampled_from(CUSTOMERS), minutes), max_size=4),
            "meter_currency": st.sampled_from(currencies),
        }
    )


views = st.fixed_dictionaries(
    {
        "group_by": st.sampled_from(GROUPINGS),
        "window": st.sampled_from((None, "day", "week", "month")),
        "tz": st.sampled_from(("UTC", "Asia/Kolkata", "America/New_York")),
        "top": st.integers(min_value=1, max_value=4),
    }
)


def _ok(answer: Any) -> Any:
    assert answer.status_code in (200, 201), answer.text
    body = answer.json()
    assert not (isinstance(body, dict) and body.get("failed")), body
    return body


def _at(minute: int) -> str:
    return (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _nanos(n: int) -> str:
    return str(Decimal(n).scaleb(-9))


def _fresh(api: Fixture, world: dict[str, Any]) -> Api:
    """A new organization in the fixture's store holding ``world`` (each example its own)."""
    tenant = make_tenant(api.db, f"org{next(_orgs)}")
    fresh = Api(client=api.client, db=api.db, tenant=tenant, settings=api.settings)
    _build(fresh, world)
    return fresh


def _build(api: Api, world: dict[str, Any]) -> None:
    _ok(api.patch("/v1/organization", json={"reporting_currency": "USD"}))
    rates = []
    for day in range(1 if world["gap"] else 0, DAYS):
        date = (START + timedelta(days=day)).date().isoformat()
        gbp = world["rates"][DAYS + day]
        pair = ("USD", "GBP") if world["inverse"] else ("GBP", "USD")
        rates += [
            {"base": "EUR", "quote": "USD", "date": date, "rate": world["rates"][day]},
            {"base": pair[0], "quote": pair[1], "date": date, "rate": gbp},
        ]
    _ok(api.post("/v1/exchange-rates", json={"rates": rates}))
    for agent in AGENTS:
        _ok(api.post("/v1/agents", json={"external_id": agent}))
    fees = [{"key": "base", "amount": "9.99"}] if world["fee"] else []
    prices = [{"event_name": "won", "price": "0.07"}, {"event_name": "lost", "price": "1.13"}]
    for currency in sorted(set(world["plans"])):
        plan = {"key": currency, "currency": currency, "outcomes": prices, "fees": fees}
        _ok(api.post("/v1/plans", json=plan))
    for customer, currency in zip(CUSTOMERS, world["plans"], strict=True):
        _ok(api.post("/v1/customers", json={"external_id": customer}))
        order = {"customer": customer, "plan": currency, "starts_at": "2026-10-01"}
        _ok(api.post("/v1/orders", json=order))
    said = [
        {
            "customer": s["customer"],
            "agent": s["agent"],
            "event_name": s["event_name"],
            "timestamp": _at(s["minute"]),
            "trace_id": f"{i + 1:032x}",
            "cost_tracing": True,
            "idempotency_key": f"s{i}",
        }
        for i, s in enumerate(world["signals"])
    ]
    if said:
        _ok(api.post("/v1/signals", json={"items": said}, scope="ingest"))
    items = []
    for i, c in enumerate(world["costs"]):
        item = {
            "customer": c["customer"],
            "agent": c["agent"],
            "amount": _nanos(c["nanos"]),
            "currency": c["currency"],
            "timestamp": _at(c["minute"]),
            "idempotency_key": f"c{i}",
        }
        if c["model"] is not None:
            item["provider"], item["model"] = c["model"]
        if c["signal"] is not None and c["signal"] < len(said):
            signal = said[c["signal"]]
            item.update(trace_id=signal["trace_id"], customer=signal["customer"])
            item["agent"] = signal["agent"]
        items.append(item)
    _ok(api.post("/v1/costs", json={"items": items}, scope="ingest"))
    if world["metered"]:
        meter = {
            "key": "sms",
            "event_type": "cost.sms",
            "aggregation": "sum",
            "value_property": "$.n",
            "kind": "cost",
            "unit_cost": "0.0000013",
            "currency": world["meter_currency"],
        }
        _ok(api.post("/v1/meters", json=meter))
        events = [
            {"type": "cost.sms", "customer": who, "timestamp": _at(m), "data": {"n": 7 + m % 5}}
            for who, m in world["metered"]
        ]
        _ok(api.post("/v1/events", json={"items": events}, scope="ingest"))


def _get(api: Api, path: str, **params: Any) -> Any:
    answer = api.get(path, params={**PERIOD, **params}, scope="read")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _sum(rows: list[dict[str, Any]], name: str) -> Decimal:
    """The converted rows' ``name`` figures added (rows of signals only have no currency)."""
    shown = [r[name] for r in rows if r.get("currency") is not None and r[name] is not None]
    return sum((Decimal(value) for value in shown), Decimal(0))


def _left(rows: list[dict[str, Any]], name: str = "cost") -> dict[str, Decimal]:
    """The figures without a rate, per original currency, added over ``rows``."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        for item in row.get("unconverted", []):
            if item.get(name) is not None:
                out[item["currency"]] += Decimal(item[name])
    return dict(out)


def _figure(total: dict[str, Any] | None, name: str) -> Decimal:
    return Decimal(0) if total is None or total[name] is None else Decimal(total[name])


def _reconcile(api: Api, view: dict[str, Any]) -> None:
    base = _get(api, "/v1/reports/margin")
    assert [t["currency"] for t in base["totals"]] in ([], ["USD"])
    total = base["totals"][0] if base["totals"] else None
    cost, revenue = _figure(total, "cost"), _figure(total, "revenue")
    left = _left(base["totals"])
    assert left == _left(base["rows"])
    # The summary, by every dimension: its rows add up to its total, the margin report's.
    for group_by in ("customer", "agent", "event_name", "provider", "model"):
        summary = _get(api, "/v1/reports/summary", group_by=group_by)
        rows = summary["rows"]
        assert _sum(rows, "cost") == cost, group_by
        assert [Decimal(t["cost"]) for t in summary["totals"]] in ([], [cost]), group_by
        assert _left(summary["totals"]) == left == _left(rows), group_by
        if group_by not in ("provider", "model"):
            assert _sum(rows, "revenue") == revenue, group_by
    # The margin report as the view asks: the same totals, and rows that add up to them.
    params = {"group_by": view["group_by"], "tz": view["tz"]}
    if view["window"]:
        params["window"] = view["window"]
    report = _get(api, "/v1/reports/margin", **params)
    assert report["totals"] == base["totals"], params
    assert _sum(report["rows"], "cost") == cost, params
    assert _left(report["rows"]) == left, params
    if not {"provider", "model"} & set(view["group_by"]):
        assert _sum(report["rows"], "revenue") == revenue, params
    for row in report["rows"]:
        if row["cost"] is not None:
            parts = row["cost_by_source"].values()
            assert sum(Decimal(p) for p in parts) == Decimal(row["cost"]), row
    # One customer's figures are the same alone as in the table of all.
    by_customer = {
        r["label"]: r for r in _get(api, "/v1/reports/margin", group_by="customer")["rows"]
    }
    for who in CUSTOMERS[:1]:
        alone = _get(api, "/v1/reports/margin", customer=who)["totals"]
        if who in by_customer:
            [only] = alone
            for name in ("cost", "revenue", "profit"):
                assert only[name] == by_customer[who][name], (who, name)
    # The overview: its headline is the same total, and what it shows adds up to it.
    overview = _get(api, "/v1/reports/overview", tz=view["tz"], top=view["top"])
    head = overview["totals"][0] if overview["totals"] else None
    for name in ("cost", "revenue", "profit"):
        assert (head or {}).get(name) == (total or {}).get(name), name
    assert _left(overview["totals"]) == left
    if head is not None and head["profit"] is not None:
        assert sum(Decimal(p["amount"]) for p in head["parts"]) == Decimal(head["profit"])
    for shown in ("series", "top_customers"):
        assert _sum(overview[shown], "cost") == cost, shown
        assert _sum(overview[shown], "revenue") == revenue, shown
    for shown in ("top_agents", "cost_by_provider", "cost_by_model", "cost_by_source"):
        assert _sum(overview[shown], "cost") == cost, shown
    assert _sum(overview["cost_by_catalog_model"], "cost") == cost


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=_worlds(CURRENCIES), view=views)
def test_converted_reports_reconcile_to_the_nano_unit(
    api: Fixture, world: dict[str, Any], view: dict[str, Any]
) -> None:
    fresh = _fresh(api, world)
    _reconcile(fresh, view)


class _Converting(Converter):
    """A converter that never takes the identity path: every figure read by ``GRAIN`` per
    UTC day and converted cell by cell (at rate 1 for the reporting currency's own)."""

    def identity(self, lo: int, hi: int) -> bool:
        return False


def _cells_converted(
    conn: Any, org_id: str, lo: int, hi: int, dims: list[str], windows: list[int] | None
) -> dict[tuple[Any, ...], tuple[int, int, dict[str, list[int]]]]:
    """What a converted report by ``dims`` and (UTC) ``windows`` must show, worked out apart:
    every cell read as recorded (cost by every dimension, revenue by those it has), converted
    alone by ``margin.fx``, then added up per group and window — (cost, revenue, unconverted
    [cost, revenue] per currency) in nano-units."""
    cuts = sorted({lo, *(windows or []), *day_cuts(lo, hi)})
    rates = rate_table(conn, org_id, lo, hi)
    starts = windows or [lo]
    reads = [(DIMENSIONS, 0)]  # read by provider or model: costs only
    if not {"provider", "model"} & set(dims):
        reads.append((("customer", "agent", "event_name"), 1))
    sums: dict[tuple[Any, ...], list[Any]] = defaultdict(
        lambda: [0, 0, defaultdict(lambda: [0, 0])]
    )
    for names, at in reads:
        cells = read_facts(conn, org_id, lo, hi, names, Filters(), cuts)
        for key, row in cells.rows.items():
            grain, stretch, currency = key[:-2], key[-2], key[-1]
            if at == 1 and not row.has_revenue:
                continue
            amounts = list(row.sources.values()) if at == 0 else [row.revenue]
            window = max(s for s in starts if s <= stretch)
            into = sums[(*(grain[names.index(d)] for d in dims), window)]
            for nanos in amounts:
                found = rates.convert(nanos, currency, "USD", stretch)
                if found.amount_nanos is None:
                    into[2][currency][at] += nanos
                else:
                    into[at] += found.amount_nanos
    return {
        key: (cost, revenue, {c: pair for c, pair in sorted(left.items()) if any(pair)})
        for key, (cost, revenue, left) in sums.items()
    }


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=_worlds(CURRENCIES) | _worlds(("USD",)), view=views)
def test_each_row_is_its_cells_converted_one_by_one(
    api: Fixture, world: dict[str, Any], view: dict[str, Any]
) -> None:
    org_id = _fresh(api, world).tenant.org_id
    lo, hi = to_micros(START), to_micros(START + timedelta(days=DAYS))
    dims = view["group_by"]
    # UTC windows: no cell is cut, so each window holds whole cells.
    windows = boundaries(lo, hi, view["window"], load_zone("UTC")) if view["window"] else None
    with api.db.read() as conn:
        expected = _cells_converted(conn, org_id, lo, hi, dims, windows)
        tables = [
            build_table(conn, org_id, lo, hi, dims, Filters(), windows=windows, convert=c)
            for c in (
                Converter(conn, org_id, "USD"),
                _Converting(conn, org_id, "USD"),
            )
        ]
    # With every figure in USD the report reads its rows directly (the identity path): the
    # same rows as converting every cell at rate 1.
    assert tables[0] == tables[1]
    found = {
        (*r["group"], r["window"]): (r["cost"] or 0, r["revenue"] or 0, r["unconverted"])
        for r in tables[0]
    }
    assert found == expected
