"""`querier.max_concurrent`: at most that many queries run at once in a server; the others
wait for a slot (the wait shows in their stats' `queueTime`), as Loki's querier queues
them. The slots are taken from the test, so what waits is decided, not raced."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loglake.config import load_settings
from loglake.lake import Lake
from loglake.query.executor import Executor, QueryRequest
from loglake.server import create_app
from tests.loglake.query.conftest import BASE, Api

S = 10**9
WAIT = 0.5


def test_default_is_lokis_four(tmp_path: Path) -> None:
    assert load_settings(lake=str(tmp_path / "lake")).querier.max_concurrent == 4


def test_queries_beyond_max_concurrent_wait_for_a_slot(tmp_path: Path) -> None:
    config = tmp_path / "loglake.yaml"
    config.write_text("querier:\n  max_concurrent: 2\n")
    with TestClient(create_app(load_settings(config, lake=str(tmp_path / "lake")))) as client:
        api = Api(client, tmp_path / "lake")
        api.push([{"stream": {"app": "q"}, "values": [(BASE + S, "one line")]}])
        assert api.get(
            "query", query='count_over_time({app="q"}[1m])', time=BASE + 30 * S
        ).is_success
        executor = client.app.state.query_executor  # the server's, made by that query
        assert executor.max_concurrent == 2
        request = QueryRequest('{app="q"}', BASE, BASE + 60 * S, step=S, limit=10)

        def run_in_thread() -> tuple[threading.Event, dict]:
            done, out = threading.Event(), {}

            def run() -> None:
                out["result"] = executor.run(["fake"], request)
                done.set()

            threading.Thread(target=run, daemon=True).start()
            return done, out

        executor._slots.acquire()  # one query running: a second one still has a slot
        done, out = run_in_thread()
        assert done.wait(30)
        assert [v[1] for s in out["result"].result for v in s["values"]] == ["one line"]

        executor._slots.acquire()  # two running: a third waits until one ends
        done, out = run_in_thread()
        assert not done.wait(WAIT)
        executor._slots.release()
        assert done.wait(30)
        summary = out["result"].stats["summary"]
        assert summary["queueTime"] >= WAIT
        assert summary["totalEntriesReturned"] == 1
        executor._slots.release()


def test_max_concurrent_must_be_positive(tmp_path: Path) -> None:
    config = tmp_path / "loglake.yaml"
    config.write_text("querier:\n  max_concurrent: 0\n")
    with pytest.raises(ValueError, match="max_concurrent"):
        load_settings(config)


def test_an_executor_given_no_slot_is_refused(tmp_path: Path) -> None:
    """`Executor(max_concurrent=0)` used to fall back to the setting without a word."""
    lake = Lake.open(load_settings(lake=str(tmp_path / "lake")))
    with pytest.raises(ValueError, match="max_concurrent must be at least 1, got 0"):
        Executor(lake, max_concurrent=0)
    assert Executor(lake, max_concurrent=3).max_concurrent == 3
    assert Executor(lake).max_concurrent == 4
