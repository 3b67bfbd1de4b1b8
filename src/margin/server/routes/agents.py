"""``/v1/agents``: what is sold."""

from margin.server.routes._parties import party_router
from margin.store.directory import AGENTS

__all__ = ["router"]

router = party_router(AGENTS, "/v1/agents")
