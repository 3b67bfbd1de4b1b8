"""The ASGI application: ``create_app(settings)`` wires the store, the routes and the handlers."""

from __future__ import annotations

import gc
import importlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp

from margin._version import __version__
from margin.compat import ROUTERS as COMPAT_ROUTERS
from margin.pricing import Pricer
from margin.server.docs import mount_docs
from margin.server.exact_json import ExactJsonRoute
from margin.server.headers import SecurityHeaders
from margin.server.limits import BodyLimit
from margin.server.params import NulGuard, reject_nul_in_path
from margin.server.problems import ErrorBoundary, describe_problems, install_handlers
from margin.server.state import AppState
from margin.settings import Settings
from margin.store.db import Database

__all__ = ["create_app", "prepare_process", "serve_app"]

log = logging.getLogger("margin.server")

# Each module exposes `router`; they are looked up by name so that a resource is one file.
# A new resource adds its module here.
_ROUTERS = (
    "margin.server.routes.customers",
    "margin.server.routes.agents",
    "margin.server.routes.ingest",
    "margin.server.routes.reports",
    "margin.server.routes.prices",
    "margin.server.routes.traces",
    "margin.server.routes.signals",
    "margin.server.routes.costs",
    "margin.server.routes.meters",
    "margin.server.routes.simulations",
    "margin.server.routes.plans",
    "margin.server.routes.orders",
    "margin.server.routes.invoices",
    "margin.server.routes.organization",
    "margin.server.routes.party_mapping",
    "margin.server.routes.fx",
    "margin.queue.routes",
    "margin.server.routes.control_entitlements",
    "margin.server.routes.control_credits",
    "margin.server.routes.control_alerts",
    "margin.server.routes.control_webhooks",
    "margin.server.routes.export",
    "margin.server.routes.keys",
    *COMPAT_ROUTERS,
)


class _MarginApp(FastAPI):
    """FastAPI with two layers outside all of Starlette's: the security headers, and the
    boundary that keeps an unexpected error from closing the connection (they must see the
    500 that Starlette's outermost middleware answers)."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(ErrorBoundary(super().build_middleware_stack()))

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = describe_problems(super().openapi())
        return self.openapi_schema


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, migrate: bool = True
) -> FastAPI:
    """Build the server. Migrations run at start-up unless ``migrate=False``."""
    settings = settings or Settings.from_env()
    db = db or Database(settings.resolved_database_url)
    if migrate:
        db.upgrade()
    app = _MarginApp(
        lifespan=_lifespan,
        title="Margin",
        version=__version__,
        summary="Cost, revenue and margin of AI agents, per customer, agent and outcome.",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(reject_nul_in_path)],
    )
    # Every route reads its JSON body exactly: the app's own (health, docs, dashboard) as the
    # routers' (each made with ``route_class=ExactJsonRoute``).
    app.router.route_class = ExactJsonRoute
    app.state.margin = AppState(settings=settings, db=db, pricer=Pricer(db))
    if settings.queue_url:
        from margin.queue.config import QueueConfig
        from margin.queue.edge import Publisher  # nats-py is needed in queue mode only

        app.state.margin.queue = Publisher(QueueConfig.of(settings.queue_url))
    install_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(NulGuard)
    for name in _ROUTERS:
        app.include_router(importlib.import_module(name).router)
    mount_docs(app)
    _mount_dashboard(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    state: AppState = app.state.margin
    if state.queue is not None:  # its connection lives on this event loop
        await state.queue.close()


def prepare_process() -> None:
    """Ready a server process for a long life, once its app is built (``margin serve`` does
    this in each worker; an embedding application may call it too).

    The price catalog is loaded now rather than by the first request that prices. Then what
    exists so far (modules, the app, the catalog: tens of thousands of objects that live as
    long as the process) is moved out of the garbage collector's view with ``gc.freeze()``.
    A large export allocates enough to trigger full collections, and each would otherwise
    walk all of them again.
    """
    from genai_prices.data_snapshot import get_snapshot

    get_snapshot()
    gc.collect()
    gc.freeze()


def serve_app() -> FastAPI:
    """The app as ``margin serve`` runs it: ``create_app()`` from the environment's settings,
    in a process readied by ``prepare_process``."""
    app = create_app()
    _start_control_worker(app)
    prepare_process()
    return app


def _start_control_worker(app: FastAPI) -> None:
    """Expiring grants, alert rules and webhook deliveries run beside the requests of every
    server process (``MARGIN_CONTROL_WORKER=0`` turns it off in this one)."""
    if os.environ.get("MARGIN_CONTROL_WORKER", "1").strip() == "0":
        return
    from margin.control.worker import ControlWorker

    worker = ControlWorker(app.state.margin.db)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(instance: Any) -> AsyncIterator[Any]:
        worker.start()
        try:
            async with inner(instance) as state:
                yield state
        finally:
            worker.stop()

    app.router.lifespan_context = lifespan


def _mount_dashboard(app: FastAPI) -> None:
    try:
        dashboard = importlib.import_module("margin.dashboard.web")
    except ModuleNotFoundError:
        return
    dashboard.mount(app)
