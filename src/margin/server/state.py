"""What every request handler shares: settings, the store and the price book."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from margin.pricing import Pricer
from margin.settings import Settings
from margin.store.db import Database

__all__ = ["AppState"]


@dataclass
class AppState:
    settings: Settings
    db: Database
    pricer: Pricer

    @staticmethod
    def of(request: HTTPConnection) -> AppState:
        state: AppState = request.app.state.margin
        return state
