"""Compaction: a tenant's day of small chunks becomes few large ones, in one manifest commit.

`compact_day(store, tenant, day, options)` pins the latest manifest version, picks the
chunks smaller than half the target size, and merges them per Hive partition folder: rows
re-sorted by (fingerprint, ts, line), identical entries kept once, then cut into chunks of
at most `target_bytes` of line text at stream boundaries (a stream larger than the target
is cut by time). Merging reads only fingerprint, ts, line and structured metadata (labels
come from the manifest's streams) and writes through `storage.chunks.SortedRows`, as
flush does; what stays costly is Parquet's per-file overhead of reading many tiny chunks.

The swap — merged chunks out, new chunks in — is one create-if-absent commit
(`storage.rewrite.replace_chunks`), so a reader sees the old chunks or the new ones, never
both or neither; a flush that commits meanwhile is rebased onto, not redone. The replaced
objects stay until garbage collection removes them after the grace period, so queries
pinned on the old version still read them.

A crash at any point is harmless: before the commit the new chunks are referenced by no
version (garbage collection removes them later); after it the work is done, and a re-run
finds nothing small left to merge.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storage import layout, manifest
from storage.chunks import (
    BULK_POOL,
    ROW_COLUMNS,
    ChunkOptions,
    SortedRows,
    dense_rank,
    entry_order,
    line_lengths,
    read_object,
)
from storage.landing import ROW_SCHEMA
from storage.layout import CHUNKS, tenant_dir
from storage.objectstore import ObjectStore
from storage.rewrite import StaleBase, partition_dirs_of, replace_chunks
from storage.schema import streams_of

DEFAULT_TARGET_BYTES = 128 * 1024 * 1024
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class CompactionOptions:
    """Target chunk size (bytes of line text) and the zstd level of compacted chunks.

    Level 1, as flush: on log lines level 3 saves under 2% of the bytes for ~1.3× the
    encoding CPU, level 6 about 10% for ~6×, level 9 about 12% for ~8× (measured on the
    benchmark's lines); a lake that keeps data long may trade CPU for those bytes.

    `max_merge_bytes` bounds how much line text one merge holds in memory; more small
    chunks than that in one partition folder are merged in several batches.
    """

    target_bytes: int = DEFAULT_TARGET_BYTES
    compression_level: int = 1
    max_merge_bytes: int = 4 * DEFAULT_TARGET_BYTES


@dataclass
class CompactionResult:
    """What compacting one tenant's day did (Dagster metadata, CLI output, the bench)."""

    tenant: str
    day: str
    chunks_before: int = 0
    chunks_after: int = 0
    merged_chunks: int = 0
    written_chunks: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    rows_in: int = 0
    rows_out: int = 0
    raw_bytes: int = 0
    conflicts: int = 0
    version: int = 0
    overlapping_streams: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    written: list[str] = field(default_factory=list)

    @property
    def duplicates_dropped(self) -> int:
        """Identical (stream, ts, line) entries the merge kept once."""
        return self.rows_in - self.rows_out


def plan_merges(refs: pa.Table, options: CompactionOptions) -> list[list[str]]:
    """Batches of small chunks to merge, each within one partition folder, oldest first."""
    if refs.num_rows == 0:
        return []
    per_chunk = (
        pl.from_arrow(refs.select(["chunk", "bytes", "min_ts"]))
        .group_by("chunk")
        .agg(pl.col("bytes").sum(), pl.col("min_ts").min())
        .filter(pl.col("bytes") < options.target_bytes // 2)
        .sort(["min_ts", "chunk"])
    )
    folders: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
    for key, size in zip(per_chunk["chunk"].to_list(), per_chunk["bytes"].to_list(), strict=True):
        folders[partition_dirs_of(key)].append((key, size))
    batches = []
    for chunks in folders.values():
        batch: list[str] = []
        held = 0
        for key, size in chunks:
            if batch and held + size > options.max_merge_bytes:
                batches.append(batch)
                batch, held = [], 0
            batch.append(key)
            held += size
        batches.append(batch)
    return [b for b in batches if len(b) > 1]


def split_points(
    fingerprint: np.ndarray, line_bytes: np.ndarray, target_bytes: int
) -> list[tuple[int, int]]:
    """(offset, length) pieces of sorted entries (their fingerprints and line sizes) with at
    most `target_bytes` of line text each, cut at stream boundaries unless one stream alone
    exceeds the target.

    >>> split_points(np.array([1, 1, 2, 3]), np.array([2, 2, 3, 1]), 5)
    [(0, 2), (2, 2)]
    """
    n = len(fingerprint)
    if n == 0:
        return []
    ends = np.cumsum(line_bytes, dtype=np.int64)  # bytes up to and including each row
    boundaries = np.flatnonzero(fingerprint[1:] != fingerprint[:-1]) + 1  # new stream rows
    pieces = []
    start = 0
    while start < n:
        before = ends[start - 1] if start else 0
        # last row index whose cumulative size keeps the piece within the target
        last = int(np.searchsorted(ends, before + target_bytes, side="right"))
        if last >= n:
            pieces.append((start, n - start))
            break
        i = int(np.searchsorted(boundaries, last, side="right")) - 1
        stop = int(boundaries[i]) if i >= 0 and boundaries[i] > start else max(last, start + 1)
        pieces.append((start, stop - start))
        start = stop
    return pieces


def overlapping_streams(refs: pa.Table) -> int:
    """Streams with two chunks whose time ranges overlap (touching ends allowed).

    Per stream, refs sorted by (min_ts, max_ts) overlap when one starts before the latest
    end of those before it. The running maximum restarts per stream by lifting each stream's ends
    above every earlier stream's (numpy, not a dataframe: this runs once per merge).

    >>> overlapping_streams(pa.table({"fingerprint": [1, 1, 2, 2, 3, 3],
    ...     "min_ts": [0, 5, 0, 10, 0, 2], "max_ts": [5, 9, 20, 15, 1, 3]}))
    1
    """
    if refs.num_rows < 2:
        return 0
    fps = refs.column("fingerprint").to_numpy()
    min_ts = refs.column("min_ts").to_numpy()
    max_ts = refs.column("max_ts").to_numpy()
    order = np.lexsort((max_ts, min_ts, fps))
    fps, min_ts, max_ts = fps[order], min_ts[order], max_ts[order]
    first = np.concatenate(([True], fps[1:] != fps[:-1]))
    group = np.cumsum(first) - 1
    low = int(min(min_ts.min(), max_ts.min()))
    span = int(max(min_ts.max(), max_ts.max())) - low + 1
    if span.bit_length() + int(group[-1]).bit_length() > 62:  # would overflow: per stream
        prev_end = np.empty(len(fps), np.int64)
        for start, stop in _runs(first):
            prev_end[start:stop] = np.maximum.accumulate(max_ts[start:stop])
    else:
        lifted = group * span + (max_ts - low)
        prev_end = np.maximum.accumulate(lifted) - group * span + low
    overlaps = ~first
    overlaps[1:] &= min_ts[1:] < prev_end[:-1]
    return len(np.unique(fps[overlaps]))


def _runs(first: np.ndarray) -> list[tuple[int, int]]:
    starts = np.flatnonzero(first).tolist()
    return list(zip(starts, [*starts[1:], len(first)], strict=True))


def read_rows(store: ObjectStore, key: str) -> pa.Table:
    """A chunk's entries without the labels column: labels are a function of the
    fingerprint, and decoding the per-row map costs as much as the rest together.
    (`ParquetFile.read` rather than `read_table`: no dataset set-up per small file.)"""
    chunk = pq.ParquetFile(pa.BufferReader(read_object(store, key)))
    rows = chunk.read(columns=ROW_COLUMNS, use_threads=False)
    return rows if rows.schema.equals(ROW_SCHEMA) else rows.cast(ROW_SCHEMA)


def compact_day(
    store: ObjectStore,
    tenant: str,
    day: str,
    options: CompactionOptions | None = None,
    chunk_options: ChunkOptions | None = None,
) -> CompactionResult:
    """Merge the day's small chunks; see the module docstring."""
    options = options or CompactionOptions()
    write_options = dataclasses.replace(
        chunk_options or ChunkOptions(), compression_level=options.compression_level
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    for _attempt in range(MAX_ATTEMPTS):
        base = manifest.load_latest(store, tenant, day)
        result = CompactionResult(tenant, day, version=base.version)
        result.chunks_before = result.chunks_after = len(base.chunk_keys())
        plan = plan_merges(base.refs, options)
        if not plan:
            break
        sizes = _object_sizes(store, tenant, day)
        added = []
        streams = streams_of(base.refs)
        for batch in plan:
            batch_refs = _merge(store, tenant, day, batch, streams, options, write_options, result)
            result.bytes_before += sum(sizes.get(key, 0) for key in batch)
            result.overlapping_streams += overlapping_streams(batch_refs)
            added.append(batch_refs)
            result.merged_chunks += len(batch)
        removed = {key for batch in plan for key in batch}
        try:
            published, conflicts = replace_chunks(
                store,
                base,
                removed,
                pa.concat_tables(added),
                operation="compact",
                extra={"compacted": len(removed), "written": len(result.written)},
            )
        except StaleBase:
            store.delete(result.written)
            continue
        result.conflicts = conflicts
        result.version = published.version
        result.written_chunks = len(result.written)
        result.chunks_after = len(published.chunk_keys())
        break
    else:
        raise manifest.CommitConflict(f"compaction of {tenant}/{day} kept losing to other writers")
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    return result


def _merge(
    store: ObjectStore,
    tenant: str,
    day: str,
    batch: list[str],
    streams: pa.Table,
    options: CompactionOptions,
    write_options: ChunkOptions,
    result: CompactionResult,
) -> pa.Table:
    """Merge one batch of chunks of a partition folder into new chunks; their references.

    The rows are read without labels, ordered by one integer sort (`entry_order`), and
    written cut at stream boundaries; labels come from the manifest's streams."""
    rows = pa.concat_tables([read_rows(store, key) for key in batch])
    rows = rows.combine_chunks(memory_pool=BULK_POOL)
    fps = rows.column("fingerprint").to_numpy()
    line_bytes = line_lengths(rows.column("line"))
    stream, distinct = dense_rank(fps)
    order = entry_order(stream, rows.column("ts").to_numpy(), rows.column("line"))
    result.rows_in += rows.num_rows
    result.rows_out += len(order)
    result.raw_bytes += int(line_bytes.sum())
    labels = streams.take(pc.index_in(pa.array(distinct), value_set=streams.column("fingerprint")))
    sorted_rows = SortedRows(rows, order, stream[order], labels)
    dirs = partition_dirs_of(batch[0])
    pieces = [
        (layout.chunk_key(tenant, day, dirs), offset, offset + length)
        for offset, length in split_points(fps[order], line_bytes[order], options.target_bytes)
    ]
    results = sorted_rows.write_all(store, pieces, write_options)
    result.written.extend(key for key, _, _ in pieces)
    result.bytes_after += sum(size for _, size in results)
    return pa.concat_tables([refs for refs, _ in results])


def compact(
    store: ObjectStore,
    options: CompactionOptions | None = None,
    chunk_options: ChunkOptions | None = None,
    *,
    tenants: list[str] | None = None,
) -> list[CompactionResult]:
    """Compact every day of every tenant (or of `tenants`) that has small chunks."""
    results = []
    for tenant in tenants if tenants is not None else manifest.tenants(store):
        for day in manifest.days(store, tenant):
            results.append(compact_day(store, tenant, day, options, chunk_options))
    return results


def _object_sizes(store: ObjectStore, tenant: str, day: str) -> dict[str, int]:
    return {o.key: o.size for o in store.list(f"{CHUNKS}/{tenant_dir(tenant)}/date={day}")}
