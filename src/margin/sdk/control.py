"""REST resources of control: features, entitlements and customer units, credit grants and balances, alert rules
and alerts, webhook endpoints and deliveries. The bodies are wide (see the API document, ``/docs``): the
required fields are arguments, the rest pass as keyword fields, sent as given. Amounts are
``Decimal`` or decimal strings, never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, TypeVar

from margin.sdk._operations import Resource, operation

__all__ = ["Alerts", "Credits", "Entitlements", "Features", "Webhooks"]

_R = TypeVar("_R")
_B = TypeVar("_B")

_FEATURE_LIST = operation("GET", "/v1/features")
_FEATURE_CREATE = operation("POST", "/v1/features")
_FEATURE_GET = operation("GET", "/v1/features/{key}")
_ENT_PUT = operation("PUT", "/v1/customers/{customer}/entitlements")
_ENT_LIST = operation("GET", "/v1/customers/{customer}/entitlements")
_ENT_DELETE = operation("DELETE", "/v1/customers/{customer}/entitlements/{feature}")
_ENT_CHECK = operation("GET", "/v1/customers/{customer}/entitlements/{feature}")
_ENT_CHECK_EXT = operation("GET", "/v1/customers/external/{external_id}/entitlements/{feature}")
_UNIT_CREATE = operation("POST", "/v1/customers/{customer}/units")
_UNIT_LIST = operation("GET", "/v1/customers/{customer}/units")
_UNIT_GET = operation("GET", "/v1/customers/{customer}/units/{unit}")
_UNIT_DELETE = operation("DELETE", "/v1/customers/{customer}/units/{unit}")
_UNIT_PATCH = operation("PATCH", "/v1/customers/{customer}/units/{unit}")
_CAP_PUT = operation("PUT", "/v1/customers/{customer}/units/{unit}/cap")
_CAP_GET = operation("GET", "/v1/customers/{customer}/units/{unit}/cap")
_CAP_DELETE = operation("DELETE", "/v1/customers/{customer}/units/{unit}/cap")
_GRANT_CREATE = operation("POST", "/v1/customers/{customer}/credits/grants")
_GRANT_LIST = operation("GET", "/v1/customers/{customer}/credits/grants")
_BALANCES = operation("GET", "/v1/customers/{customer}/credits/balances")
_LEDGER = operation("GET", "/v1/customers/{customer}/credits/ledger")
_RULE_LIST = operation("GET", "/v1/alerts/rules")
_RULE_CREATE = operation("POST", "/v1/alerts/rules")
_ALERT_LIST = operation("GET", "/v1/alerts")
_HOOK_LIST = operation("GET", "/v1/webhooks/endpoints")
_HOOK_CREATE = operation("POST", "/v1/webhooks/endpoints")
_HOOK_GET = operation("GET", "/v1/webhooks/endpoints/{endpoint_id}")
_HOOK_ROTATE = operation("POST", "/v1/webhooks/endpoints/{endpoint_id}/rotate")
_HOOK_TOGGLE = operation("POST", "/v1/webhooks/endpoints/{endpoint_id}/{action}")
_DELIVERY_LIST = operation("GET", "/v1/webhooks/deliveries")
_DELIVERY_REPLAY = operation("POST", "/v1/webhooks/deliveries/{delivery_id}/replay")


def _exact(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields with Decimals as decimal strings; a float is refused (it is not exact)."""
    out = {}
    for name, value in fields.items():
        if isinstance(value, float):
            raise TypeError(f"{name} must be a Decimal, a decimal string or an int")
        out[name] = format(value, "f") if isinstance(value, Decimal) else value
    return out


class Features(Resource[_R, _B]):
    """``/v1/features``: what entitlements grant (backed by a meter, signals or AI cost)."""

    def list(self) -> _R:
        """Every feature (``{"data": [...]}``)."""
        return self._json(_FEATURE_LIST.call())

    def create(self, key: str, **fields: Any) -> _R:
        """Create a feature: ``backed_by`` (``meter``, ``signals``, ``ai_cost``…), ``meter``,
        ``event_name``, ``currency``, ``name``…"""
        return self._json(_FEATURE_CREATE.call(json=_exact({"key": key, **fields})))

    def get(self, key: str) -> _R:
        """One feature by key."""
        return self._json(_FEATURE_GET.call({"key": key}))


class Entitlements(Resource[_R, _B]):
    """``/v1/customers/{customer}/entitlements``: what a customer may use, and checks."""

    def set(self, customer: str, feature: str, unit: str | None = None, **fields: Any) -> _R:
        """Grant or change an entitlement (PUT): ``kind``, ``limit``, ``period``, ``hard``…;
        with ``unit``, the unit's own."""
        body = _exact({"feature": feature, **fields})
        params = {"unit": unit}
        return self._json(_ENT_PUT.call({"customer": customer}, params=params, json=body))

    def list(self, customer: str, unit: str | None = None) -> _R:
        """The customer's entitlements (with ``unit``: the unit's own first)."""
        return self._json(_ENT_LIST.call({"customer": customer}, params={"unit": unit}))

    def remove(self, customer: str, feature: str, unit: str | None = None) -> _R:
        """Take an entitlement away."""
        path = {"customer": customer, "feature": feature}
        return self._json(_ENT_DELETE.call(path, params={"unit": unit}))

    def add_unit(self, customer: str, external_id: str, **fields: Any) -> _R:
        """Create a customer unit (sub-account): ``name``, ``metadata``."""
        body = {"external_id": external_id, **fields}
        return self._json(_UNIT_CREATE.call({"customer": customer}, json=body))

    def units(self, customer: str) -> _R:
        """The customer's units."""
        return self._json(_UNIT_LIST.call({"customer": customer}))

    def unit(self, customer: str, unit: str) -> _R:
        """One unit, by its external id or id."""
        return self._json(_UNIT_GET.call({"customer": customer, "unit": unit}))

    def remove_unit(self, customer: str, unit: str) -> _R:
        """Remove a unit and the entitlements given to it (409 while it holds credits)."""
        return self._json(_UNIT_DELETE.call({"customer": customer, "unit": unit}))

    def update_unit(self, customer: str, unit: str, **fields: Any) -> _R:
        """Change a unit: ``name``, ``external_type``, ``parent`` (None: a top unit),
        ``metadata``; only the fields given change."""
        return self._json(_UNIT_PATCH.call({"customer": customer, "unit": unit}, json=fields))

    def set_unit_cap(
        self, customer: str, unit: str, amount: str | int, currency: str, **fields: Any
    ) -> _R:
        """Cap the credits of ``currency`` the unit and its subtree burn per month
        (``effective_from``); replaces its cap."""
        body = {"amount": amount, "currency": currency, **fields}
        return self._json(_CAP_PUT.call({"customer": customer, "unit": unit}, json=body))

    def unit_cap(self, customer: str, unit: str) -> _R:
        """The unit with its cap and the cap's current period (404 naming ``cap``: none)."""
        return self._json(_CAP_GET.call({"customer": customer, "unit": unit}))

    def remove_unit_cap(self, customer: str, unit: str) -> _R:
        """Remove the unit's cap."""
        return self._json(_CAP_DELETE.call({"customer": customer, "unit": unit}))

    def check(self, customer: str, feature: str, unit: str | None = None) -> _R:
        """Whether the customer (Margin id), or its ``unit``, may use the feature now."""
        path = {"customer": customer, "feature": feature}
        return self._json(_ENT_CHECK.call(path, params={"unit": unit}))

    def check_by_external_id(self, external_id: str, feature: str, unit: str | None = None) -> _R:
        """``check`` by the customer's external id (``margin.check`` caches this one)."""
        path = {"external_id": external_id, "feature": feature}
        return self._json(_ENT_CHECK_EXT.call(path, params={"unit": unit}))


class Credits(Resource[_R, _B]):
    """``/v1/customers/{customer}/credits``: grants, balances and the ledger; ``unit`` names one
    of the customer's units (its external id or id), whose grants its usage burns first."""

    def grant(
        self,
        customer: str,
        currency: str,
        amount: Decimal | str | int,
        *,
        unit: str | None = None,
        **fields: Any,
    ) -> _R:
        """Grant credits: ``priority``, ``effective_at``, ``expires_at``, ``recurrence``…"""
        body = _exact({"currency": currency, "amount": amount, **fields})
        path = {"customer": customer}
        return self._json(_GRANT_CREATE.call(path, params={"unit": unit}, json=body))

    def grants(self, customer: str, unit: str | None = None) -> _R:
        """The customer's own grants, or its unit's."""
        return self._json(_GRANT_LIST.call({"customer": customer}, params={"unit": unit}))

    def balances(self, customer: str, unit: str | None = None) -> _R:
        """The customer's (or its unit's) balance per credit currency."""
        return self._json(_BALANCES.call({"customer": customer}, params={"unit": unit}))

    def ledger(
        self,
        customer: str,
        *,
        currency: str | None = None,
        limit: int | None = None,
        unit: str | None = None,
    ) -> _R:
        """The balance changes (grants, burns, expiries); with ``unit``, those naming it."""
        params = {"currency": currency, "limit": limit, "unit": unit}
        return self._json(_LEDGER.call({"customer": customer}, params=params))


class Alerts(Resource[_R, _B]):
    """``/v1/alerts``: rules on cost, revenue, profit, margin, usage or balance, and what
    fired."""

    def rules(self) -> _R:
        """Every alert rule."""
        return self._json(_RULE_LIST.call())

    def create_rule(self, name: str, metric: str, **fields: Any) -> _R:
        """Create a rule: ``per``, ``customer``, ``currency``, ``period``, thresholds…"""
        body = _exact({"name": name, "metric": metric, **fields})
        return self._json(_RULE_CREATE.call(json=body))

    def list(self, *, state: str | None = None, limit: int | None = None) -> _R:
        """The alerts that fired."""
        return self._json(_ALERT_LIST.call(params={"state": state, "limit": limit}))


class Webhooks(Resource[_R, _B]):
    """``/v1/webhooks``: endpoints (signed per Standard Webhooks) and their deliveries."""

    def endpoints(self) -> _R:
        """Every endpoint."""
        return self._json(_HOOK_LIST.call())

    def create_endpoint(self, url: str, *, event_types: list[str] | None = None) -> _R:
        """Add an endpoint; the answer carries its signing secret (shown once)."""
        body: dict[str, Any] = {"url": url}
        if event_types is not None:
            body["event_types"] = list(event_types)
        return self._json(_HOOK_CREATE.call(json=body))

    def get_endpoint(self, id: str) -> _R:
        """One endpoint."""
        return self._json(_HOOK_GET.call({"endpoint_id": id}))

    def rotate_secret(self, id: str) -> _R:
        """A new signing secret for the endpoint."""
        return self._json(_HOOK_ROTATE.call({"endpoint_id": id}))

    def set_enabled(self, id: str, enabled: bool) -> _R:
        """Enable or disable deliveries to the endpoint."""
        action: Literal["enable", "disable"] = "enable" if enabled else "disable"
        return self._json(_HOOK_TOGGLE.call({"endpoint_id": id, "action": action}))

    def deliveries(self, *, endpoint_id: str | None = None, limit: int | None = None) -> _R:
        """Deliveries, newest first, with their attempts."""
        params = {"endpoint_id": endpoint_id, "limit": limit}
        return self._json(_DELIVERY_LIST.call(params=params))

    def replay(self, delivery_id: str) -> _R:
        """Deliver again."""
        return self._json(_DELIVERY_REPLAY.call({"delivery_id": delivery_id}))
