"""What every request handler shares: settings, the store, the price book and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from margin._time import now_micros
from margin.pricing import Pricer
from margin.settings import Settings
from margin.store.db import Database

__all__ = ["AppState"]


@dataclass
class AppState:
    settings: Settings
    db: Database
    pricer: Pricer
    #: The time in µs, as session expiry sees it (tests set another clock).
    clock: Callable[[], int] = now_micros

    @staticmethod
    def of(request: HTTPConnection) -> AppState:
        state: AppState = request.app.state.margin
        return state
