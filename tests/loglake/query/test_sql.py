"""`POST /api/v1/sql`: the tenant's logs are readable, nothing else is."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from tests.loglake.query.conftest import BASE, Api

S = 10**9


@pytest.fixture
def two_tenants(make_api) -> Api:
    api = make_api(auth_enabled=True)
    api.push(
        [{"stream": {"app": "a"}, "values": [(BASE + i * S, f"one {i}") for i in range(3)]}],
        tenant="one",
    )
    api.push([{"stream": {"app": "b"}, "values": [(BASE + S, "secret of two")]}], tenant="two")
    api.flush()
    api.push([{"stream": {"app": "a"}, "values": [(BASE + 9 * S, "one landed")]}], tenant="one")
    return api


def _sql(api: Api, query: str, tenant: str = "one", accept: str | None = None):
    headers = {"X-Scope-OrgID": tenant, **({"Accept": accept} if accept else {})}
    return api.client.post("/api/v1/sql", json={"query": query}, headers=headers)


def test_sql_reads_chunks_and_landing_of_the_tenant(two_tenants: Api) -> None:
    r = _sql(two_tenants, "SELECT line, labels FROM logs ORDER BY ts")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [c["name"] for c in data["columns"]] == ["line", "labels"]
    assert data["rows"] == [
        ["one 0", {"app": "a", "service_name": "a"}],
        ["one 1", {"app": "a", "service_name": "a"}],
        ["one 2", {"app": "a", "service_name": "a"}],
        ["one landed", {"app": "a", "service_name": "a"}],
    ]
    assert data["truncated"] is False


def test_sql_answers_arrow_ipc_when_asked(two_tenants: Api) -> None:
    r = _sql(
        two_tenants,
        "SELECT count(*) AS n FROM logs",
        accept="application/vnd.apache.arrow.stream",
    )
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.to_pylist() == [{"n": 4}]


def _other_tenant_chunk(api: Api) -> str:
    [path] = [p for p in (api.lake / "chunks").rglob("*.parquet") if "tenant=two" in str(p)]
    return str(path)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "COPY (SELECT * FROM logs) TO '/tmp/loglake-sql-escape.csv'",
        "ATTACH '/tmp/loglake-sql-escape.db' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "SELECT * FROM read_parquet('{other}')",
        "SELECT * FROM glob('/etc/*')",
    ],
)
def test_sql_cannot_escape(two_tenants: Api, query: str) -> None:
    r = _sql(two_tenants, query.format(other=_other_tenant_chunk(two_tenants)))
    assert r.status_code == 400, r.text
    assert "secret" not in r.text and "root:" not in r.text


def test_sql_tenants_see_only_their_rows(two_tenants: Api) -> None:
    r = _sql(two_tenants, "SELECT line FROM logs", tenant="two")
    assert r.json()["data"]["rows"] == [["secret of two"]]
    assert _sql(two_tenants, "SELECT 1", tenant="one|two").status_code == 400
    assert two_tenants.client.post("/api/v1/sql", json={"query": "SELECT 1"}).status_code == 401


def test_sql_reads_built_models_of_the_tenant(two_tenants: Api) -> None:
    """Built SQL models are views of the locked connection; another tenant's are not."""
    from loglake.generate.hubble import FlowConfig, generate_flow_lines
    from loglake.models import build_models
    from tests.loglake.models.conftest import land_lines

    lake = two_tenants.client.app.state.lake
    # the hour before BASE (a whole hour): one day's data at any time of day (the day's
    # start, which this read before, is BASE itself between 03:00 and 04:00 UTC)
    start = BASE - 3600 * S
    lines = list(generate_flow_lines(FlowConfig(seed=3, flows=40, start_ns=start, end_ns=BASE)))
    land_lines(lake, "one", lines)
    build_models(lake.store, tenants=["one"], select=["flows_by_verdict"])
    want = sum(1 for line in lines if '"lost_events"' not in line)
    r = _sql(two_tenants, "SELECT CAST(sum(flows) AS BIGINT) AS n FROM flows_by_verdict")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["rows"] == [[want]]
    other = _sql(two_tenants, "SELECT count(*) FROM flows_by_verdict", tenant="two")
    assert other.status_code == 400


@pytest.mark.parametrize(
    ("query", "row"),
    [
        (
            "SELECT [CAST('NaN' AS DOUBLE), 1.5, CAST('-inf' AS DOUBLE)] AS v",
            [["NaN", 1.5, "-Inf"]],
        ),
        ("SELECT {'x': CAST('inf' AS DOUBLE), 'y': NULL} AS v", [{"x": "+Inf", "y": None}]),
        ("SELECT MAP([[1, 2]], ['pair']) AS v", [{"[1, 2]": "pair"}]),
        ("SELECT MAP([7], [CAST('nan' AS DOUBLE)]) AS v", [{"7": "NaN"}]),
        ("SELECT [MAP(['k'], [1]), MAP([], [])] AS v", [[{"k": 1}, {}]]),
        (
            "SELECT [labels] AS v FROM logs WHERE line = 'one 0'",
            [[{"app": "a", "service_name": "a"}]],
        ),
    ],
)
def test_nested_values_become_json_at_any_depth(two_tenants: Api, query: str, row: list) -> None:
    """Maps are objects and non-finite floats Loki's strings wherever they sit (inside a
    list, struct or map), never a server error."""
    r = _sql(two_tenants, query)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["rows"] == [row]


def test_a_running_query_is_interrupted_at_query_timeout(make_api) -> None:
    """DuckDB itself is interrupted mid-query (a join of 10^10 rows, minutes of work): the
    answer is Loki's 504 in about the timeout, and the next query runs normally."""
    api = make_api(query_timeout="300ms")
    api.push([{"stream": {"app": "a"}, "values": [(BASE + S, "x")]}])
    started = time.monotonic()
    slow = _sql(api, "SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b", "fake")
    assert slow.status_code == 504, slow.text
    assert slow.text.startswith("request timed out, decrease the duration of the request")
    assert time.monotonic() - started < 60
    ok = _sql(api, "SELECT count(*) AS n FROM logs", "fake")
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["rows"] == [[1]]


def test_sql_of_several_tenants_is_refused(two_tenants: Api) -> None:
    r = _sql(two_tenants, "SELECT count(*) FROM logs", tenant="one|two")
    assert (r.status_code, r.text) == (400, "multiple org IDs present\n")
