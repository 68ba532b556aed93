"""Flush turns landing into sorted, partitioned chunks and manifest commits, and stays
correct when re-run after a crash or run twice at once."""

from __future__ import annotations

import threading

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from storage import duck, layout, manifest
from storage.chunks import ChunkOptions
from storage.flush import flush, flush_objects
from storage.landing import GroupCommitter, list_landing, write_landing
from storage.objectstore import ObjectStore
from storage.snapshot import take_snapshot
from tests.storage.helpers import DAY, T0, entries


def count(store: ObjectStore, tenant: str = "t") -> int:
    con = duck.connect(store)
    duck.register_logs(con, store, take_snapshot(store, tenant))
    return con.execute("SELECT count(*) FROM logs").fetchone()[0]


def test_flush_writes_partitioned_sorted_chunks_and_a_manifest(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(2, {"service_name": "api"}, [T0 + 5, T0 + 1, T0 + 3]))
    write_landing(store, "t", entries(1, {"service_name": "api"}, [T0 + 2, T0 + DAY]))
    write_landing(store, "t", entries(3, {"service_name": "db/main"}, [T0 + 4]))
    result = flush(store)
    assert (result.rows, result.commits) == (6, 2)
    assert list_landing(store) == []

    m = manifest.load_latest(store, "t", "2024-05-01")
    assert m.version == 1
    keys = m.chunk_keys()
    assert sorted(k.split("/")[3] for k in keys) == ["service_name=api", "service_name=db%2Fmain"]
    api = next(k for k in keys if "service_name=api" in k)
    table = pq.read_table(store.path(api))
    assert table.select(["fingerprint", "ts"]).to_pylist() == [
        {"fingerprint": 1, "ts": T0 + 2},
        {"fingerprint": 2, "ts": T0 + 1},
        {"fingerprint": 2, "ts": T0 + 3},
        {"fingerprint": 2, "ts": T0 + 5},
    ]
    assert pq.ParquetFile(store.path(api)).metadata.row_group(0).column(0).compression == "ZSTD"
    streams = m.streams().sort_by("fingerprint").to_pylist()
    assert [(s["fingerprint"], s["first_ts"], s["last_ts"], s["lines"]) for s in streams] == [
        (1, T0 + 2, T0 + 2, 1),
        (2, T0 + 1, T0 + 5, 3),
        (3, T0 + 4, T0 + 4, 1),
    ]
    assert count(store) == 6


def test_chunks_are_a_hive_dataset_for_other_engines(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a:b"}, [T0, T0 + 1]))
    flush(store)
    frame = pl.scan_parquet(f"{tmp_path}/chunks/**/*.parquet", hive_partitioning=True).collect()
    assert frame.get_column("service_name").to_list() == ["a:b", "a:b"]
    assert frame.get_column("tenant").to_list() == ["t", "t"]
    rows = duckdb.sql(
        f"SELECT service_name, labels['service_name'] FROM "
        f"read_parquet('{tmp_path}/chunks/**/*.parquet', hive_partitioning=true)"
    ).fetchall()
    assert rows == [("a:b", "a:b")] * 2


def test_rerun_after_crash_between_commit_and_landing_delete(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0, T0 + DAY]))
    keys = [o.key for o in list_landing(store)]
    # A crash after publishing both days but before deleting landing: simulate by
    # restoring the landing object after a complete flush.
    data = store.get(keys[0])
    flush_objects(store, "t", keys, ChunkOptions())
    store.put(keys[0], data)
    assert count(store) == 2  # readers never count absorbed landing rows twice
    again = flush(store)
    assert again.rows == 0
    assert list_landing(store) == []
    assert count(store) == 2


def test_crash_after_one_of_two_days_committed(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0, T0 + 1, T0 + DAY]))
    key = list_landing(store)[0].key
    # Commit only the first day by hand, as a crashed flush would have.
    from storage.chunks import write_chunks
    from storage.landing import decode_landing

    table = decode_landing(store.get(key))
    first_day = table.filter(pl.from_arrow(table).get_column("ts").lt(T0 + DAY).to_arrow())
    refs, _ = write_chunks(store, "t", "2024-05-01", first_day, ChunkOptions())
    base = manifest.load_latest(store, "t", "2024-05-01")
    manifest.publish(store, base, refs, operation="flush", applied_landing=[key])
    assert count(store) == 3
    result = flush(store)
    assert result.rows == 1  # only the second day's row was left to flush
    assert count(store) == 3


def test_concurrent_flushes_never_duplicate(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    for i in range(20):
        write_landing(
            store, "t", entries(i % 3, {"service_name": "s"}, [T0 + i * 10 + j for j in range(5)])
        )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            flush(store)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert count(store) == 100
    m = manifest.load_latest(store, "t", "2024-05-01")
    assert m.streams().num_rows == 3
    assert sum(m.refs.column("rows").to_pylist()) == 100


def test_published_versions_are_immutable(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    base = manifest.load_latest(store, "t", "2024-05-01")
    refs = base.refs
    manifest.publish(store, base, refs, operation="test")
    with pytest.raises(manifest.CommitConflict):
        manifest.publish(store, base, refs, operation="test")
    assert manifest.versions(store, "t", "2024-05-01") == [1]


def test_label_with_too_many_values_falls_back_to_buckets(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    for i in range(12):
        write_landing(store, "t", entries(i, {"service_name": f"svc-{i}"}, [T0 + i]))
    flush(store, ChunkOptions(max_partition_values=5))
    dirs = store.list_dirs("chunks/tenant=t/date=2024-05-01")
    assert dirs and all(d.startswith(f"service_name={layout.BUCKET_PREFIX}") for d in dirs)
    assert count(store) == 12


def test_group_commit_writes_few_objects_for_many_requests(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    committer = GroupCommitter(store)
    futures = [
        committer.submit("t", entries(i, {"service_name": "s"}, [T0 + i])) for i in range(200)
    ]
    keys = {f.result() for f in futures}
    committer.close()
    assert committer.stats.requests == 200
    assert len(keys) == len(list_landing(store)) < 200
    assert count(store) == 200


def test_flush_on_s3(s3_lake) -> None:
    url, endpoint = s3_lake
    store = ObjectStore(url, endpoint=endpoint)
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0, T0 + 1]))
    assert count(store) == 2
    flush(store)
    assert list_landing(store) == []
    assert manifest.versions(store, "t", "2024-05-01") == [1]
    assert count(store) == 2
