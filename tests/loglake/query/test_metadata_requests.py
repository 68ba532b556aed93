"""The parameter checks of the metadata endpoints, as Loki's `pkg/loghttp` makes them:
series groups parsed without the query validation, `max_query_length` on labels and
series, index stats and volume checked as range (or instant) queries, the volume limit
and `aggregateBy=labels`."""

from __future__ import annotations

import pytest

from tests.loglake.query.conftest import BASE, HOUR, Api

DAY = 24 * HOUR
WINDOW = {"start": BASE, "end": BASE + HOUR}


@pytest.fixture
def loaded(api: Api) -> Api:
    api.push(
        [
            {
                "stream": {"app": "api", "env": "prod"},
                "values": [[BASE + 1, "aaaa"], [BASE + 2, "bb"]],
            },
            {"stream": {"app": "web", "env": "dev"}, "values": [[BASE + 3, "c"]]},
        ]
    )
    return api


def _error(api: Api, path: str, **params) -> str:
    response = api.get(path, **params)
    assert response.status_code == 400, response.text
    return response.text.strip()


def test_series_groups_skip_the_query_validation(loaded):
    for match in ('{app=~".*"}', '{app!="x"}', "{ }"):
        response = loaded.get("series", **{"match[]": match}, **WINDOW)
        assert response.status_code == 200, match
        assert len(response.json()["data"]) == 2, match


def test_series_groups_hold_label_matchers_only(loaded):
    message = _error(loaded, "series", **{"match[]": '{app="api"} |= "x"'}, **WINDOW)
    assert message == "only label matchers are supported"


def test_series_reads_match_and_match_brackets_together(loaded):
    response = loaded.get(
        "series", **{"match[]": ['{app="api"}', '{app="api"}'], "match": '{app="web"}'}, **WINDOW
    )
    assert [s["app"] for s in response.json()["data"]] == ["api", "web"]


@pytest.mark.parametrize("path", ["labels", "label/app/values", "series"])
def test_metadata_ranges_longer_than_max_query_length_fail(loaded, path):
    params = {"start": BASE - 31 * DAY, "end": BASE}
    if path == "series":
        params["match[]"] = '{app="api"}'
    message = _error(loaded, path, **params)
    assert message == (
        "the query time range exceeds the limit (query length: 744h0m0s, limit: 30d1h)"
    )


def test_index_stats_checks_its_range_as_a_range_query(loaded):
    message = _error(loaded, "index/stats", query='{app="api"}', start=BASE + HOUR, end=BASE)
    assert message == "end timestamp must not be before or equal to start time"
    message = _error(loaded, "index/stats", query='{app="api"}', step="-1", **WINDOW)
    assert message.startswith("zero or negative query resolution step widths")


@pytest.mark.parametrize("path", ["index/volume", "index/volume_range"])
def test_volume_end_before_start_fails(loaded, path):
    message = _error(loaded, path, query='{app=~".+"}', start=BASE + HOUR, end=BASE)
    assert message == "end timestamp must not be before or equal to start time"


def test_volume_range_step_checks(loaded):
    query = {"query": '{app=~".+"}'}
    message = _error(loaded, "index/volume_range", step="0", **query, **WINDOW)
    assert message.startswith("zero or negative query resolution step widths")
    message = _error(
        loaded, "index/volume_range", step="0.001", start=BASE, end=BASE + DAY, **query
    )
    assert message.startswith("exceeded maximum resolution of 11,000 points")


def test_volume_limit_zero_is_the_default_and_negative_fails(loaded):
    response = loaded.get("index/volume", query='{app=~".+"}', limit="0", **WINDOW)
    assert len(response.json()["data"]["result"]) == 2
    message = _error(loaded, "index/volume", query='{app=~".+"}', limit="-1", **WINDOW)
    assert message == "limit must be a positive value"


def test_volume_by_labels_sums_per_label_name(loaded):
    response = loaded.get("index/volume", query='{app=~".+"}', aggregateBy="labels", **WINDOW)
    got = {tuple(r["metric"].items()): r["value"][1] for r in response.json()["data"]["result"]}
    assert got == {(("app", ""),): "7", (("env", ""),): "7", (("service_name", ""),): "7"}
    response = loaded.get(
        "index/volume_range",
        query='{app=~".+"}',
        aggregateBy="labels",
        targetLabels="env",
        step=str(HOUR // 10**9),
        **WINDOW,
    )
    (series,) = response.json()["data"]["result"]
    assert series["metric"] == {"env": ""}
    assert sum(int(v) for _, v in series["values"]) == 7


def test_detected_labels_leave_out_labels_whose_values_are_all_ids(api):
    uuids = [f"123e4567-e89b-12d3-a456-42661417400{i}" for i in range(3)]
    api.push(
        [
            {
                "stream": {"app": "ids", "req": str(1000 + i), "uuid": u, "flag": str(i % 2),
                           "pod": str(i)},
                "values": [[BASE + i, "x"]],
            }
            for i, u in enumerate(uuids)
        ]
    )  # fmt: skip
    response = api.get("detected_labels", query='{app="ids"}', **WINDOW)
    got = {d["label"]: d["cardinality"] for d in response.json()["detectedLabels"]}
    # numbers and UUIDs are IDs; two values 0/1 are a flag; `pod` is always offered
    assert got == {"app": 1, "flag": 2, "pod": 3, "service_name": 1}


def test_unrouted_paths_and_methods_get_the_routers_plain_answers(api):
    response = api.client.get("/loki/api/v1/no_such_endpoint")
    assert (response.status_code, response.text) == (404, "404 page not found\n")
    assert response.headers["content-type"].startswith("text/plain")
    response = api.client.get("/loki/api/v1/push")
    assert (response.status_code, response.text) == (405, "")


def test_total_entries_returned_counts_as_lokis_result_length(loaded):
    def returned(path: str, **params) -> int:
        body = loaded.get(path, **params).json()
        return body["data"]["stats"]["summary"]["totalEntriesReturned"]

    metric = 'count_over_time({app=~".+"}[30m])'
    # a matrix counts its samples (3 per series here), a vector its series, a scalar nothing
    step = {"step": "600", **WINDOW}
    series = loaded.get("query_range", query=metric, **step).json()["data"]["result"]
    assert [len(s["values"]) for s in series] == [3, 3]
    assert returned("query_range", query=metric, **step) == 6
    assert returned("query", query=metric, time=str(BASE + 60 * 10**9)) == 2
    assert returned("query", query="1 + 1", time=str(BASE)) == 0
