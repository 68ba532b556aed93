"""The manifest records which chunks hold structured metadata; reads skip the column where
none do, and manifests written before the record existed still read in full."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from storage import duck, layout, manifest
from storage.compaction import CompactionOptions, compact_day
from storage.flush import flush
from storage.landing import write_landing
from storage.objectstore import ObjectStore
from storage.snapshot import take_snapshot
from tests.storage.helpers import T0, entries

DAY = "2024-05-01"


def refs(store: ObjectStore) -> list[tuple[int, int, int | None]]:
    table = manifest.load_latest(store, "t", DAY).refs
    columns = [table.column(c).to_pylist() for c in ("fingerprint", "rows", "metadata_rows")]
    return sorted(zip(*columns, strict=True))


def logs(store: ObjectStore) -> tuple[str, list[tuple]]:
    """The SQL of the logs relation and its (fingerprint, ts, metadata) rows."""
    snapshot = take_snapshot(store, "t")
    con = duck.connect(store)
    sql = duck.logs_query(con, store, snapshot).sql(dialect="duckdb")
    duck.register_logs(con, store, snapshot)
    rows = con.sql("SELECT fingerprint, ts, structured_metadata FROM logs ORDER BY ALL")
    return sql, rows.fetchall()


def chunk_columns(sql: str) -> str:
    """What the SQL selects from the chunk files."""
    before, found, _ = sql.upper().partition("READ_PARQUET")
    assert found
    return sql[: len(before)].rsplit("SELECT", 1)[1]


def test_flush_counts_rows_with_metadata_per_stream(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0, T0 + 1]))
    with_meta = entries(2, {"service_name": "a"}, [T0], metadata={"trace_id": "x"})
    write_landing(
        store, "t", pa.concat_tables([with_meta, entries(2, {"service_name": "a"}, [T0 + 5])])
    )
    flush(store)
    assert refs(store) == [(1, 2, 0), (2, 2, 1)]
    sql, rows = logs(store)
    assert "CAST(MAP()" not in chunk_columns(sql)  # read from the chunk
    assert rows == [(1, T0, {}), (1, T0 + 1, {}), (2, T0, {"trace_id": "x"}), (2, T0 + 5, {})]


def test_chunks_without_metadata_are_read_without_the_column(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0, T0 + 1]))
    flush(store)
    # landing rows keep theirs
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0 + 2], metadata={"k": "v"}))
    sql, rows = logs(store)
    assert "CAST(MAP() AS MAP(TEXT, TEXT)) AS structured_metadata" in chunk_columns(sql)
    assert rows == [(1, T0, {}), (1, T0 + 1, {}), (1, T0 + 2, {"k": "v"})]


def test_compaction_keeps_the_counts(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    for n in range(3):
        meta = {"n": str(n)} if n == 1 else None
        write_landing(store, "t", entries(1, {"service_name": "a"}, [T0 + n], metadata=meta))
        flush(store)
    compact_day(store, "t", DAY, CompactionOptions())
    assert refs(store) == [(1, 3, 1)]
    assert [m for _, _, m in logs(store)[1]] == [{}, {"n": "1"}, {}]


def test_manifests_without_the_record_read_the_column(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0], metadata={"k": "v"}))
    flush(store)
    # the same version as a manifest written before `metadata_rows` existed
    latest = manifest.load_latest(store, "t", DAY)
    key = layout.manifest_key("t", DAY, latest.version)
    old = pq.read_table(pa.BufferReader(store.get(key)))
    store.delete([key])
    sink = pa.BufferOutputStream()
    pq.write_table(old.drop_columns(["metadata_rows"]), sink)
    assert store.put_if_absent(key, sink.getvalue().to_pybytes())
    assert refs(store) == [(1, 1, None)]
    sql, rows = logs(store)
    assert "CAST(MAP()" not in chunk_columns(sql)
    assert rows == [(1, T0, {"k": "v"})]
