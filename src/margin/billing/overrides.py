"""An order's price overrides: checked, normalised and applied to its plan's charges.

Overrides are stored as the caller would have written them exactly: each amount as its
normalised decimal string (never a JSON float), so what is echoed is what is billed.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from margin.billing.errors import BillingError
from margin.billing.plan_charges import STORED, UsageIn, money

__all__ = ["apply_overrides", "effective_charges", "normalise_overrides"]

_SECTIONS = ("outcomes", "fees", "usage", "minimum")
#: What identifies a usage charge: the plan's, never an order's.
_FIXED = ("key", "meter")


def _refuse(field: str, reason: str) -> BillingError:
    return BillingError(422, f"{field}: {reason}", field)


def _amount(value: Any, field: str, *, new: bool, negative: bool = False) -> str:
    try:
        return money(value, negative=negative, whole_nanos=new)
    except ValueError as exc:
        raise _refuse(field, str(exc)) from None


def _section(overrides: dict[str, Any], section: str) -> dict[str, Any]:
    given = overrides.get(section) or {}
    if not isinstance(given, dict):
        raise _refuse(f"overrides.{section}", "must be an object")
    return given


def _prices(
    charges: dict[str, Any], overrides: dict[str, Any], section: str, *, new: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """An outcome's price or a fee's amount, by event name or key."""
    id_field, price_field = ("event_name", "price") if section == "outcomes" else ("key", "amount")
    index = {c[id_field]: c for c in charges[section]}
    normal = {}
    for key, value in _section(overrides, section).items():
        field = f"overrides.{section}.{key}"
        if key not in index:
            raise _refuse(field, "the plan has no such charge")
        if index[key].get("credit_currency"):
            raise _refuse(field, "the outcome is paid in credits")
        normal[key] = _amount(value, field, new=new, negative=section == "outcomes")
        index[key][price_field] = normal[key]
    return charges, normal


def _usage_patch(
    charge: dict[str, Any], patch: Any, *, new: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A usage charge with its patch applied, and the patch with normalised amounts."""
    at = f"overrides.usage.{charge['key']}"
    if not isinstance(patch, dict):
        raise _refuse(at, "must be an object")
    for name in _FIXED if new else ():
        if name in patch and patch[name] != charge[name]:
            reason = f"an order overrides prices; the charge's {name} is the plan's"
            raise _refuse(f"{at}.{name}", reason)
    try:
        context = None if new else STORED
        merged = UsageIn.model_validate({**charge, **patch}, context=context).model_dump()
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        field = at + (f".{where}" if where else "")
        detail = str(error["msg"]).removeprefix("Value error, ")
        raise _refuse(field, detail) from None
    return merged, {name: merged[name] for name in patch}


def _overridden(
    charges: dict[str, Any], overrides: dict[str, Any], *, new: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The charges with the overrides applied, and the overrides normalised."""
    for section in overrides:
        if section not in _SECTIONS:
            raise _refuse(f"overrides.{section}", "unknown section")
    out = copy.deepcopy(charges)
    normal: dict[str, Any] = {}
    if "minimum" in overrides:
        value = overrides["minimum"]
        minimum = None if value is None else _amount(value, "overrides.minimum", new=new)
        out["minimum"] = normal["minimum"] = minimum
    for section in ("outcomes", "fees"):
        if section in overrides:
            out, normal[section] = _prices(out, overrides, section, new=new)
    usage = _section(overrides, "usage")
    unknown = set(usage) - {c["key"] for c in out["usage"]}
    if unknown:
        raise _refuse(f"overrides.usage.{sorted(unknown)[0]}", "the plan has no such charge")
    patches = {}
    for position, charge in enumerate(out["usage"]):
        if charge["key"] in usage:
            out["usage"][position], patches[charge["key"]] = _usage_patch(
                charge, usage[charge["key"]], new=new
            )
    if "usage" in overrides:
        normal["usage"] = patches
    return out, normal


def apply_overrides(charges: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Charges with an order's overrides applied; raises ``BillingError`` (a ``ValueError``,
    422) naming the field."""
    # A stored order is billed as it was taken (a meter it overrides, an amount under a
    # nano-unit, taken before they were refused): refusing here would fail every read of it.
    return _overridden(charges, overrides, new=False)[0]


def normalise_overrides(charges: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """An order's overrides as stored: each amount a normalised decimal string. Raises
    ``BillingError`` (422) naming the field."""
    return _overridden(charges, overrides, new=True)[1]


def effective_charges(plan: dict[str, Any], order: dict[str, Any]) -> dict[str, Any]:
    """The charges an order bills: its plan's, with the order's overrides (the plan's own
    document, not a copy, when there are none: callers read charges, never change them)."""
    if not order["overrides"]:
        return plan["charges"]  # type: ignore[no-any-return]
    return apply_overrides(plan["charges"], order["overrides"])
