"""The `loglake` command line against a real server process: push (raw and Hubble),
flush, and sql in every output format."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from loglake.cli import app
from storage.landing import list_landing, write_landing
from storage.objectstore import ObjectStore
from tests.conftest import SHARED
from tests.storage.helpers import T0, entries

runner = CliRunner()
HUBBLE = SHARED / "data" / "hubble"


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_push_raw_file_with_timestamps_then_flush_and_sql(start_server, tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    server = start_server(lake)
    now_s = int(time.time()) - 60
    log = tmp_path / "app.log"
    log.write_text(
        f"ts={now_s} level=info msg=first\n"
        f"ts={now_s + 1}.5 level=error msg=second\n"
        "level=warn msg=no-timestamp\n"
    )
    out = invoke(
        "push",
        str(log),
        "--addr",
        server.addr,
        "--labels",
        '{job="app", env="dev"}',
        "--timestamp-field",
        "ts",
        "--batch-size",
        "2",
    )
    assert "pushed 3 lines" in out and "in 2 requests" in out
    assert "flushed 3 entries" in invoke("flush", "--lake", lake)

    csv_path = tmp_path / "out.csv"
    invoke(
        "sql",
        "SELECT ts, line, labels FROM logs ORDER BY ts",
        "--lake",
        lake,
        "--format",
        "csv",
        "--output",
        str(csv_path),
    )
    rows = pacsv.read_csv(csv_path).to_pylist()
    assert [r["line"] for r in rows[:2]] == [
        f"ts={now_s} level=info msg=first",
        f"ts={now_s + 1}.5 level=error msg=second",
    ]
    assert rows[0]["ts"] == now_s * 10**9 and rows[1]["ts"] == now_s * 10**9 + 1_500_000_000
    assert rows[0]["labels"] == '{env="dev", job="app", service_name="app"}'

    json_path = tmp_path / "out.json"
    invoke(
        "sql",
        "SELECT count(*) AS n FROM logs",
        "--lake",
        lake,
        "--format",
        "json",
        "--output",
        str(json_path),
    )
    assert json.loads(json_path.read_text()) == [{"n": 3}]
    nested = (
        "SELECT [labels] AS l, [CAST('NaN' AS DOUBLE)] AS f, MAP([1], ['one']) AS m "
        "FROM logs LIMIT 1"
    )
    invoke("sql", nested, "--lake", lake, "--format", "json", "--output", str(json_path))
    # strict JSON (no bare NaN), maps as objects at any depth, as the SQL API answers
    assert json.loads(json_path.read_text(), parse_constant=_not_json) == [
        {
            "l": [{"env": "dev", "job": "app", "service_name": "app"}],
            "f": ["NaN"],
            "m": {"1": "one"},
        }
    ]

    parquet_path = tmp_path / "out.parquet"
    invoke(
        "sql",
        "SELECT labels FROM logs LIMIT 1",
        "--lake",
        lake,
        "--format",
        "parquet",
        "--output",
        str(parquet_path),
    )
    assert dict(pq.read_table(parquet_path).column("labels")[0].as_py())["env"] == "dev"

    table = invoke(
        "sql", "SELECT labels['env'] AS env, count(*) AS n FROM logs GROUP BY 1", "--lake", lake
    )
    assert "dev" in table and "1 row" in table


def test_sql_errors_are_reported_not_raised(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sql", "SELEC nonsense", "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 1
    assert "error" in result.output


def test_flush_reports_a_failed_tenant_and_exits_1_after_flushing_the_others(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    store = ObjectStore(str(lake))
    for tenant in ("a", "b"):
        write_landing(store, tenant, entries(1, {"service_name": "api"}, [T0]))
    (broken,) = list_landing(store, "b")
    with open(store.path(broken.key), "r+b") as f:
        f.truncate(broken.size // 2)
    result = runner.invoke(app, ["flush", "--lake", str(lake)])
    assert result.exit_code == 1
    assert "flushed 1 entries" in result.output
    assert "flush of tenant 'b' failed" in " ".join(result.output.split())
    assert list_landing(store, "a") == []


@pytest.mark.skipif(not HUBBLE.is_dir(), reason="shared Hubble flows not present")
def test_push_real_hubble_flows(start_server, tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    # The captures are from 2021: accept old samples, as an operator back-filling would.
    server = start_server(lake, {"limits_config": {"reject_old_samples": False}})
    files = sorted(str(p) for p in HUBBLE.glob("*.json"))
    total = sum(1 for f in files for line in Path(f).read_text().splitlines() if line.strip())
    out = invoke("push", *files, "--addr", server.addr, "--format", "hubble")
    assert f"pushed {total} lines" in out
    invoke("flush", "--lake", lake)
    json_path = tmp_path / "verdicts.json"
    invoke(
        "sql",
        "SELECT count(*) AS flows, count(DISTINCT line) AS distinct_lines, "
        "count(*) FILTER (WHERE labels['verdict'] = 'DROPPED') AS dropped, "
        "count(DISTINCT labels['node']) AS nodes, min(labels['job']) AS job FROM logs",
        "--lake",
        lake,
        "--format",
        "json",
        "--output",
        str(json_path),
    )
    [row] = json.loads(json_path.read_text())
    # 1,918 lines in the files, of which 1,851 unique: identical (stream, ts, line)
    # entries pushed twice are returned once, as Loki returns them.
    assert total == 1918
    assert row["flows"] == row["distinct_lines"] == 1851
    assert row["dropped"] >= 1 and row["nodes"] >= 2 and row["job"] == "hubble"


def test_push_follows_a_growing_file(start_server, tmp_path: Path) -> None:
    import subprocess
    import sys

    lake = str(tmp_path / "lake")
    server = start_server(lake)
    log = tmp_path / "growing.log"
    log.write_text("first\n")
    shipper = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loglake",
            "push",
            str(log),
            "--addr",
            server.addr,
            "--follow",
            "--labels",
            '{job="tail"}',
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from loglake.config import load_settings
        from loglake.lake import Lake

        the_lake = Lake.open(load_settings(lake=lake))

        def lines() -> list[str]:
            return (
                the_lake.sql("SELECT line FROM logs ORDER BY ts", "fake").column("line").to_pylist()
            )

        deadline = time.monotonic() + 30
        while lines() != ["first"] and time.monotonic() < deadline:
            time.sleep(0.2)
        with log.open("a") as f:
            f.write("second\nthird\n")
        while lines() != ["first", "second", "third"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lines() == ["first", "second", "third"]
    finally:
        shipper.terminate()
        try:
            shipper.wait(10)
        except subprocess.TimeoutExpired:
            # Stuck in the kernel on a slow disk: kill it, so that this timeout does not
            # mask the assertion above.
            shipper.kill()
            shipper.wait(10)


def test_push_from_standard_input(start_server, tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    server = start_server(lake)
    result = runner.invoke(
        app,
        ["push", "-", "--addr", server.addr, "--labels", '{job="stdin"}'],
        input="one\ntwo\n",
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "pushed 2 lines" in result.output
    out = invoke(
        "sql",
        "SELECT line, labels['job'] AS job FROM logs ORDER BY line",
        "--lake",
        lake,
        "--format",
        "csv",
    )
    assert out.splitlines()[:3] == ['"line","job"', '"one","stdin"', '"two","stdin"']


def test_sql_refuses_an_invalid_tenant(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["sql", "SELECT 1", "--lake", str(tmp_path / "lake"), "--tenant", "../other"]
    )
    assert result.exit_code == 1
    assert "tenant ID '../other' contains unsupported character '/'" in result.output


def _not_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")
