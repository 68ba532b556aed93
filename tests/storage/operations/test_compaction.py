"""Compaction merges a day's small chunks into few sorted, deduplicated ones in one commit,
stays exact beside pushes, flushes and queries, and survives being killed mid-way."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from storage import layout, manifest
from storage.chunks import read_chunk
from storage.compaction import CompactionOptions, compact, compact_day, overlapping_streams
from storage.flush import flush
from storage.gc import collect_garbage
from storage.landing import write_landing
from storage.objectstore import ObjectStore
from storage.rewrite import StaleBase, replace_chunks
from storage.schema import ENTRY_SCHEMA
from tests.storage.helpers import T0, entries, query_rows
from tests.storage.operations.lake_builders import STREAMS, chunk_rows, small_flushes

DAY = "2024-05-01"


def test_compaction_merges_small_chunks_per_partition_in_one_commit(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = small_flushes(store, flushes=6)
    before = manifest.load_latest(store, "t", DAY)
    assert len(before.chunk_keys()) == 12  # 6 flushes x 2 partition folders (api, db)

    result = compact_day(store, "t", DAY)

    after = manifest.load_latest(store, "t", DAY)
    assert after.version == before.version + 1
    assert after.commit["operation"] == "compact"
    assert result.chunks_before == 12 and result.chunks_after == 2
    assert result.rows_in == result.rows_out == len(written)
    assert sorted(
        layout.partition_value("service_name", v, False) for v in ("api", "db")
    ) == sorted(k.split("/")[3] for k in after.chunk_keys())
    for key in after.chunk_keys():
        table = read_chunk(store, key)
        keys = table.select(["fingerprint", "ts", "line"]).to_pylist()
        assert keys == sorted(keys, key=lambda r: (r["fingerprint"], r["ts"], r["line"]))
        assert pq.ParquetFile(store.path(key)).metadata.row_group(0).column(0).compression == "ZSTD"
    assert overlapping_streams(after.refs) == 0
    assert query_rows(store) == sorted(written)
    # the replaced chunks stay (readers pinned on the old version) until garbage collection
    assert all(store.exists(k) for k in before.chunk_keys())
    # nothing small is left: a second run publishes nothing
    assert compact_day(store, "t", DAY).version == after.version


def test_identical_entries_across_chunks_are_stored_once(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    twice = entries(1, STREAMS[1], [T0, T0 + 1], ["a", "b"])
    for _ in range(2):
        write_landing(store, "t", twice)
        flush(store)
    assert chunk_rows(store, "t", DAY).num_rows == 4
    result = compact_day(store, "t", DAY)
    assert (result.rows_in, result.rows_out, result.duplicates_dropped) == (4, 2, 2)
    assert chunk_rows(store, "t", DAY).num_rows == 2
    assert [r[2] for r in query_rows(store)] == ["a", "b"]


def test_merged_chunks_keep_the_entry_schema_labels_and_exact_references(tmp_path: Path) -> None:
    """Labels of merged rows come from the manifest's streams, not from the small chunks:
    every row must still carry its own stream's labels, and the references must count the
    new chunks' rows and line bytes exactly."""
    store = ObjectStore(str(tmp_path))
    small_flushes(store, flushes=5, per_stream=7)
    compact_day(store, "t", DAY, CompactionOptions(target_bytes=2_000, max_merge_bytes=10**9))
    after = manifest.load_latest(store, "t", DAY)
    for key in after.chunk_keys():
        table = read_chunk(store, key)
        assert pq.read_schema(store.path(key)).equals(ENTRY_SCHEMA)
        rows = table.to_pylist()
        assert all(dict(r["labels"]) == STREAMS[r["fingerprint"]] for r in rows)
        for ref in after.refs.filter(pc.equal(after.refs.column("chunk"), key)).to_pylist():
            mine = [r for r in rows if r["fingerprint"] == ref["fingerprint"]]
            assert (ref["rows"], ref["bytes"]) == (len(mine), sum(len(r["line"]) for r in mine))
            assert (ref["min_ts"], ref["max_ts"]) == (mine[0]["ts"], mine[-1]["ts"])


def test_target_size_cuts_chunks_at_stream_boundaries(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = small_flushes(store, flushes=8, per_stream=25)
    # flushed api chunks hold ~2 kB (two streams of 25 lines of ~41 bytes), each stream
    # ~8 kB in all: a 6 kB target cuts streams by time and keeps them apart
    options = CompactionOptions(target_bytes=6_000, max_merge_bytes=10**9)
    result = compact_day(store, "t", DAY, options)
    after = manifest.load_latest(store, "t", DAY)
    api_chunks = [k for k in after.chunk_keys() if "service_name=api" in k]
    assert len(api_chunks) > 2
    assert overlapping_streams(after.refs) == 0
    assert result.overlapping_streams == 0
    sizes = after.refs.group_by("chunk").aggregate([("bytes", "sum")]).column("bytes_sum")
    single_stream = after.refs.group_by("chunk").aggregate([("fingerprint", "count")])
    for size, streams in zip(sizes.to_pylist(), single_stream.column(1).to_pylist(), strict=True):
        assert size <= 6_000 or streams == 1
    assert query_rows(store) == sorted(written)


def test_a_lost_race_is_rebased_onto_the_winner_or_redone(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    small_flushes(store, flushes=2)
    base = manifest.load_latest(store, "t", DAY)
    old = set(base.chunk_keys())
    write_landing(store, "t", entries(9, {"service_name": "late"}, [T0 + 5]))
    flush(store)  # a flush wins the race for base.version + 1
    published, conflicts = replace_chunks(
        store, base, old, base.refs.schema.empty_table(), operation="test"
    )
    assert conflicts == 1
    assert published.version == base.version + 2
    assert [k for k in published.chunk_keys()] == [
        k for k in manifest.load_latest(store, "t", DAY).chunk_keys() if k not in old
    ]
    assert len(published.chunk_keys()) == 1  # the flush's chunk survived the rebase
    with pytest.raises(StaleBase):  # the chunks it would remove are gone now
        replace_chunks(store, base, old, base.refs.schema.empty_table(), operation="test")


def test_compaction_beside_pushes_flushes_and_queries(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    acked: list[tuple[int, int, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []
    observations: list[tuple[int, list, int]] = []
    merges: list[int] = []

    def guarded(fn):
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # surfaced by the assertions below
                errors.append(exc)
                stop.set()

        return run

    @guarded
    def push() -> None:
        n = 0
        # at least 60 pushes, and on until compaction has merged chunks at least twice
        while not stop.is_set() and (n < 60 or len([m for m in merges if m]) < 2) and n < 3000:
            fp = 1 + n % 3
            stamps = [T0 + (n * 10 + i) * 1_000_000_000 for i in range(10)]
            lines = [f"push {n} {i}" for i in range(10)]
            write_landing(store, "t", entries(fp, STREAMS[fp], stamps, lines))
            with lock:
                acked.extend((fp, ts, line) for ts, line in zip(stamps, lines, strict=True))
            n += 1
        stop.set()

    @guarded
    def flusher() -> None:
        while not stop.is_set():
            flush(store)

    @guarded
    def compactor() -> None:
        while not stop.is_set():
            result = compact_day(store, "t", DAY, CompactionOptions(target_bytes=4_000))
            merges.append(result.merged_chunks)

    @guarded
    def query() -> None:
        while not stop.is_set():
            with lock:
                before = len(acked)
            rows = query_rows(store)
            with lock:
                after = len(acked)
            observations.append((before, rows, after))

    threads = [threading.Thread(target=f) for f in (push, flusher, compactor, query, query)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert observations
    assert sum(merges) > 0, "compaction never merged anything while pushes ran"
    for before, rows, after in observations:
        assert len(rows) == len(set(rows)), "a query returned an entry twice"
        assert set(acked[:before]) <= set(rows), "a query lost acknowledged entries"
        assert set(rows) <= set(acked[:after]), "a query returned entries never pushed"
    flush(store)
    chunks_before = len(manifest.load_latest(store, "t", DAY).chunk_keys())
    compact_day(store, "t", DAY)
    assert query_rows(store) == sorted(acked)
    assert len(manifest.load_latest(store, "t", DAY).chunk_keys()) < chunks_before or (
        chunks_before <= 2
    )
    assert len(manifest.load_latest(store, "t", DAY).chunk_keys()) <= 2


_CRASH_SCRIPT = """
import os, signal, sys
from storage import compaction
from storage.objectstore import ObjectStore
replace_chunks, calls = compaction.replace_chunks, []
def killed_before_second_commit(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the second day's chunks are written, its commit never comes
        os.kill(os.getpid(), signal.SIGKILL)
    return replace_chunks(*args, **kwargs)
compaction.replace_chunks = killed_before_second_commit
compaction.compact(ObjectStore(sys.argv[1]))
"""


@pytest.mark.slow
def test_compaction_killed_mid_way_leaves_the_lake_consistent(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    store = ObjectStore(str(lake))
    written = []
    for day in range(8):
        written += small_flushes(store, flushes=3, per_stream=200, start=T0 + day * 86_400 * 10**9)
    expected = sorted(written)
    # the compaction is killed (SIGKILL) after the first day's commit, with the second day
    # mid-way: its merged chunks written, its manifest not
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_SCRIPT, str(lake)],
        cwd=Path(__file__).resolve().parents[3],
        timeout=300,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL
    days = manifest.days(store, "t")
    compacted = [
        d for d in days if manifest.load_latest(store, "t", d).commit.get("operation") == "compact"
    ]
    assert len(compacted) == 1
    assert query_rows(store) == expected  # consistent and complete after the crash

    results = compact(store)
    assert all(manifest.load_latest(store, "t", d).commit["operation"] == "compact" for d in days)
    assert {r.day for r in results if r.merged_chunks} == set(days) - set(compacted)
    assert query_rows(store) == expected
    # orphans of the killed run are unreferenced: garbage collection removes them
    gc = collect_garbage(store, grace_ns=0)
    live = {k for d in days for k in manifest.load_latest(store, "t", d).chunk_keys()}
    assert {o.key for o in store.list(layout.CHUNKS)} == live
    assert gc.chunks_deleted >= len(days) * 6
    assert query_rows(store) == expected


def test_the_days_absorbed_source_offsets_are_carried_by_the_swap(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    small_flushes(store, flushes=2)
    base = manifest.load_latest(store, "t", DAY)
    offsets = {"logs/0": 42}
    manifest.publish(store, base, base.refs, operation="flush", extra={"source_offsets": offsets})
    compact_day(store, "t", DAY)
    latest = manifest.load_latest(store, "t", DAY)
    assert latest.commit["operation"] == "compact"
    assert latest.commit["source_offsets"] == offsets
