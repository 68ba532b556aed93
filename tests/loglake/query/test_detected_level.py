"""`detected_level` through the query API, with `discover_log_levels: true` (Loki's default):
the level found at ingestion is structured metadata, so it joins the stream labels of log
answers, splits series, groups Grafana's log-volume query and is published to Drilldown."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.loglake.query.conftest import BASE, HOUR, Api

S = 10**9
LINES = [
    "level=info msg=started",
    '{"level":"WARN","msg":"slow"}',
    "GET /x 500 ERROR: boom",
    "no level word here",
    "lvl=dbg took=3ms",
]
LEVELS = ["info", "warn", "error", "unknown", "debug"]


@pytest.fixture(params=["landing", "chunks"])
def levels_api(request: pytest.FixtureRequest, make_api: Callable[..., Api]) -> Api:
    api = make_api(discover_log_levels=True)
    values = [[BASE + (i + 1) * S, line] for i, line in enumerate(LINES)]
    values.append([BASE + 10 * S, "told", {"detected_level": "ERR"}])  # normalised, kept
    api.push([{"stream": {"app": "lv"}, "values": values}])
    if request.param == "chunks":
        api.flush()
    return api


def test_log_answers_carry_the_level_as_a_label(levels_api: Api) -> None:
    r = levels_api.get("query_range", query='{app="lv"}', start=BASE, end=BASE + HOUR)
    assert r.status_code == 200, r.text
    got = {v[1]: s["stream"] for s in r.json()["data"]["result"] for v in s["values"]}
    want = dict(zip(LINES, LEVELS, strict=True)) | {"told": "error"}
    assert {line: stream["detected_level"] for line, stream in got.items()} == want
    assert all(stream["app"] == "lv" for stream in got.values())


def test_log_volume_groups_by_the_level(levels_api: Api) -> None:
    """Grafana's log-volume histogram query, as Explore sends it."""
    query = 'sum by (level, detected_level) (count_over_time({app="lv"} | drop __error__[1h]))'
    r = levels_api.get("query", query=query, time=str(BASE + HOUR))
    assert r.status_code == 200, r.text
    got = {s["metric"]["detected_level"]: s["value"][1] for s in r.json()["data"]["result"]}
    assert got == {"info": "1", "warn": "1", "error": "2", "unknown": "1", "debug": "1"}


def test_drilldown_limits_say_levels_are_discovered(levels_api: Api) -> None:
    limits = levels_api.get("drilldown-limits", tenant="fake").json()["limits"]
    assert limits["discover_log_levels"] is True
