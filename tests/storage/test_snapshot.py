"""Readers see a pinned, deduplicated view: identical (stream, ts, line) entries once."""

from __future__ import annotations

from storage import duck
from storage.flush import flush
from storage.landing import write_landing
from storage.objectstore import ObjectStore
from storage.snapshot import take_snapshot
from tests.storage.helpers import T0, entries, query_rows


def test_identical_entries_are_returned_once_across_chunks_and_landing(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0, T0 + 1], ["x", "y"]))
    flush(store)
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0, T0 + 1], ["x", "other"]))
    assert query_rows(store) == [(1, T0, "x"), (1, T0 + 1, "other"), (1, T0 + 1, "y")]
    flush(store)
    assert query_rows(store) == [(1, T0, "x"), (1, T0 + 1, "other"), (1, T0 + 1, "y")]


def test_streams_written_in_order_need_no_dedup(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0, T0 + 1]))
    flush(store)
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0 + 2, T0 + 3]))
    write_landing(store, "t", entries(2, {"service_name": "a"}, [T0, T0 + 1]))
    snapshot = take_snapshot(store, "t")
    assert not snapshot.overlaps()
    assert len(query_rows(store)) == 6


def test_snapshot_is_pinned_while_the_lake_changes(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0]))
    snapshot = take_snapshot(store, "t")
    con = duck.connect(store)
    duck.register_logs(con, store, snapshot)
    flush(store)
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0 + 1]))
    assert con.execute("SELECT count(*) FROM logs").fetchone()[0] == 1


def test_time_range_selects_days_and_chunks(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    day = 86_400 * 10**9
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0, T0 + day, T0 + 2 * day]))
    flush(store)
    snapshot = take_snapshot(store, "t", T0 + day, T0 + day + 5)
    assert list(snapshot.manifests) == ["2024-05-02"]
    assert len(snapshot.chunk_keys(T0 + day, T0 + day + 5)) == 1
