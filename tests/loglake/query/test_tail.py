"""`/loki/api/v1/tail` over a websocket: entries already there, then entries pushed while
the tail is open, each sent once and oldest first."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from loglake.client import PushClient
from loglake.config import load_settings
from loglake.server import create_app
from tests.loglake.query.conftest import Api
from tests.threadserver import ThreadServer


def test_tail_streams_existing_then_new_entries(api: Api) -> None:
    now = time.time_ns()
    api.push([{"stream": {"app": "t"}, "values": [(now - 2 * 10**9, "before")]}])
    api.push([{"stream": {"app": "other"}, "values": [(now - 10**9, "not selected")]}])
    with api.client.websocket_connect('/loki/api/v1/tail?query={app="t"}') as ws:
        first = ws.receive_json()
        assert [v[1] for s in first["streams"] for v in s["values"]] == ["before"]
        assert first["streams"][0]["stream"] == {"app": "t", "service_name": "t"}
        pushed = [(time.time_ns() + i, f"live {i}") for i in range(3)]
        api.push([{"stream": {"app": "t"}, "values": pushed}])
        seen: list[str] = []
        while len(seen) < len(pushed):
            message = ws.receive_json()
            seen += [v[1] for s in message["streams"] for v in s["values"]]
        assert seen == [line for _, line in pushed]


def test_tail_history_is_the_newest_limit_entries_oldest_first(api: Api) -> None:
    """Loki's tailer sends one backward query's worth of history (`limit` entries), not
    everything since `start`; live entries follow."""
    now = time.time_ns()
    old = [(now - (10 - i) * 10**9, f"old {i}") for i in range(10)]
    api.push([{"stream": {"app": "t"}, "values": old}])
    with api.client.websocket_connect('/loki/api/v1/tail?query={app="t"}&limit=3') as ws:
        first = ws.receive_json()
        assert [v[1] for s in first["streams"] for v in s["values"]] == ["old 7", "old 8", "old 9"]
        api.push([{"stream": {"app": "t"}, "values": [(time.time_ns(), "live")]}])
        message = ws.receive_json()
        assert [v[1] for s in message["streams"] for v in s["values"]] == ["live"]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ('delay_for=6&query={app="t"}', 400, "delay_for can't be greater than 5"),
        ('limit=0&query={app="t"}', 400, "limit must be a positive value"),
    ],
)
def test_bad_parameters_are_refused_before_the_upgrade(
    api: Api, query: str, status: int, message: str
) -> None:
    """As Loki's handler: an HTTP error with the text, no websocket."""
    with (
        pytest.raises(WebSocketDenialResponse) as err,
        api.client.websocket_connect(f"/loki/api/v1/tail?{query}"),
    ):
        pass
    assert err.value.status_code == status
    assert err.value.text == message + "\n"


def test_without_a_tenant_under_auth_the_upgrade_gets_401(make_api) -> None:
    api = make_api(auth_enabled=True)
    with (
        pytest.raises(WebSocketDenialResponse) as err,
        api.client.websocket_connect('/loki/api/v1/tail?query={app="t"}'),
    ):
        pass
    assert (err.value.status_code, err.value.text) == (401, "no org id\n")


def test_a_query_the_tailer_cannot_run_closes_with_1011(api: Api) -> None:
    path = "/loki/api/v1/tail?" + urlencode({"query": 'sum(rate({app="t"}[1m]))'})
    with api.client.websocket_connect(path) as ws, pytest.raises(WebSocketDisconnect) as err:
        ws.receive_json()
    assert err.value.code == 1011
    assert err.value.reason == "only log selector is supported"


def test_a_real_websocket_client_over_tcp(tmp_path) -> None:
    """The `websockets` client against uvicorn: entries arrive; a refusal is HTTP 400."""
    settings = load_settings(lake=str(tmp_path / "lake"))
    with ThreadServer(create_app(settings)) as served:
        ws_url = served.url.replace("http://", "ws://") + "/loki/api/v1/tail?"
        with PushClient(served.url) as client:
            client.push({'{app="tcp"}': [(time.time_ns() - 10**9, "over tcp")]})
        with connect(ws_url + urlencode({"query": '{app="tcp"}'})) as ws:
            message = json.loads(ws.recv(timeout=30))
        assert message["streams"][0]["values"][0][1] == "over tcp"
        with pytest.raises(InvalidStatus) as err:
            connect(ws_url + urlencode({"query": '{app="tcp"}', "delay_for": 9}))
        assert err.value.response.status_code == 400
        assert err.value.response.body == b"delay_for can't be greater than 5\n"


def test_a_tail_stops_polling_when_its_client_leaves(tmp_path) -> None:
    """Loki reads the client's side to notice it leaving; so does loglake, so a tail with
    nothing new to send does not poll the lake forever."""
    app = create_app(load_settings(lake=str(tmp_path / "lake")))
    with ThreadServer(app) as served:
        ws_url = served.url.replace("http://", "ws://") + "/loki/api/v1/tail?"
        with connect(ws_url + urlencode({"query": '{app="quiet"}'})):
            executor = app.state.query_executor
            polls = _count_calls(executor)
            deadline = time.monotonic() + 30
            while polls["n"] < 2:  # the tail is polling
                assert time.monotonic() < deadline
                time.sleep(0.1)
        time.sleep(0.5)  # the close is seen at once; a poll under way may still end
        after_close = polls["n"]
        time.sleep(2.5)  # more than two polls
        assert polls["n"] == after_close


def _count_calls(executor) -> dict[str, int]:
    """Count the executor's `run` calls from now on (each tail poll is one)."""
    calls = {"n": 0}
    run = executor.run

    def counted(*args, **kwargs):
        calls["n"] += 1
        return run(*args, **kwargs)

    executor.run = counted
    return calls


def test_a_tail_of_several_tenants_is_refused(make_api) -> None:
    api = make_api(auth_enabled=True)
    with (
        pytest.raises(WebSocketDenialResponse) as err,
        api.client.websocket_connect(
            '/loki/api/v1/tail?query={app="t"}', headers={"X-Scope-OrgID": "a|b"}
        ),
    ):
        pass
    assert (err.value.status_code, err.value.text) == (400, "multiple org IDs present\n")
