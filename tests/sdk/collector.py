"""A loopback fake of the Margin server's ingest endpoints: ``/v1/traces`` (gzip OTLP
protobuf, or gzip Margin span format unless ``takes_spans`` is off) and ``/v1/signals`` (JSON), which can fail, block, stop and restart."""

from __future__ import annotations

import gzip
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from margin.sdk import span_batch


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status_code: int


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind) if kind else None


@dataclass
class Collector:
    """Records what it receives; ``status`` answers every request with that code instead."""

    status: int | None = None
    fail_next: int = 0
    #: Answer 500 to every request whose (decompressed) body holds these bytes.
    poison: bytes | None = None
    retry_after: str | None = None
    #: Whether ``/v1/traces`` takes Margin's span format (else 415, as an OTLP-only server).
    takes_spans: bool = True
    gate: threading.Event = field(default_factory=threading.Event)
    spans: list[ReceivedSpan] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0
    #: Requests whose body was read, the ones ``gate`` holds included.
    arrived: int = 0
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    #: The port, bound but not listening, while the collector is stopped.
    _held: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.gate.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def span_ids(self) -> list[str]:
        return [s.span_id for s in self.spans]

    def start(self) -> None:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with collector._lock:
                    collector.arrived += 1
                collector.gate.wait(30)
                collector.handle(self, body)

            def log_message(self, *args: object) -> None:
                pass

        self._release()
        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (an outage: connections are refused) and keep the port, so that
        ``start`` listens on it again: a socket bound to it that does not listen refuses
        connections as a stopped server does, and no other server (of a test running beside
        this one) is given the port meanwhile and sent this test's spans."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            held = socket.socket()
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
            held.bind(("127.0.0.1", self.port))
            self._held = held

    def close(self) -> None:
        """Stop, and give the port back."""
        self.stop()
        self._release()

    def _release(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._lock:
            self.requests += 1
            self.bodies.append(body)
            self.headers.append(dict(request.headers.items()))
            failing = self.status if self.status is not None else None
            if failing is None and self.fail_next > 0:
                self.fail_next -= 1
                failing = 503
            if failing is None and self.poison is not None:
                raw = gzip.decompress(body) if request.path == "/v1/traces" else body
                if self.poison in raw:
                    failing = 500
            spans_body = request.headers.get("Content-Type") == span_batch.MEDIA_TYPE
            if failing is None and spans_body and not self.takes_spans:
                failing = 415
            if failing is None:
                if request.path == "/v1/traces":
                    self._record_spans(body, spans_body)
                elif request.path == "/v1/signals":
                    self.signals.extend(orjson.loads(body)["items"])
        code = failing or 200
        request.send_response(code)
        if self.retry_after is not None and failing:
            request.send_header("Retry-After", self.retry_after)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def _record_spans(self, body: bytes, spans_body: bool) -> None:
        raw = gzip.decompress(body)
        message = ExportTraceServiceRequest.FromString(
            span_batch.otlp_request(raw) if spans_body else raw
        )
        for resource_spans in message.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={kv.key: _value(kv.value) for kv in span.attributes},
                            status_code=span.status.code,
                        )
                    )
