"""Compatibility layers: the seed products' own SDKs (``paid-python``, ``paygentic-sdk``,
``paygent-sdk``) talk to Margin unmodified, by changing only where they point.

Each layer is a thin translation of the vendor's wire onto Margin's ingest (``Ledger``),
directory, meters, plans and reports: it adds no second way to store a fact. ``ROUTERS``
names the router modules ``margin.server.app`` includes.
"""

from __future__ import annotations

__all__ = ["ROUTERS"]

ROUTERS = (
    "margin.compat.paid.rest",
    "margin.compat.paid.legacy",
    "margin.compat.paygentic.routes",
    "margin.compat.paygent",
)
