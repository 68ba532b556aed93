"""`/loki/api/v1/tail` over a websocket: entries already there, then entries pushed while
the tail is open, each sent once and oldest first."""

from __future__ import annotations

import time

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.loglake.query.conftest import Api


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


@pytest.mark.parametrize("query", ['delay_for=6&query={app="t"}', 'query=sum(rate({app="t"}[1m]))'])
def test_tail_refuses_bad_requests(api: Api, query: str) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as err,
        api.client.websocket_connect(f"/loki/api/v1/tail?{query}") as ws,
    ):
        ws.receive_json()
    assert err.value.code in (1000, 1008)
