"""Alembic environment: runs on the connection handed over by ``margin.store.db.upgrade``."""

from __future__ import annotations

from alembic import context

from margin.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when alembic is run by hand
    raise RuntimeError("run migrations with `margin db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    # margin.store.db passes a progress hook for `margin db upgrade`'s progress bar.
    on_version_apply=context.config.attributes.get("on_version_apply"),
)
with context.begin_transaction():
    context.run_migrations()
