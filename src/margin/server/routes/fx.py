"""``/v1/exchange-rates``: the organization's exchange rates — set, batch, import (CSV or
ECB XML), list, delete — and a conversion of one amount with them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, StringConstraints

from margin._money import MoneyError, format_decimal, from_nanos, parse_amount, to_nanos
from margin._storable import Storable
from margin._time import isoformat, now_micros
from margin.fx import (
    Conversion,
    Format,
    Rate,
    RateError,
    RateFileError,
    check_rate,
    convert,
    delete_rate,
    get_rate,
    import_rates,
    list_rates,
    parse_day,
    read_rates,
    set_rates,
)
from margin.fx.rates import SOURCE_MAX
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.params import time_param
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.keys import Principal
from margin.store.organization import check_text, reporting_currency

__all__ = ["router"]

router = APIRouter(prefix="/v1/exchange-rates", tags=["exchange rates"], route_class=ExactJsonRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]
Code = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
# A decimal keeps its characters: a space in it is refused, not trimmed (as in any amount).
DecimalText = Annotated[
    str, StringConstraints(strip_whitespace=False), Field(max_length=64, examples=["1.0867"])
]
DateText = Annotated[str, Field(max_length=10, examples=["2026-03-02"])]
Source = Annotated[str, Field(min_length=1, max_length=SOURCE_MAX)]
PathCode = Annotated[str, PathParam(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
PathDate = Annotated[str, PathParam(max_length=10, examples=["2026-03-02"])]
_MAX_BATCH = 10_000
_CODE = re.compile(r"[A-Z]{3}")


class RateOut(BaseModel):
    base: str = Field(description="One unit of this currency …")
    quote: str = Field(description="… buys `rate` units of this one.")
    date: str
    rate: str = Field(description="An exact decimal string.")
    source: str = Field(description="manual, csv, ecb or a label given when set.")
    created_at: str | None = Field(description="When this value was stored.")


class RateList(BaseModel):
    data: list[RateOut]
    next_cursor: str | None


class RateIn(Storable):
    rate: DecimalText = Field(description="A decimal string; JSON numbers are refused.")
    source: Source = "manual"


class RateItem(Storable):
    date: DateText
    base: Code
    quote: Code
    rate: DecimalText
    source: Source = "manual"


class RateBatch(Storable):
    rates: Annotated[list[RateItem], Field(min_length=1, max_length=_MAX_BATCH)]


class WrittenOut(BaseModel):
    created: int = Field(description="Pairs and dates that had no rate.")
    updated: int = Field(description="Rates replaced by a different value or source.")
    unchanged: int = Field(description="Rates already stored as given.")


class ImportOut(WrittenOut):
    format: Format
    rates: int
    first_date: str
    last_date: str
    currencies: list[str]


class ConversionOut(BaseModel):
    amount: str | None = Field(description="The converted amount; null when `missing`.")
    currency: str
    source_amount: str
    source_currency: str
    rate: str | None = Field(description="The rate applied (amount = source_amount × rate).")
    rate_date: str | None = Field(description="The date of the rate applied.")
    method: Literal["identity", "direct", "inverse", "cross"] | None
    via: str | None = Field(description="The common currency of a cross rate.")
    missing: bool = Field(description="True when no rate applies: the amount is not converted.")


def render_rate(rate: Rate) -> RateOut:
    return RateOut(
        base=rate.base,
        quote=rate.quote,
        date=rate.day.isoformat(),
        rate=format_decimal(rate.rate),
        source=rate.source,
        created_at=isoformat(rate.created_at) if rate.created_at is not None else None,
    )


def render_conversion(found: Conversion) -> ConversionOut:
    amount = found.amount_nanos
    return ConversionOut(
        amount=format_decimal(from_nanos(amount)) if amount is not None else None,
        currency=found.currency,
        source_amount=format_decimal(from_nanos(found.source_nanos)),
        source_currency=found.source_currency,
        rate=format_decimal(found.rate) if found.rate is not None else None,
        rate_date=found.rate_date.isoformat() if found.rate_date else None,
        method=found.method,
        via=found.via,
        missing=found.missing,
    )


def _rate(*fields: object) -> Rate:
    try:
        return check_rate(*fields)
    except RateError as exc:
        raise Problem(422, str(exc), field=exc.field) from None


def _day(text: str, field: str) -> dt.date:
    try:
        return parse_day(text, field)
    except RateError as exc:
        raise Problem(422, str(exc), field=exc.field) from None


def _key(base: str, quote: str, day: str) -> tuple[str, str, dt.date]:
    rate = _rate(base, quote, day, "1")
    return rate.base, rate.quote, rate.day


@router.get("", summary="List exchange rates, newest date first")
def list_(
    request: Request,
    principal: Reader,
    base: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    quote: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    currency: Annotated[
        str | None, Query(pattern=r"^[A-Z]{3}$", description="Rates naming it as base or quote.")
    ] = None,
    from_: Annotated[
        str | None, Query(alias="from", description="First date (YYYY-MM-DD).")
    ] = None,
    to: Annotated[str | None, Query(description="Last date, inclusive (YYYY-MM-DD).")] = None,
    source: Annotated[str | None, Query(max_length=SOURCE_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> RateList:
    after = None
    if cursor:
        day, b, q = [*cursor.split("/"), "", ""][:3]
        if not (_CODE.fullmatch(b) and _CODE.fullmatch(q)):
            raise Problem(422, "cursor: not a cursor this listing returned", field="cursor")
        after = (_day(day, "cursor"), b, q)
    if source is not None:
        try:
            check_text(source, SOURCE_MAX)
        except ValueError as exc:
            raise Problem(422, f"source: {exc}", field="source") from None
    with AppState.of(request).db.read() as conn:
        rows = list_rates(
            conn,
            principal.org_id,
            base=base,
            quote=quote,
            currencies=[currency] if currency else None,
            start=_day(from_, "from") if from_ else None,
            end=_day(to, "to") if to else None,
            source=source,
            after=after,
            limit=limit + 1,
        )
    page = rows[:limit]
    last = page[-1] if len(rows) > limit else None
    next_cursor = f"{last.day.isoformat()}/{last.base}/{last.quote}" if last else None
    return RateList(data=[render_rate(r) for r in page], next_cursor=next_cursor)


@router.post("", summary="Set many exchange rates (all or none)")
def set_many(body: RateBatch, request: Request, principal: Admin) -> WrittenOut:
    rates: dict[tuple[str, str, dt.date], Rate] = {}
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(body.rates):
        try:
            rate = check_rate(item.base, item.quote, item.date, item.rate, item.source)
        except RateError as exc:
            errors.append({"field": f"rates.{i}.{exc.field}", "detail": exc.message})
            continue
        key = (rate.base, rate.quote, rate.day)
        if key in rates and rates[key].rate != rate.rate:
            detail = f"a different rate for {rate.base}/{rate.quote} on {rate.day} above"
            errors.append({"field": f"rates.{i}.rate", "detail": detail})
        rates[key] = rate
    if errors:
        first = errors[0]
        raise Problem(
            422, f"{first['field']}: {first['detail']}", field=first["field"], errors=errors[:20]
        )
    with AppState.of(request).db.write() as conn:
        written = set_rates(conn, principal.org_id, list(rates.values()))
    return WrittenOut(created=written.created, updated=written.updated, unchanged=written.unchanged)


_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/xml": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/import",
    summary="Import a rate file: CSV (date,base,quote,rate) or the ECB's reference-rate XML",
    openapi_extra=_FILE_BODY,
)
def import_file(
    request: Request,
    principal: Admin,
    data: Annotated[bytes, Body(media_type="text/csv", include_in_schema=False)],
    format: Annotated[
        Format | None,
        Query(description="csv or ecb; default: from the content type, else the content."),
    ] = None,
) -> ImportOut:
    if format is None:
        kind = request.headers.get("content-type", "")
        format = "ecb" if "xml" in kind else "csv" if "csv" in kind else None
    try:
        file = read_rates(data, format)
    except RateFileError as exc:
        errors = [{"field": p.field, "where": p.where, "detail": p.message} for p in exc.problems]
        raise Problem(422, str(exc), field=exc.field, errors=errors) from None
    with AppState.of(request).db.write() as conn:
        done = import_rates(conn, principal.org_id, file)
    return ImportOut(
        format=done.format,
        rates=done.rates,
        created=done.created,
        updated=done.updated,
        unchanged=done.unchanged,
        first_date=done.first_date.isoformat(),
        last_date=done.last_date.isoformat(),
        currencies=list(done.currencies),
    )


@router.get("/convert", summary="Convert an amount with the organization's rates")
def convert_amount(
    request: Request,
    principal: Reader,
    amount: Annotated[str, Query(max_length=64, examples=["20.00"])],
    currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$", description="The amount's currency.")],
    to: Annotated[
        str | None,
        Query(pattern=r"^[A-Z]{3}$", description="Default: the reporting currency."),
    ] = None,
    at: Annotated[str | None, Query(description="Date or RFC 3339 time; default now.")] = None,
) -> ConversionOut:
    try:
        nanos = to_nanos(parse_amount(amount))
    except MoneyError as exc:
        raise Problem(422, f"amount: {exc}", field="amount") from None
    at_us = time_param(at, "at") if at else now_micros()
    with AppState.of(request).db.read() as conn:
        target = to or reporting_currency(conn, principal.org_id)
        return render_conversion(convert(conn, principal.org_id, nanos, currency, target, at_us))


@router.get("/{base}/{quote}/{date}", summary="Get the rate of a pair on a date")
def get(
    base: PathCode, quote: PathCode, date: PathDate, request: Request, principal: Reader
) -> RateOut:
    b, q, d = _key(base, quote, date)
    with AppState.of(request).db.read() as conn:
        found = get_rate(conn, principal.org_id, b, q, d)
    if found is None:
        raise Problem(404, f"no {b}/{q} rate on {d.isoformat()}", field="date")
    return render_rate(found)


@router.put(
    "/{base}/{quote}/{date}",
    summary="Set the rate of a pair on a date",
    responses={201: {"model": RateOut, "description": "Created: the pair had no rate that date."}},
)
def put(
    base: PathCode,
    quote: PathCode,
    date: PathDate,
    body: RateIn,
    request: Request,
    response: Response,
    principal: Admin,
) -> RateOut:
    """One unit of ``base`` buys ``rate`` units of ``quote`` on ``date``. Replaces the rate
    of that pair and date; 201 when there was none."""
    rate = _rate(base, quote, date, body.rate, body.source)
    with AppState.of(request).db.write() as conn:
        written = set_rates(conn, principal.org_id, [rate])
        stored = get_rate(conn, principal.org_id, rate.base, rate.quote, rate.day)
    assert stored is not None
    response.status_code = 201 if written.created else 200
    return render_rate(stored)


@router.delete("/{base}/{quote}/{date}", status_code=204, summary="Delete a rate")
def delete(
    base: PathCode, quote: PathCode, date: PathDate, request: Request, principal: Admin
) -> Response:
    b, q, d = _key(base, quote, date)
    with AppState.of(request).db.write() as conn:
        if not delete_rate(conn, principal.org_id, b, q, d):
            raise Problem(404, f"no {b}/{q} rate on {d.isoformat()}", field="date")
    return Response(status_code=204)
