"""The router of Paid's API v2 (``/compat/paid/api/v2``): parties, signals and costs, billing, credits,
then every other path answered as not supported. Importing it also hooks Paid's cost scopes
and its wrappers' token rule into Margin's OTLP receiver."""

from __future__ import annotations

from margin.compat._common import unsupported
from margin.compat.paid import billing, credits, ingest, invoices, units  # noqa: F401  (routes join)
from margin.compat.paid.parties import router
from margin.compat.paid.scopes import record_export
from margin.compat.paid.spans import wrapper_usage
from margin.server.otlp.convert import USAGE_HOOKS
from margin.server.otlp.exports import EXPORT_HOOKS

__all__ = ["router"]

unsupported(router, "", "Paid")
if record_export not in EXPORT_HOOKS:
    EXPORT_HOOKS.append(record_export)
if wrapper_usage not in USAGE_HOOKS:
    USAGE_HOOKS.append(wrapper_usage)
