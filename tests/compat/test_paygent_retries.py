"""Why Margin stores every Paygent request as a fact of its own: paygent-sdk 4.9.7 never sends
a request twice. Its only retry is urllib3's ``Retry(total=1)`` with the default methods, which
re-sends a POST only when it could not connect; a request that reached the server is not
re-sent, even when the connection drops before the answer. The SDK sends no idempotency key,
so a repeated request can only come from the application calling again: by Paygent's own
semantics, another usage."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from compat_support import run_script


@pytest.fixture
def hang_up() -> Iterator[tuple[int, list[bytes]]]:
    """A server on 127.0.0.1 that reads each request's head, then closes without answering;
    the request lines it read."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    seen: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                seen.append(head.split(b"\r\n", 1)[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    with contextlib.suppress(OSError):  # wakes the accept() that close() alone leaves blocked
        server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(timeout=5)


def test_a_request_that_reached_the_server_is_never_sent_again(
    hang_up: tuple[int, list[bytes]],
) -> None:
    port, seen = hang_up
    run_script(
        f"""
        from paygent_sdk import Client, UsageData

        paygent = Client(api_key="key")
        paygent.base_url = "http://127.0.0.1:{port}"
        usage = UsageData(service_provider="OpenAI", model="gpt-4o", prompt_tokens=10,
                          completion_tokens=5, total_tokens=15)
        for _ in range(3):
            paygent.send_usage(agent_id="a", customer_id="c", usage_data=usage)
        paygent.send_indicator(agent_id="a", customer_id="c", indicator="meeting-booked")
        paygent._executor.shutdown(wait=True)
        """,
        {},
    )
    # The indicator asks for its customer first (create-or-get), then sends the revenue.
    assert sorted(seen) == [
        b"POST /api/v1/customers/create-or-get HTTP/1.1",
        b"POST /api/v2/revenue HTTP/1.1",
        *[b"POST /api/v2/usage HTTP/1.1"] * 3,
    ]
