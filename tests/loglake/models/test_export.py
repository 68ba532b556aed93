"""Exports to BI tools: parquet/csv/xlsx files, a DuckDB database file opened by a fresh
DuckDB process, and SQL over the PostgreSQL wire protocol from psycopg and psql."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from loglake.config import load_settings
from loglake.export import analytics_connection, export_duckdb, export_result
from loglake.export.pgwire import PgServer, ReadOnlyError, statement_kind
from loglake.lake import Lake
from storage.flush import flush
from storage.landing import write_landing
from tests.loglake.models.conftest import TENANT
from tests.storage.helpers import T0, entries

QUERIES = (
    "SELECT verdict, sum(flows) AS n FROM flows_by_verdict GROUP BY verdict ORDER BY verdict",
    "SELECT reason, sum(drops) AS n FROM drops_by_reason GROUP BY reason ORDER BY reason",
    "SELECT count(*) AS n FROM logs WHERE labels['job'] = 'hubble'",
)


def expected(lake: Lake, sql: str) -> list[tuple]:
    con = analytics_connection(lake, TENANT)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_export_model_as_parquet_csv_and_xlsx(built_lake, tmp_path: Path) -> None:
    lake, _ = built_lake
    n = export_result(lake, TENANT, "drops_by_reason", "parquet", tmp_path / "d.parquet")
    table = pq.read_table(tmp_path / "d.parquet")
    assert table.num_rows == n > 0 and "reason" in table.column_names
    total = sum(table.column("drops").to_pylist())
    [(drops,)] = expected(lake, "SELECT sum(drops) FROM drops_by_reason")
    assert total == drops

    rows = export_result(lake, TENANT, QUERIES[0], "csv", tmp_path / "v.csv")
    with open(tmp_path / "v.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == rows
    assert [(r["verdict"], int(r["n"])) for r in read] == expected(lake, QUERIES[0])

    # nested columns (lists) become JSON text in a spreadsheet
    rows = export_result(
        lake, TENANT, "SELECT verdict, src_labels, ts FROM hubble_flows LIMIT 5", "xlsx",
        tmp_path / "f.xlsx",
    )  # fmt: skip
    with zipfile.ZipFile(tmp_path / "f.xlsx") as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
    assert len(re.findall(r"<row ", sheet)) == rows + 1
    assert "src_labels" in strings and "verdict" in strings
    assert re.search(r'\["(k8s|reserved):', strings)  # a label list as JSON text


def test_export_rejects_unknown_format(built_lake, tmp_path: Path) -> None:
    lake, _ = built_lake
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        export_result(lake, TENANT, "top_talkers", "xml", tmp_path / "x")


def test_duckdb_file_opens_in_a_fresh_process(built_lake, tmp_path: Path) -> None:
    lake, _ = built_lake
    path = tmp_path / "lake.duckdb"
    views = export_duckdb(lake, TENANT, path)
    assert views[0] == "logs" and "hubble_flows" in views and "service_map_edges" in views
    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps([con.execute(q).fetchall() for q in json.loads(sys.argv[2])]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), json.dumps(QUERIES)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    got = [[tuple(row) for row in result] for result in json.loads(out.stdout)]
    assert got == [expected(lake, q) for q in QUERIES]
    # the synthetic flows were still in landing: the file holds them too
    assert got[2][0][0] > 3000


def test_duckdb_file_holds_landing_and_overlaps_once(tmp_path: Path) -> None:
    """A lake whose stream overlaps itself across a chunk and landing: the file stores the
    landing rows and the overlap list as its own tables, and `logs` deduplicates."""
    lake = Lake.open(load_settings(lake=str(tmp_path / "lake")))
    stream = {"service_name": "s"}
    write_landing(lake.store, TENANT, entries(1, stream, [T0, T0 + 5, T0 + 10], list("abc")))
    flush(lake.store)
    write_landing(lake.store, TENANT, entries(1, stream, [T0 + 5, T0 + 7], list("bx")))
    path = tmp_path / "lake.duckdb"
    export_duckdb(lake, TENANT, path)
    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "tables = con.execute('SELECT table_name FROM duckdb_tables() ORDER BY 1').fetchall()\n"
        "rows = con.execute('SELECT ts, line FROM logs ORDER BY ts').fetchall()\n"
        "print(json.dumps([tables, rows]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    tables, rows = json.loads(out.stdout)
    assert [t for (t,) in tables] == ["loglake_dup_streams", "loglake_landing"]
    assert rows == [[T0, "a"], [T0 + 5, "b"], [T0 + 7, "x"], [T0 + 10, "c"]]


def test_read_only_check() -> None:
    assert statement_kind("SET extra_float_digits = 3") == "set"
    assert statement_kind("WITH x AS (SELECT 1) SELECT * FROM x") == "query"
    assert statement_kind("BEGIN") == "begin" and statement_kind("ROLLBACK") == "rollback"
    for sql in (
        "DROP VIEW logs",
        "CREATE TABLE t AS SELECT 1",
        "ATTACH 'x.db'",
        "INSERT INTO t VALUES (1)",
        "INSTALL httpfs",
        "SELECT 1; DELETE FROM t",
        "PRAGMA enable_profiling",
    ):
        with pytest.raises(ReadOnlyError):
            statement_kind(sql)


@pytest.fixture(scope="module")
def pg_server(built_lake):
    lake, _ = built_lake
    server = PgServer(lake, TENANT, ("127.0.0.1", 0), {"analyst": "s3cret"}).serve_in_thread()
    yield server
    server.close()


def dsn(server: PgServer, password: str = "s3cret") -> str:
    host, port = server.address
    return f"host={host} port={port} user=analyst password={password} dbname=lake"


def test_psycopg_queries_models_and_logs(built_lake, pg_server: PgServer) -> None:
    lake, _ = built_lake
    with psycopg.connect(dsn(pg_server), autocommit=True) as conn:
        for query in QUERIES:
            assert [tuple(r) for r in conn.execute(query).fetchall()] == expected(lake, query)
    # the default (transaction) mode of the driver works too
    with psycopg.connect(dsn(pg_server)) as conn:
        assert conn.execute("SELECT count(*) FROM top_talkers").fetchall()[0][0] > 0


def test_pg_endpoint_is_authenticated_and_read_only(pg_server: PgServer) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn(pg_server, "wrong"), connect_timeout=5)
    with psycopg.connect(dsn(pg_server), autocommit=True) as conn:
        for sql in (
            "CREATE TABLE x AS SELECT 1",
            "DROP VIEW logs",
            "SELECT * FROM read_csv('/etc/passwd')",
            "SET enable_external_access = true; SELECT 1",
            "COPY logs TO '/tmp/loglake-pg-leak.csv'",
        ):
            with pytest.raises(psycopg.Error):
                conn.execute(sql)  # fmt: skip
        assert conn.execute("SELECT count(*) FROM hubble_flows").fetchall()[0][0] > 0
    assert not os.path.exists("/tmp/loglake-pg-leak.csv")


def test_psql_client(built_lake, pg_server: PgServer) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql (postgresql-client) is not installed")
    lake, _ = built_lake
    host, port = pg_server.address
    out = subprocess.run(
        [psql, "-h", host, "-p", str(port), "-U", "analyst", "-d", "lake", "-At", "-F", ",",
         "-c", QUERIES[0]],
        env={**os.environ, "PGPASSWORD": "s3cret", "PGSSLMODE": "disable"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = [tuple(line.split(",")) for line in out.stdout.split()]
    assert [(v, int(n)) for v, n in rows] == expected(lake, QUERIES[0])
