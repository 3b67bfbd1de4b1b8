"""Exchange rates and currency conversion.

An organization manages its own rates (``margin.fx.rates``: set by API or CLI, imported from
a CSV or the ECB's reference-rate XML by ``margin.fx.files``); ``margin.fx.conversion``
converts figures with them to the organization's reporting currency
(``margin.store.organization``). Nothing here fetches rates from the network.
"""

from __future__ import annotations

from margin.fx.conversion import (
    LOOKBACK_DAYS,
    Conversion,
    Method,
    Quote,
    RateTable,
    Total,
    convert,
    convert_many,
    rate_table,
)
from margin.fx.files import (
    FORMATS,
    Format,
    Imported,
    RateFile,
    RateFileError,
    detect_format,
    import_rates,
    read_rates,
)
from margin.fx.rates import (
    RATE_DIGITS,
    Rate,
    RateError,
    Written,
    check_rate,
    delete_rate,
    get_rate,
    list_rates,
    parse_day,
    parse_rate,
    set_rates,
)

__all__ = [
    "FORMATS",
    "LOOKBACK_DAYS",
    "RATE_DIGITS",
    "Conversion",
    "Format",
    "Imported",
    "Method",
    "Quote",
    "Rate",
    "RateError",
    "RateFile",
    "RateFileError",
    "RateTable",
    "Total",
    "Written",
    "check_rate",
    "convert",
    "convert_many",
    "delete_rate",
    "detect_format",
    "get_rate",
    "import_rates",
    "list_rates",
    "parse_day",
    "parse_rate",
    "rate_table",
    "read_rates",
    "set_rates",
]
