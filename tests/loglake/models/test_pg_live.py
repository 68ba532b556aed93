"""The Postgres-wire endpoint answers every statement from the latest published lake state:
data flushed (or only landed) and models built after the server started are visible to
the next query of an open psycopg connection, while a transaction keeps the state of its
BEGIN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from loglake.config import load_settings
from loglake.export.pgwire import PgServer
from loglake.generate.hubble import FlowConfig, generate_flow_lines
from loglake.lake import Lake
from loglake.models import build_models
from tests.loglake.models.conftest import TENANT, land_lines

LOGS = "SELECT count(*) FROM logs WHERE labels['job'] = 'hubble'"


def flows(seed: int, n: int = 200) -> list[str]:
    """`n` synthetic flow lines; distinct seeds give distinct lines."""
    return list(generate_flow_lines(FlowConfig(seed=seed, flows=n)))


def hubble_rows(lines: list[str]) -> int:
    """How many of the lines are flows (the generator also writes rare lost_events)."""
    return sum('"flow":' in line for line in lines)


@pytest.fixture
def live_lake(tmp_path: Path) -> Lake:
    lake = Lake.open(load_settings(lake=str(tmp_path / "lake")))
    land_lines(lake, TENANT, flows(1))
    lake.flush()
    return lake


@pytest.fixture
def server(live_lake: Lake) -> Iterator[PgServer]:
    pg = PgServer(live_lake, TENANT, ("127.0.0.1", 0), {"analyst": "s3cret"}).serve_in_thread()
    yield pg
    pg.close()


def connect(server: PgServer, autocommit: bool = True) -> psycopg.Connection:
    host, port = server.address
    return psycopg.connect(
        f"host={host} port={port} user=analyst password=s3cret dbname=lake",
        autocommit=autocommit,
    )


def count(conn: psycopg.Connection, sql: str = LOGS) -> int:
    return conn.execute(sql).fetchall()[0][0]


def test_each_query_sees_data_flushed_after_the_previous_one(
    live_lake: Lake, server: PgServer
) -> None:
    first, second, third = flows(1), flows(2), flows(3)
    with connect(server) as conn:
        assert count(conn) == hubble_rows(first)
        land_lines(live_lake, TENANT, second)
        live_lake.flush()
        assert count(conn) == hubble_rows(first) + hubble_rows(second)
        # a push is queryable once landed, before any flush, as on the Loki API
        land_lines(live_lake, TENANT, third)
        assert count(conn) == hubble_rows(first) + hubble_rows(second) + hubble_rows(third)
        rebuilds = server.live.rebuilds
        assert count(conn) == count(conn)  # an unchanged lake is not rebuilt
        assert server.live.rebuilds == rebuilds


def test_models_built_later_appear_in_an_open_connection(live_lake: Lake, server: PgServer) -> None:
    with connect(server) as conn:
        with pytest.raises(psycopg.Error, match="flows_by_verdict"):
            conn.execute("SELECT count(*) FROM flows_by_verdict")
        build_models(live_lake.store, tenants=[TENANT], select=["flows_by_verdict"])
        assert count(conn, "SELECT sum(flows) FROM flows_by_verdict") == hubble_rows(flows(1))
        # a rebuilt partition (same key, new data) is read by the existing view
        land_lines(live_lake, TENANT, flows(2))
        build_models(live_lake.store, tenants=[TENANT], select=["flows_by_verdict"])
        assert count(conn, "SELECT sum(flows) FROM flows_by_verdict") == hubble_rows(
            flows(1)
        ) + hubble_rows(flows(2))


def test_a_transaction_keeps_the_state_of_its_begin(live_lake: Lake, server: PgServer) -> None:
    before = hubble_rows(flows(1))
    after = before + hubble_rows(flows(2))
    with connect(server, autocommit=False) as pinned, connect(server) as other:
        assert count(pinned) == before  # psycopg opened a transaction here
        land_lines(live_lake, TENANT, flows(2))
        live_lake.flush()
        assert count(other) == after  # a new database generation for the other client
        assert count(pinned) == before  # the pinned one is still open and unchanged
        pinned.commit()
        assert count(pinned) == after
        assert server.live.generations_open() == 1  # the pinned generation was closed
