"""Rate files: a CSV (``date,base,quote,rate``) or the ECB's reference-rate XML
(``eurofxref-daily.xml``, ``eurofxref-hist.xml``), read into rates and stored.

A file is stored whole or not at all: any bad line refuses the file, and the error names the
line (or the ECB ``Cube``) and the field. The XML is read with ``defusedxml`` and no DTD is
allowed (the ECB's files have none), so entity tricks cannot blow it up.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Literal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from sqlalchemy import Connection

from margin.fx.rates import Rate, RateError, check_rate, set_rates

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "Format",
    "Imported",
    "RateFile",
    "RateFileError",
    "detect_format",
    "import_rates",
    "parse_csv",
    "parse_ecb",
    "read_rates",
]

Format = Literal["csv", "ecb"]
FORMATS: tuple[Format, ...] = ("csv", "ecb")
CSV_COLUMNS = ("date", "base", "quote", "rate")
_OPTIONAL = ("source",)
_MAX_ERRORS = 20


@dataclass(frozen=True)
class FileProblem:
    """One bad entry: where (``line`` of a CSV, or an ECB ``Cube``), which field, why."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


class RateFileError(ValueError):
    """A file that cannot be imported; ``problems`` lists the bad entries (at most 20)."""

    def __init__(self, problems: list[FileProblem]) -> None:
        super().__init__(str(problems[0]))
        self.problems = problems
        self.field = problems[0].field


@dataclass(frozen=True)
class Imported:
    """What an import stored."""

    format: Format
    rates: int
    created: int
    updated: int
    unchanged: int
    first_date: date
    last_date: date
    currencies: tuple[str, ...]


def detect_format(data: bytes) -> Format:
    """``ecb`` for XML (the body starts with ``<``), else ``csv``."""
    return "ecb" if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") else "csv"


@dataclass(frozen=True)
class RateFile:
    """The rates read from a file, ready to store."""

    format: Format
    rates: list[Rate]


def read_rates(data: bytes, format: Format | None = None) -> RateFile:
    """The rates of a file, in the given format or the detected one. Reading needs no store,
    so a caller reads before it opens a write transaction."""
    chosen = format or detect_format(data)
    return RateFile(chosen, parse_ecb(data) if chosen == "ecb" else parse_csv(data))


def import_rates(conn: Connection, org_id: str, file: RateFile) -> Imported:
    """Store a file's rates (replacing those of the same pair and date)."""
    written = set_rates(conn, org_id, file.rates)
    days = [r.day for r in file.rates]
    return Imported(
        format=file.format,
        rates=len(file.rates),
        created=written.created,
        updated=written.updated,
        unchanged=written.unchanged,
        first_date=min(days),
        last_date=max(days),
        currencies=tuple(sorted({c for r in file.rates for c in (r.base, r.quote)})),
    )


class _Collector:
    """Rates keyed by (base, quote, day), with the problems found on the way."""

    def __init__(self) -> None:
        self.rates: dict[tuple[str, str, date], Rate] = {}
        self.problems: list[FileProblem] = []

    def add(self, where: str, fields: tuple[object, ...]) -> None:
        try:
            rate = check_rate(*fields)
        except RateError as exc:
            self.fail(where, exc.field, exc.message)
            return
        key = (rate.base, rate.quote, rate.day)
        seen = self.rates.get(key)
        if seen is not None and seen.rate != rate.rate:
            self.fail(where, "rate", f"a different rate for {key[0]}/{key[1]} on {key[2]}")
        self.rates[key] = rate

    def fail(self, where: str, field: str, message: str) -> None:
        self.problems.append(FileProblem(where, field, message))
        if len(self.problems) >= _MAX_ERRORS:
            raise RateFileError(self.problems)

    def result(self) -> list[Rate]:
        if self.problems:
            raise RateFileError(self.problems)
        if not self.rates:
            raise RateFileError([FileProblem("file", "body", "holds no rates")])
        return list(self.rates.values())


def parse_csv(data: bytes) -> list[Rate]:
    """Rates from CSV text with a header naming ``date, base, quote, rate`` (any order) and
    optionally ``source`` (default ``csv``). Blank lines are skipped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RateFileError([FileProblem("file", "body", f"is not UTF-8 text ({exc})")]) from None
    collected = _Collector()
    rows = _csv_rows(text)
    header = next(rows, None)
    if header is None:
        raise RateFileError([FileProblem("file", "body", "holds no rates")])
    line, names = header
    columns = [name.strip().lower() for name in names]
    unknown = [c for c in columns if c not in (*CSV_COLUMNS, *_OPTIONAL)]
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if unknown or missing or len(set(columns)) != len(columns):
        expected = "date, base, quote, rate and optionally source, each once"
        raise RateFileError([FileProblem(f"line {line}", "header", f"must name {expected}")])
    for line, values in rows:
        if len(values) != len(columns):
            collected.fail(f"line {line}", "body", f"has {len(values)} fields, not {len(columns)}")
            continue
        row = {name: value.strip() for name, value in zip(columns, values, strict=True)}
        source = row.get("source") or "csv"
        collected.add(f"line {line}", (row["base"], row["quote"], row["date"], row["rate"], source))
    return collected.result()


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for values in reader:
            if any(v.strip() for v in values):
                yield reader.line_num, values
    except csv.Error as exc:
        where = f"line {reader.line_num}"
        raise RateFileError([FileProblem(where, "body", f"is not valid CSV ({exc})")]) from None


def parse_ecb(data: bytes) -> list[Rate]:
    """Rates from the ECB's reference-rate XML: each ``<Cube time="…">`` holds
    ``<Cube currency="USD" rate="1.0867"/>`` entries, meaning 1 EUR = 1.0867 USD."""
    collected = _Collector()
    day: str | None = None
    try:
        for event, element in iterparse(io.BytesIO(data), ("start", "end"), forbid_dtd=True):
            if element.tag.rpartition("}")[2] != "Cube":
                continue
            if "time" in element.attrib:
                day = element.attrib["time"] if event == "start" else None
                if event == "end":
                    element.clear()
            elif event == "end" and "currency" in element.attrib:
                currency = element.attrib["currency"]
                where = f"Cube time={day!r} currency={currency!r}"
                if day is None:
                    collected.fail(where, "time", "a rate must be inside a Cube with a time")
                    continue
                rate = element.attrib.get("rate", "")
                collected.add(where, ("EUR", currency, day, rate, "ecb"))
    except (SyntaxError, DefusedXmlException) as exc:
        # ElementTree's ParseError is a SyntaxError; defusedxml refuses DTDs and entities.
        reason = str(exc) or type(exc).__name__
        raise RateFileError([FileProblem("file", "body", f"is not ECB XML ({reason})")]) from None
    return collected.result()
