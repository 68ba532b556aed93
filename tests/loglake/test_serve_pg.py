"""`loglake serve --pg-port` answers SQL over the PostgreSQL wire protocol beside the
Loki API, for BI tools with a stock Postgres driver; an open connection sees what is
pushed after it connected."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from loglake.serverprocess import free_port
from storage.landing import write_landing
from storage.objectstore import ObjectStore
from tests.storage.helpers import T0, entries

psycopg = pytest.importorskip("psycopg")


def test_serve_with_pg_port(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_landing(ObjectStore(str(lake)), "fake", entries(1, {"service_name": "a"}, [T0, T0 + 1]))
    http_port, pg_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loglake",
            "serve",
            "--lake",
            str(lake),
            "--port",
            str(http_port),
            "--pg-port",
            str(pg_port),
        ],
        env={**os.environ, "LOGLAKE_PG_PASSWORD": "s3cret"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.1)
        dsn = f"host=127.0.0.1 port={pg_port} user=loglake password=s3cret dbname=loglake"
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM logs").fetchall() == [(2,)]
            now = time.time_ns()  # the push path rejects samples older than a week
            stream = {"stream": {"service_name": "a"}, "values": [[str(now), "pushed"]]}
            pushed = httpx.post(
                f"http://127.0.0.1:{http_port}/loki/api/v1/push",
                json={"streams": [stream]},
                timeout=10,
            )
            assert pushed.status_code == 204, pushed.text
            rows = conn.execute("SELECT line FROM logs WHERE ts = %s", [now]).fetchall()
            assert rows == [("pushed",)]
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn.replace("s3cret", "wrong")).close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
