"""Flush turns landing into sorted, partitioned chunks and manifest commits, and stays
correct when re-run after a crash or run twice at once."""

from __future__ import annotations

import threading

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from storage import duck, layout, manifest
from storage import flush as flush_module
from storage.chunks import ChunkOptions
from storage.flush import FlushError, flush, flush_objects
from storage.landing import GroupCommitter, list_landing, write_landing
from storage.objectstore import ObjectStore
from storage.schema import ENTRY_SCHEMA
from storage.snapshot import take_snapshot
from tests.storage.helpers import DAY, T0, entries, query_rows


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


def test_a_flush_that_read_an_object_another_flush_then_committed_skips_it(
    tmp_path, monkeypatch
) -> None:
    """Flush B reads landing object X; flush A commits X, deletes it, and a later commit
    drops X from `applied_landing`; B, resuming, must not write X's rows again."""
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "s"}, [T0, T0 + 1, T0 + 2]))
    (x,) = [o.key for o in list_landing(store, "t")]
    read, resume = threading.Event(), threading.Event()
    commit_day = flush_module._commit_day

    def paused(*args, **kwargs):
        if threading.current_thread().name == "B":
            read.set()
            resume.wait(30)
        return commit_day(*args, **kwargs)

    monkeypatch.setattr(flush_module, "_commit_day", paused)
    b = threading.Thread(name="B", target=flush_objects, args=(store, "t", [x], ChunkOptions()))
    b.start()
    assert read.wait(30)
    assert flush(store).rows == 3  # A absorbs X and deletes it
    write_landing(store, "t", entries(1, {"service_name": "s"}, [T0 + 3]))
    assert flush(store).rows == 1  # the next version no longer names X
    assert x not in manifest.load_latest(store, "t", "2024-05-01").applied_landing
    resume.set()
    b.join()
    m = manifest.load_latest(store, "t", "2024-05-01")
    assert sum(m.refs.column("rows").to_pylist()) == 4
    assert m.version == 2


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


def test_a_value_too_long_for_a_folder_name_is_bucketed_and_flushes(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    long_value = "s/" * 150  # 300 characters, 600 once Hive escapes the slashes
    write_landing(store, "t", entries(1, {"service_name": long_value}, [T0]))
    write_landing(store, "t", entries(2, {"service_name": "api"}, [T0 + 1]))
    flush(store)
    dirs = sorted(store.list_dirs("chunks/tenant=t/date=2024-05-01"))
    assert dirs[0].startswith(f"service_name={layout.BUCKET_PREFIX}")
    assert dirs[1] == "service_name=api"
    assert not list_landing(store, "t")
    assert query_rows(store) == [(1, T0, f"line ts={T0}"), (2, T0 + 1, f"line ts={T0 + 1}")]


def test_a_tenant_that_fails_to_flush_does_not_hold_back_the_others(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    for tenant in ("a", "b", "c"):
        write_landing(store, tenant, entries(1, {"service_name": "s"}, [T0, T0 + 1]))
    (broken,) = list_landing(store, "b")
    with open(store.path(broken.key), "r+b") as f:  # a landing object that no longer decodes
        f.truncate(broken.size // 2)
    with pytest.raises(FlushError) as failed:
        flush(store)
    assert list(failed.value.errors) == ["b"]
    assert "tenant 'b'" in str(failed.value)
    assert (failed.value.result.rows, failed.value.result.commits) == (4, 2)
    assert count(store, "a") == count(store, "c") == 2
    assert [o.key for o in list_landing(store, "b")] == [broken.key]  # kept for a retry


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


def test_chunks_carry_the_entry_schema_and_plain_label_maps(tmp_path) -> None:
    """Labels are written from dictionary indices, yet every reader sees the entry schema:
    pyarrow gets `ENTRY_SCHEMA` exactly, DuckDB a `MAP(VARCHAR, VARCHAR)` per row."""
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(7, {"service_name": "api", "pod": "a"}, [T0 + 2, T0 + 1]))
    write_landing(store, "t", entries(8, {"service_name": "api", "env": "x"}, [T0 + 3]))
    flush(store)
    (key,) = manifest.load_latest(store, "t", "2024-05-01").chunk_keys()
    table = pq.read_table(store.path(key))
    assert table.schema.equals(ENTRY_SCHEMA)
    assert [(r["fingerprint"], dict(r["labels"])) for r in table.to_pylist()] == [
        (7, {"pod": "a", "service_name": "api"}),
        (7, {"pod": "a", "service_name": "api"}),
        (8, {"env": "x", "service_name": "api"}),
    ]
    rows = duckdb.sql(
        f"SELECT typeof(labels), labels['pod'], labels['env'] FROM '{store.path(key)}' ORDER BY ts"
    ).fetchall()
    assert rows == [
        ("MAP(VARCHAR, VARCHAR)", "a", None),
        ("MAP(VARCHAR, VARCHAR)", "a", None),
        ("MAP(VARCHAR, VARCHAR)", None, "x"),
    ]
    metadata = pq.ParquetFile(store.path(key)).metadata.row_group(0)
    assert metadata.column(1).statistics.min == T0 + 1  # ts statistics kept: they prune


def test_a_batch_pushed_twice_is_stored_once_and_ties_are_ordered_by_line(tmp_path) -> None:
    """A shipper's retry lands every entry twice: all rows tie on (stream, ts), and only
    lines tell them apart — identical ones are kept once, different ones in line order."""
    store = ObjectStore(str(tmp_path))
    batch = entries(1, {"service_name": "api"}, [T0 + 1, T0 + 1, T0 + 2], ["b", "a", "c"])
    write_landing(store, "t", batch)
    write_landing(store, "t", batch)
    flush(store)
    (key,) = manifest.load_latest(store, "t", "2024-05-01").chunk_keys()
    rows = pq.read_table(store.path(key)).select(["ts", "line"]).to_pylist()
    assert rows == [
        {"ts": T0 + 1, "line": "a"},
        {"ts": T0 + 1, "line": "b"},
        {"ts": T0 + 2, "line": "c"},
    ]
    refs = manifest.load_latest(store, "t", "2024-05-01").refs.to_pylist()
    assert [(r["rows"], r["bytes"], r["min_ts"], r["max_ts"]) for r in refs] == [
        (3, 3, T0 + 1, T0 + 2)
    ]


@pytest.mark.parametrize("threads", [1, 3])
def test_chunk_order_and_refs_do_not_depend_on_writer_threads(tmp_path, threads) -> None:
    """Many streams over several folders and two days, landed out of order: each chunk is
    sorted by (fingerprint, ts, line), and the manifest's references match its rows."""
    store = ObjectStore(str(tmp_path))
    expected = []
    for obj in range(4):
        for fp in range(1, 9):
            stamps = [T0 + (obj * 7 + i * 13) % 50 + (DAY if fp % 3 == 0 else 0) for i in range(5)]
            lines = [f"o{obj} s{fp} {i % 2}" for i in range(5)]
            labels = {"service_name": f"svc{fp % 3}", "pod": f"p{fp}"}
            write_landing(store, "t", entries(fp, labels, stamps, lines))
            expected += [(fp, t, line) for t, line in zip(stamps, lines, strict=True)]
    result = flush(store, ChunkOptions(write_threads=threads))
    assert result.rows == len(expected)
    stored = []
    for day in ("2024-05-01", "2024-05-02"):
        m = manifest.load_latest(store, "t", day)
        for key in m.chunk_keys():
            table = pq.read_table(store.path(key))
            keys = [(r["fingerprint"], r["ts"], r["line"]) for r in table.to_pylist()]
            assert keys == sorted(keys)
            assert {dict(r["labels"])["pod"] for r in table.to_pylist()} == {
                f"p{fp}" for fp, _, _ in keys
            }
            stored += keys
            refs = m.refs.filter(pl.from_arrow(m.refs)["chunk"].eq(key).to_arrow())
            for ref in refs.to_pylist():
                rows = [k for k in keys if k[0] == ref["fingerprint"]]
                assert (ref["rows"], ref["min_ts"], ref["max_ts"]) == (
                    len(rows),
                    min(r[1] for r in rows),
                    max(r[1] for r in rows),
                )
                assert ref["bytes"] == sum(len(r[2]) for r in rows)
    assert sorted(stored) == sorted(set(expected))
