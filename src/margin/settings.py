"""Server settings, read from ``MARGIN_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings"]


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


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
    #: OTLP exports a process decodes and stores at once; more are answered 429.
    max_otlp_exports: int = 4

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``MARGIN_*`` variables; keyword arguments win over the environment."""
        values: dict[str, object] = {
            "data_dir": Path(os.environ.get("MARGIN_DATA_DIR", ".margin")),
            "database_url": os.environ.get("MARGIN_DATABASE_URL") or None,
            "auto_create_customers": _bool("MARGIN_AUTO_CREATE_CUSTOMERS", True),
            "max_body_bytes": _int("MARGIN_MAX_BODY_BYTES", 16 * 1024 * 1024),
            "max_batch_items": _int("MARGIN_MAX_BATCH_ITEMS", 10_000),
            "max_future_seconds": _int("MARGIN_MAX_FUTURE_SECONDS", 24 * 3600),
            "default_currency": os.environ.get("MARGIN_DEFAULT_CURRENCY", "USD"),
            "max_otlp_exports": _int("MARGIN_MAX_OTLP_EXPORTS", 4),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def resolved_database_url(self) -> str:
        """The database URL: ``MARGIN_DATABASE_URL``, else a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'margin.db').resolve()}"
