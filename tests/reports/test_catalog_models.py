"""The overview's cost by catalog model: a model's dated snapshots are one group with the
names as reported inside; a name the catalog does not know is its own group (both stores)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api

OCT = {"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "tz": "UTC"}


def _cost(model: str, amount: str, day: int) -> dict[str, str]:
    return {
        "customer": "acme",
        "provider": "openai",
        "model": model,
        "amount": amount,
        "currency": "USD",
        "timestamp": f"2026-10-{day:02d}T12:00:00Z",
    }


def test_snapshots_are_grouped_under_their_catalog_model(api: Api) -> None:
    items = [
        _cost("gpt-4o", "0.1", 3),
        _cost("gpt-4o-2024-08-06", "0.25", 4),
        _cost("gpt-4o-2024-08-06", "0.000000003", 5),
        _cost("gpt-4o-mini-2024-07-18", "0.05", 6),
        _cost("mystery-1", "0.2", 7),
    ]
    assert api.post("/v1/costs", json={"items": items}, scope="ingest").status_code == 200
    body = api.get("/v1/reports/overview", params=OCT, scope="read").json()
    groups = [
        (g["label"], g["cost"], g["records"], g["in_catalog"], g["is_other"])
        for g in body["cost_by_catalog_model"]
    ]
    assert groups == [
        ("openai / gpt-4o", "0.350000003", 3, True, False),
        ("openai / mystery-1", "0.2", 1, False, False),
        ("openai / gpt-4o-mini", "0.05", 1, True, False),
    ]
    [gpt4o] = [g for g in body["cost_by_catalog_model"] if g["model"] == "gpt-4o"]
    assert [(s["model"], s["cost"], s["records"]) for s in gpt4o["snapshots"]] == [
        ("gpt-4o-2024-08-06", "0.250000003", 2),
        ("gpt-4o", "0.1", 1),
    ]
    # The per-name rows are still there, for clients that read them.
    assert len(body["cost_by_model"]) == 4


def test_groups_past_the_top_fold_into_other(api: Api) -> None:
    names = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3", "o4-mini", "gpt-5"]
    items = [_cost(m, f"0.{9 - i}", 2 + i) for i, m in enumerate(names)]
    assert api.post("/v1/costs", json={"items": items}, scope="ingest").status_code == 200
    body = api.get("/v1/reports/overview", params={**OCT, "top": 5}, scope="read").json()
    rows = body["cost_by_catalog_model"]
    assert [r["model"] for r in rows[:5]] == names[:5]
    assert (rows[5]["label"], rows[5]["cost"], rows[5]["records"], rows[5]["is_other"]) == (
        "Other",
        "0.7",
        2,
        True,
    )
