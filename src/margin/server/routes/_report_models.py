"""Response models of ``/v1/reports``, so that ``/openapi.json`` describes every answer.

Money is an exact decimal string in the row's currency; ``null`` means *not tracked*
(a tracking mode, or a figure that cannot exist, such as revenue per model), never zero.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CostPerOutcomeReport",
    "MarginReport",
    "Overview",
    "SummaryReport",
    "UnitEconomicsReport",
]

Money = Annotated[str | None, Field(description="Exact decimal string; null: not tracked.")]
Pct = Annotated[str | None, Field(description="Percent, two decimals; null: undefined.")]
Time = Annotated[str, Field(description="RFC 3339, UTC.")]


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class CostBySource(_Out):
    """Cost split by where it comes from."""

    ai: Money = Field(description="Recorded costs that name a model.")
    manual: Money = Field(description="Recorded costs that name no model.")
    meter: Money = Field(description="Events measured by cost meters.")


class Unconverted(_Out):
    """Figures of one original currency that had no exchange rate for their date: kept
    apart, never counted as zero, never added to the converted figures."""

    currency: str
    cost: Money = Field(None, description="Cost without a rate (null: none).")
    revenue: Money = Field(None, description="Revenue without a rate (null: none).")


class RateUsed(_Out):
    """A rate a converted report used for the figures of one currency and UTC date."""

    currency: str = Field(description="The figures' original currency.")
    date: str = Field(description="The figures' UTC date, YYYY-MM-DD.")
    rate: str | None = Field(description="1 unit of currency in the report's; null: none.")
    rate_date: str | None = Field(description="The date of the rate applied.")
    method: str | None = Field(description="direct | inverse | cross")
    via: str | None = Field(description="The common currency of a cross rate.")


Missing = Annotated[
    list[Unconverted] | None,
    Field(description="Converted reports: figures without a rate, per original currency."),
]
Rates = Annotated[list[RateUsed] | None, Field(description="Converted reports: the rates used.")]


class Figures(_Out):
    cost: Money
    revenue: Money
    profit: Money
    margin_pct: Pct


class Changes(_Out):
    cost: Pct
    revenue: Pct
    profit: Pct


class ReportRow(_Out):
    """One group (and window) in one currency."""

    key: dict[str, str | None] | None = Field(
        description='Dimension → id (null for the "Other" row).'
    )
    label: str
    is_other: bool
    currency: str
    cost: Money
    cost_by_source: CostBySource | None
    revenue: Money
    profit: Money
    margin_pct: Pct
    signals: int
    records: int = Field(description="Cost records.")
    unpriced: int = Field(description="Cost records stored without a price.")
    window_start: Time | None = Field(None, description="With ``window``: the window's start.")
    prior: Figures | None = Field(None, description="With ``compare``: the prior period.")
    change_pct: Changes | None = Field(None, description="With ``compare``: change in %.")
    unconverted: Missing = None


class Totals(_Out):
    currency: str
    cost: Money
    revenue: Money
    profit: Money
    margin_pct: Pct
    unconverted: Missing = None


class MarginReport(_Out):
    from_: Time = Field(alias="from")
    to: Time
    tz: str
    group_by: list[str]
    window: str | None
    rows: list[ReportRow]
    totals: list[Totals]
    currency: str | None = Field(None, description="Converted reports: the currency.")
    rates: Rates = None


class CostPerOutcomeRow(_Out):
    key: dict[str, str | None] | None
    label: str
    currency: str
    outcomes: int
    cost: Money
    cost_per_outcome: Money
    revenue_per_outcome: Money
    unconverted: Missing = None


class CostPerOutcomeReport(_Out):
    from_: Time = Field(alias="from")
    to: Time
    event_name: str
    currency: str | None = None
    rates: Rates = None
    rows: list[CostPerOutcomeRow]


class UnitEconomicsRow(ReportRow):
    revenue_per_outcome: Money
    cost_per_outcome: Money
    profit_per_outcome: Money


class UnitEconomicsReport(_Out):
    from_: Time = Field(alias="from")
    to: Time
    currency: str | None = None
    rates: Rates = None
    rows: list[UnitEconomicsRow]


class SummaryRow(_Out):
    key: str | None
    label: str
    currency: str | None = Field(description="Null for a group that only has signals.")
    cost: Money
    revenue: Money
    records: int
    unpriced: int
    signals: int
    unconverted: Missing = None


class CostTotal(_Out):
    currency: str
    cost: Money
    unconverted: Missing = None


class SummaryReport(_Out):
    from_: Time = Field(alias="from")
    to: Time
    group_by: str
    rows: list[SummaryRow]
    totals: list[CostTotal]
    currency: str | None = None
    rates: Rates = None


class Part(_Out):
    """One part of the headline profit."""

    part: str = Field(
        description="customers_with_profit | cost_without_revenue | revenue_without_cost"
    )
    reason: str | None = Field(description="Why the other figure is not tracked.")
    customers: int
    amount: Money = Field(description="What the part adds to the profit (negative: cost).")


class OverviewTotal(_Out):
    currency: str
    cost: Money
    cost_by_source: CostBySource | None
    revenue: Money
    profit: Money
    margin_pct: Pct
    signals: int
    records: int
    unpriced: int
    prior: Figures
    change_pct: Changes
    parts: list[Part] = Field(description="The parts that add up to ``profit``.")
    notes: list[str] = Field(description="The parts that need saying, for people.")
    unconverted: Missing = None


class SeriesPoint(_Out):
    date: str = Field(description="The local day, YYYY-MM-DD.")
    window_start: Time
    currency: str
    cost: Money
    revenue: Money
    profit: Money
    unconverted: Missing = None


class SourceCost(_Out):
    source: str
    currency: str
    cost: Money
    unconverted: Missing = None


class Period(_Out):
    from_: Time = Field(alias="from")
    to: Time


class Unpriced(_Out):
    records: int


class UnassignedCost(_Out):
    """Cost recorded for no customer: its traces name none (see /v1/organization/attribution)."""

    currency: str
    cost: Money
    records: int


class ModelName(_Out):
    provider: str | None
    model: str | None = Field(description="The name as reported (a snapshot or an alias).")
    label: str
    cost: Money
    records: int
    unpriced: int
    unconverted: Missing = None


class CatalogModelCost(_Out):
    provider: str | None
    model: str | None = Field(description="The catalog model; the reported name if unknown.")
    in_catalog: bool
    is_other: bool
    label: str
    currency: str | None
    cost: Money
    records: int
    unpriced: int
    snapshots: list[ModelName] = Field(description="The names reported for this model.")
    unconverted: Missing = None


class Overview(_Out):
    from_: Time = Field(alias="from")
    to: Time
    tz: str
    currency: str | None = None
    rates: Rates = None
    prior: Period
    totals: list[OverviewTotal]
    series: list[SeriesPoint]
    top_customers: list[ReportRow]
    top_agents: list[ReportRow]
    cost_by_provider: list[ReportRow]
    cost_by_model: list[ReportRow]
    cost_by_catalog_model: list[CatalogModelCost]
    cost_by_source: list[SourceCost]
    unpriced: Unpriced
    unassigned: list[UnassignedCost] = Field(
        description="Per currency, the cost recorded for no customer (a warning)."
    )
