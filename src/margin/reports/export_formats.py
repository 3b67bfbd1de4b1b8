"""The file formats of an export: CSV, JSON Lines and Parquet, each encoded chunk by chunk
so that a stream of rows becomes a stream of bytes without ever holding the whole file.

Amounts stay decimal strings in every format (a float column would round them). In CSV an
absent value is an empty field and a document (``usage``, ``data``) is its JSON text; JSON
Lines keeps documents as objects; Parquet has one row group per chunk, documents as JSON
text, booleans and integers typed. Parquet needs ``pyarrow`` (``pip install
'margin[export]'``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import orjson

from margin.reports.export import Column

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "ExportFormat",
    "ParquetUnavailable",
    "encode",
    "require_parquet",
]

ExportFormat = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl", "parquet")
MEDIA_TYPES: dict[ExportFormat, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl",
    "parquet": "application/vnd.apache.parquet",
}


class ParquetUnavailable(RuntimeError):
    """Parquet was asked for and ``pyarrow`` is not installed."""


def require_parquet() -> None:
    """Raise ``ParquetUnavailable`` unless Parquet can be written here."""
    try:
        import pyarrow.parquet  # type: ignore[import-untyped, unused-ignore]  # noqa: F401
    except ImportError:
        raise ParquetUnavailable("Parquet needs pyarrow: pip install 'margin[export]'") from None


def _text(value: Any, column: Column) -> Any:
    if value is None:
        return None
    if column.type == "json":
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value


def _csv(columns: Sequence[Column], chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.name for c in columns])
    for chunk in chunks:
        for row in chunk:
            out = []
            for c in columns:
                value = _text(row[c.name], c)
                if c.type == "bool" and value is not None:
                    value = "true" if value else "false"
                out.append("" if value is None else value)
            writer.writerow(out)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # the header of an empty export
        yield buffer.getvalue().encode()


def _jsonl(columns: Sequence[Column], chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    names = [c.name for c in columns]
    for chunk in chunks:
        yield b"".join(orjson.dumps({n: row[n] for n in names}) + b"\n" for row in chunk)


class _Spool(io.RawIOBase):
    """A write-only file that keeps what was written until it is taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        part = bytes(data)
        self._parts.append(part)
        self._written += len(part)
        return len(part)

    def tell(self) -> int:
        return self._written

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def _parquet(columns: Sequence[Column], chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    types = {"text": pa.string(), "json": pa.string(), "bool": pa.bool_(), "int": pa.int64()}
    schema = pa.schema([pa.field(c.name, types[c.type]) for c in columns])
    spool = _Spool()
    writer = pq.ParquetWriter(spool, schema, compression="zstd")
    try:
        for chunk in chunks:
            arrays = {c.name: [_text(row[c.name], c) for row in chunk] for c in columns}
            writer.write_table(pa.table(arrays, schema=schema))
            yield spool.take()
    finally:
        writer.close()
    yield spool.take()


def encode(
    format: ExportFormat, columns: Sequence[Column], chunks: Iterable[list[dict[str, Any]]]
) -> Iterator[bytes]:
    """The bytes of the file, one piece per chunk of rows (plus a header or footer)."""
    if format == "csv":
        return _csv(columns, chunks)
    if format == "jsonl":
        return _jsonl(columns, chunks)
    require_parquet()
    return _parquet(columns, chunks)
