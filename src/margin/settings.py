"""Server settings, read from ``MARGIN_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "SettingsError", "display_url", "env_int", "normalize_database_url"]


class SettingsError(ValueError):
    """A setting that cannot be used as given (the message names the variable)."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 1) -> int:
    """The whole number in environment variable ``name`` (``default`` when unset or blank),
    at least ``minimum``; raises ``SettingsError`` naming the variable."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


# What PostgreSQL users type, and what SQLAlchemy needs to pick the psycopg 3 driver.
_POSTGRES_SCHEMES = ("postgres://", "postgresql://")
_POSTGRES_DRIVER = "postgresql+psycopg://"


def normalize_database_url(url: str) -> str:
    """``postgres://…`` and ``postgresql://…`` (libpq's spellings) as ``postgresql+psycopg://…``;
    any other URL unchanged."""
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return _POSTGRES_DRIVER + url[len(scheme) :]
    return url


def display_url(url: str) -> str:
    """``url`` safe to print or log: a password is shown as ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not a URL SQLAlchemy can read: show the scheme only, the rest may hold a secret.
        return url.split("://", 1)[0] + "://…" if "://" in url else "(unreadable URL)"


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. ``Settings.from_env()`` reads the environment."""

    data_dir: Path = field(default_factory=lambda: Path(".margin"))
    database_url: str | None = None
    auto_create_customers: bool = True
    max_body_bytes: int = 16 * 1024 * 1024
    max_batch_items: int = 10_000
    max_future_seconds: int = 24 * 3600
    default_currency: str = "USD"
    #: How long a dashboard sign-in lasts, from sign-in (absolute, not renewed by use).
    session_ttl_seconds: int = 12 * 3600
    #: OTLP exports a process decodes and stores at once; more are answered 429.
    max_otlp_exports: int = 4
    #: NATS servers (``nats://host:port,…``): ingest goes through JetStream (queue mode).
    queue_url: str | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``MARGIN_*`` variables; keyword arguments win over the environment.
        Raises ``SettingsError`` naming the variable when one is malformed."""
        values: dict[str, object] = {
            "data_dir": Path(os.environ.get("MARGIN_DATA_DIR") or ".margin"),
            "database_url": os.environ.get("MARGIN_DATABASE_URL") or None,
            "auto_create_customers": _bool("MARGIN_AUTO_CREATE_CUSTOMERS", True),
            "max_body_bytes": env_int("MARGIN_MAX_BODY_BYTES", 16 * 1024 * 1024),
            "max_batch_items": env_int("MARGIN_MAX_BATCH_ITEMS", 10_000),
            "max_future_seconds": env_int("MARGIN_MAX_FUTURE_SECONDS", 24 * 3600, minimum=0),
            "default_currency": os.environ.get("MARGIN_DEFAULT_CURRENCY") or "USD",
            "session_ttl_seconds": env_int("MARGIN_SESSION_TTL_SECONDS", 12 * 3600, minimum=60),
            "max_otlp_exports": env_int("MARGIN_MAX_OTLP_EXPORTS", 4, minimum=1),
            "queue_url": os.environ.get("MARGIN_QUEUE_URL") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def resolved_database_url(self) -> str:
        """The database URL: ``MARGIN_DATABASE_URL`` (PostgreSQL spellings normalised to the
        psycopg driver), else a SQLite file in the data dir."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{self.sqlite_path}"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file used when no database URL is set."""
        return (self.data_dir / "margin.db").resolve()

    @property
    def display_database_url(self) -> str:
        """The database URL with any password masked, for printing."""
        return display_url(self.resolved_database_url)
