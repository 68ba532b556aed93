"""Delete requests: stored durably, due after the cancel period, applied by rewriting the
affected chunks so queries stop returning exactly the selected lines, and nothing else."""

from __future__ import annotations

import json
import re
from pathlib import Path

from loglake.ops_config import parse_delete_query
from storage import delete_requests, manifest
from storage.deletes import due_requests, process_deletes
from storage.objectstore import ObjectStore
from tests.storage.helpers import DAY, T0, query_rows
from tests.storage.operations.lake_builders import STREAMS, chunk_rows, small_flushes

HOUR = 3600 * 1_000_000_000
MS = 1_000_000


def add(store: ObjectStore, tenant: str, query: str, start_ns: int, end_ns: int):
    matchers, filters = parse_delete_query(query)
    return delete_requests.add_request(
        store, tenant, query, start_ns // MS, end_ns // MS, matchers, filters
    )


def two_days(store: ObjectStore, tenant: str) -> list[tuple[int, int, str]]:
    return small_flushes(store, tenant, flushes=3, per_stream=8, step=HOUR) + small_flushes(
        store, tenant, flushes=3, per_stream=8, start=T0 + DAY, step=HOUR
    )


def test_requests_are_stored_and_due_only_after_the_cancel_period(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    request = add(store, "t", '{env="dev"}', T0, T0 + HOUR)
    assert re.fullmatch(r"[0-9a-f]{8}", request.request_id)
    [listed] = delete_requests.list_requests(ObjectStore(str(tmp_path)), "t")
    assert listed == request and listed.status == "received"
    created = request.created_at_ms * MS
    assert due_requests(store, "t", 24 * HOUR, created + 23 * HOUR) == []
    assert due_requests(store, "t", 24 * HOUR, created + 24 * HOUR) == [request]
    assert listed.to_loki() == {
        "request_id": request.request_id,
        "start_time": T0 // 10**9,
        "end_time": (T0 + HOUR) // 10**9,
        "query": '{env="dev"}',
        "status": "received",
        "created_at": request.to_loki()["created_at"],
        "user_id": "",
    }


def test_processing_deletes_exactly_the_selected_lines(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = {tenant: two_days(store, tenant) for tenant in ("t", "other")}
    start, end = T0 + 5 * HOUR, T0 + DAY + 7 * HOUR  # spans both days
    by_filter = add(store, "t", '{service_name="api"} |= "level=error" != "fp=2"', start, end)
    whole = add(store, "t", '{namespace=~"de.*"}', T0, T0 + 2 * DAY - 1)

    results = process_deletes(store, cancel_period_ns=0)

    def deleted(fp: int, ts: int, line: str) -> bool:
        labels = STREAMS[fp]
        first = (
            labels["service_name"] == "api"
            and start <= ts <= end
            and "level=error" in line
            and "fp=2" not in line
        )
        second = re.fullmatch("de.*", labels.get("namespace", "")) is not None
        return first or second

    expected = sorted(r for r in written["t"] if not deleted(*r))
    assert len(expected) < len(written["t"])
    assert query_rows(store, "t") == expected
    assert query_rows(store, "other") == sorted(written["other"])
    assert {r.request_id: r.lines_deleted for r in results} == {
        by_filter.request_id: sum(
            1 for fp, ts, line in written["t"] if deleted(fp, ts, line) and fp != 3
        ),
        whole.request_id: sum(1 for fp, _ts, _line in written["t"] if fp == 3),
    }
    # the db stream's chunks lay wholly inside the second request: dropped unread
    assert next(r for r in results if r.request_id == whole.request_id).chunks_dropped > 0
    statuses = {r.request_id: r.status for r in delete_requests.list_requests(store, "t")}
    assert statuses == {by_filter.request_id: "processed", whole.request_id: "processed"}
    assert process_deletes(store, cancel_period_ns=0) == []  # nothing due twice
    for day in ("2024-05-01", "2024-05-02"):
        assert manifest.load_latest(store, "t", day).commit["operation"] == "delete"


def test_a_cancelled_request_is_neither_listed_nor_processed(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = two_days(store, "t")
    request = add(store, "t", '{env="prod"}', T0, T0 + 2 * DAY)
    delete_requests.cancel_request(store, "t", request.request_id)
    assert delete_requests.list_requests(store, "t") == []
    assert process_deletes(store, cancel_period_ns=0) == []
    assert query_rows(store, "t") == sorted(written)


def test_shards_split_as_lokis_build_requests() -> None:
    day_ms = DAY // MS
    start, end = T0 // MS + 5 * 3_600_000, T0 // MS + 2 * day_ms + 1_000
    # aligned to multiples of the interval; neighbours share their boundary millisecond
    assert delete_requests.shard_ranges(start, end, day_ms) == [
        (start, T0 // MS + day_ms),
        (T0 // MS + day_ms, T0 // MS + 2 * day_ms),
        (T0 // MS + 2 * day_ms, end),
    ]
    assert delete_requests.shard_ranges(start, end, end - start) == [(start, end)]
    assert delete_requests.shard_ranges(start, end, 0) == [(start, end)]


def test_a_sharded_request_is_processed_shard_by_shard(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = two_days(store, "t")
    query = '{service_name="api"} |= "level=error"'
    matchers, filters = parse_delete_query(query)
    start_ms, end_ms = (T0 + 2 * HOUR) // MS, (T0 + DAY + 20 * HOUR) // MS
    request = delete_requests.add_request(
        store, "t", query, start_ms, end_ms, matchers, filters, interval_ms=DAY // MS
    )
    assert len(request.shards()) == 2
    # one shard done (as after a crash between shards): Loki's progress status
    delete_requests.mark_shard_processed(store, "t", request.request_id, 0, {})
    [listed] = delete_requests.list_requests(store, "t")
    assert (listed.status, listed.processed_shards) == ("50% Complete", frozenset({0}))
    assert (listed.to_loki()["start_time"], listed.to_loki()["end_time"]) == (
        start_ms // 1000,
        end_ms // 1000,
    )
    [result] = process_deletes(store, cancel_period_ns=0)
    assert result.shards == 1 and result.days == ["2024-05-02"]  # only the second shard ran
    assert delete_requests.list_requests(store, "t")[0].status == "processed"

    def deleted(fp: int, ts: int, line: str) -> bool:
        return fp in (1, 2) and "level=error" in line and start_ms * MS <= ts <= end_ms * MS

    # the first shard's lines are hidden at query time though its rewrite was skipped
    assert query_rows(store, "t") == sorted(r for r in written if not deleted(*r))
    first_day = chunk_rows(store, "t", "2024-05-01").select(["fingerprint", "ts", "line"])
    assert any(deleted(*r.values()) for r in first_day.to_pylist())


def test_a_request_stored_before_sharding_reads_as_one_shard(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    request = add(store, "t", '{env="dev"}', T0, T0 + HOUR)
    raw = json.loads(store.get(delete_requests.request_key("t", request.request_id)))
    assert raw.pop("interval_ms") == 0
    older = delete_requests.DeleteRequest.decode(json.dumps(raw).encode())
    assert older.shards() == [(T0 // MS, (T0 + HOUR) // MS)]
