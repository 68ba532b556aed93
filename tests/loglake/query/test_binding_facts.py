"""What binding tells the lowering, and that the SQL it allows answers as before.

`Plan.selected`: every stream `logs` holds in the range matches every selector of the
query, so the SQL does not match the selectors again per entry (a chunk holds every
stream of its partition, so a selector on another label is matched again). `Plan.metadata`:
some entry read has structured metadata, whose `__error__` is Loki's pipeline error; without
any, the `| logfmt` fast path leaves the error check out.
"""

from __future__ import annotations

import pytest

import logql2sql
from loglake.query.executor import runnable
from loglake.query.source import STREAMS, bind_logs
from storage import duck
from tests.loglake.query.conftest import BASE, HOUR, Api

S = 10**9
AT = BASE + HOUR
SHOP_A = {"service_name": "shop", "app": "a"}
SHOP_B = {"service_name": "shop", "app": "b"}
SELECTOR_FILTER = f"IN (SELECT fingerprint FROM {STREAMS}"
LEVELS = 'sum by (level) (count_over_time({service_name="shop"} | logfmt [1h]))'


def _push_shop(api: Api, metadata: dict[str, str] | None = None) -> None:
    """Three `app="a"` lines and two `app="b"` lines, both streams in one partition."""
    extra = [metadata] if metadata else []
    api.push(
        [
            {
                "stream": SHOP_A,
                "values": [[BASE + (i + 1) * S, f"level=info n={i}", *extra] for i in range(3)],
            },
            {"stream": SHOP_B, "values": [[BASE + (i + 1) * S, "level=warn"] for i in range(2)]},
        ]
    )


def _bound(api: Api, query: str):
    """The binding's plan and the SQL the executor runs for `query` (instant, at `AT`)."""
    lake = api.client.app.state.lake
    planned = logql2sql.plan(query, start=AT, end=AT, streams=STREAMS)
    con = duck.connect(lake.store)
    try:
        plan = bind_logs(con, lake.store, ["fake"], planned.matchers, *planned.read_range)
    finally:
        con.close()
    return plan, runnable(planned, plan).sql


def _value(api: Api, query: str) -> float:
    response = api.get("query", query=query, time=str(AT))
    assert response.status_code == 200, response.text
    (sample,) = response.json()["data"]["result"]
    return float(sample["value"][1])


@pytest.mark.parametrize("flushed", [False, True])
def test_a_selector_on_the_partition_label_is_not_matched_again(api: Api, flushed: bool):
    _push_shop(api)
    if flushed:
        api.flush()
    plan, sql = _bound(api, 'count_over_time({service_name="shop"}[1h])')
    assert plan.selected
    assert SELECTOR_FILTER not in sql
    assert _value(api, 'sum(count_over_time({service_name="shop"}[1h]))') == 5


def test_a_selector_matching_some_streams_of_a_chunk_is_matched_again(api: Api):
    _push_shop(api)
    api.flush()
    plan, sql = _bound(api, 'count_over_time({app="a"}[1h])')
    assert not plan.selected
    assert SELECTOR_FILTER in sql
    assert _value(api, 'sum(count_over_time({app="a"}[1h]))') == 3


def test_unflushed_entries_of_other_streams_are_left_out_by_the_binding(api: Api):
    """Landing rows are filtered by the selectors before `logs` is bound."""
    _push_shop(api)
    plan, sql = _bound(api, 'count_over_time({app="a"}[1h])')
    assert plan.selected
    assert SELECTOR_FILTER not in sql
    assert _value(api, 'sum(count_over_time({app="a"}[1h]))') == 3


@pytest.mark.parametrize("flushed", [False, True])
def test_two_selectors_each_matching_some_streams_are_matched_again(api: Api, flushed: bool):
    _push_shop(api)
    if flushed:
        api.flush()
    query = 'sum(count_over_time({app="a"}[1h])) + 10 * sum(count_over_time({app="b"}[1h]))'
    plan, sql = _bound(api, query)
    assert not plan.selected
    assert SELECTOR_FILTER in sql
    assert _value(api, query) == 3 + 10 * 2


@pytest.mark.parametrize("flushed", [False, True])
def test_without_structured_metadata_no_error_check_is_emitted(api: Api, flushed: bool):
    _push_shop(api)
    if flushed:
        api.flush()
    plan, sql = _bound(api, LEVELS)
    assert not plan.metadata
    assert "pipeline error" not in sql
    response = api.get("query", query=LEVELS, time=str(AT))
    assert response.status_code == 200, response.text
    got = {s["metric"]["level"]: s["value"][1] for s in response.json()["data"]["result"]}
    assert got == {"info": "3", "warn": "2"}


@pytest.mark.parametrize("flushed", [False, True])
def test_an_error_in_structured_metadata_still_fails_the_query(api: Api, flushed: bool):
    """Loki's pipeline error from metadata's `__error__` (the failing entry's labels named)."""
    _push_shop(api, {"__error__": "SomeErr"})
    if flushed:
        api.flush()
    plan, sql = _bound(api, LEVELS)
    assert plan.metadata
    assert "pipeline error" in sql
    response = api.get("query", query=LEVELS, time=str(AT))
    assert response.status_code == 400
    assert response.text.startswith("pipeline error: 'SomeErr' for series: ")
    assert 'app="a"' in response.text
