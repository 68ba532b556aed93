"""`/detected_fields` and `/detected_field/<name>/values`, pushed and asked through HTTP.

The data is built from a few known values per field, so every expected field, type,
cardinality and value list is written down here from those values, not from the system.
"""

from __future__ import annotations

import json

import pytest

from tests.loglake.query.conftest import BASE, Api

S = 10**9
LEVELS = ["info", "warn", "error"]
STATUS = [200, 404, 500, 503]
API_LINES = 12
WEB_LINES = 5
END = BASE + 3600 * S


def _api_values() -> list[list]:
    """`{app="api", level="x"}`: logfmt lines and a `trace_id` in structured metadata."""
    return [
        [
            BASE + (i + 1) * S,
            f"level={LEVELS[i % 3]} status={STATUS[i % 4]} took={i}.5ms size={i + 1}KB "
            f'msg="req {i}" empty=',
            {"trace_id": f"t{i % 2}"},
        ]
        for i in range(API_LINES)
    ]


def _web_values() -> list[list]:
    """`{app="web"}`: JSON lines with a nested object, a bool, an array and a key that
    collides with the stream label `app`."""
    return [
        [
            BASE + (i + 1) * S,
            json.dumps({"user": {"id": i}, "ok": True, "app": "w", "tags": ["a"], "n": None}),
        ]
        for i in range(WEB_LINES)
    ]


@pytest.fixture(params=["landing", "chunks"])
def loaded(request: pytest.FixtureRequest, api: Api) -> Api:
    """Both streams, still in landing or flushed into chunks."""
    api.push(
        [
            {"stream": {"app": "api", "level": "x"}, "values": _api_values()},
            {"stream": {"app": "web"}, "values": _web_values()},
        ]
    )
    if request.param == "chunks":
        api.flush()
    return api


def _fields(api: Api, query: str, **params: object) -> dict:
    r = api.get("detected_fields", query=query, start=BASE, end=END, **params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "data" not in body  # Grafana reads `data` first; Loki's body has none
    return body


def test_fields_of_logfmt_json_and_metadata(loaded: Api) -> None:
    body = _fields(loaded, '{app=~".+"}')
    assert body["limit"] == 1000
    got = {f["label"]: f for f in body["fields"]}
    assert [f["label"] for f in body["fields"]] == sorted(got)
    logfmt = ["logfmt"]
    want = {
        # `level` is a stream label, so the parsed one is `level_extracted`
        "level_extracted": ("string", len(LEVELS), logfmt),
        "status": ("int", len(STATUS), logfmt),
        "took": ("duration", API_LINES, logfmt),
        "size": ("bytes", API_LINES, logfmt),
        "msg": ("string", API_LINES, logfmt),
        "trace_id": ("string", 2, None),
        "user_id": ("int", WEB_LINES, ["json"]),
        "ok": ("boolean", 1, ["json"]),
        "app_extracted": ("string", 1, ["json"]),
    }
    assert {k: (f["type"], f["cardinality"], f["parsers"]) for k, f in got.items()} == want
    assert got["user_id"]["jsonPath"] == ["user", "id"]
    assert got["app_extracted"]["jsonPath"] == ["app"]
    assert "jsonPath" not in got["status"]


def test_query_parsers_and_filters_narrow_the_sample(loaded: Api) -> None:
    body = _fields(loaded, '{app="api"} | logfmt | status >= 500')
    got = {f["label"]: f["cardinality"] for f in body["fields"]}
    wanted_status = {s for i, s in enumerate(STATUS * 3) if s >= 500 and i < API_LINES}
    assert got["status"] == len(wanted_status)
    assert got["trace_id"] == 2
    assert not any(name.startswith("user") for name in got)


def test_line_limit_takes_the_newest_entries(loaded: Api) -> None:
    body = _fields(loaded, '{app="api"}', line_limit=3)
    got = {f["label"]: f["cardinality"] for f in body["fields"]}
    assert got["msg"] == 3
    newest = range(API_LINES - 3, API_LINES)
    assert got["status"] == len({STATUS[i % 4] for i in newest})


def test_limit_caps_the_number_of_fields(loaded: Api) -> None:
    body = _fields(loaded, '{app="api"}', limit=2)
    assert body["limit"] == 2
    assert len(body["fields"]) == 2


def test_field_values(loaded: Api) -> None:
    def values(name: str, query: str = '{app=~".+"}') -> dict:
        r = loaded.get(f"detected_field/{name}/values", query=query, start=BASE, end=END)
        assert r.status_code == 200, r.text
        return r.json()

    assert values("status") == {"values": sorted(str(s) for s in STATUS), "limit": 1000}
    assert values("trace_id")["values"] == ["t0", "t1"]
    assert values("level_extracted")["values"] == sorted(LEVELS)
    assert values("user_id")["values"] == [str(i) for i in range(WEB_LINES)]
    # byte sizes come back as go-humanize prints them (SI, no space): 1KB → 1.0kB
    # (go-humanize: one decimal below 10, none from 10 up)
    sizes = [f"{n}.0kB" if n < 10 else f"{n}kB" for n in range(1, API_LINES + 1)]
    assert values("size")["values"] == sorted(sizes)
    assert values("nope") == {}


def test_nothing_found_is_an_empty_object(api: Api) -> None:
    assert _fields(api, '{app="none"}') == {}


def test_tenants_see_only_their_fields(make_api) -> None:
    api = make_api(auth_enabled=True)
    api.push([{"stream": {"app": "api"}, "values": _api_values()}], tenant="a")
    r = api.get("detected_fields", tenant="b", query='{app="api"}', start=BASE, end=END)
    assert r.status_code == 200 and r.json() == {}
    r = api.get("detected_fields", tenant="a", query='{app="api"}', start=BASE, end=END)
    assert {f["label"] for f in r.json()["fields"]} >= {"status", "trace_id"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"query": 'sum(rate({app="api"}[1m]))'}, "only log selector is supported"),
        ({"query": '{app="api"}', "line_limit": "0"}, "limit must be a positive value"),
        ({"query": '{app="api"}', "limit": "-1"}, "limit must be a positive value"),
        (
            {"query": '{app="api"}', "start": "20", "end": "10"},
            "end timestamp must not be before or equal to start time",
        ),
        ({"query": '{app="api"}', "line_limit": "6000"}, "max entries limit per query exceeded"),
        ({"query": "{app="}, "parse error"),
    ],
)
def test_malformed_requests_get_loki_400s(api: Api, params: dict, message: str) -> None:
    r = api.get("detected_fields", **params)
    assert r.status_code == 400
    assert r.text.startswith(message), r.text
