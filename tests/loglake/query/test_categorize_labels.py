"""`X-Loki-Response-Encoding-Flags: categorize-labels`, which Grafana sends on every query:
the flags are echoed as `data.encodingFlags` before `result`; a log result's `stream` then
holds the stream labels alone and each entry carries its structured metadata and parsed
labels as a third element, filed as Loki's `LabelsBuilder` files them."""

from __future__ import annotations

import json

import pytest

from tests.loglake.query.conftest import BASE, HOUR, Api

FLAGS = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}
PUSHED = [
    {
        "stream": {"app": "api", "env": "prod"},
        "values": [
            [BASE + 1, "level=info status=200", {"trace_id": "abc", "app": "from-meta"}],
            [BASE + 2, "level=error status=500 trace_id=zzz"],
            [BASE + 3, "plain", {"trace_id": "t3"}],
        ],
    },
    {"stream": {"app": "api", "env": "dev"}, "values": [[BASE + 4, "level=warn a=7"]]},
]


@pytest.fixture(params=["landing", "chunks"])
def pushed(api: Api, request: pytest.FixtureRequest) -> Api:
    """The streams above, read from landing or (flushed) from chunk files."""
    api.push(PUSHED)
    if request.param == "chunks":
        api.flush()
    return api


def _query(api: Api, query: str, headers: dict[str, str] | None = FLAGS, **params) -> dict:
    response = api.client.get(
        "/loki/api/v1/query_range",
        params={"query": query, "start": BASE, "end": BASE + HOUR, "limit": 10, **params},
        headers=headers or {},
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _entries(data: dict) -> dict[str, tuple[dict, dict]]:
    """line → (its stream's labels, its third element)."""
    return {v[1]: (s["stream"], v[2]) for s in data["result"] for v in s["values"]}


def test_the_flag_is_echoed_before_the_result_and_every_entry_has_three_elements(pushed):
    data = _query(pushed, '{app="api"}')
    assert list(data)[:3] == ["resultType", "encodingFlags", "result"]
    assert data["encodingFlags"] == ["categorize-labels"]
    assert all(len(v) == 3 for s in data["result"] for v in s["values"])
    got = _entries(data)
    prod = {"app": "api", "env": "prod", "service_name": "api"}
    # a metadata name its stream also has is read as `<name>_extracted`
    assert got["level=info status=200"] == (
        prod,
        {"structuredMetadata": {"app_extracted": "from-meta", "trace_id": "abc"}},
    )
    assert got["level=error status=500 trace_id=zzz"] == (prod, {})
    # entries with different metadata share their stream
    assert [len(s["values"]) for s in data["result"]] == [1, 3]


def test_without_the_flag_metadata_splits_streams_and_entries_are_pairs(pushed):
    data = _query(pushed, '{app="api"}', headers=None)
    assert "encodingFlags" not in data
    assert all(len(v) == 2 for s in data["result"] for v in s["values"])
    assert len(data["result"]) == 4
    streams = {v[1]: s["stream"] for s in data["result"] for v in s["values"]}
    assert streams["level=info status=200"] == {
        "app": "api",
        "app_extracted": "from-meta",
        "env": "prod",
        "service_name": "api",
        "trace_id": "abc",
    }


def test_parser_output_is_parsed_and_metadata_stays_metadata(pushed):
    got = _entries(_query(pushed, '{app="api"} | logfmt'))
    assert got["level=info status=200"][1] == {
        "structuredMetadata": {"app_extracted": "from-meta", "trace_id": "abc"},
        "parsed": {"level": "info", "status": "200"},
    }
    # no metadata: a name the line carries is parsed
    assert got["level=error status=500 trace_id=zzz"][1] == {
        "parsed": {"level": "error", "status": "500", "trace_id": "zzz"}
    }


def test_label_format_files_its_labels_as_parsed_and_they_leave_the_stream(pushed):
    data = _query(pushed, '{app="api"} | logfmt | label_format env="{{.level}}", moved=trace_id')
    # `env` is parsed for every entry now: the two streams are one
    assert [s["stream"] for s in data["result"]] == [{"app": "api", "service_name": "api"}]
    got = _entries(data)
    assert got["level=info status=200"][1] == {
        "structuredMetadata": {"app_extracted": "from-meta"},
        "parsed": {"env": "info", "level": "info", "moved": "abc", "status": "200"},
    }
    assert got["plain"][1] == {"parsed": {"env": "", "moved": "t3"}}
    assert got["level=warn a=7"][1] == {"parsed": {"a": "7", "env": "warn", "level": "warn"}}


def test_a_label_format_that_sets_nothing_leaves_the_stream_label_alone(pushed):
    # a rename of an absent label, and a failing template, set nothing
    for query in (
        '{app="api"} | label_format env=nope',
        '{app="api", env="dev"} | logfmt | label_format env="{{ div .a 0 }}"',
    ):
        data = _query(pushed, query)
        dev = [s for s in data["result"] if s["stream"].get("env") == "dev"]
        assert len(dev) == 1, query
    (entry,) = dev[0]["values"]
    assert entry[2]["parsed"]["__error__"] == "TemplateFormatErr"
    assert "env" not in entry[2]["parsed"]


def test_dropped_labels_are_gone_from_every_part(pushed):
    data = _query(pushed, '{app="api"} | logfmt | drop env, trace_id, level')
    assert [s["stream"] for s in data["result"]] == [{"app": "api", "service_name": "api"}]
    got = _entries(data)
    assert got["level=info status=200"][1] == {
        "structuredMetadata": {"app_extracted": "from-meta"},
        "parsed": {"status": "200"},
    }
    assert got["plain"][1] == {}


def test_metric_results_echo_the_flag_and_keep_their_shape(pushed):
    response = pushed.client.get(
        "/loki/api/v1/query",
        params={"query": 'sum(count_over_time({app="api"}[1h]))', "time": BASE + HOUR},
        headers={"X-Loki-Response-Encoding-Flags": "categorize-labels,other"},
    )
    data = response.json()["data"]
    assert data["encodingFlags"] == ["categorize-labels", "other"]
    assert data["result"] == [{"metric": {}, "value": [(BASE + HOUR) / 1e9, "4"]}]


def test_the_limit_and_direction_hold_across_categorized_streams(pushed):
    data = _query(pushed, '{app="api"} | logfmt', limit=2, direction="forward")
    lines = [v[1] for s in data["result"] for v in s["values"]]
    assert lines == ["level=info status=200", "level=error status=500 trace_id=zzz"]
    assert json.dumps(data["result"][0]["values"][0][2]).startswith('{"structuredMetadata"')
