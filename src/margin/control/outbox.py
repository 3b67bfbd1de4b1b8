"""Webhook endpoints and the outbox their messages wait in.

``emit`` writes one message and a pending delivery per enabled endpoint that wants the
event type, through the caller's connection: in the same transaction as the change that
caused it, so a message exists exactly when its cause was committed. ``margin.control
.delivery`` sends them. Secrets are Standard Webhooks secrets (``whsec_`` + base64 of 24
random bytes); a rotation keeps the previous secret signing beside the new one for a while.
"""

from __future__ import annotations

import base64
import secrets
from typing import Annotated, Any

from pydantic import Field, field_validator
from sqlalchemy import Connection, select, update

from margin._ids import new_id
from margin._storable import Storable
from margin._time import isoformat
from margin.control.errors import ControlError
from margin.store.schema_control import webhook_deliveries, webhook_endpoints, webhook_messages

__all__ = [
    "EVENT_TYPES",
    "EndpointIn",
    "create_endpoint",
    "emit",
    "get_endpoint",
    "list_endpoints",
    "render_endpoint",
    "replay",
    "rotate_secret",
    "set_enabled",
]

EVENT_TYPES = (
    "alert.triggered",
    "alert.resolved",
    "entitlement.exhausted",
    "credits.low",
    "invoice.finalized",
    "invoice.voided",
)
#: How long a rotated-out secret keeps signing beside the new one (µs): a day.
ROTATION_OVERLAP_US = 24 * 3600 * 1_000_000


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class EndpointIn(Storable):
    url: Annotated[str, Field(min_length=8, max_length=2048)]
    event_types: list[str] = Field(default_factory=lambda: list(EVENT_TYPES), min_length=1)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// URL")
        return value

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}")
        return sorted(set(value))


def create_endpoint(conn: Connection, org_id: str, body: EndpointIn, now: int) -> dict[str, Any]:
    row = {
        "id": new_id("whe"),
        "org_id": org_id,
        "url": body.url,
        "event_types": body.event_types,
        "secret": new_secret(),
        "previous_secret": None,
        "previous_until": None,
        "enabled": True,
        "failure_streak": 0,
        "disabled_reason": None,
        "created_at": now,
    }
    conn.execute(webhook_endpoints.insert().values(**row))
    return row


def get_endpoint(conn: Connection, org_id: str, endpoint_id: str) -> dict[str, Any]:
    w = webhook_endpoints
    row = conn.execute(select(w).where(w.c.org_id == org_id, w.c.id == endpoint_id)).first()
    if row is None:
        raise ControlError(404, f"no webhook endpoint '{endpoint_id}'", "endpoint_id")
    return dict(row._mapping)


def list_endpoints(conn: Connection, org_id: str) -> list[dict[str, Any]]:
    w = webhook_endpoints
    rows = conn.execute(select(w).where(w.c.org_id == org_id).order_by(w.c.created_at, w.c.id))
    return [dict(r._mapping) for r in rows]


def rotate_secret(conn: Connection, org_id: str, endpoint_id: str, now: int) -> dict[str, Any]:
    row = get_endpoint(conn, org_id, endpoint_id)
    values = {
        "secret": new_secret(),
        "previous_secret": row["secret"],
        "previous_until": now + ROTATION_OVERLAP_US,
    }
    w = webhook_endpoints
    conn.execute(update(w).where(w.c.id == endpoint_id).values(**values))
    return {**row, **values}


def set_enabled(conn: Connection, org_id: str, endpoint_id: str, enabled: bool) -> dict[str, Any]:
    row = get_endpoint(conn, org_id, endpoint_id)
    values: dict[str, Any] = {"enabled": enabled, "failure_streak": 0, "disabled_reason": None}
    if not enabled:
        values["disabled_reason"] = "disabled by a user"
    w = webhook_endpoints
    conn.execute(update(w).where(w.c.id == endpoint_id).values(**values))
    return {**row, **values}


def render_endpoint(row: dict[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "url": row["url"],
        "event_types": row["event_types"],
        "enabled": row["enabled"],
        "failure_streak": row["failure_streak"],
        "disabled_reason": row["disabled_reason"],
        "created_at": isoformat(row["created_at"]),
    }
    if with_secret:
        out["secret"] = row["secret"]
    return out


def emit(
    conn: Connection, org_id: str, event_type: str, data: dict[str, Any], now: int
) -> str | None:
    """Queue an event for the organization's endpoints that want it; the message id, or
    None when no endpoint wants it (nothing is written then)."""
    w = webhook_endpoints
    targets = [
        r.id
        for r in conn.execute(
            select(w.c.id, w.c.event_types).where(w.c.org_id == org_id, w.c.enabled.is_(True))
        )
        if event_type in r.event_types
    ]
    if not targets:
        return None
    message_id = new_id("msg")
    payload = {"type": event_type, "timestamp": isoformat(now), "data": data}
    conn.execute(
        webhook_messages.insert().values(
            id=message_id, org_id=org_id, event_type=event_type, payload=payload, created_at=now
        )
    )
    conn.execute(
        webhook_deliveries.insert(),
        [
            {
                "id": new_id("whd"),
                "org_id": org_id,
                "message_id": message_id,
                "endpoint_id": endpoint_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "locked_until": 0,
                "last_status_code": None,
                "created_at": now,
                "delivered_at": None,
            }
            for endpoint_id in sorted(targets)
        ],
    )
    return message_id


def replay(conn: Connection, org_id: str, delivery_id: str, now: int) -> None:
    """Send a delivery again (whatever its state), as soon as a sender is free."""
    d = webhook_deliveries
    done = conn.execute(
        update(d)
        .where(d.c.org_id == org_id, d.c.id == delivery_id)
        .values(status="pending", next_attempt_at=now, locked_until=0)
    )
    if not done.rowcount:
        raise ControlError(404, f"no webhook delivery '{delivery_id}'", "delivery_id")
