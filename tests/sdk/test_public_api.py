"""The public surface of ``import margin``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import margin
from margin._version import __version__

EXPECTED = {
    "Margin", "AsyncMargin", "MarginError", "APIError", "APIConnectionError", "BadRequestError",
    "AuthenticationError", "PermissionDeniedError", "NotFoundError", "ConflictError",
    "RateLimitError", "ServerError", "configure", "trace", "signal", "new_trace_token", "flush",
    "shutdown", "delivery_stats", "__version__", "instrument_openai", "instrument_anthropic",
    "instrument_mistral", "instrument_gemini", "instrument_bedrock", "instrument_langchain",
    "instrument_llamaindex", "instrument_openai_agents", "autoinstrument",
    "check", "Check", "EntitlementExceeded", "configure_checks",
}  # fmt: skip
LAZY = {n for n in EXPECTED if n.startswith("instrument_") or n == "autoinstrument"}


def test_all_is_exactly_the_public_api() -> None:
    assert set(margin.__all__) == EXPECTED
    assert len(margin.__all__) == len(EXPECTED)
    for name in EXPECTED - LAZY:
        assert getattr(margin, name) is not None
    assert margin.__version__ == __version__


def test_errors_form_a_hierarchy() -> None:
    for name in ("APIConnectionError", "APIError"):
        assert issubclass(getattr(margin, name), margin.MarginError)
    for name in ("BadRequestError", "AuthenticationError", "PermissionDeniedError",
                 "NotFoundError", "ConflictError", "RateLimitError", "ServerError"):  # fmt: skip
        assert issubclass(getattr(margin, name), margin.APIError)


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = margin.no_such_thing  # type: ignore[attr-defined]


def test_import_needs_no_server_dependency() -> None:
    code = (
        "import sys, margin; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'fastapi', 'sqlalchemy', 'alembic', 'pydantic', 'starlette', 'uvicorn', 'psycopg'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_instrumentation_is_lazy() -> None:
    code = "import sys, margin; print('margin.sdk.instrument' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_lazy_instrumentation_resolves_from_instrument_module() -> None:
    from margin.sdk import instrument

    assert margin.instrument_openai is instrument.instrument_openai
