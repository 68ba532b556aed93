"""The logcli-like commands against a real server process (`--addr`) and directly on the
lake (`--lake`): both print the same answers, computed here from what was pushed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loglake.cli import app
from loglake.client import PushClient
from loglake.config import load_settings
from loglake.server import create_app
from tests.loglake.query.conftest import BASE
from tests.threadserver import ThreadServer

S = 10**9
LINES = [(BASE + i * S, f"level={'error' if i % 2 else 'info'} i={i}") for i in range(6)]
runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def lake_and_server(tmp_path_factory: pytest.TempPathFactory):
    """A real uvicorn server on a loopback port, in a thread, over a fresh lake."""
    tmp = tmp_path_factory.mktemp("cli")
    lake = str(tmp / "lake")
    with ThreadServer(create_app(load_settings(lake=lake))) as served:
        with PushClient(served.url) as client:
            client.push({'{app="cli", env="dev"}': LINES})
        yield lake, served.url


@pytest.fixture(params=["addr", "lake"])
def target(request: pytest.FixtureRequest, lake_and_server) -> list[str]:
    lake, url = lake_and_server
    return ["--addr", url] if request.param == "addr" else ["--lake", lake]


WINDOW = ["--from", str(BASE), "--to", str(BASE + 60 * S)]


def test_query_outputs(target: list[str]) -> None:
    raw = invoke("query", '{app="cli"} |= "error"', *target, *WINDOW, "--output", "raw")
    assert raw.splitlines() == [line for _, line in reversed(LINES) if "error" in line]
    forward = invoke(
        "query", '{app="cli"}', *target, *WINDOW, "-o", "jsonl", "--forward", "--limit", "2"
    )
    records = [json.loads(x) for x in forward.splitlines()]
    assert [r["line"] for r in records] == [line for _, line in LINES[:2]]
    assert records[0]["labels"] == {"app": "cli", "env": "dev", "service_name": "cli"}
    default = invoke("query", '{app="cli"}', *target, *WINDOW, "--limit", "1")
    assert default.strip().endswith('{app="cli", env="dev", service_name="cli"} ' + LINES[-1][1])


def test_metric_query_prints_a_table(target: list[str]) -> None:
    out = invoke(
        "query",
        'sum by (level) (count_over_time({app="cli"} | logfmt [1m]))',
        *target,
        *WINDOW,
        "--step",
        "60s",
    )
    assert '{level="error"}' in out and '{level="info"}' in out
    inst = invoke(
        "instant-query", 'count_over_time({app="cli"}[1m])', *target, "--now", str(BASE + 60 * S)
    )
    t = BASE + 60 * S
    n = sum(1 for ts, _ in LINES if t - 60 * S < ts <= t)
    assert f"│ {n} " in inst


def test_labels_series_and_errors(target: list[str]) -> None:
    assert invoke("labels", *target, *WINDOW).split() == ["app", "env", "service_name"]
    assert invoke("labels", "env", *target, *WINDOW).split() == ["dev"]
    out = invoke("series", '{env="dev"}', *target, *WINDOW)
    assert out.strip() == '{app="cli", env="dev", service_name="cli"}'
    bad = runner.invoke(app, ["query", '{app="cli"}', *target, "--limit", "0"])
    assert bad.exit_code == 1 and "limit must be a positive value" in bad.output


@pytest.mark.parametrize("dialect", ["duckdb", "trino", "spark", "clickhouse"])
def test_translate_prints_the_dialects_sql(dialect: str) -> None:
    """The printed SQL is one statement of that dialect, the library's translation for the
    window ending now (its times differ run to run; everything else is the same)."""
    import re

    import sqlglot

    import logql2sql

    query = 'count_over_time({app="a"}[1m])'
    out = invoke("translate", query, "--dialect", dialect, "--step", "60s").strip()
    sqlglot.parse_one(out, read=dialect)
    now = time.time_ns()
    expected = logql2sql.translate(
        query, dialect=dialect, start=now - 3600 * S, end=now, step=60 * S, limit=100
    )
    assert re.sub(r"\d+", "N", out) == re.sub(r"\d+", "N", expected)


def test_translate(tmp_path: Path) -> None:
    out = invoke("translate", 'count_over_time({app="a"}[1m])', "--dialect", "trino")
    assert "SELECT" in out and "app" in out
    bad = runner.invoke(app, ["translate", "{"])
    assert bad.exit_code == 1 and "parse error" in bad.output


def test_org_id_picks_the_tenant_on_a_server_and_on_the_lake(tmp_path: Path) -> None:
    """`--org-id` is the tenant header against a server with auth, and the tenant read on a
    lake; `--since` bounds the range from now."""
    lake = str(tmp_path / "lake")
    settings = load_settings(lake=lake)
    settings.auth_enabled = True
    now = time.time_ns()
    with ThreadServer(create_app(settings)) as served:
        for tenant in ("t1", "t2"):
            with PushClient(served.url, tenant) as client:
                client.push({'{app="org"}': [(now - 120 * S, f"old of {tenant}")]})
                client.push({'{app="org"}': [(now - 10 * S, f"new of {tenant}")]})
        for target in (["--addr", served.url], ["--lake", lake]):
            for tenant in ("t1", "t2"):
                out = invoke("query", '{app="org"}', *target, "--org-id", tenant, "-o", "raw")
                assert out.split("\n")[:2] == [f"new of {tenant}", f"old of {tenant}"]
                recent = invoke(
                    "query", '{app="org"}', *target, "--org-id", tenant, "--since", "1m"
                )
                assert f"new of {tenant}" in recent and "old of" not in recent
        refused = runner.invoke(app, ["query", '{app="org"}', "--addr", served.url])
        assert refused.exit_code == 1 and "no org id" in refused.output
