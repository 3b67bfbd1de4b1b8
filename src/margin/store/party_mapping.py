"""An organization's party mapping: the span, resource or baggage attributes its agents
already set that name who a trace's AI cost is for (``enduser.id``, ``user.id``,
``tenant.id``…) and which agent made it (``service.name`` by default).

Margin's own keys (``margin.customer.external_id``…) and Paid's are always read first; the
mapped keys come after them, best first. Baggage reaches the server as span attributes
(OpenTelemetry's ``BaggageSpanProcessor`` copies each entry under its own key), so a
baggage key is mapped by that key. The API and the CLI change a mapping through
``set_mapping``, which refuses what it cannot store with the field named as the API does
(``customer_keys.1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from margin._time import now_micros
from margin.semconv import AGENT_KEYS, CUSTOMER_KEYS, DEFAULT_AGENT_KEYS
from margin.store.schema_party_mapping import party_mappings

__all__ = [
    "KEYS_MAX",
    "KEY_MAX",
    "MappingError",
    "PartyMapping",
    "get_mapping",
    "set_mapping",
]

#: The most keys a list may hold, and the longest key (characters).
KEYS_MAX = 16
KEY_MAX = 256


class MappingError(ValueError):
    """A mapping that cannot be stored; ``field`` names it as the API does."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PartyMapping:
    """The attribute keys an organization maps to its customers and agents, best first."""

    customer_keys: tuple[str, ...] = ()
    agent_keys: tuple[str, ...] = DEFAULT_AGENT_KEYS
    #: When it last changed (micros); None: never (the defaults).
    updated_at: int | None = None

    @property
    def span_customer_keys(self) -> tuple[str, ...]:
        """Every key naming a customer: Margin's and Paid's, then the mapped ones."""
        return CUSTOMER_KEYS + self.customer_keys

    @property
    def span_agent_keys(self) -> tuple[str, ...]:
        return AGENT_KEYS + self.agent_keys


def get_mapping(conn: Connection, org_id: str) -> PartyMapping:
    """The organization's mapping (the defaults if it never set one)."""
    row = conn.execute(select(party_mappings).where(party_mappings.c.org_id == org_id)).first()
    if row is None:
        return PartyMapping()
    return PartyMapping(tuple(row.customer_keys), tuple(row.agent_keys), row.updated_at)


def _keys(raw: Sequence[str], field: str) -> tuple[str, ...]:
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise MappingError(field, "must be a list of attribute names")
    if len(raw) > KEYS_MAX:
        raise MappingError(field, f"at most {KEYS_MAX} keys")
    out: list[str] = []
    for index, key in enumerate(raw):
        where = f"{field}.{index}"
        if not isinstance(key, str) or not key.strip():
            raise MappingError(where, "must be a non-empty attribute name")
        key = key.strip()
        if len(key) > KEY_MAX:
            raise MappingError(where, f"must be at most {KEY_MAX} characters")
        if "\x00" in key or not key.isprintable():
            raise MappingError(where, "must hold printable characters only")
        if key in out:
            raise MappingError(where, f"'{key}' is listed twice")
        out.append(key)
    return tuple(out)


def set_mapping(
    conn: Connection,
    org_id: str,
    customer_keys: Sequence[str] | None = None,
    agent_keys: Sequence[str] | None = None,
    now: int | None = None,
) -> PartyMapping:
    """Change the mapping (a list not given stays as it is; an empty list maps nothing);
    returns it as stored. Raises ``MappingError`` naming the first bad key."""
    current = get_mapping(conn, org_id)
    customers = (
        current.customer_keys if customer_keys is None else _keys(customer_keys, "customer_keys")
    )
    agents = current.agent_keys if agent_keys is None else _keys(agent_keys, "agent_keys")
    at = now_micros() if now is None else now
    values = {"customer_keys": list(customers), "agent_keys": list(agents), "updated_at": at}
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
    statement = insert(party_mappings).values(org_id=org_id, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=["org_id"], set_=values))
    return PartyMapping(customers, agents, at)
