"""A JSON value stored by Margin reads back the same from SQLite and PostgreSQL: a float
stays a float and a negative zero is zero, whichever store holds it (PostgreSQL's JSONB has
no negative zero and writes an exponent's digits out, which read back as an integer)."""

from __future__ import annotations

import math
from typing import Any

import orjson

from margin._payload import stored_json
from margin_testing import Api

OCT = {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}
#: Floats whose form JSONB would change, and some it keeps (sent as JSON numbers).
SENT = (
    b'{"neg": -0.0, "big": 1e16, "negbig": -2.5e17, "huge": 1.5e300, "small": 1e-7, '
    b'"plain": 12.5, "int": 7, "text": "e+ -0.0", "list": [-0.0, 2e17, {"deep": 9.2e18}]}'
)
#: What reads back: the same values, every float a float, the zero positive.
READ = {
    "neg": 0.0,
    "big": 1e16,
    "negbig": -2.5e17,
    "huge": 1.5e300,
    "small": 1e-7,
    "plain": 12.5,
    "int": 7,
    "text": "e+ -0.0",
    "list": [0.0, 2e17, {"deep": 9.2e18}],
}


def _same(found: Any, expected: Any) -> bool:
    """Equal, and of the same type all the way down (1e16 is not 10**16, -0.0 is not 0.0)."""
    if type(found) is not type(expected):
        return False
    if isinstance(expected, dict):
        return found.keys() == expected.keys() and all(
            _same(found[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return len(found) == len(expected) and all(map(_same, found, expected))
    if isinstance(expected, float):
        return found == expected and math.copysign(1, found) == math.copysign(1, expected)
    return bool(found == expected)


def _post(api: Api, path: str, body: bytes, scope: str = "admin") -> Any:
    answer = api.post(path, content=body, headers={"Content-Type": "application/json"}, scope=scope)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def _read_back(api: Api) -> dict[str, Any]:
    data = SENT.decode()
    customer = _post(
        api, "/v1/customers", f'{{"external_id": "acme", "metadata": {data}}}'.encode()
    )
    signal = f'{{"event_name": "e", "customer": "acme", "timestamp": "2026-10-05T12:00:00Z", "data": {data}}}'
    event = f'{{"type": "api", "customer": "acme", "timestamp": "2026-10-05T12:00:00Z", "data": {data}}}'
    _post(api, "/v1/signals", signal.encode(), "ingest")
    _post(api, "/v1/events", event.encode(), "ingest")
    found = {
        "customer": api.get(f"/v1/customers/{customer['id']}", scope="read").json()["metadata"],
        "signal": api.get("/v1/signals", scope="read").json()["data"][0]["data"],
    }
    for kind in ("signals", "events"):
        answer = api.get(
            "/v1/export", params={**OCT, "kind": kind, "format": "jsonl"}, scope="read"
        )
        assert answer.status_code == 200, answer.text
        [row] = [orjson.loads(line) for line in answer.content.splitlines()]
        found[f"export {kind}"] = row["data"]
    return found


def test_stored_json_reads_back_the_same_on_both_stores(apis: dict[str, Api]) -> None:
    read = {kind: _read_back(api) for kind, api in apis.items()}
    for kind, found in read.items():
        for place, value in found.items():
            assert _same(value, READ), (kind, place, value)


def test_a_batch_stores_each_signal_in_that_form(apis: dict[str, Api]) -> None:
    """A batch's data is encoded in one call; only the items holding such a float are
    written again, each as ``stored_json`` writes it alone."""
    sent = {"forms": SENT.decode(), "plain": '{"n": 1.5, "s": "x"}', "zero": '{"z": -0.0}'}
    read = {"forms": READ, "plain": {"n": 1.5, "s": "x"}, "zero": {"z": 0.0}}
    items = ",".join(
        f'{{"event_name": "{name}", "customer": "acme", "timestamp": "2026-10-05T12:00:00Z", '
        f'"data": {data}}}'
        for name, data in sent.items()
    )
    for kind, api in apis.items():
        _post(api, "/v1/signals", f'{{"items": [{items}]}}'.encode(), "ingest")
        answer = api.get(
            "/v1/export", params={**OCT, "kind": "signals", "format": "jsonl"}, scope="read"
        )
        assert answer.status_code == 200, answer.text
        rows = [orjson.loads(line) for line in answer.content.splitlines()]
        found = {row["event_name"]: row["data"] for row in rows}
        assert found.keys() == read.keys(), (kind, found)
        for name, expected in read.items():
            assert _same(found[name], expected), (kind, name, found[name])


def test_stored_json_writes_what_jsonb_keeps() -> None:
    assert stored_json(orjson.loads(SENT)) == (
        b'{"neg":0.0,"big":10000000000000000.0,"negbig":-250000000000000000.0,'
        b'"huge":' + str(int(1.5e300)).encode() + b'.0,"small":1e-7,"plain":12.5,"int":7,'
        b'"text":"e+ -0.0","list":[0.0,200000000000000000.0,{"deep":9200000000000000000.0}]}'
    )
    assert stored_json({"a": 1.5, "b": "x"}) == b'{"a":1.5,"b":"x"}'
