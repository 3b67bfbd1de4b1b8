"""Tracing must never break the caller's program: a failure in Margin's own bookkeeping is
logged once per place and swallowed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["guard", "report"]

logger = logging.getLogger("margin.sdk.wrappers")
_logged: set[str] = set()


def report(what: str) -> None:
    """Log (once per ``what``) the exception being handled; call it from an ``except`` block.

    Hot paths use ``try``/``except Exception: report(...)`` instead of :func:`guard`: same
    behaviour, without a generator and a formatted label on every call."""
    if what not in _logged:
        _logged.add(what)
        logger.warning("margin: tracing failed in %s; the call is unaffected", what, exc_info=True)


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Swallow (and log once per ``what``) any error raised by Margin's bookkeeping."""
    try:
        yield
    except Exception:
        report(what)
