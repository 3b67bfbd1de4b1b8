"""OTLP/HTTP trace export: ``decode`` a request body into spans, turn GenAI spans into costs
and signal spans into signals (``convert``, with ``dedupe`` and the vendor attribute
``names``), and store all of it through the ledger (``exports.receive``)."""

from margin.server.otlp.exports import CHUNK_SPANS, Received, receive

__all__ = ["CHUNK_SPANS", "Received", "receive"]
