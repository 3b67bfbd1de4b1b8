"""A loopback OTLP/HTTP collector in its own process, for the SDK benchmarks.

It counts the spans it receives on ``/v1/traces`` (OTLP protobuf or Margin's span format,
gzip or not) and their distinct span ids, and can stop listening and listen again on the
same port (an outage) while it keeps its counts. Its decoding runs in another process, as a
real server's does, so it does not compete with the measured process for the GIL."""

from __future__ import annotations

import gzip
import multiprocessing
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from margin.sdk import span_batch

__all__ = ["Collector"]


def _serve(commands: Connection) -> None:
    span_ids: set[bytes] = set()
    counts = {"received": 0, "requests": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn serves Margin

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.headers.get("Content-Type") == span_batch.MEDIA_TYPE:
                body = span_batch.otlp_request(body)
            request = ExportTraceServiceRequest.FromString(body)
            with lock:
                counts["requests"] += 1
                for rs in request.resource_spans:
                    for ss in rs.scope_spans:
                        counts["received"] += len(ss.spans)
                        span_ids.update(s.span_id for s in ss.spans)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    def listen(port: int) -> ThreadingHTTPServer:
        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return server

    server: ThreadingHTTPServer | None = listen(0)
    port = server.server_address[1]
    commands.send(port)
    while True:
        command = commands.recv()
        if command == "stop" and server is not None:
            server.shutdown()
            server.server_close()
            server = None
        elif command == "start" and server is None:
            server = listen(port)
        elif command == "reset":
            with lock:
                span_ids.clear()
                counts.update(received=0, requests=0)
        elif command == "counts":
            with lock:
                commands.send((counts["received"], len(span_ids)))
            continue
        elif command == "requests":
            with lock:
                commands.send(counts["requests"])
            continue
        elif command == "exit":
            return
        commands.send("ok")


class Collector:
    """The collector process; ``url`` is its base URL."""

    def __init__(self) -> None:
        self._commands, theirs = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_serve, args=(theirs,), daemon=True)
        self.process.start()
        self.port: int = self._commands.recv()
        self.url = f"http://127.0.0.1:{self.port}"

    def _ask(self, command: str) -> object:
        self._commands.send(command)
        return self._commands.recv()

    def counts(self) -> tuple[int, int]:
        """(spans received, distinct span ids) since the last ``reset``."""
        received, unique = self._ask("counts")  # type: ignore[misc]
        return received, unique

    def requests(self) -> int:
        """Requests received since the last ``reset``."""
        return self._ask("requests")  # type: ignore[return-value]

    def reset(self) -> None:
        self._ask("reset")

    def stop_listening(self) -> None:
        """An outage: connections are refused until ``listen`` (the counts are kept)."""
        self._ask("stop")

    def listen(self) -> None:
        self._ask("start")

    def close(self) -> None:
        self._commands.send("exit")
        self.process.join(timeout=10)
