"""OTLP/HTTP trace export: decode a request body into spans (``decode``), turn GenAI spans
into costs and signal spans into signals (``convert``, ``dedupe``, ``names``), and store all
of it through the ledger (``receive``)."""

from margin.server.otlp.convert import SPAN_COLUMNS, Converted, convert
from margin.server.otlp.decode import JSON, PROTOBUF, OtlpError, Span, TooLarge, decode, span_chunks
from margin.server.otlp.names import AGENT_KEYS, CUSTOMER_KEYS
from margin.server.otlp.receive import CHUNK_SPANS, Received, receive

__all__ = [
    "AGENT_KEYS",
    "CHUNK_SPANS",
    "CUSTOMER_KEYS",
    "JSON",
    "PROTOBUF",
    "SPAN_COLUMNS",
    "Converted",
    "OtlpError",
    "Received",
    "Span",
    "TooLarge",
    "convert",
    "decode",
    "receive",
    "span_chunks",
]
