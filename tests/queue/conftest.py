"""A JetStream server shared by this directory's tests (each test makes its own streams)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nats_support import NatsNode, nats_server


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsNode]:
    with nats_server(tmp_path_factory.mktemp("nats")) as node:
        yield node
