"""The whole API fuzzed from its OpenAPI document with schemathesis, on both stores, with an
admin key: no server error, every response as the document describes it (status code,
content type, headers, body schema), and the same status from both stores for every input.

Each operation gets valid inputs and, where it takes a body or query parameters, invalid
ones, over stores that already hold a few customers, agents, signals and costs. Each input
is generated once and sent to both stores. The seed is fixed, so a failure reproduces;
``MARGIN_FUZZ_SEED=<int>`` explores other cases. At least ``MIN_CASES`` cases run (over
``SHARDS`` tests), most of them on Margin's own routes (the vendors' compatibility routes
get fewer each). A failing run counts the failures of every operation.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from margin_testing import Api

pytestmark = pytest.mark.slow

MIN_CASES = 2000
#: The operations are fuzzed in this many tests per store (every third operation each), so
#: that the test processes share the work instead of one of them running it all at the end.
SHARDS = 3
#: Cases per operation and mode (a few operations have fewer distinct inputs than this).
EXAMPLES_PER_RUN = 15
#: The same for the vendors' compatibility routes (``/compat/...``): many operations over
#: few code paths (Margin's own services, fuzzed under /v1), and the vendors' SDKs test
#: their wire; a few cases each still find a refusal that is not a 4xx or not documented.
COMPAT_EXAMPLES_PER_RUN = 5
#: Failures shown in full (every failing operation is counted in the summary).
SHOWN = 40
CHECKS = {
    "not_a_server_error": not_a_server_error,
    "status_code_conformance": status_code_conformance,
    "content_type_conformance": content_type_conformance,
    "response_headers_conformance": response_headers_conformance,
    "response_schema_conformance": response_schema_conformance,
}

#: Checks left out for an operation, with the failure each shows today. Every entry is a
#: defect outside the app's edges, for the area that owns the route to fix and remove here.
KNOWN_FAILING: dict[str, dict[str, str]] = {}


def _seed_data(api: Api) -> None:
    """A few facts, so that lists, reports and lookups answer with rows, not only 404s."""
    for external_id in ("acme", "globex"):
        assert api.post("/v1/customers", json={"external_id": external_id}).status_code == 201
    assert api.post("/v1/agents", json={"external_id": "sdr"}).status_code == 201
    signals = [
        {
            "event_name": "meeting_booked",
            "customer": "acme",
            "agent": "sdr",
            "timestamp": f"2026-10-0{day}T12:00:00Z",
            "idempotency_key": f"seed-signal-{day}",
        }
        for day in range(1, 4)
    ]
    assert api.post("/v1/signals", json={"items": signals}).json()["ingested"] == 3
    costs = [
        {
            "customer": "globex",
            "agent": "sdr",
            "provider": "openai",
            "model": "gpt-4o",
            "usage": {"input_tokens": 1000, "output_tokens": 100},
            "timestamp": "2026-10-02T12:00:00Z",
            "idempotency_key": "seed-cost-1",
        }
    ]
    assert api.post("/v1/costs", json={"items": costs}).json()["ingested"] == 1


def _modes(operation: Any) -> tuple[GenerationMode, ...]:
    # Path parameters are plain strings: no value of them is invalid, so only operations
    # with a body or a query have invalid inputs to generate.
    if operation.body or list(operation.query):
        return (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    return (GenerationMode.POSITIVE,)


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    send: Callable[[Any], dict[str, Any]],
    checks: list[Any],
    failures: list[str],
) -> int:
    """Run one operation's cases of one mode; returns how many ran."""
    ran = 0
    fuzz_seed = os.environ.get("MARGIN_FUZZ_SEED")
    compat = operation.path.startswith("/compat/")

    @settings(
        max_examples=COMPAT_EXAMPLES_PER_RUN if compat else EXAMPLES_PER_RUN,
        deadline=None,
        database=None,
        derandomize=fuzz_seed is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        nonlocal ran
        ran += 1
        responses = send(case)
        label = f"{operation.label} [{mode.value}]"
        for store, response in responses.items():
            try:
                case.validate_response(response, checks=checks)
            except (AssertionError, BaseExceptionGroup) as exc:
                lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
                detail = " | ".join(lines[:8])
                failures.append(f"{label} → {store} {response.status_code}: {detail}")
        statuses = {store: response.status_code for store, response in responses.items()}
        if len(set(statuses.values())) > 1:
            answers = {store: r.text[:200] for store, r in responses.items()}
            failures.append(f"{label} → the stores differ: {statuses} {answers}")

    if fuzz_seed is not None:
        call = seed(int(fuzz_seed))(call)
    with contextlib.suppress(Unsatisfiable):  # nothing (more) to generate for this one
        call()
    return ran


@pytest.mark.parametrize("shard", range(SHARDS))
def test_fuzz_every_operation(apis: dict[str, Api], shard: int) -> None:
    for api in apis.values():
        _seed_data(api)
    schema = schemathesis.openapi.from_asgi("/openapi.json", apis["sqlite"].client.app)
    # A stale entry would silently switch a check off: each names an operation and a check.
    every = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in every}
    for label, skipped in KNOWN_FAILING.items():
        assert label in labels, label
        assert set(skipped) <= set(CHECKS), label
    operations = every[shard::SHARDS]
    cases = 0
    failures: list[str] = []
    with contextlib.ExitStack() as stack:
        sessions = {
            store: (
                stack.enter_context(asgi.get_client(api.client.app)),
                api.tenant.headers("admin"),
            )
            for store, api in apis.items()
        }

        def send(case: Any) -> dict[str, Any]:
            return {
                store: case.call(headers=headers, session=client)
                for store, (client, headers) in sessions.items()
            }

        for operation in operations:
            skipped = KNOWN_FAILING.get(operation.label, {})
            checks = [check for name, check in CHECKS.items() if name not in skipped]
            for mode in _modes(operation):
                cases += _fuzz(operation, mode, send, checks, failures)
    assert cases >= MIN_CASES // SHARDS, f"only {cases} cases generated"
    assert not failures, _report(failures, cases)


def _report(failures: list[str], cases: int) -> str:
    """How many cases failed per operation (all of them), then the first failures in full."""
    per_operation = Counter(f.split(" [", 1)[0] for f in failures)
    lines = [f"{len(failures)} of {cases} cases failed:"]
    lines += [f"  {n:5d}  {label}" for label, n in sorted(per_operation.items())]
    return "\n".join([*lines, *sorted(set(failures))[:SHOWN]])


@pytest.fixture(autouse=True)
def _quiet_server_log(caplog: pytest.LogCaptureFixture) -> None:
    # A server error is reported as a failure above; its traceback is not needed twice.
    caplog.set_level("CRITICAL", logger="margin.server")
