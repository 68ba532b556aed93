"""Grafana's Loki data source, replayed: every request shape recorded in
`grafana_requests.json` (from `/work/shared/reference/grafana_loki_requests.md`) is sent as
Grafana sends it (Go's query-string encoding, its headers) and must be answered with Loki's
envelope and the shape Grafana decodes. Expected values come from the data pushed here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.loglake.query.conftest import BASE, Api

S = 10**9
END = BASE + 3600 * S
ROW = BASE + 30 * 60 * S
REQUESTS = json.loads((Path(__file__).with_name("grafana_requests.json")).read_text())["requests"]
STATUSES = [200, 201, 404, 500]


def _stream(labels: dict[str, str], count: int, offset: int, level: str | None) -> dict:
    """`count` logfmt lines one minute apart; `detected_level` metadata when `level`."""
    values = []
    for i in range(count):
        line = f"level={level or 'none'} status={STATUSES[i % 4]} took={i}ms path=/p/{i % 3}"
        value: list[Any] = [BASE + (i * 60 + offset) * S, line]
        if level:
            value.append({"detected_level": level})
        values.append(value)
    return {"stream": labels, "values": values}


PUSHED = [
    _stream({"app": "api", "env": "prod", "level": "info"}, 50, 1, "info"),
    _stream({"app": "api", "env": "prod", "level": "error"}, 7, 2, "error"),
    _stream({"app": "web", "env": "dev"}, 9, 3, None),
]


def _labels(stream: dict) -> dict[str, str]:
    """A pushed stream's labels as stored: Loki 3 adds `service_name` from `app`."""
    return {**stream["stream"], "service_name": stream["stream"]["app"]}


def _matching(match: dict[str, str]) -> list[dict]:
    return [s for s in PUSHED if all(_labels(s).get(k) == v for k, v in match.items())]


def _entries(match: dict[str, str], since: int = 0) -> list[list]:
    return [v for s in _matching(match) for v in s["values"] if v[0] >= since]


def _fill(value: str) -> str:
    def iso(ns: int) -> str:
        return datetime.fromtimestamp(ns / S, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    for name, ns in (
        ("start", BASE),
        ("end", END),
        ("row", ROW),
        ("row_before", ROW - 2 * 3600 * S),
        ("row_after", ROW + 2 * 3600 * S),
    ):
        value = value.replace(f"${{{name}_ns}}", str(ns)).replace(f"${{{name}_iso}}", iso(ns))
    return value


@pytest.fixture(scope="module")
def grafana_api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One server with the data pushed and flushed, shared by the replayed requests."""
    from fastapi.testclient import TestClient

    from loglake.config import load_settings
    from loglake.server import create_app

    settings = load_settings(lake=str(tmp_path_factory.mktemp("grafana") / "lake"))
    with TestClient(create_app(settings)) as client:
        api = Api(client, Path(settings.storage.lake))
        api.push(PUSHED[:2])
        api.flush()
        api.push(PUSHED[2:])  # the web stream stays in landing
        yield api


def _check_streams(data: dict, expect: dict) -> None:
    assert data["resultType"] == "streams"
    flagged = "categorize-labels" in data.get("encodingFlags", [])
    for stream in data["result"]:
        assert all(isinstance(v, str) for v in stream["stream"].values())
        for value in stream["values"]:
            # Grafana's decoder: 3-tuples exactly when the flag is echoed
            assert len(value) == (3 if flagged else 2)
            assert isinstance(value[0], str) and isinstance(value[1], str)
    if "match" in expect:
        since = ROW if expect.get("from_row") else 0
        want = min(expect["limit"], len(_entries(expect["match"], since)))
        assert sum(len(s["values"]) for s in data["result"]) == want
        for stream in data["result"]:
            assert expect["match"].items() <= stream["stream"].items()
    else:
        assert data["result"]
    assert "summary" in data["stats"]


def _check_matrix(data: dict, expect: dict) -> None:
    assert data["resultType"] == "matrix"
    for series in data["result"]:
        assert set(series["metric"]) <= set(expect["by"])
        for ts, value in series["values"]:
            assert isinstance(ts, int | float) and isinstance(value, str)
    if expect["kind"] == "matrix":
        want_apps = {_labels(s)["app"] for s in PUSHED}
        assert {s["metric"][expect["series"]] for s in data["result"]} == want_apps
        return
    want: dict[tuple, int] = {}
    for stream in _matching(expect["match"]):
        for value in stream["values"]:
            meta = value[2] if len(value) > 2 else {}
            if expect.get("only_with") and expect["only_with"] not in meta:
                continue
            labels = {**_labels(stream), **meta}
            key = tuple(sorted((k, labels[k]) for k in expect["by"] if labels.get(k)))
            want[key] = want.get(key, 0) + 1
    got = {
        tuple(sorted(s["metric"].items())): sum(float(v) for _, v in s["values"])
        for s in data["result"]
    }
    assert got == want


def _check(body: Any, expect: dict) -> None:
    kind = expect["kind"]
    if kind in (
        "detected_fields",
        "detected_values",
        "index_stats",
        "detected_labels",
        "drilldown_limits",
    ):
        assert "data" not in body  # Grafana reads these at the top level
    else:
        assert body["status"] == "success"
    data = body.get("data")
    if kind == "health":
        result = data["result"]
        if data["resultType"] == "scalar":
            assert result[1] == "2"
        else:
            assert data["resultType"] == "vector"
            assert len(result) == 1 and result[0]["metric"] == {} and result[0]["value"][1] == "2"
    elif kind in ("streams", "streams_nonempty"):
        _check_streams(data, expect)
    elif kind in ("matrix", "matrix_count"):
        _check_matrix(data, expect)
    elif kind == "vector_count":
        assert data["resultType"] == "vector"
        assert [r["value"][1] for r in data["result"]] == [str(len(_entries(expect["match"])))]
    elif kind == "label_names":
        names = {k for s in _matching(expect["match"]) for k in _labels(s)}
        assert data == sorted(names)
    elif kind == "label_values":
        values = {_labels(s)[expect["label"]] for s in _matching(expect["match"])}
        assert data == sorted(values - {""})
    elif kind == "series":
        want = [_labels(s) for s in _matching(expect["match"])]
        assert sorted(data, key=str) == sorted(want, key=str)
    elif kind == "index_stats":
        assert set(body) >= {"streams", "chunks", "bytes", "entries"}
        assert body["streams"] == len(_matching(expect["match"]))
        assert body["entries"] == len(_entries(expect["match"]))
    elif kind == "data_list":
        assert isinstance(data, list) and all(isinstance(v, str) for v in data)
    elif kind == "detected_fields":
        labels = {f["label"] for f in body["fields"]}
        assert set(expect["fields"]) <= labels
        assert all(set(f) >= {"label", "type", "cardinality", "parsers"} for f in body["fields"])
    elif kind == "detected_values":
        assert body["values"] == sorted({str(s) for s in STATUSES})
    elif kind == "detected_labels":
        found = {d["label"]: d["cardinality"] for d in body["detectedLabels"]}
        assert found.get("app") == len({s["stream"]["app"] for s in PUSHED})
    elif kind == "drilldown_limits":
        assert body["pattern_ingester_enabled"] is False  # Drilldown hides its Patterns tab
        assert body["limits"]["max_entries_limit_per_query"] == 5000
        assert body["limits"]["max_query_length"] == "30d1h"
    elif kind == "volume":
        assert data["resultType"] == "vector"
        got = {r["metric"][expect["label"]] for r in data["result"]}
        assert got == {_labels(s)[expect["label"]] for s in PUSHED}
    else:
        raise AssertionError(f"unknown check {kind}")


@pytest.mark.parametrize("request_shape", REQUESTS, ids=[r["name"] for r in REQUESTS])
def test_grafana_request_is_answered_as_loki_answers(grafana_api: Api, request_shape: dict) -> None:
    params = sorted((k, _fill(v)) for k, v in request_shape["params"].items())
    url = f"/loki/api/v1/{request_shape['path']}?{urlencode(params)}"
    response = grafana_api.client.get(url, headers=request_shape["headers"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    _check(response.json(), request_shape["expect"])
