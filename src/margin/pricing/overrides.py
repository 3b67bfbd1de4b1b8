"""Tenant price overrides: negotiated rates that beat the catalog, and their storage service.

An override covers records whose provider is ``provider`` (``"*"``: any) and whose model is
``model_pattern`` as the catalog resolves names (its dated snapshots and aliases too), or
matches it as a glob (see ``model_names``), at times in ``[effective_from, effective_to)``.
It is a complete price list for those records, billed with the same nesting rule as the
catalog: a kind it does not price falls under its parent kind (cache reads without a
``cache_read`` rate are billed as ``input``, reasoning as ``output``). When several match,
the most specific wins: the record's own model name over another name of it, a model name
over a glob, a named provider over ``"*"``, then the latest ``effective_from``, then the
newest.

Callers that change overrides must call ``Pricer.invalidate(org_id)`` afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from margin._currency import currency_problem
from margin._ids import new_id
from margin._money import MoneyError, format_decimal, parse_amount
from margin._time import now_micros
from margin.pricing.calculator import PriceSheet, Unit, compile_terms
from margin.pricing.model_names import covers, is_glob
from margin.store.schema import price_overrides
from margin.usage import canonical_provider

__all__ = [
    "KINDS",
    "OverrideError",
    "PriceOverride",
    "check_override",
    "create_override",
    "delete_override",
    "get_override",
    "list_overrides",
    "load_overrides",
    "store_override",
]


def _u(name: str, source: str, per: int, **dims: str) -> Unit:
    return Unit(name, frozenset(dims.items()), source, per)


_M = 1_000_000
_TOK = {"family": "tokens"}
#: Usage kind → how it is counted. Token kinds are priced per million tokens; ``character`` per
#: million characters; the rest per unit (image, request, audio second, page, web search).
KINDS: dict[str, Unit] = {
    "input": _u("input", "input_tokens", _M, **_TOK, direction="input"),
    "output": _u("output", "output_tokens", _M, **_TOK, direction="output"),
    "cache_read": _u(
        "cache_read", "cache_read_tokens", _M, **_TOK, direction="input", token_type="cache_read"
    ),
    "cache_write": _u(
        "cache_write", "cache_write_tokens", _M, **_TOK, direction="input", token_type="cache_write"
    ),
    "cache_write_5m": _u(
        "cache_write_5m",
        "cache_write_5m_tokens",
        _M,
        **_TOK,
        direction="input",
        token_type="cache_write",
        cache_ttl="5m",
    ),
    "cache_write_1h": _u(
        "cache_write_1h",
        "cache_write_1h_tokens",
        _M,
        **_TOK,
        direction="input",
        token_type="cache_write",
        cache_ttl="1h",
    ),
    "reasoning": _u(
        "reasoning", "reasoning_tokens", _M, **_TOK, direction="output", token_type="reasoning"
    ),
    "input_audio": _u(
        "input_audio", "input_audio_tokens", _M, **_TOK, direction="input", modality="audio"
    ),
    "output_audio": _u(
        "output_audio", "output_audio_tokens", _M, **_TOK, direction="output", modality="audio"
    ),
    "input_image": _u(
        "input_image", "input_image_tokens", _M, **_TOK, direction="input", modality="image"
    ),
    "output_image": _u(
        "output_image", "output_image_tokens", _M, **_TOK, direction="output", modality="image"
    ),
    "input_video": _u(
        "input_video", "input_video_tokens", _M, **_TOK, direction="input", modality="video"
    ),
    "output_video": _u(
        "output_video", "output_video_tokens", _M, **_TOK, direction="output", modality="video"
    ),
    "image": _u("image", "images", 1, family="images"),
    "request": _u("request", "*request", 1, family="requests"),
    "audio_second": _u("audio_second", "audio_seconds", 1, family="durations"),
    "character": _u("character", "characters", _M, family="characters"),
    "page": _u("page", "pages", 1, family="pages"),
    "web_search": _u("web_search", "web_searches", 1, family="web_searches"),
}


class OverrideError(ValueError):
    """An invalid override; ``field`` names the offending input field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """One stored tenant price override."""

    id: str
    org_id: str
    provider: str
    model_pattern: str
    prices: dict[str, Decimal]
    currency: str
    effective_from: int
    effective_to: int | None
    note: str | None
    created_at: int

    def covers(self, provider: str | None, model: str) -> bool:
        """Whether this override is for ``model`` from ``provider`` (at some time)."""
        return covers(self.provider, self.model_pattern, provider, model)

    def active(self, at_us: int) -> bool:
        """Whether ``at_us`` falls in ``[effective_from, effective_to)``."""
        return self.effective_from <= at_us and (
            self.effective_to is None or at_us < self.effective_to
        )

    def matches(self, provider: str | None, model: str, at_us: int) -> bool:
        """Whether this override prices ``model`` from ``provider`` at ``at_us``."""
        return self.active(at_us) and self.covers(provider, model)

    def specificity(self, model: str) -> tuple[bool, bool, bool, int, int, str]:
        """How closely this override names ``model`` (of a record it covers): higher wins."""
        own = self.model_pattern.lower() == model.lower()
        named = not is_glob(self.model_pattern)
        return (own, named, self.provider != "*", self.effective_from, self.created_at, self.id)

    def sheet(self) -> PriceSheet:
        """The price this override sets, ready to apply."""
        entries = [(KINDS[kind], price, ()) for kind, price in self.prices.items()]
        return PriceSheet("override", self.currency, self.id, compile_terms(entries))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (amounts as decimal strings)."""
        return {
            "id": self.id,
            "provider": self.provider,
            "model": self.model_pattern,
            "prices": {k: format_decimal(v) for k, v in self.prices.items()},
            "currency": self.currency,
            "effective_from": self.effective_from,
            "effective_to": self.effective_to,
            "note": self.note,
            "created_at": self.created_at,
        }


def _from_row(row: Any) -> PriceOverride:
    m = row._mapping
    return PriceOverride(
        id=m["id"],
        org_id=m["org_id"],
        provider=m["provider"],
        model_pattern=m["model_pattern"],
        prices={k: Decimal(v) for k, v in m["prices"].items()},
        currency=m["currency"],
        effective_from=m["effective_from"],
        effective_to=m["effective_to"],
        note=m["note"],
        created_at=m["created_at"],
    )


def _text(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OverrideError(field, "is required")
    if len(value) > limit:
        raise OverrideError(field, f"must be at most {limit} characters")
    return value.strip()


def _prices(value: Any) -> dict[str, Decimal]:
    if not isinstance(value, Mapping) or not value:
        raise OverrideError("prices", "must be a non-empty object of usage kind → amount")
    out: dict[str, Decimal] = {}
    for kind, raw in value.items():
        if kind not in KINDS:
            raise OverrideError(f"prices.{kind}", f"unknown usage kind (one of {', '.join(KINDS)})")
        try:
            amount = parse_amount(raw)
        except MoneyError as exc:
            raise OverrideError(f"prices.{kind}", str(exc)) from None
        if amount < 0:
            raise OverrideError(f"prices.{kind}", "must not be negative")
        out[kind] = amount
    return out


def _micros(field: str, value: Any) -> int:
    if type(value) is not int or value < 0:
        raise OverrideError(field, "must be a non-negative integer of microseconds since the epoch")
    return value


def check_override(
    org_id: str,
    *,
    provider: str,
    model: str,
    prices: Mapping[str, Any],
    currency: str = "USD",
    effective_from: int | None = None,
    effective_to: int | None = None,
    note: str | None = None,
) -> PriceOverride:
    """The override these fields describe, validated but not stored; raises
    ``OverrideError`` (a ``ValueError``) naming the field. ``effective_from`` defaults to
    now."""
    provider_id = _text("provider", provider, 64)
    provider_id = "*" if provider_id == "*" else (canonical_provider(provider_id) or "")
    pattern = _text("model", model, 256)
    parsed = _prices(prices)
    if (problem := currency_problem(currency)) is not None:
        raise OverrideError("currency", problem)
    start = now_micros() if effective_from is None else _micros("effective_from", effective_from)
    end = None if effective_to is None else _micros("effective_to", effective_to)
    if end is not None and end <= start:
        raise OverrideError("effective_to", "must be after effective_from")
    if note is not None and (not isinstance(note, str) or len(note) > 512):
        raise OverrideError("note", "must be text of at most 512 characters")
    return PriceOverride(
        new_id("prc"),
        org_id,
        provider_id,
        pattern,
        parsed,
        currency,
        start,
        end,
        note,
        now_micros(),
    )


def store_override(db: Any, override: PriceOverride) -> PriceOverride:
    """Store an override made by ``check_override``."""
    with db.write() as conn:
        conn.execute(
            insert(price_overrides).values(
                id=override.id,
                org_id=override.org_id,
                provider=override.provider,
                model_pattern=override.model_pattern,
                prices={k: format_decimal(v) for k, v in override.prices.items()},
                currency=override.currency,
                effective_from=override.effective_from,
                effective_to=override.effective_to,
                note=override.note,
                created_at=override.created_at,
            )
        )
    return override


def create_override(db: Any, org_id: str, **fields: Any) -> PriceOverride:
    """Validate and store an override (``check_override``'s fields); raises
    ``OverrideError`` naming the field."""
    return store_override(db, check_override(org_id, **fields))


def load_overrides(conn: Connection, org_id: str) -> list[PriceOverride]:
    """All overrides of an organization, oldest first."""
    query = select(price_overrides).where(price_overrides.c.org_id == org_id)
    return [
        _from_row(r)
        for r in conn.execute(query.order_by(price_overrides.c.created_at, price_overrides.c.id))
    ]


def list_overrides(
    db: Any,
    org_id: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    at_us: int | None = None,
) -> list[PriceOverride]:
    """An organization's overrides, optionally only those that price a provider's model, or
    are for a provider, at a time."""
    with db.read() as conn:
        rows = load_overrides(conn, org_id)
    if model is not None:
        rows = [r for r in rows if r.covers(provider, model)]
    elif provider is not None:
        pid = canonical_provider(provider)
        rows = [r for r in rows if r.provider in ("*", pid)]
    if at_us is not None:
        rows = [r for r in rows if r.active(at_us)]
    return rows


def get_override(db: Any, org_id: str, override_id: str) -> PriceOverride | None:
    """One override of this organization (another tenant's id is ``None``)."""
    query = select(price_overrides).where(
        price_overrides.c.org_id == org_id, price_overrides.c.id == override_id
    )
    with db.read() as conn:
        row = conn.execute(query).first()
    return None if row is None else _from_row(row)


def delete_override(db: Any, org_id: str, override_id: str) -> bool:
    """Delete an override; ``False`` when this organization has no such override."""
    with db.write() as conn:
        result = conn.execute(
            delete(price_overrides).where(
                price_overrides.c.org_id == org_id, price_overrides.c.id == override_id
            )
        )
    return bool(result.rowcount)
