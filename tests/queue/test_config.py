"""Queue mode's settings, and what a server in direct mode says about the queue."""

from __future__ import annotations

import pytest

from margin.queue.config import QueueConfig
from margin.settings import SettingsError
from margin_testing import Api


def test_no_url_is_direct_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARGIN_QUEUE_URL", raising=False)
    assert QueueConfig.from_env() is None


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGIN_QUEUE_URL", "nats://a:4222, nats://b:4222")
    monkeypatch.setenv("MARGIN_QUEUE_REPLICAS", "3")
    monkeypatch.setenv("MARGIN_QUEUE_ACK_WAIT", "7")
    config = QueueConfig.from_env()
    assert config is not None
    assert config.servers == ["nats://a:4222", "nats://b:4222"]
    assert (config.replicas, config.ack_wait, config.max_deliver) == (3, 7.0, 5)
    assert config.ingest_subject("org_1a2b") == "margin.ingest.org_1a2b"
    # An id a subject cannot hold is replaced by its digest (the id travels in a header).
    assert config.dead_letter_subject("a.b").startswith("margin.dead.h")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MARGIN_QUEUE_URL", "http://x:4222", "MARGIN_QUEUE_URL must list nats://host:port"),
        ("MARGIN_QUEUE_REPLICAS", "0", "MARGIN_QUEUE_REPLICAS must be at least 1, not 0"),
        ("MARGIN_QUEUE_MAX_DELIVER", "many", "MARGIN_QUEUE_MAX_DELIVER must be a whole number"),
    ],
)
def test_a_malformed_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv("MARGIN_QUEUE_URL", "nats://a:4222")
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        QueueConfig.from_env()


def test_direct_mode_health_and_no_dead_letters(api: Api) -> None:
    health = api.client.get("/v1/health").json()
    assert {k: health[k] for k in ("status", "mode", "store")} == {
        "status": "ok",
        "mode": "direct",
        "store": "ok",
    }
    assert "queue" not in health
    answer = api.get("/v1/queue/dead-letters", scope="read")
    assert answer.status_code == 404
    assert answer.json()["field"] == "path"
