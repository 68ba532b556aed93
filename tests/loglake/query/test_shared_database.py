"""Query paths take connections of one shared in-memory DuckDB database per process
(`duck.query_connection`): each query's `logs` view and registered tables stay its own,
even while queries of other tenants run at the same time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pyarrow as pa

from storage import duck
from tests.loglake.query.conftest import BASE, Api

S = 10**9


def test_connections_share_a_database_but_not_their_relations():
    first, second = duck.query_connection(), duck.query_connection()
    try:
        first.execute("CREATE OR REPLACE TEMPORARY VIEW logs AS SELECT 1 AS v")
        second.execute("CREATE OR REPLACE TEMPORARY VIEW logs AS SELECT 2 AS v")
        first.register("_t", pa.table({"x": [1]}))
        assert first.sql("SELECT v FROM logs").fetchall() == [(1,)]
        assert second.sql("SELECT v FROM logs").fetchall() == [(2,)]
        assert second.sql(
            "SELECT count(*) FROM duckdb_views() WHERE view_name = '_t'"
        ).fetchall() == [(0,)]
        assert second.sql("SELECT current_setting('enable_progress_bar')").fetchall() == [(False,)]
    finally:
        first.close()
        second.close()
    third = duck.query_connection()  # closing a connection leaves the database open
    assert third.sql("SELECT 42").fetchall() == [(42,)]
    third.close()


def test_a_process_started_with_a_preexec_fn_survives_the_shared_database():
    # Popen with a preexec_fn runs the at-fork hooks in the child before it execs (Spark's
    # gateway is started so); freeing the parent's engine there killed the child.
    con = duck.query_connection()
    assert con.sql("SELECT 1").fetchall() == [(1,)]
    con.close()
    done = subprocess.run(
        [sys.executable, "-c", "print('child ran')"],
        preexec_fn=lambda: None,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "child ran\n")


def test_a_forked_child_queries_its_own_database_and_exits_cleanly():
    script = textwrap.dedent(
        """
        import os, sys
        from storage import duck
        con = duck.query_connection()
        con.sql("SELECT 1").fetchall()
        con.close()
        pid = os.fork()
        if pid == 0:
            child = duck.query_connection()
            print(child.sql("SELECT 2").fetchall(), flush=True)
            child.close()
            sys.exit(0)  # through the interpreter's teardown, which frees module globals
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[(2,)]", "0"], (done.stdout, done.stderr)


def test_a_process_exits_cleanly_while_a_daemon_thread_is_inside_a_query():
    # A query still running in a daemon thread at exit (a request's worker thread when a
    # server stops) used to return after the interpreter began tearing down: the thread
    # was unwound through DuckDB's frames and the process aborted, exit code 134.
    script = textwrap.dedent(
        """
        import threading
        from storage import duck
        started = threading.Event()
        outcome = []

        def run():
            con = duck.query_connection()
            started.set()
            try:
                con.sql("SELECT count(*) FROM range(10000000000) a, range(10) b").fetchall()
            except Exception as err:
                outcome.append(type(err).__name__)

        threading.Thread(target=run, daemon=True).start()
        started.wait()
        print("exiting", flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout) == (0, "exiting\n"), done.stderr
    assert "FATAL" not in done.stderr and "busy" not in done.stderr, done.stderr


def test_concurrent_queries_of_two_tenants_each_see_their_own(make_api) -> None:
    api: Api = make_api(auth_enabled=True)
    for tenant in ("alpha", "beta"):
        api.push(
            [
                {
                    "stream": {"app": "api", "owner": tenant},
                    "values": [(BASE + i * S, f"{tenant} line {i}") for i in range(1, 21)],
                }
            ],
            tenant=tenant,
        )
    api.flush()
    seen: dict[str, set[str]] = {"alpha": set(), "beta": set()}
    failures: list[str] = []
    start = threading.Barrier(4)

    def query(tenant: str) -> None:
        start.wait(10)
        for _ in range(5):
            r = api.get(
                "query_range",
                tenant=tenant,
                query='{app="api"}',
                start=BASE,
                end=BASE + 60 * S,
                limit=100,
            )
            if r.status_code != 200:
                failures.append(r.text)
                continue
            for stream in r.json()["data"]["result"]:
                seen[tenant].add(stream["stream"]["owner"])
                seen[tenant].update(line.split()[0] for _, line in stream["values"])

    threads = [threading.Thread(target=query, args=(t,)) for t in ("alpha", "beta") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert seen == {"alpha": {"alpha"}, "beta": {"beta"}}
