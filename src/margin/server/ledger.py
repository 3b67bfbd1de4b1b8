"""The ingest service: validates items, resolves parties, prices costs, and stores facts
exactly once, with rollups and attribution, in one transaction per batch.

REST routes, the OTLP receiver and compatibility adapters all ingest through ``Ledger``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import JSON, Connection, Table, select

from margin._ids import new_id
from margin._money import MoneyError, parse_amount, to_nanos
from margin._time import now_micros, to_micros
from margin.pricing import Pricer
from margin.server.items import CostIn, EventIn, SignalIn
from margin.settings import Settings
from margin.store.attribution import relink_traces, winners
from margin.store.db import Database
from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.rollups import CostRollup, SignalRollup, cost_key
from margin.store.schema import costs, events, signals

__all__ = ["BatchResult", "BeforeCommit", "ItemResult", "Ledger", "content_hash", "insert_rows"]

_CHUNK = 500
_KEY_CONFLICT = ("org_id", "idempotency_key")

#: Extra work run inside an ingest's write transaction, just before it commits.
BeforeCommit = Callable[[Connection], None]


def content_hash(item: Mapping[str, Any]) -> str:
    """A digest of an item as sent: a retry hashes the same. (Hashes are only compared
    between items with the same idempotency key, so the key itself may be part of it.)"""
    return hashlib.blake2b(
        orjson.dumps(item, option=orjson.OPT_SORT_KEYS, default=str), digest_size=16
    ).hexdigest()


@dataclass
class ItemResult:
    index: int
    status: str  # ingested | duplicate | conflict | failed
    id: str | None = None
    idempotency_key: str | None = None
    field: str | None = None
    detail: str | None = None


@dataclass
class BatchResult:
    items: list[ItemResult]

    @property
    def ingested(self) -> int:
        return sum(1 for i in self.items if i.status == "ingested")

    @property
    def duplicates(self) -> int:
        return sum(1 for i in self.items if i.status == "duplicate")

    @property
    def failed(self) -> list[ItemResult]:
        return [i for i in self.items if i.status in ("failed", "conflict")]

    def body(self) -> dict[str, Any]:
        return {
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "failed": [
                {
                    "index": i.index,
                    "idempotency_key": i.idempotency_key,
                    "status": i.status,
                    "field": i.field,
                    "detail": i.detail,
                }
                for i in self.failed
            ],
            "items": [{"index": i.index, "id": i.id, "status": i.status} for i in self.items],
        }


@dataclass
class _Draft:
    result: ItemResult
    item: Any
    key: str
    digest: str
    ts_us: int
    row: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class _Parties:
    """Customer and agent ids for a batch's references.

    Id references are checked before any party is created, so an item refused for a bad
    reference never creates a customer or agent as a side effect."""

    def __init__(self, conn: Connection, org_id: str, drafts: list[_Draft], create: bool) -> None:
        items = [d.item for d in drafts]
        self.customer_ids = CUSTOMERS.existing_ids(
            conn, org_id, [i.customer_id for i in items if i.customer_id]
        )
        self.agent_ids = AGENTS.existing_ids(
            conn, org_id, [a for i in items if (a := getattr(i, "agent_id", None))]
        )
        self.customers: dict[str, str] = {}
        self.agents: dict[str, str] = {}
        sound = [i for i in items if self._id_problem(i) is None]
        self.customers = CUSTOMERS.resolve(
            conn, org_id, [i.customer for i in sound if i.customer], create=create
        )
        self.agents = AGENTS.resolve(
            conn, org_id, [a for i in sound if (a := getattr(i, "agent", None))], create=True
        )

    def _id_problem(self, item: Any) -> tuple[str, str] | None:
        if item.customer_id and item.customer_id not in self.customer_ids:
            return "customer_id", f"no customer '{item.customer_id}'"
        agent_id = getattr(item, "agent_id", None)
        if agent_id and agent_id not in self.agent_ids:
            return "agent_id", f"no agent '{agent_id}'"
        return None

    def resolve(self, item: Any) -> tuple[str | None, str | None, tuple[str, str] | None]:
        """(customer id, agent id, problem) of an item."""
        problem = self._id_problem(item)
        if problem:
            return None, None, problem
        customer_id = item.customer_id
        if customer_id is None and item.customer:
            customer_id = self.customers.get(item.customer)
            if customer_id is None:
                return None, None, ("customer", f"no customer with external id '{item.customer}'")
        agent_id = getattr(item, "agent_id", None)
        agent = getattr(item, "agent", None)
        if agent_id is None and agent:
            agent_id = self.agents.get(agent)
        return customer_id, agent_id, None

    def remember(self, org_id: str) -> None:
        CUSTOMERS.remember(org_id, self.customers)
        AGENTS.remember(org_id, self.agents)


def _conflict(result: ItemResult) -> None:
    result.status = "conflict"
    result.field = "idempotency_key"
    result.detail = "idempotency key already used with different content"


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> set[str]:
    """Insert rows, skipping those whose idempotency key exists; returns the inserted keys."""
    return insert_rows(conn, table, rows)


def insert_rows(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: Sequence[str] = _KEY_CONFLICT,
    returning: str | None = "idempotency_key",
) -> set[str]:
    """Insert rows through the driver's fast path, skipping those that collide on the unique
    ``conflict`` columns; returns the ``returning`` column of the rows inserted (nothing
    when ``returning`` is None). Rows hold plain column values (JSON as Python objects)."""
    if not rows:
        return set()
    if conn.dialect.name == "sqlite":
        return _insert_sqlite(conn, table, rows, tuple(conflict), returning)
    return _insert_postgres(conn, table, rows, tuple(conflict), returning)


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


@dataclass(frozen=True)
class _Shape:
    columns: list[str]
    json_at: list[int]
    getter: Callable[[dict[str, Any]], tuple[Any, ...]]


_SHAPES: dict[str, _Shape] = {}


def _shape(table: Table) -> _Shape:
    shape = _SHAPES.get(table.name)
    if shape is None:
        columns = [c.name for c in table.columns]
        json_at = [i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)]
        shape = _SHAPES[table.name] = _Shape(columns, json_at, itemgetter(*columns))
    return shape


def _values(shape: _Shape, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Each row's values in column order (absent keys are NULL), JSON columns as text."""
    try:
        values = [list(shape.getter(row)) for row in rows]
    except KeyError:
        values = [[row.get(c) for c in shape.columns] for row in rows]
    if shape.json_at:
        dumps = orjson.dumps
        for value in values:
            for i in shape.json_at:
                if value[i] is not None:
                    value[i] = dumps(value[i]).decode()
    return values


def _insert_postgres(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: tuple[str, ...],
    returning: str | None,
) -> set[str]:
    # COPY into a per-connection staging table, then one INSERT … SELECT: several times
    # faster than row-at-a-time statements, and ON CONFLICT still makes it exactly-once.
    shape = _shape(table)
    stage = f"_stage_{table.name}"
    names = ", ".join(shape.columns)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table.name} INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS"
    )
    with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
        for value in _values(shape, rows):
            copy.write_row(value)
    cursor.execute(
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage} "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        + (f" RETURNING {returning}" if returning else "")
    )
    inserted = {key for (key,) in cursor.fetchall()} if returning else set()
    cursor.execute(f"DELETE FROM {stage}")
    return inserted


def _insert_sqlite(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: tuple[str, ...],
    returning: str | None,
) -> set[str]:
    # The driver's executemany is several times faster than a compiled multi-VALUES insert.
    # Writes hold SQLite's write lock from BEGIN IMMEDIATE, and keys already stored were
    # selected inside this transaction, so every row is new unless the batch itself was not
    # deduplicated; the change counter proves it, and a mismatch falls back to a lookup.
    shape = _shape(table)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(shape.columns)}) "
        f"VALUES ({', '.join('?' * len(shape.columns))}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    before = raw.total_changes
    conn.exec_driver_sql(sql, [tuple(v) for v in _values(shape, rows)])
    if returning is None:
        return set()
    if raw.total_changes - before == len(rows):
        return {row[returning] for row in rows}
    # Only idempotency keys are looked up again (other tables ask for no result).
    assert returning == "idempotency_key"
    assert conflict == _KEY_CONFLICT
    org_id = rows[0]["org_id"]
    ids = {row["id"] for row in rows}
    stored = _existing(conn, table, org_id, [row["idempotency_key"] for row in rows])
    return {key for key, (row_id, _digest) in stored.items() if row_id in ids}


def _existing(
    conn: Connection, table: Table, org_id: str, keys: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """idempotency key → (id, content hash) of stored facts."""
    wanted = list(keys)
    found: dict[str, tuple[str, str]] = {}
    if not wanted:
        return found
    if conn.dialect.name == "postgresql":
        # One array parameter: an IN list of hundreds of parameters plans and binds slowly.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(
            f"SELECT idempotency_key, id, content_hash FROM {table.name} "
            "WHERE org_id = %s AND idempotency_key = ANY(%s)",
            (org_id, wanted),
        )
        return {key: (row_id, digest) for key, row_id, digest in cursor.fetchall()}
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(
            select(table.c.idempotency_key, table.c.id, table.c.content_hash).where(
                table.c.org_id == org_id,
                table.c.idempotency_key.in_(wanted[start : start + _CHUNK]),
            )
        )
        found.update({r.idempotency_key: (r.id, r.content_hash) for r in rows})
    return found


_COST_FIELDS = frozenset(CostIn.model_fields)
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(slots=True)
class _BuiltCost:
    """A cost item checked by ``_built_cost``: the attributes ``CostIn`` would have."""

    customer: str | None
    agent: str | None
    timestamp: datetime | None
    idempotency_key: str | None
    trace_id: str | None
    span_id: str | None
    response_id: str | None
    provider: str | None
    model: str | None
    operation: str | None
    amount: Decimal | None
    currency: str | None
    usage: dict[str, Any] | None
    customer_id: None = None
    agent_id: None = None
    price_context: None = None


#: (field, shortest, longest) of the ``CostIn`` strings (stripped of whitespace first).
_COST_TEXT = (
    ("customer", 1, 256),
    ("agent", 1, 256),
    ("idempotency_key", 1, 256),
    ("response_id", 0, 256),
    ("provider", 1, 64),
    ("model", 1, 256),
    ("operation", 0, 64),
)
_COST_IDS = (("trace_id", _TRACE_ID), ("span_id", _SPAN_ID), ("currency", _CURRENCY))
_NO_REFS = ("customer_id", "agent_id", "price_context")


def _built_cost(raw: Any) -> _BuiltCost | None:
    """The item as ``CostIn`` would validate it, when it is plainly valid (every string already
    stripped and within bounds, ids and currency well-formed, an exact non-negative amount
    with a currency or a usage dict, an aware timestamp); None to validate it with ``CostIn``
    instead (which then reports the problem exactly as for REST callers)."""
    if type(raw) is not dict or not raw.keys() <= _COST_FIELDS:
        return None
    get = raw.get
    for name in _NO_REFS:
        if get(name) is not None:
            return None
    for name, low, high in _COST_TEXT:
        value = get(name)
        if value is None:
            continue
        if type(value) is not str or not low <= len(value) <= high:
            return None
        if value and (value[0].isspace() or value[-1].isspace()):
            return None
    for name, pattern in _COST_IDS:
        value = get(name)
        if value is not None and (type(value) is not str or not pattern.fullmatch(value)):
            return None
    ts = get("timestamp")
    if ts is not None and (type(ts) is not datetime or ts.utcoffset() is None):
        return None
    usage = get("usage")
    if usage is not None:
        if type(usage) is not dict:
            return None
        for name in usage:
            if type(name) is not str:
                return None
        usage = dict(usage)
    amount = get("amount")
    currency = get("currency")
    if amount is not None:
        if type(amount) not in (str, int, Decimal) or currency is None:
            return None
        try:
            amount = parse_amount(amount)
            to_nanos(amount)
        except MoneyError:
            return None
        if amount < 0:
            return None
    elif not usage:
        return None
    return _BuiltCost(
        get("customer"),
        get("agent"),
        ts,
        get("idempotency_key"),
        get("trace_id"),
        get("span_id"),
        get("response_id"),
        get("provider"),
        get("model"),
        get("operation"),
        amount,
        currency,
        usage,
    )


class Ledger:
    """Stores signals, costs and events, each exactly once per idempotency key."""

    def __init__(self, db: Database, pricer: Pricer, settings: Settings) -> None:
        self.db = db
        self.pricer = pricer
        self.settings = settings

    def ingest_signals(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
    ) -> BatchResult:
        """Store signals (and the costs carried in ``data.costData``). ``before_commit`` runs
        inside the same write transaction, so its writes commit (or fail) with the batch."""
        return self._ingest(
            org_id, items, SignalIn, signals, self._store_signals, source, before_commit
        )

    def ingest_costs(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
    ) -> BatchResult:
        """Store costs, pricing usage that arrives without an amount."""
        return self._ingest(org_id, items, CostIn, costs, self._store_costs, source, before_commit)

    def ingest_built_costs(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> BatchResult:
        """``ingest_costs`` for items the server built itself (the OTLP converter): the same
        checks and results, by a fast path for the shapes the converter builds; any item it
        is not sure of is validated by ``CostIn`` exactly as for REST callers."""
        return self._ingest(
            org_id, items, CostIn, costs, self._store_costs, source, before_commit, _built_cost
        )

    def ingest_events(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
    ) -> BatchResult:
        """Store generic metering events."""
        return self._ingest(
            org_id, items, EventIn, events, self._store_events, source, before_commit
        )

    def _ingest(
        self,
        org_id: str,
        items: Sequence[Any],
        model: type[BaseModel],
        table: Table,
        store: Any,
        source: str,
        before_commit: BeforeCommit | None = None,
        fast: Callable[[Any], Any] | None = None,
    ) -> BatchResult:
        now = now_micros()
        results = [ItemResult(index=i, status="failed") for i in range(len(items))]
        drafts: list[_Draft] = []
        first_of: dict[str, _Draft] = {}
        later: list[tuple[ItemResult, str, str]] = []
        horizon = now + self.settings.max_future_seconds * 1_000_000
        for index, raw in enumerate(items):
            result = results[index]
            item = fast(raw) if fast is not None else None
            if item is None:
                item = self._validate(raw, model, result)
            if item is None:
                continue
            ts_us = now if item.timestamp is None else to_micros(item.timestamp)
            if ts_us > horizon:
                result.field, result.detail = "timestamp", "timestamp is too far in the future"
                continue
            digest = content_hash(raw)
            key = item.idempotency_key or f"auto:{digest}"
            result.idempotency_key = key
            if key in first_of:
                later.append((result, key, digest))
                continue
            draft = _Draft(result, item, key, digest, ts_us)
            first_of[key] = draft
            drafts.append(draft)
        if drafts:
            with self.db.write() as conn:
                stored = _existing(conn, table, org_id, first_of)
                fresh = []
                for draft in drafts:
                    if draft.key in stored:
                        draft.result.id, digest = stored[draft.key]
                        if digest == draft.digest:
                            draft.result.status = "duplicate"
                        else:
                            _conflict(draft.result)
                    else:
                        fresh.append(draft)
                parties = _Parties(conn, org_id, fresh, self.settings.auto_create_customers)
                store(conn, org_id, fresh, parties, now, source)
                if before_commit is not None:
                    before_commit(conn)
            parties.remember(org_id)
        elif before_commit is not None:
            with self.db.write() as conn:
                before_commit(conn)
        for result, key, digest in later:
            first = first_of[key]
            if first.result.status in ("ingested", "duplicate") and first.digest == digest:
                result.status, result.id = "duplicate", first.result.id
            elif first.digest != digest:
                _conflict(result)
            else:
                result.field, result.detail = first.result.field, first.result.detail
        return BatchResult(results)

    def _validate(self, raw: Any, model: type[BaseModel], result: ItemResult) -> Any:
        if not isinstance(raw, dict):
            result.field, result.detail = "body", "each item must be a JSON object"
            return None
        try:
            item = model.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = [str(p) for p in err.get("loc", ())]
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            # Whole-item rules ("customer or customer_id is required") name their field first.
            result.field = ".".join(loc) if loc else message.split(" ", 1)[0]
            result.detail = message
            return None
        return item

    def _prepare(
        self, drafts: list[_Draft], parties: _Parties, now: int, prefix: str, agents: bool
    ) -> list[_Draft]:
        """Common columns of each fresh draft; drafts with a bad reference are failed."""
        ready = []
        for draft in drafts:
            customer_id, agent_id, problem = parties.resolve(draft.item)
            if problem:
                draft.result.field, draft.result.detail = problem
                continue
            draft.result.id = new_id(prefix)
            draft.row = {
                "id": draft.result.id,
                "customer_id": customer_id,
                "ts": draft.ts_us,
                "idempotency_key": draft.key,
                "content_hash": draft.digest,
                "created_at": now,
            }
            if agents:
                draft.row["agent_id"] = agent_id
            ready.append(draft)
        return ready

    def _commit_rows(
        self, conn: Connection, org_id: str, table: Table, drafts: list[_Draft]
    ) -> list[_Draft]:
        """Insert the drafts' rows; a key taken meanwhile by another writer is a duplicate."""
        for draft in drafts:
            draft.row["org_id"] = org_id
        inserted = _insert(conn, table, [d.row for d in drafts])
        done = []
        late = [d for d in drafts if d.key not in inserted]
        stored = _existing(conn, table, org_id, [d.key for d in late]) if late else {}
        for draft in drafts:
            if draft.key in inserted:
                draft.result.status = "ingested"
                done.append(draft)
                continue
            draft.result.id, digest = stored[draft.key]
            if digest == draft.digest:
                draft.result.status = "duplicate"
            else:
                _conflict(draft.result)
        return done

    # -- per-kind storage ------------------------------------------------------------------

    def _store_events(
        self,
        conn: Connection,
        org_id: str,
        drafts: list[_Draft],
        parties: _Parties,
        now: int,
        source: str,
    ) -> None:
        ready = self._prepare(drafts, parties, now, "evt", agents=False)
        for draft in ready:
            draft.row.update(type=draft.item.type, data=draft.item.data)
        self._commit_rows(conn, org_id, events, ready)

    def _store_signals(
        self,
        conn: Connection,
        org_id: str,
        drafts: list[_Draft],
        parties: _Parties,
        now: int,
        source: str,
    ) -> None:
        ready = self._prepare(drafts, parties, now, "sig", agents=True)
        for draft in ready:
            item: SignalIn = draft.item
            draft.row.update(
                event_name=item.event_name,
                data=item.data,
                trace_id=item.trace_id,
                cost_tracing=item.cost_tracing,
                source=source,
            )
        done = self._commit_rows(conn, org_id, signals, ready)
        rollup = SignalRollup()
        for draft in done:
            row = draft.row
            rollup.add(org_id, row["ts"], row["customer_id"], row["agent_id"], row["event_name"])
        rollup.flush(conn)
        cost_rollup = CostRollup()
        traces = {d.row["trace_id"] for d in done if d.row["cost_tracing"] and d.row["trace_id"]}
        if traces:
            relink_traces(conn, org_id, traces, cost_rollup)
        self._signal_costs(conn, org_id, done, now, cost_rollup)
        cost_rollup.flush(conn)

    def _signal_costs(
        self, conn: Connection, org_id: str, done: list[_Draft], now: int, rollup: CostRollup
    ) -> None:
        """Costs carried in a signal's ``data.costData`` (Paid's manual cost tracking)."""
        rows = []
        for draft in done:
            cost_data = draft.row["data"].get("costData")
            if not isinstance(cost_data, dict):
                continue
            row = self._manual_cost(org_id, draft, cost_data, now)
            if row is not None:
                rows.append(row)
        if not rows:
            return
        names = [row.pop("_event_name") for row in rows]
        inserted = _insert(conn, costs, rows)
        for row, name in zip(rows, names, strict=True):
            if row["idempotency_key"] in inserted:
                rollup.add(_rollup_key(org_id, row, name), row["amount_nanos"])

    def _manual_cost(
        self, org_id: str, draft: _Draft, cost_data: dict[str, Any], now: int
    ) -> dict[str, Any] | None:
        signal = draft.row
        attributes = cost_data.get("attributes")
        model = cost_data.get("gen_ai.response.model")
        if isinstance(attributes, dict):
            model = (
                attributes.get("gen_ai.response.model")
                or attributes.get("gen_ai.request.model")
                or model
            )
        provider = cost_data.get("vendor")
        row: dict[str, Any] = {
            "id": new_id("cst"),
            "org_id": org_id,
            "customer_id": signal["customer_id"],
            "agent_id": signal["agent_id"],
            "signal_id": signal["id"],
            "trace_id": signal["trace_id"],
            "provider": str(provider)[:64] if provider else None,
            "model": str(model)[:256] if model else None,
            "operation": None,
            "span_id": None,
            "response_id": None,
            "price_ref": None,
            "unpriced_reason": None,
            "ts": signal["ts"],
            "idempotency_key": f"{draft.key}:cost",
            "content_hash": content_hash(cost_data),
            "source": "signal",
            "created_at": now,
            "_event_name": signal["event_name"],
        }
        cost = cost_data.get("cost")
        if isinstance(cost, dict) and "amount" in cost:
            try:
                amount = parse_amount(cost["amount"])
                row.update(
                    amount_nanos=to_nanos(amount),
                    currency=str(cost.get("currency") or "USD").upper()[:3],
                    priced_by="provided",
                    usage=None,
                )
            except MoneyError as exc:
                row.update(
                    amount_nanos=None,
                    currency="USD",
                    priced_by="unpriced",
                    usage=None,
                    unpriced_reason=f"costData.cost.amount: {exc}",
                )
            return row
        if isinstance(attributes, dict):
            self._price_into(row, org_id, row["provider"], row["model"], attributes, None)
            return row
        return None

    def _price_into(
        self,
        row: dict[str, Any],
        org_id: str,
        provider: str | None,
        model: str | None,
        usage: Mapping[str, Any],
        context: Mapping[str, str] | None,
    ) -> None:
        priced = self.pricer.price(org_id, provider, model, usage, row["ts"], context)
        row.update(
            usage=priced.usage or dict(usage),
            amount_nanos=None,
            currency=priced.currency,
            priced_by=priced.priced_by,
            price_ref=priced.price_ref,
            unpriced_reason=priced.unpriced_reason,
        )
        if priced.amount is not None:
            try:
                row["amount_nanos"] = to_nanos(priced.amount)
            except MoneyError as exc:
                row.update(priced_by="unpriced", price_ref=None, unpriced_reason=f"amount: {exc}")

    def _store_costs(
        self,
        conn: Connection,
        org_id: str,
        drafts: list[_Draft],
        parties: _Parties,
        now: int,
        source: str,
    ) -> None:
        ready = self._prepare(drafts, parties, now, "cst", agents=True)
        for draft in ready:
            item: CostIn = draft.item
            row = draft.row
            row.update(
                trace_id=item.trace_id,
                span_id=item.span_id,
                response_id=item.response_id,
                provider=item.provider,
                model=item.model,
                operation=item.operation,
                source=source,
                signal_id=None,
                price_ref=None,
                unpriced_reason=None,
            )
            if item.amount is not None:
                row.update(
                    amount_nanos=to_nanos(item.amount),
                    currency=item.currency,
                    priced_by="provided",
                    usage=item.usage,
                )
            else:
                assert item.usage is not None
                self._price_into(
                    row, org_id, item.provider, item.model, item.usage, item.price_context
                )
        traced = {d.row["trace_id"] for d in ready if d.row["trace_id"]}
        won = winners(conn, org_id, traced) if traced else {}
        for draft in ready:
            winner = won.get(draft.row["trace_id"] or "")
            draft.row["signal_id"] = winner[0] if winner else None
            draft.extra = {"event_name": winner[1] if winner else ""}
        done = self._commit_rows(conn, org_id, costs, ready)
        rollup = CostRollup()
        for draft in done:
            rollup.add(
                _rollup_key(org_id, draft.row, draft.extra["event_name"]), draft.row["amount_nanos"]
            )
        rollup.flush(conn)


def _rollup_key(org_id: str, row: Mapping[str, Any], event_name: str) -> Any:
    return cost_key(
        org_id,
        row["ts"],
        row["customer_id"],
        row["agent_id"],
        event_name,
        row["provider"],
        row["model"],
        row["currency"],
    )
