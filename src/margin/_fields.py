"""Reading fields of provider responses, whatever their form: a decoded JSON mapping, an SDK
model object (pydantic, dataclass) or any object with attributes. A missing field, or a
missing step on the way to it, reads as None."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["dig", "field", "fields", "to_int"]


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` of a mapping, ``obj.name`` of an object; None when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def dig(obj: Any, *path: str) -> Any:
    """Follow ``path`` through nested mappings and objects; None as soon as a step is missing."""
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    return obj


def fields(obj: Any, *names: str) -> list[Any]:
    """``[field(obj, name) for name in names]``."""
    if obj is None:
        return [None] * len(names)
    if isinstance(obj, Mapping):
        get = obj.get
        return [get(name) for name in names]
    return [getattr(obj, name, None) for name in names]


def to_int(value: Any) -> int | None:
    """An int from an int, an integral float or a digit string; None for anything else
    (bools are not counts, and neither are fractions)."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is float and value.is_integer():
        return int(value)
    if kind is str and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return None
