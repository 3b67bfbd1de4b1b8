"""Paygentic's cost report (``GET /v0/costs/report``): the cost of every cost metric (Margin
cost meter) in one currency over a period, by metric (``cost``), ``customer`` or a
dimension; the first ``topN`` groups and the rest folded into "Other"."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from margin._money import format_decimal
from margin._time import isoformat
from margin.billing.meters import MeterStore, unit_cost
from margin.compat._common import principal
from margin.compat.paygentic.metrics import measure, period
from margin.compat.paygentic.models import CostReport
from margin.server.state import AppState
from margin.store.schema import customers

__all__ = ["register"]

From = Annotated[str, Query(alias="from")]


def register(router: APIRouter) -> None:
    """Add the report route to Paygentic's router."""

    @router.get("/costs/report", response_model=CostReport)
    def cost_report(
        request: Request,
        from_: From,
        to: str,
        group_by: Annotated[str, Query(alias="groupBy")],
        subject: str | None = None,
        currency: str | None = None,
        cost_id: Annotated[list[str] | None, Query(alias="costId")] = None,
        top_n: Annotated[int, Query(alias="topN", ge=1, le=25)] = 9,
        limit: Annotated[int, Query(ge=1, le=100)] = 25,
        offset: Annotated[int, Query(ge=0)] = 0,
        sort: str = "totalCost",
        sort_dir: Annotated[str, Query(alias="sortDir")] = "desc",
    ) -> CostReport:
        """Cost of every cost metric (or ``costId``) in one currency, by ``cost`` (metric),
        ``customer`` or a dimension; the first ``topN`` groups, the rest as "Other"."""
        who = principal(request, "read")
        lo, hi = period(from_, to)
        with AppState.of(request).db.read() as conn:
            meters = [m for m in MeterStore(conn, who.org_id).list() if m["kind"] == "cost"]
            if cost_id:
                meters = [m for m in meters if m["key"] in cost_id]
            chosen = (currency or (meters[0]["currency"] if meters else "USD")).upper()
            warnings = [
                f"cost metric '{m['key']}' is in {m['currency']}, not {chosen}: left out"
                for m in meters
                if m["currency"] != chosen
            ]
            totals: dict[str, list[Decimal]] = {}
            labels: dict[str, str] = {}
            dimensions = sorted({d for m in meters for d in m["group_by"]})
            for meter in (m for m in meters if m["currency"] == chosen):
                price = unit_cost(meter) or Decimal(0)
                if group_by == "cost":
                    result, _q = measure(conn, who.org_id, meter, lo, hi, subject=subject)
                    groups = {meter["key"]: result.total}
                    labels[meter["key"]] = meter["name"] or meter["key"]
                else:
                    dim = group_by if group_by != "customer" else "customer"
                    if dim != "customer" and dim not in meter["group_by"]:
                        continue
                    result, _q = measure(
                        conn, who.org_id, meter, lo, hi, subject=subject, group_by=[dim]
                    )
                    groups = {(k[0] or ""): agg for k, agg in result.groups.items()}
                for key, agg in groups.items():
                    quantity = agg.value() or Decimal(0)
                    acc = totals.setdefault(key, [Decimal(0), Decimal(0)])
                    acc[0] += quantity * price
                    acc[1] += quantity
            if group_by == "customer" and totals:
                rows = conn.execute(
                    customers.select().where(
                        customers.c.org_id == who.org_id, customers.c.id.in_(list(totals))
                    )
                )
                labels.update({r.id: r.external_id for r in rows})
        total_cost = sum((v[0] for v in totals.values()), Decimal(0))
        total_quantity = sum((v[1] for v in totals.values()), Decimal(0))
        index = 0 if sort == "totalCost" else 1
        ordered = sorted(
            totals.items(), key=lambda kv: (kv[1][index], kv[0]), reverse=sort_dir == "desc"
        )
        shown, rest = ordered[:top_n], ordered[top_n:]
        rows_out = [_group(k, labels.get(k, k), v, total_cost, False) for k, v in shown]
        if rest:
            other = [
                sum((v[0] for _, v in rest), Decimal(0)),
                sum((v[1] for _, v in rest), Decimal(0)),
            ]
            rows_out.append(_group("__other__", "Other", other, total_cost, True))
        return CostReport(
            currency=chosen,
            period={"from": isoformat(lo), "to": isoformat(hi)},
            group_by=group_by,
            total_cost=format_decimal(total_cost),
            total_quantity=format_decimal(total_quantity),
            groups=rows_out[offset : offset + limit],
            time_series=[],
            available_dimensions=["cost", "customer", *dimensions],
            warnings=warnings,
            group_count=len(rows_out),
            pagination={"total": len(rows_out), "limit": limit, "offset": offset},
        )


def _group(
    key: str, label: str, values: list[Decimal], total: Decimal, other: bool
) -> dict[str, Any]:
    share = (values[0] / total * 100).quantize(Decimal("0.01")) if total else Decimal(0)
    return {
        "key": key,
        "label": label,
        "totalCost": format_decimal(values[0]),
        "totalQuantity": format_decimal(values[1]),
        "percentOfTotal": format_decimal(share),
        "isOther": other,
    }
