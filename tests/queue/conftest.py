"""A JetStream server shared by this directory's tests (each test makes its own streams), and
after each test the streams nats-py dropped unclosed closed in that test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nats_support import NatsNode, close_stray_streams, nats_server


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsNode]:
    with nats_server(tmp_path_factory.mktemp("nats")) as node:
        yield node
    close_stray_streams()


@pytest.fixture(autouse=True)
def _no_stray_streams() -> Iterator[None]:
    yield
    close_stray_streams()
