"""Query-time deletion, as Loki's queriers filter: a delete request hides the lines it
selects from LogQL, SQL and the HTTP API from the moment it is received — in
`filter-only` mode for good, without any chunk being rewritten — lines still in landing
included; a cancelled request stops hiding them; processing leaves queries unchanged and
no deleted line comes back with a later flush."""

from __future__ import annotations

import re
from pathlib import Path

from loglake.config import Settings
from loglake.lake import Lake, load_settings
from loglake.operations import process_deletes as process_with_settings
from loglake.ops_config import parse_delete_query
from storage import delete_requests, manifest
from storage.deletes import process_deletes
from storage.flush import flush
from storage.landing import write_landing
from storage.objectstore import ObjectStore
from storage.snapshot import take_snapshot
from tests.storage.helpers import DAY, T0, entries, query_rows
from tests.storage.operations.lake_builders import STREAMS, chunk_rows, small_flushes
from tests.storage.operations.test_delete_api import PATH, START, DeleteServer, ops

HOUR = 3600 * 1_000_000_000
MS = 1_000_000
DAY_KEY = "2024-05-01"


def add(store: ObjectStore, tenant: str, query: str, start_ns: int, end_ns: int):
    matchers, filters = parse_delete_query(query)
    return delete_requests.add_request(
        store, tenant, query, start_ns // MS, end_ns // MS, matchers, filters
    )


def selects(query: str, start_ns: int, end_ns: int):
    """An independent reading of a delete request built from line filters `|=`, `!=`,
    `|~` (each with `or` alternatives): (fp, ts, line) -> deleted?"""
    selector, _, pipeline = query.partition("}")
    matchers = re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', selector)
    stages = re.findall(r'(\|=|!=|\|~)\s*("[^"]*"(?:\s+or\s+"[^"]*")*)', pipeline)

    def label_ok(labels: dict[str, str]) -> bool:
        for name, op, value in matchers:
            have = labels.get(name, "")
            hit = have == value if op in ("=", "!=") else re.fullmatch(value, have) is not None
            if hit != (op in ("=", "=~")):
                return False
        return True

    def line_ok(line: str) -> bool:
        for op, values in stages:
            alternatives = re.findall(r'"([^"]*)"', values)
            if op == "|~":
                hit = any(re.search(v, line) for v in alternatives)
            else:
                hit = any(v in line for v in alternatives)
            if hit != (op in ("|=", "|~")):
                return False
        return True

    def deleted(fp: int, ts: int, line: str) -> bool:
        return start_ns <= ts <= end_ns and label_ok(STREAMS[fp]) and line_ok(line)

    return deleted


def test_a_received_request_hides_exactly_its_lines_everywhere(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = small_flushes(store, "t", flushes=3, per_stream=10)
    stamps = sorted({ts for _, ts, _ in written})
    # inclusive bounds that fall exactly on entries, at millisecond precision as Loki's
    start, end = stamps[9], stamps[20]
    query = '{service_name="api"} |= "level=info" or "n=1714521660" != "fp=1" |~ "n=[0-9]+"'
    request = add(store, "t", query, start, end)
    deleted = selects(query, start, end)
    expected = sorted(r for r in written if not deleted(*r))
    assert 0 < len(written) - len(expected) < len(written) // 3
    assert any(deleted(fp, ts, line) for fp, ts, line in written if ts in (start, end))

    assert delete_requests.list_requests(store, "t")[0].status == "received"
    assert query_rows(store, "t") == expected  # the `logs` view: SQL and models

    lake = Lake.open(load_settings(lake=str(tmp_path)))
    kind, rows = lake.logql('{env=~".+"}', "t", start=T0, end=T0 + DAY, limit=10_000)
    assert kind == "log"
    assert sorted(zip(rows["fingerprint"].to_pylist(), rows["ts"].to_pylist(), strict=True)) == [
        (fp, ts) for fp, ts, _ in expected
    ]
    kind, rows = lake.logql(
        'sum(count_over_time({service_name="api"}[1d]))', "t", start=T0 + DAY, end=T0 + DAY
    )
    in_window = [ts for fp, ts, _ in expected if fp in (1, 2) and ts > T0]  # (t-1d, t]
    assert rows["value"].to_pylist() == [len(in_window)]
    count = lake.sql("SELECT count(*) AS n FROM logs", "t")
    assert count["n"].to_pylist() == [len(expected)]

    # nothing was rewritten: the lines are only hidden
    assert chunk_rows(store, "t", DAY_KEY).num_rows == len(written)
    delete_requests.cancel_request(store, "t", request.request_id)
    assert query_rows(store, "t") == sorted(written)


def test_filter_only_never_rewrites_and_keeps_hiding(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = small_flushes(store, "t", flushes=2, per_stream=10)
    add(store, "t", '{env="dev"}', T0, T0 + DAY)
    filter_only = Settings.model_validate(
        {
            "storage": {"lake": str(tmp_path)},
            "compactor": {"retention_enabled": True, "delete_request_cancel_period": "0s"},
            "limits_config": {"deletion_mode": "filter-only"},
        }
    )
    versions = manifest.versions(store, "t", DAY_KEY)
    assert process_with_settings(Lake.open(filter_only)) == []
    assert manifest.versions(store, "t", DAY_KEY) == versions
    assert chunk_rows(store, "t", DAY_KEY).num_rows == len(written)
    assert query_rows(store, "t") == sorted(r for r in written if r[0] != 2)
    assert delete_requests.list_requests(store, "t")[0].status == "received"


def test_processing_covers_landing_and_nothing_reappears(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = small_flushes(store, "t", flushes=2, per_stream=10)
    late = [T0 + 7 * HOUR + i for i in range(5)]
    unflushed = [(2, ts, f"api fp=2 unflushed {ts}") for ts in late]
    unflushed_kept = [(1, ts, f"api fp=1 unflushed {ts}") for ts in late]
    write_landing(store, "t", entries(2, STREAMS[2], late, [r[2] for r in unflushed]))
    write_landing(store, "t", entries(1, STREAMS[1], late, [r[2] for r in unflushed_kept]))
    add(store, "t", '{env="dev"}', T0, T0 + DAY)
    expected = sorted(r for r in written + unflushed_kept if r[0] != 2)
    assert query_rows(store, "t") == expected  # landing rows are hidden before processing

    [result] = process_deletes(store, cancel_period_ns=0)
    assert result.landing_flushed == 2
    assert result.lines_deleted == sum(1 for r in written + unflushed if r[0] == 2)
    stored = chunk_rows(store, "t", DAY_KEY)
    assert 2 not in set(stored.column("fingerprint").to_pylist())  # physically gone
    assert query_rows(store, "t") == expected

    # A line acknowledged after processing stays hidden and stays so after its flush,
    # as with Loki's default delete-request store: requests keep filtering.
    write_landing(store, "t", entries(2, STREAMS[2], [T0 + 9 * HOUR], ["api fp=2 after"]))
    assert query_rows(store, "t") == expected
    flush(store)
    assert query_rows(store, "t") == expected


def test_physical_deletion_agrees_with_query_time_filtering(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = small_flushes(store, "t", flushes=3, per_stream=12, step=HOUR)
    cases = [
        ('{service_name="api"} != "level=error"', T0 + 3 * HOUR, T0 + 20 * HOUR),
        ('{env=~"pro.*", namespace!="dev"} |~ "n=17145[0-9]+0{3} " or "fp=3"', T0, T0 + DAY),
        ('{namespace="dev"} |= "level=info"', T0 + HOUR, T0 + 30 * HOUR),
    ]
    for query, start, end in cases:
        add(store, "t", query, start, end)
    tests = [selects(q, s, e) for q, s, e in cases]
    expected = sorted(r for r in written if not any(t(*r) for t in tests))
    assert len(expected) < len(written)
    assert query_rows(store, "t") == expected
    results = process_deletes(store, cancel_period_ns=0)
    assert [r.cancelled for r in results] == [False] * 3
    stored = [
        tuple(r.values())
        for day in manifest.days(store, "t")
        for r in chunk_rows(store, "t", day).select(["fingerprint", "ts", "line"]).to_pylist()
    ]
    assert sorted(stored) == expected
    assert query_rows(store, "t") == expected


def test_only_requests_that_can_select_a_line_are_applied(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    small_flushes(store, "t", flushes=1, per_stream=5)
    add(store, "t", '{env="nowhere"}', T0, T0 + DAY)
    add(store, "t", '{env="dev"}', T0 - 2 * DAY, T0 - DAY)  # before any data
    hit = add(store, "t", '{env="dev"} |= "x"', T0, T0 + DAY)
    add(store, "other", '{env="dev"}', T0, T0 + DAY)
    assert [r.request_id for r in take_snapshot(store, "t").deletes] == [hit.request_id]
    assert take_snapshot(store, "t", T0 + 2 * DAY, T0 + 3 * DAY).deletes == ()


def test_http_query_and_sql_apis_hide_deleted_lines_at_once(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    store = ObjectStore(str(lake))
    written = small_flushes(store, "fake", flushes=2, per_stream=10)
    with DeleteServer(lake, ops()) as client:
        added = client.post(PATH, params={"query": '{env="prod"} |= "level=info"', "start": START})
        assert added.status_code == 204
        expected = [r for r in written if not (r[0] in (1, 3) and "level=info" in r[2])]
        response = client.get(
            "/loki/api/v1/query_range",
            params={
                "query": '{service_name=~".+"}',
                "start": str(T0),
                "end": str(T0 + DAY),
                "limit": "5000",
            },
        )
        assert response.status_code == 200, response.text
        lines = sorted(line for s in response.json()["data"]["result"] for _ts, line in s["values"])
        assert lines == sorted(line for _, _, line in expected)
        sql = client.post("/api/v1/sql", json={"query": "SELECT count(*) AS n FROM logs"})
        assert sql.json()["data"]["rows"] == [[len(expected)]]
        # the series API answers from the index, which query-time filtering leaves alone
        series = client.get(
            "/loki/api/v1/series",
            params={"match[]": '{env="prod"}', "start": str(T0), "end": str(T0 + DAY)},
        )
        assert len(series.json()["data"]) == 2
        request_id = added.headers["X-Delete-Request-ID"]
        assert client.delete(PATH, params={"request_id": request_id}).status_code == 204
        sql = client.post("/api/v1/sql", json={"query": "SELECT count(*) AS n FROM logs"})
        assert sql.json()["data"]["rows"] == [[len(written)]]


def test_on_s3_requests_hide_lines_and_processing_removes_them(s3_lake) -> None:
    url, endpoint = s3_lake
    store = ObjectStore(url, endpoint=endpoint)
    written = small_flushes(store, "t", flushes=2, per_stream=6)
    write_landing(store, "t", entries(3, STREAMS[3], [T0 + 5], ["db fp=3 in landing"]))
    add(store, "t", '{service_name="db"} |= "fp=3"', T0, T0 + DAY)
    expected = sorted(r for r in written if r[0] != 3)
    assert query_rows(store, "t") == expected
    [result] = process_deletes(store, cancel_period_ns=0)
    deleted = sum(r[0] == 3 for r in written) + 1  # the stream's flushed lines + the landed one
    assert (result.landing_flushed, result.lines_deleted) == (1, deleted)
    assert query_rows(store, "t") == expected
    assert 3 not in set(chunk_rows(store, "t", DAY_KEY).column("fingerprint").to_pylist())


def test_a_request_hides_lines_in_overlapping_and_in_clean_chunks(tmp_path: Path) -> None:
    """The `logs` view reads chunks that may hold a duplicate apart from the others
    (`storage.duck.logs_query`); a request's lines stay hidden in both, and a line pushed
    twice into the overlap is still returned once."""
    store = ObjectStore(str(tmp_path))
    api, db = STREAMS[1], STREAMS[3]
    first = [(1, T0 + i * MS, f"api {i} {'drop' if i % 2 else 'keep'}") for i in range(6)]
    again = [(1, T0 + i * MS, f"api {i} {'drop' if i % 2 else 'keep'}") for i in range(4, 10)]
    other = [(3, T0 + HOUR + i * MS, f"db {i} {'drop' if i % 2 else 'keep'}") for i in range(6)]
    for fp, labels, rows in ((1, api, first), (1, api, again), (3, db, other)):
        write_landing(store, "t", entries(fp, labels, [r[1] for r in rows], [r[2] for r in rows]))
        flush(store)
    snapshot = take_snapshot(store, "t")
    involved = snapshot.overlaps().chunks(snapshot.chunk_refs())
    assert 0 < len(involved) < len(snapshot.chunk_keys())  # overlapping and clean chunks
    query = '{env="prod"} |= "drop"'
    add(store, "t", query, T0, T0 + DAY)
    expected = sorted({r for r in first + again + other if "drop" not in r[2]})
    assert query_rows(store, "t") == expected
