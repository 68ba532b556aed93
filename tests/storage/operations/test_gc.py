"""Garbage collection removes superseded manifest versions and unreferenced chunks only
after the grace period, and never a chunk an unfinished writer has not committed yet."""

from __future__ import annotations

import os
import time
from pathlib import Path

from storage import layout, manifest
from storage.compaction import compact_day
from storage.gc import collect_garbage, commit_timestamp
from storage.objectstore import ObjectStore
from tests.storage.helpers import T0, entries, query_rows
from tests.storage.operations.lake_builders import small_flushes

DAY = "2024-05-01"
HOUR = 3600 * 1_000_000_000
GRACE = 2 * HOUR


def test_nothing_is_collected_within_the_grace_period(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    small_flushes(store, flushes=3)
    compact_day(store, "t", DAY)
    objects = store.list("")
    result = collect_garbage(store, GRACE)
    assert (result.chunks_deleted, result.manifest_versions_deleted) == (0, 0)
    assert store.list("") == objects


def test_after_the_grace_period_replaced_chunks_and_old_versions_go(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = small_flushes(store, flushes=3)
    old_chunks = set(manifest.load_latest(store, "t", DAY).chunk_keys())
    compact_day(store, "t", DAY)
    latest = manifest.load_latest(store, "t", DAY)

    result = collect_garbage(store, GRACE, now_ns=time.time_ns() + GRACE + HOUR)

    assert result.chunks_deleted == len(old_chunks)
    assert not any(store.exists(k) for k in old_chunks)
    assert all(store.exists(k) for k in latest.chunk_keys())
    assert manifest.versions(store, "t", DAY) == [latest.version]
    assert result.manifest_versions_deleted == latest.version - 1
    assert query_rows(store) == sorted(written)


def test_a_version_superseded_recently_keeps_its_chunks(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    small_flushes(store, flushes=3)
    before = manifest.load_latest(store, "t", DAY)
    time.sleep(0.05)
    compacted = compact_day(store, "t", DAY).version
    flushed_at = commit_timestamp(store, "t", DAY, before.version)
    compacted_at = commit_timestamp(store, "t", DAY, compacted)
    # the grace period ends between the last flush and the compaction: versions the
    # flushes superseded go, the one the compaction superseded stays with its chunks
    now = compacted_at + 1
    grace = now - (flushed_at + compacted_at) // 2
    result = collect_garbage(store, grace, now_ns=now)
    assert manifest.versions(store, "t", DAY) == [before.version, compacted]
    assert all(store.exists(k) for k in before.chunk_keys())
    assert result.manifest_versions_deleted == before.version - 1
    assert result.chunks_deleted == 0


def test_an_uncommitted_young_chunk_survives_an_old_orphan_does_not(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    small_flushes(store, flushes=1)
    young = layout.chunk_key("t", DAY, ("service_name=api",))
    old = layout.chunk_key("t", DAY, ("service_name=api",))
    for key in (young, old):
        store.put(key, b"written by a writer that has not committed (yet)")
    past = time.time() - 3 * 3600
    os.utime(store.path(old), (past, past))

    result = collect_garbage(store, GRACE)

    assert store.exists(young) and not store.exists(old)
    assert result.chunks_deleted == 1 and result.chunks_young >= 1
    assert len(query_rows(store)) == 60


def test_temporary_files_of_interrupted_writes_go_after_the_grace_period(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    small_flushes(store, flushes=1)
    landing = tmp_path / layout.landing_prefix("t")
    landing.mkdir(parents=True, exist_ok=True)
    old, young = landing / ".tmp-old", landing / ".tmp-young"
    for path in (old, young):
        path.write_bytes(b"half a landing object")
    past = time.time() - 3 * 3600
    os.utime(old, (past, past))

    result = collect_garbage(store, GRACE, dry_run=True)
    assert result.temp_files_deleted == 1 and old.exists()
    result = collect_garbage(store, GRACE)
    assert result.temp_files_deleted == 1
    assert not old.exists() and young.exists()  # a write in flight keeps its file
    assert len(query_rows(store)) == 60


def test_an_emptied_day_keeps_its_latest_version(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    from storage.flush import flush
    from storage.landing import write_landing

    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0]))
    flush(store)
    base = manifest.load_latest(store, "t", DAY)
    manifest.publish(store, base, base.refs.schema.empty_table(), operation="retention")
    collect_garbage(store, 0, now_ns=time.time_ns() + HOUR)
    assert manifest.versions(store, "t", DAY) == [2]
    assert store.list(layout.CHUNKS) == []


def test_gc_on_s3(s3_lake: tuple[str, str]) -> None:
    url, endpoint = s3_lake
    store = ObjectStore(url, endpoint=endpoint)
    written = small_flushes(store, flushes=2, per_stream=5)
    old = set(manifest.load_latest(store, "t", DAY).chunk_keys())
    compact_day(store, "t", DAY)
    assert collect_garbage(store, GRACE).chunks_deleted == 0
    result = collect_garbage(store, GRACE, now_ns=time.time_ns() + GRACE + HOUR)
    assert result.chunks_deleted == len(old)
    assert query_rows(store) == sorted(written)
