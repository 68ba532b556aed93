"""Loki's delete API over HTTP: status codes, messages and JSON as Loki's handler gives
them, requests kept in the lake, and processing that removes the lines from queries.

The server runs on a free loopback port in a thread (uvicorn), with the `compactor`
section and limits of its settings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loglake.config import Settings
from loglake.server import create_app
from storage import delete_requests
from storage.deletes import process_deletes
from storage.objectstore import ObjectStore
from tests.storage.helpers import T0, query_rows
from tests.storage.operations.lake_builders import small_flushes
from tests.threadserver import ThreadServer

PATH = "/loki/api/v1/delete"
START = str(T0 // 10**9)


class DeleteServer(ThreadServer):
    """`create_app` over `lake` with these settings, served in a thread; entering gives a
    client."""

    def __init__(self, lake: Path, settings: Settings, auth: bool = False) -> None:
        settings.storage.lake = str(lake)
        settings.auth_enabled = auth
        super().__init__(create_app(settings))

    def __enter__(self) -> httpx.Client:  # type: ignore[override]
        super().__enter__()
        self.client = httpx.Client(base_url=self.url, timeout=10)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        super().__exit__(*exc)


def ops(**compactor: object) -> Settings:
    """Settings with retention enabled, these `compactor` keys, and tenant `locked`'s
    deletion disabled."""
    return Settings.model_validate(
        {
            "compactor": {"retention_enabled": True, **compactor},
            "overrides": {"locked": {"deletion_mode": "disabled"}},
        }
    )


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "lake"


def test_without_retention_the_api_does_not_exist(lake: Path) -> None:
    with DeleteServer(lake, Settings()) as client:
        for method in ("GET", "POST", "DELETE"):
            response = client.request(method, PATH)
            assert (response.status_code, response.text) == (404, "404 page not found\n")


def test_parameters_are_checked_with_lokis_messages(lake: Path) -> None:
    with DeleteServer(lake, ops()) as client:
        cases = {
            (): "query not set",
            (("query", "{app="),): "invalid query expression",
            (("query", '{app="a"} | json'),): "invalid query expression",
            (("query", '{app="a"}'),): "start time not set",
            (("query", '{app="a"}'), ("start", "12")): (
                "invalid start time: require unix seconds or RFC3339 format"
            ),
            (("query", '{app="a"}'), ("start", START), ("end", "4102444800")): (
                "deletes in the future are not allowed"
            ),
            (("query", '{app="a"}'), ("start", START), ("end", START)): (
                "start time can't be greater than or equal to end time"
            ),
            (
                ("query", '{app="a"} |= "x"'),
                ("start", START),
                ("end", str(T0 // 10**9 + 60)),
                ("max_interval", "1h"),
            ): "max_interval can't be greater than the interval to be deleted (1m0s)",
        }
        for params, message in cases.items():
            response = client.post(PATH, params=dict(params))
            assert (response.status_code, response.text) == (400, message + "\n"), params
        assert client.get(PATH).json() == []


def test_add_list_cancel_and_process(lake: Path) -> None:
    store = ObjectStore(str(lake))
    written = small_flushes(store, "fake", flushes=2, per_stream=10)
    with DeleteServer(lake, ops()) as client:
        added = client.post(
            PATH, params={"query": '{env="dev"} |= "error"', "start": START, "end": "1714608000"}
        )
        assert added.status_code == 204
        request_id = added.headers["X-Delete-Request-ID"]
        other = client.put(PATH, params={"query": '{env="prod"}', "start": "2024-05-01T00:00:00Z"})
        assert other.status_code == 204

        listed = client.get(PATH)
        assert listed.headers["content-type"] == "application/json"
        rows = listed.json()
        assert [r["status"] for r in rows] == ["received", "received"]
        first = next(r for r in rows if r["request_id"] == request_id)
        assert first["query"] == '{env="dev"} |= "error"'
        assert (first["start_time"], first["end_time"]) == (T0 // 10**9, 1714608000)
        assert set(first) == {
            "request_id",
            "start_time",
            "end_time",
            "query",
            "status",
            "created_at",
            "user_id",
        }

        cancel = client.delete(PATH, params={"request_id": other.headers["X-Delete-Request-ID"]})
        assert cancel.status_code == 204
        assert [r["request_id"] for r in client.get(PATH).json()] == [request_id]
        missing = client.delete(PATH, params={"request_id": "deadbeef"})
        assert (missing.status_code, missing.text) == (
            404,
            "could not find delete request with given id\n",
        )

        process_deletes(store, cancel_period_ns=0)
        assert [r["status"] for r in client.get(PATH).json()] == ["processed"]
        late = client.delete(PATH, params={"request_id": request_id})
        assert (late.status_code, late.text) == (
            400,
            "deletion of request which is in process or already processed is not allowed\n",
        )
    expected = sorted(r for r in written if not (r[0] == 2 and "error" in r[2]))
    assert len(expected) < len(written)
    assert query_rows(store, "fake") == expected


def test_cancel_period_and_force(lake: Path) -> None:
    with DeleteServer(lake, ops(delete_request_cancel_period="1s")) as client:
        client.post(PATH, params={"query": '{env="dev"}', "start": START})
        [row] = client.get(PATH).json()
        time.sleep(1.1)
        refused = client.delete(PATH, params={"request_id": row["request_id"]})
        assert refused.status_code == 400
        assert refused.text == (
            "Cancellation of partially completed delete request or delete request past the "
            "deadline of 1s since its creation is not allowed. To force, use the ?force query "
            "parameter\n"
        )
        forced = client.delete(PATH, params={"request_id": row["request_id"], "force": "true"})
        assert forced.status_code == 204
        assert client.get(PATH).json() == []


def test_tenants_and_deletion_mode(lake: Path) -> None:
    with DeleteServer(lake, ops(), auth=True) as client:
        anonymous = client.get(PATH)
        assert (anonymous.status_code, anonymous.text) == (400, "no org id\n")
        locked = client.get(PATH, headers={"X-Scope-OrgID": "locked"})
        assert (locked.status_code, locked.text) == (
            403,
            "deletion is not available for this tenant\n",
        )
        added = client.post(
            PATH, params={"query": '{a="b"}', "start": START}, headers={"X-Scope-OrgID": "acme"}
        )
        assert added.status_code == 204
        assert client.get(PATH, headers={"X-Scope-OrgID": "other"}).json() == []
    stored = delete_requests.list_requests(ObjectStore(str(lake)), "acme")
    assert [r.request_id for r in stored] == [added.headers["X-Delete-Request-ID"]]


def test_requests_with_line_filters_are_sharded_as_loki_shards_them(lake: Path) -> None:
    store = ObjectStore(str(lake))
    three_days = {"start": START, "end": str(T0 // 10**9 + 3 * 86_400)}
    with DeleteServer(lake, ops()) as client:
        cases = {
            "25h": "max_interval can't be greater than 24h0m0s",
            "1d": "invalid max_interval: valid time units are 's', 'm', 'h'",
            "500ms": "invalid max_interval: valid time units are 's', 'm', 'h'",
        }
        for interval, message in cases.items():
            refused = client.post(
                PATH, params={"query": '{a="b"} |= "x"', "max_interval": interval, **three_days}
            )
            assert (refused.status_code, refused.text) == (400, message + "\n"), interval
        by_default = client.post(PATH, params={"query": '{a="b"} |= "x"', **three_days})
        by_param = client.post(
            PATH, params={"query": '{a="c"} != "x"', "max_interval": "12h", **three_days}
        )
        unsharded = client.post(PATH, params={"query": '{a="d"}', **three_days})
        assert {r.status_code for r in (by_default, by_param, unsharded)} == {204}
        stored = {r.request_id: r for r in delete_requests.list_requests(store, "fake")}
        shards = {
            name: len(stored[response.headers["X-Delete-Request-ID"]].shards())
            for name, response in (
                ("default", by_default),
                ("param", by_param),
                ("none", unsharded),
            )
        }
        assert shards == {"default": 3, "param": 6, "none": 1}
        # the listing merges the shards into one request with the whole range
        listed = client.get(PATH).json()
        assert len(listed) == 3
        assert {(r["start_time"], r["end_time"]) for r in listed} == {
            (int(three_days["start"]), int(three_days["end"]))
        }

        request_id = by_param.headers["X-Delete-Request-ID"]
        delete_requests.mark_shard_processed(store, "fake", request_id, 0, {})
        statuses = {r["request_id"]: r["status"] for r in client.get(PATH).json()}
        assert statuses[request_id] == "16% Complete"
        refused = client.delete(PATH, params={"request_id": request_id})
        assert refused.status_code == 400
        assert refused.text.startswith("Cancellation of partially completed delete request")
        forced = client.delete(PATH, params={"request_id": request_id, "force": "true"})
        assert forced.status_code == 204
        assert len(client.get(PATH).json()) == 2


def test_listing_can_be_narrowed_to_requests_overlapping_a_range(lake: Path) -> None:
    day = 86_400
    with DeleteServer(lake, ops()) as client:
        for offset in (0, 2 * day):
            start = T0 // 10**9 + offset
            added = client.post(
                PATH, params={"query": '{a="b"}', "start": str(start), "end": str(start + 60)}
            )
            assert added.status_code == 204
        second_day = {"start": str(T0 // 10**9 + day), "end": str(T0 // 10**9 + 2 * day - 1)}
        assert client.get(PATH, params=second_day).json() == []
        third_day = {"start": str(T0 // 10**9 + 2 * day), "end": str(T0 // 10**9 + 3 * day)}
        [found] = client.get(PATH, params=third_day).json()
        assert found["start_time"] == T0 // 10**9 + 2 * day
        assert len(client.get(PATH, params={"start": third_day["start"]}).json()) == 2
        bad = client.get(PATH, params={"start": "x", "end": third_day["end"]})
        assert (bad.status_code, bad.text) == (
            400,
            "invalid start time: require unix seconds or RFC3339 format\n",
        )
