"""A signal's manual cost (Paid's ``data.costData``), checked as any cost is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from margin.server.items import CostIn

__all__ = ["signal_cost"]

_MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model")
_COST_DATA = "data.costData"


def signal_cost(cost_data: Mapping[str, Any]) -> tuple[CostIn | None, tuple[str, str] | None]:
    """The cost a signal's ``data.costData`` records (``vendor``, ``cost.amount`` and
    ``cost.currency`` (default USD), or usage in ``attributes``; the model in
    ``attributes`` or ``gen_ai.response.model``), validated as any cost is: (the cost, None),
    (None, None) when it records none, or (None, (field, detail)) naming what is wrong."""
    cost, attributes = cost_data.get("cost"), cost_data.get("attributes")
    item: dict[str, Any] = {}
    where = {"provider": f"{_COST_DATA}.vendor"}
    if cost_data.get("vendor") is not None:
        item["provider"] = cost_data["vendor"]
    model, where["model"] = (
        cost_data.get("gen_ai.response.model"),
        f"{_COST_DATA}.gen_ai.response.model",
    )
    if isinstance(attributes, Mapping):
        for key in _MODEL_KEYS:
            if attributes.get(key):
                model, where["model"] = attributes[key], f"{_COST_DATA}.attributes.{key}"
                break
    if model is not None:
        item["model"] = model
    if isinstance(cost, Mapping) and "amount" in cost:
        item["amount"] = cost["amount"]
        item["currency"] = cost.get("currency") or "USD"
        where.update(amount=f"{_COST_DATA}.cost.amount", currency=f"{_COST_DATA}.cost.currency")
    elif isinstance(attributes, Mapping) and attributes:
        item["usage"] = dict(attributes)
        where["usage"] = f"{_COST_DATA}.attributes"
    else:
        return None, None
    try:
        return CostIn.model_validate(item), None
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(p) for p in error.get("loc", ())]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        name = where.get(loc[0], _COST_DATA) if loc else _COST_DATA
        return None, (name, message)
