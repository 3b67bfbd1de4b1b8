"""Test support of the compatibility tests (imported by name; see ``conftest``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

__all__ = ["Served", "run_script"]


@dataclass
class Served:
    """A running Margin server and one organization's keys."""

    url: str
    database_url: str
    org_id: str
    keys: dict[str, str] = field(default_factory=dict)
    store: str = "sqlite"

    def client(self, scope: str = "admin") -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.keys[scope]}"}, timeout=30
        )

    def get(self, path: str, **params: Any) -> Any:
        with self.client("read") as client:
            response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def costs(self, **params: Any) -> list[dict[str, Any]]:
        """Every cost Margin stored for this organization (oldest first)."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get(
                "/v1/costs", limit=500, **params, **({"cursor": cursor} if cursor else {})
            )
            out += page["data"]
            cursor = page["next_cursor"]
            if not cursor:
                return out

    def signals(self, **params: Any) -> list[dict[str, Any]]:
        return self.get("/v1/signals", limit=500, **params)["data"]

    def report(self, **params: Any) -> dict[tuple[Any, ...], tuple[Decimal | None, int]]:
        """The margin report's rows as {group values: (cost, signals)} (cost None: not
        tracked)."""
        rows = self.get("/v1/reports/margin", **params)["rows"]
        dims = params.get("group_by", "").split(",")
        return {
            tuple((r["key"] or {}).get(d) for d in dims): (
                None if r["cost"] is None else Decimal(r["cost"]),
                r["signals"],
            )
            for r in rows
        }

    def total(self, costs: list[dict[str, Any]]) -> Decimal:
        return sum((Decimal(c["amount"]) for c in costs if c["amount"] is not None), Decimal(0))


#: Script prelude: a real ``openai`` client whose transport answers every chat completion
#: with the same usage (21 prompt tokens of which 5 cached, 7 completion tokens of which 3
#: reasoning) and a new response id, and a log check that fails the script on any export
#: error (exporters drop a refused batch and only log it).
FAKE_OPENAI = """
import json, logging, sys, uuid
import httpx, openai

class _Errors(logging.Handler):
    seen = []
    def emit(self, record):
        _Errors.seen.append(record.getMessage())

logging.getLogger("opentelemetry").addHandler(_Errors(logging.WARNING))
logging.getLogger("paid").addHandler(_Errors(logging.ERROR))

def _answer(request):
    body = json.loads(request.content)
    return httpx.Response(200, json={
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion",
        "created": 1764662400,
        "model": body["model"] + "-2024-07-18",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Booked for Tuesday."}}],
        "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28,
                  "prompt_tokens_details": {"cached_tokens": 5},
                  "completion_tokens_details": {"reasoning_tokens": 3}},
    })

openai_client = openai.OpenAI(
    api_key="sk-test", base_url="http://openai.test/v1",
    http_client=httpx.Client(transport=httpx.MockTransport(_answer)),
)

def ask(client, text="Classify this reply"):
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    )

def done():
    from paid.tracing import get_paid_tracer_provider
    provider = get_paid_tracer_provider()
    if provider is not None:
        assert provider.force_flush(30_000), "flush timed out"
    if _Errors.seen:
        sys.exit("export errors: " + "; ".join(_Errors.seen))
"""


def wait_for(check: Any, timeout: float = 20.0) -> Any:
    """Poll ``check()`` until it returns a truthy value (a server commits an export before
    it answers, but an SDK may deliver in the background)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def run_script(
    source: str, env: dict[str, str], *, python: str = sys.executable, timeout: float = 120
) -> str:
    """Run ``source`` in a new Python process with ``env`` added; its stdout (fails the test
    with its output if it exits non-zero)."""
    proc = subprocess.run(
        [python, "-c", textwrap.dedent(source)],
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"script failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout
