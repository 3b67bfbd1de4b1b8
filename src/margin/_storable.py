"""A request model base that refuses, field by field, what no store can hold as sent.

Every string and every free-form value (metadata, a configuration) of a model built on
``Storable`` goes through ``margin._payload.check_json`` before its own validation: NUL,
lone surrogates, integers past signed 64 bits, non-finite numbers and over-deep nesting are
refused with a validation error located at the field (so the API answers 422 naming it),
the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from margin._payload import PayloadError, check_json

__all__ = ["Storable"]


class Storable(BaseModel):
    """A strict request model (unknown fields refused, text stripped) whose every field is
    checked by ``check_json`` before anything else."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    #: Fields holding nested ``Storable`` models: those check their own fields, so that a
    #: refusal names the innermost field (``outcomes.0.name``) rather than the list.
    nested: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or "body"
        if name in cls.nested:
            return value
        try:
            check_json(value, name, depth=1)
        except PayloadError as exc:
            # The deeper path (a key of a free-form object) is kept in the detail.
            detail = exc.detail if exc.field == name else f"{exc.field}: {exc.detail}"
            raise PydanticCustomError("storable", "{detail}", {"detail": detail}) from None
        return value
