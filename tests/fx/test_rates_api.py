"""``/v1/exchange-rates`` on both stores: set, batch, list, delete, import (CSV and ECB XML),
convert; bad input refused whole with a 422 naming the field; tenants kept apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from margin_testing import Api, make_tenant

FIXTURES = Path(__file__).parent.parent / "fixtures" / "fx"
RATES = "/v1/exchange-rates"


def rates(api: Api, **params: Any) -> list[tuple[str, str, str, str, str]]:
    response = api.get(RATES, params=params, scope="read")
    assert response.status_code == 200, response.text
    return [
        (r["date"], r["base"], r["quote"], r["rate"], r["source"]) for r in response.json()["data"]
    ]


def test_put_creates_then_replaces_and_get_returns_the_exact_rate(api: Api) -> None:
    created = api.put(f"{RATES}/EUR/USD/2026-03-05", json={"rate": "1.08670"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in ("base", "quote", "date", "rate", "source")} == {
        "base": "EUR",
        "quote": "USD",
        "date": "2026-03-05",
        "rate": "1.0867",
        "source": "manual",
    }
    replaced = api.put(f"{RATES}/EUR/USD/2026-03-05", json={"rate": "1.0871", "source": "bank"})
    assert replaced.status_code == 200
    got = api.get(f"{RATES}/EUR/USD/2026-03-05", scope="read").json()
    assert (got["rate"], got["source"]) == ("1.0871", "bank")
    assert rates(api) == [("2026-03-05", "EUR", "USD", "1.0871", "bank")]
    tiny = api.put(f"{RATES}/IDR/USD/2026-03-05", json={"rate": "0.000056689342403628118"})
    assert tiny.status_code == 201
    assert tiny.json()["rate"] == "0.000056689342403628118"


def test_delete(api: Api) -> None:
    api.put(f"{RATES}/EUR/USD/2026-03-05", json={"rate": "1.0867"})
    assert api.delete(f"{RATES}/EUR/USD/2026-03-05").status_code == 204
    missing = api.delete(f"{RATES}/EUR/USD/2026-03-05")
    assert missing.status_code == 404
    assert missing.json()["field"] == "date"
    assert api.get(f"{RATES}/EUR/USD/2026-03-05", scope="read").status_code == 404
    assert rates(api) == []


def test_batch_sets_all_and_counts_what_changed(api: Api) -> None:
    batch = {
        "rates": [
            {"date": "2026-03-05", "base": "EUR", "quote": "USD", "rate": "1.0867"},
            {"date": "2026-03-05", "base": "EUR", "quote": "GBP", "rate": "0.85843"},
        ]
    }
    assert api.post(RATES, json=batch).json() == {"created": 2, "updated": 0, "unchanged": 0}
    batch["rates"][1]["rate"] = "0.86"
    batch["rates"].append({"date": "2026-03-06", "base": "EUR", "quote": "USD", "rate": "1.08"})
    assert api.post(RATES, json=batch).json() == {"created": 1, "updated": 1, "unchanged": 1}


def test_list_filters_and_pages_newest_first(api: Api) -> None:
    api.post(
        RATES,
        json={
            "rates": [
                {"date": f"2026-03-0{d}", "base": "EUR", "quote": q, "rate": r}
                for d in (2, 3, 4)
                for q, r in (("USD", "1.08"), ("GBP", "0.86"), ("JPY", "160"))
            ]
            + [{"date": "2026-03-03", "base": "USD", "quote": "CHF", "rate": "0.88"}]
        },
    )
    assert [r[:3] for r in rates(api, quote="USD")] == [
        ("2026-03-04", "EUR", "USD"),
        ("2026-03-03", "EUR", "USD"),
        ("2026-03-02", "EUR", "USD"),
    ]
    assert [
        r[:3] for r in rates(api, currency="USD", **{"from": "2026-03-03", "to": "2026-03-03"})
    ] == [
        ("2026-03-03", "EUR", "USD"),
        ("2026-03-03", "USD", "CHF"),
    ]
    assert len(rates(api, base="EUR")) == 9
    seen: list[tuple[str, str, str]] = []
    cursor = None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = api.get(RATES, params=params, scope="read").json()
        seen += [(r["date"], r["base"], r["quote"]) for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 10
    newest_first = sorted(seen, key=lambda k: (-int(k[0].replace("-", "")), k[1], k[2]))
    assert seen == newest_first


BAD_RATES: list[tuple[str, dict[str, Any], str]] = [
    ("XYZ/USD/2026-03-05", {"rate": "1.1"}, "base"),
    ("EUR/usd/2026-03-05", {"rate": "1.1"}, "quote"),
    ("EUR/EUR/2026-03-05", {"rate": "1"}, "quote"),
    ("EUR/USD/2026-02-30", {"rate": "1.1"}, "date"),
    ("EUR/USD/20260305", {"rate": "1.1"}, "date"),
    ("EUR/USD/2200-01-01", {"rate": "1.1"}, "date"),
    ("EUR/USD/2026-03-05", {"rate": 1.1}, "rate"),
    ("EUR/USD/2026-03-05", {"rate": "0"}, "rate"),
    ("EUR/USD/2026-03-05", {"rate": "-1.1"}, "rate"),
    ("EUR/USD/2026-03-05", {"rate": "NaN"}, "rate"),
    ("EUR/USD/2026-03-05", {"rate": "abc"}, "rate"),
    ("EUR/USD/2026-03-05", {"rate": " 1.1"}, "rate"),
    ("EUR/USD/2026-03-05", {"rate": "1_1"}, "rate"),
    ("EUR/USD/2026-03-05", {"rate": "\u0661"}, "rate"),
    ("EUR/USD/2026-03-05", {"rate": "1.123456789012345678901"}, "rate"),
    ("EUR/USD/2026-03-05", {"rate": "1e13"}, "rate"),
    ("EUR/USD/2026-03-05", {"rate": "1.1", "source": "a\u0000b"}, "source"),
    ("EUR/USD/2026-03-05", {"rate": "1.1", "source": "s" * 65}, "source"),
    ("EUR/USD/2026-03-05", {"rate": "1.1", "extra": 1}, "extra"),
]


def test_bad_rates_are_422_naming_the_field(api: Api) -> None:
    for path, body, field in BAD_RATES:
        response = api.put(f"{RATES}/{path}", json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field, (path, body)
    assert rates(api) == []


def test_a_bad_item_refuses_the_whole_batch(api: Api) -> None:
    response = api.post(
        RATES,
        json={
            "rates": [
                {"date": "2026-03-05", "base": "EUR", "quote": "USD", "rate": "1.0867"},
                {"date": "2026-03-05", "base": "EUR", "quote": "ABC", "rate": "1"},
                {"date": "2026-03-05", "base": "EUR", "quote": "GBP", "rate": "-1"},
                {"date": "2026-03-05", "base": "EUR", "quote": "USD", "rate": "1.0868"},
            ]
        },
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["field"] == "rates.1.quote"
    assert [e["field"] for e in problem["errors"]] == [
        "rates.1.quote",
        "rates.2.rate",
        "rates.3.rate",
    ]
    assert rates(api) == []


def test_import_ecb_history_and_daily_files(api: Api) -> None:
    hist = (FIXTURES / "eurofxref-hist.xml").read_bytes()
    response = api.post(
        f"{RATES}/import", content=hist, headers={"content-type": "application/xml"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "format": "ecb",
        "rates": 25,
        "created": 25,
        "updated": 0,
        "unchanged": 0,
        "first_date": "2026-03-02",
        "last_date": "2026-03-06",
        "currencies": ["CHF", "EUR", "GBP", "JPY", "SEK", "USD"],
    }
    again = api.post(f"{RATES}/import", content=hist).json()  # detected from the content
    assert (again["format"], again["created"], again["unchanged"]) == ("ecb", 0, 25)
    assert rates(api, quote="JPY", **{"from": "2026-03-06"}) == [
        ("2026-03-06", "EUR", "JPY", "160.45", "ecb")
    ]
    daily = api.post(
        f"{RATES}/import?format=ecb", content=(FIXTURES / "eurofxref-daily.xml").read_bytes()
    )
    assert (daily.json()["rates"], daily.json()["first_date"]) == (29, "2026-03-09")
    # A Saturday figure in USD, converted to GBP through EUR with Friday's rates.
    converted = api.get(
        f"{RATES}/convert",
        params={"amount": "3", "currency": "USD", "to": "GBP", "at": "2026-03-07T10:00:00Z"},
        scope="read",
    ).json()
    assert converted == {
        "amount": "2.375071475",  # 3 × 0.85843 / 1.0843
        "currency": "GBP",
        "source_amount": "3",
        "source_currency": "USD",
        "rate": "0.79169049156137600295",
        "rate_date": "2026-03-06",
        "method": "cross",
        "via": "EUR",
        "missing": False,
    }


def test_import_csv(api: Api) -> None:
    csv = (
        "date,base,quote,rate\r\n"
        "2026-03-05,EUR,USD,1.0867\r\n"
        "\r\n"
        "2026-03-05,USD,JPY,147.65\r\n"
        "2026-03-06,EUR,USD, 1.0843 \r\n"
    )
    response = api.post(f"{RATES}/import", content=csv, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert (response.json()["format"], response.json()["created"]) == ("csv", 3)
    assert rates(api) == [
        ("2026-03-06", "EUR", "USD", "1.0843", "csv"),
        ("2026-03-05", "EUR", "USD", "1.0867", "csv"),
        ("2026-03-05", "USD", "JPY", "147.65", "csv"),
    ]
    reordered = "\ufeffrate,quote,base,date,source\n0.86,GBP,EUR,2026-03-05,treasury\n"
    assert api.post(f"{RATES}/import", content=reordered.encode()).status_code == 200
    assert rates(api, quote="GBP") == [("2026-03-05", "EUR", "GBP", "0.86", "treasury")]


BAD_FILES = [
    ("date,base,quote,rate\n2026-03-05,EUR,USD,1.08\n2026-03-06,EUR,USD,x\n", "rate", "line 3"),
    ("date,base,quote,rate\n2026-13-05,EUR,USD,1.08\n", "date", "line 2"),
    ("date,base,quote,rate\n2026-03-05,EUR,XYZ,1.08\n", "quote", "line 2"),
    ("date,base,quote,rate\n2026-03-05,EUR,USD\n", "body", "line 2"),
    ("date,base,quote\n2026-03-05,EUR,USD\n", "header", "line 1"),
    ("date,base,quote,rate,fx\n", "header", "line 1"),
    (
        "date,base,quote,rate\n2026-03-05,EUR,USD,1.08\n2026-03-05,EUR,USD,1.09\n",
        "rate",
        "line 3",
    ),
    ("date,base,quote,rate\n", "body", "holds no rates"),
    ("<gesmes:Envelope", "body", "is not ECB XML"),
    (
        "<x><Cube time='2026-03-05'><Cube currency='USD' rate='1,08'/></Cube></x>",
        "rate",
        "currency='USD'",
    ),
    ("<x><Cube currency='USD' rate='1.08'/></x>", "time", "inside a Cube with a time"),
    ("<x/>", "body", "holds no rates"),
    (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<x><Cube time='2026-03-05'><Cube currency='USD' rate='&b;'/></Cube></x>",
        "body",
        "is not ECB XML",
    ),
]


def test_a_bad_file_is_refused_whole_naming_the_line_and_field(api: Api) -> None:
    api.put(f"{RATES}/EUR/USD/2026-03-01", json={"rate": "1.07"})
    for content, field, detail in BAD_FILES:
        response = api.post(f"{RATES}/import", content=content.encode())
        assert response.status_code == 422, (content, response.text)
        problem = response.json()
        assert problem["field"] == field, content
        assert detail in problem["detail"], (content, problem["detail"])
    assert rates(api) == [("2026-03-01", "EUR", "USD", "1.07", "manual")]


def test_convert_defaults_to_the_reporting_currency_and_flags_missing_rates(api: Api) -> None:
    api.put(f"{RATES}/EUR/USD/2026-03-05", json={"rate": "1.0867"})
    api.patch("/v1/organization", json={"reporting_currency": "EUR"})
    found = api.get(
        f"{RATES}/convert",
        params={"amount": "3", "currency": "USD", "at": "2026-03-05"},
        scope="read",
    ).json()
    assert (found["amount"], found["currency"], found["method"]) == (
        "2.760651514",
        "EUR",
        "inverse",
    )
    missing = api.get(
        f"{RATES}/convert",
        params={"amount": "3", "currency": "USD", "at": "2026-04-01"},
        scope="read",
    ).json()
    assert (missing["amount"], missing["rate"], missing["missing"]) == (None, None, True)
    bad = api.get(f"{RATES}/convert", params={"amount": "1e400", "currency": "USD"}, scope="read")
    assert (bad.status_code, bad.json()["field"]) == (422, "amount")
    bad = api.get(
        f"{RATES}/convert",
        params={"amount": "1", "currency": "USD", "at": "3000-01-01"},
        scope="read",
    )
    assert (bad.status_code, bad.json()["field"]) == (422, "at")


def test_scopes_and_tenant_isolation(api: Api) -> None:
    api.put(f"{RATES}/EUR/USD/2026-03-05", json={"rate": "1.0867"})
    assert (
        api.put(f"{RATES}/EUR/USD/2026-03-06", scope="read", json={"rate": "1"}).status_code == 403
    )
    assert api.post(f"{RATES}/import", scope="read", content=b"x").status_code == 403
    assert api.delete(f"{RATES}/EUR/USD/2026-03-05", scope="read").status_code == 403
    other = make_tenant(api.db, "globex")
    theirs = other.headers("admin")
    assert api.client.get(RATES, headers=theirs).json() == {"data": [], "next_cursor": None}
    assert api.client.get(f"{RATES}/EUR/USD/2026-03-05", headers=theirs).status_code == 404
    assert api.client.delete(f"{RATES}/EUR/USD/2026-03-05", headers=theirs).status_code == 404
    converted = api.client.get(
        f"{RATES}/convert",
        params={"amount": "1", "currency": "EUR", "to": "USD", "at": "2026-03-05"},
        headers=theirs,
    ).json()
    assert converted["missing"] is True
    assert (
        api.client.put(
            f"{RATES}/EUR/USD/2026-03-05", headers=theirs, json={"rate": "2"}
        ).status_code
        == 201
    )
    assert rates(api) == [("2026-03-05", "EUR", "USD", "1.0867", "manual")]


def test_openapi_describes_the_routes(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    expected = {
        (RATES, "get"): "RateList",
        (RATES, "post"): "WrittenOut",
        (f"{RATES}/import", "post"): "ImportOut",
        (f"{RATES}/convert", "get"): "ConversionOut",
        (f"{RATES}/{{base}}/{{quote}}/{{date}}", "get"): "RateOut",
        (f"{RATES}/{{base}}/{{quote}}/{{date}}", "put"): "RateOut",
    }
    for (path, method), model in expected.items():
        ok = paths[path][method]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"] == {"$ref": f"#/components/schemas/{model}"}, (path, method)
    upload = paths[f"{RATES}/import"]["post"]["requestBody"]["content"]
    assert set(upload) == {"text/csv", "application/xml"}


def test_list_refuses_bad_parameters(api: Api) -> None:
    for params, field in (
        ({"cursor": "2026-03-05/EU\u0000/USD"}, "cursor"),
        ({"cursor": "garbage"}, "cursor"),
        ({"source": "ecb\u0000"}, "source"),
        ({"from": "2026-3-5"}, "from"),
        ({"to": "2200-01-01"}, "to"),
        ({"base": "eur"}, "base"),
        ({"limit": "0"}, "limit"),
    ):
        response = api.get(RATES, params=params, scope="read")
        assert response.status_code == 422, (params, response.text)
        assert response.json()["field"] == field, params
