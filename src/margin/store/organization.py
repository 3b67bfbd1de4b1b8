"""Organization settings: the reporting currency, the display name and the seller's details
printed on invoices.

An organization that never changed a setting has the defaults (reporting currency ``USD``,
no seller details); its display name is the ``organizations.name`` it was created with.
Every change is validated here, so the API and the CLI refuse the same input with the same
message, naming the field as the API spells it (``seller.address.1``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from margin._currency import currency_problem
from margin._time import now_micros
from margin.store.schema import organization_settings, organizations

__all__ = [
    "ADDRESS_LINES_MAX",
    "DEFAULT_REPORTING_CURRENCY",
    "EMAIL_MAX",
    "FIELDS",
    "LINE_MAX",
    "NAME_MAX",
    "TAX_ID_MAX",
    "OrganizationSettings",
    "Seller",
    "SettingsError",
    "check_text",
    "get_settings",
    "reporting_currency",
    "update_settings",
]

DEFAULT_REPORTING_CURRENCY = "USD"
NAME_MAX = 200
ADDRESS_LINES_MAX = 6
LINE_MAX = 200
EMAIL_MAX = 320
TAX_ID_MAX = 64

#: The settings a change may name (flat), and the field each is called in the API.
FIELDS = {
    "display_name": "display_name",
    "reporting_currency": "reporting_currency",
    "seller_legal_name": "seller.legal_name",
    "seller_address": "seller.address",
    "seller_email": "seller.email",
    "seller_tax_id": "seller.tax_id",
}


class SettingsError(ValueError):
    """A setting that cannot be stored; ``field`` names it as the API does."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Seller:
    """Who issues the invoices (all optional)."""

    legal_name: str | None = None
    address: tuple[str, ...] = ()
    email: str | None = None
    tax_id: str | None = None


@dataclass(frozen=True)
class OrganizationSettings:
    org_id: str
    display_name: str
    reporting_currency: str
    seller: Seller
    created_at: int
    #: When a setting last changed (None: never).
    updated_at: int | None


def check_text(value: object, max_length: int) -> str:
    """A single line of text: a string of at most ``max_length`` characters without control
    characters (NUL, line breaks, …) or lone surrogates. Raises ``ValueError``."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError(f"must not contain control characters (found U+{ord(char):04X})")
    return value


def get_settings(conn: Connection, org_id: str) -> OrganizationSettings | None:
    """The organization's settings (defaults where it set none); None for no such org."""
    o, s = organizations, organization_settings
    row = conn.execute(
        select(o.c.id, o.c.name, o.c.created_at, s)
        .select_from(o.outerjoin(s, s.c.org_id == o.c.id))
        .where(o.c.id == org_id)
    ).first()
    if row is None:
        return None
    return OrganizationSettings(
        org_id=row.id,
        display_name=row.name,
        reporting_currency=row.reporting_currency or DEFAULT_REPORTING_CURRENCY,
        seller=Seller(
            legal_name=row.seller_legal_name,
            address=tuple(row.seller_address or ()),
            email=row.seller_email,
            tax_id=row.seller_tax_id,
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def reporting_currency(conn: Connection, org_id: str) -> str:
    """The currency the organization's reports are converted to."""
    found = conn.execute(
        select(organization_settings.c.reporting_currency).where(
            organization_settings.c.org_id == org_id
        )
    ).scalar_one_or_none()
    return found or DEFAULT_REPORTING_CURRENCY


def update_settings(
    conn: Connection, org_id: str, changes: Mapping[str, Any]
) -> OrganizationSettings | None:
    """Apply ``changes`` (keys of ``FIELDS``; ``None`` clears an optional seller detail)
    after validating all of them: a ``SettingsError`` changes nothing. None for no such
    organization."""
    values = _validated(changes)
    current = get_settings(conn, org_id)
    if current is None or not values:
        return current
    if "display_name" in values:
        name = values.pop("display_name")
        conn.execute(update(organizations).where(organizations.c.id == org_id).values(name=name))
    values["updated_at"] = now_micros()
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(organization_settings).values(
        {"reporting_currency": current.reporting_currency, **values, "org_id": org_id}
    )
    conn.execute(stmt.on_conflict_do_update(index_elements=["org_id"], set_=values))
    return get_settings(conn, org_id)


def _validated(changes: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in changes.items():
        field = FIELDS.get(key)
        if field is None:
            raise SettingsError(key, "is not an organization setting")
        if value is None and key in ("display_name", "reporting_currency"):
            raise SettingsError(field, "must not be null")
        try:
            values[key] = _check(key, value)
        except SettingsError:
            raise
        except ValueError as exc:
            raise SettingsError(field, str(exc)) from None
    return values


def _check(key: str, value: Any) -> Any:
    if key == "reporting_currency":
        problem = currency_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value
    if value is None:
        return None
    if key == "seller_address":
        return _address(value)
    limit = {"display_name": NAME_MAX, "seller_email": EMAIL_MAX, "seller_tax_id": TAX_ID_MAX}
    text = check_text(value, limit.get(key, NAME_MAX)).strip()
    if key == "display_name" and not text:
        raise ValueError("must not be empty")
    if key == "seller_email" and text and not _looks_like_email(text):
        raise ValueError(f"{text!r} is not an email address")
    return text or None


def _address(value: Any) -> list[str] | None:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError("must be a list of address lines")
    if len(value) > ADDRESS_LINES_MAX:
        raise ValueError(f"must have at most {ADDRESS_LINES_MAX} lines")
    lines: list[str] = []
    for i, line in enumerate(value):
        try:
            lines.append(check_text(line, LINE_MAX).strip())
        except ValueError as exc:
            raise SettingsError(f"seller.address.{i}", str(exc)) from None
    kept = [line for line in lines if line]
    return kept or None


def _looks_like_email(text: str) -> bool:
    local, at, domain = text.partition("@")
    return bool(at and local and domain) and not any(c.isspace() or c == "@" for c in domain)
