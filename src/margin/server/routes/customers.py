"""``/v1/customers``: who pays."""

from margin.server.routes._parties import party_router
from margin.store.directory import CUSTOMERS

__all__ = ["router"]

router = party_router(CUSTOMERS, "/v1/customers")
