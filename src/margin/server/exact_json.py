"""The route class of every router: a JSON request body read exactly.

FastAPI reads a JSON body with ``json.loads``: a number with more digits than a float holds
becomes a rounded float (``1e-400`` is 0, a price loses its last digits) and ``NaN`` is read
as a number. An ``ExactJsonRoute`` reads it with ``margin._payload.parse_json`` instead:
integers exact, a number a float holds as written as that float, and any other number
(``NaN`` and ``Infinity`` too) as a ``Decimal``, for the body's model to keep as an amount,
or to refuse naming the field (``margin._storable``). A body that is not JSON is a 400
problem naming ``body``. FastAPI still decides when a body is JSON (by its content type).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any, ClassVar

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from margin._payload import PayloadError, parse_json
from margin.server.problems import Problem

__all__ = ["ExactJsonRoute"]

#: Bodies up to this size are parsed on the event loop (a quarter of a millisecond); larger
#: ones on a worker thread, so that they do not hold up the process's other requests.
_INLINE_BYTES = 16 * 1024


class _ExactRequest(Request):
    """A request whose ``json()`` (what FastAPI reads a body with) is ``parse_json``'s."""

    decimals = True

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            raw = await self.body()
            if len(raw) > _INLINE_BYTES:
                # CPU work, off the event loop (a batch of 10,000 signals: about 20 ms).
                body = await run_in_threadpool(parse_json, raw, decimals=self.decimals)
            else:
                body = parse_json(raw, decimals=self.decimals)
            # A bare number is no object, but FastAPI validates a body model from attributes
            # too, and would read a Decimal as one with every field missing.
            self._json = float(body) if isinstance(body, Decimal) else body
        return self._json


class ExactJsonRoute(APIRoute):
    """A route whose JSON body is parsed by ``parse_json`` (see the module)."""

    #: Whether a number no float holds is read as a ``Decimal``; where not (the ingest
    #: routes, whose items are JSON facts kept with float numbers), it is refused.
    decimals: ClassVar[bool] = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        decimals = self.decimals

        async def route(request: Request) -> Response:
            exact = _ExactRequest(request.scope, request.receive)
            exact.decimals = decimals
            try:
                return await handler(exact)
            except HTTPException as exc:
                # FastAPI answers any error of reading a body with a bare 400, raised from it.
                refused = exc.__cause__
                if isinstance(refused, PayloadError):
                    raise Problem(400, refused.detail, field=refused.field) from None
                raise

        return route
