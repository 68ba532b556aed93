"""Flush: landing objects become chunks and one manifest commit per tenant and day.

The order is what makes it safe to run beside pushes, beside another flush, and again
after a crash:

1. list and read a bounded set of a tenant's landing objects;
2. per day: pin the latest manifest, drop rows of landing objects that version already
   absorbed or that are gone from landing (another flush committed and deleted them),
   write chunks for the rest, publish the next version naming the landing objects it
   absorbed (create-if-absent; a lost race re-pins and redoes that day);
3. only when every day is committed, delete the landing objects.

A crash before (2) leaves landing untouched; a crash between days or before (3) leaves
landing objects that some versions already absorbed — the re-run skips exactly those
rows. Chunks written by a losing or crashed attempt are referenced by no manifest and are
garbage-collected later; they are never read.

Source offsets: a landing object may name, in its metadata (`SOURCE_OFFSETS`), the next
offset of each source partition its rows came from (Kafka ingest). A commit that absorbs
such objects records in its commit record, field `source_offsets`, the per-partition
maximum of those and of the offsets its parent carried — so the latest version of a day
that has the field knows every offset absorbed into that day, and the offsets stay in the
lake after the landing objects are deleted (`committed_source_offsets` reads them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from storage import layout, manifest
from storage.chunks import BULK_POOL, ChunkOptions, line_lengths, read_object, write_chunks
from storage.landing import (
    SOURCE_OFFSETS,
    decode_landing_parts,
    landing_metadata,
    landing_tenants,
    list_landing,
)
from storage.objectstore import ObjectStore

MAX_COMMIT_RETRIES = 20
SOURCE_OFFSETS_FIELD = "source_offsets"
"""Commit-record field with the source offsets absorbed so far (see the module docstring)."""


@dataclass
class FlushResult:
    """What one flush did, for CLI output, Dagster metadata and `/metrics`."""

    landing_objects: int = 0
    rows: int = 0
    raw_bytes: int = 0
    chunks: int = 0
    chunk_bytes: int = 0
    commits: int = 0
    conflicts: int = 0
    seconds: float = 0.0
    days: list[str] = field(default_factory=list)

    def merge(self, other: FlushResult) -> None:
        """Add another flush round's counters to this one."""
        for name in ("landing_objects", "rows", "raw_bytes", "chunks", "chunk_bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.commits += other.commits
        self.conflicts += other.conflicts
        self.days = sorted(set(self.days) | set(other.days))


def flush(
    store: ObjectStore,
    options: ChunkOptions | None = None,
    *,
    tenants: list[str] | None = None,
    max_bytes_per_round: int = 512 * 1024 * 1024,
    progress: Callable[[int, int], None] | None = None,
) -> FlushResult:
    """Flush all landing objects (of `tenants`, default all) into chunks and manifests.

    Landing objects are taken oldest first in rounds of at most `max_bytes_per_round`
    bytes so memory stays bounded however large the backlog is. `progress(done, total)`
    is called with landing-object counts. A tenant whose flush fails does not hold back
    the others: they are flushed, then `FlushError` names the failures (the failed
    tenant's landing objects stay, for the next flush).
    """
    options = options or ChunkOptions()
    started = time.perf_counter()
    total = FlushResult()
    errors: dict[str, Exception] = {}
    for tenant in tenants if tenants is not None else landing_tenants(store):
        try:
            _flush_tenant(store, tenant, options, max_bytes_per_round, progress, total)
        except Exception as err:  # reported below, after the other tenants are flushed
            errors[tenant] = err
    total.seconds = time.perf_counter() - started
    if errors:
        raise FlushError(total, errors)
    return total


class FlushError(Exception):
    """The flush failed for some tenants; `result` is what the others' flush did and
    `errors` the failure of each failed tenant (the first one is also the `__cause__`)."""

    def __init__(self, result: FlushResult, errors: dict[str, Exception]) -> None:
        self.result, self.errors = result, errors
        failures = "; ".join(f"tenant {tenant!r}: {err}" for tenant, err in errors.items())
        super().__init__(f"flush failed for {len(errors)} tenant(s): {failures}")
        self.__cause__ = next(iter(errors.values()))


def _flush_tenant(
    store: ObjectStore,
    tenant: str,
    options: ChunkOptions,
    max_bytes_per_round: int,
    progress: Callable[[int, int], None] | None,
    total: FlushResult,
) -> None:
    """Flush one tenant's landing objects, oldest first, in rounds (see `flush`)."""
    objects = list_landing(store, tenant)
    done = 0
    while done < len(objects):
        batch, size = [], 0
        while done + len(batch) < len(objects) and (not batch or size < max_bytes_per_round):
            obj = objects[done + len(batch)]
            batch.append(obj.key)
            size += obj.size
        total.merge(flush_objects(store, tenant, batch, options))
        done += len(batch)
        if progress:
            progress(done, len(objects))


def flush_objects(
    store: ObjectStore, tenant: str, keys: list[str], options: ChunkOptions
) -> FlushResult:
    """Flush the given landing objects of one tenant; see the module docstring."""
    result = FlushResult(landing_objects=len(keys))
    tables, present, stream_tables, counts = [], [], [], []
    offsets: dict[str, dict[str, int]] = {}
    for key in keys:
        try:
            data = read_object(store, key)
        except FileNotFoundError:  # another flush finished it meanwhile
            continue
        table, streams = decode_landing_parts(data)
        source_offsets = landing_metadata(data).get(SOURCE_OFFSETS)
        if source_offsets:
            offsets[key] = json.loads(source_offsets)
        tables.append(table)
        stream_tables.append(streams)
        counts.append(table.num_rows)
        present.append(key)
    if not tables:
        return result
    # One contiguous copy of the rows (landing objects are memory-mapped on a local lake,
    # so rows are not first read, then copied); days and
    # already-absorbed rows are then selected by index, never by copying the table.
    entries = pa.concat_tables(tables).combine_chunks(memory_pool=BULK_POOL)
    batch = _Batch(
        entries=entries,
        streams=pa.concat_tables(stream_tables),
        keys=present,
        # which landing object each row came from: what a re-run needs to skip rows an
        # earlier commit already absorbed
        source=np.repeat(np.arange(len(present), dtype=np.int32), counts),
        line_bytes=line_lengths(entries.column("line")),
        offsets=offsets,
    )
    day_index = entries.column("ts").to_numpy() // layout.NS_PER_DAY  # floored, as layout.day_of
    one_day = day_index.min() == day_index.max()  # the common case: no sort needed
    days = day_index[:1] if one_day else np.unique(day_index)
    for day_number in days.tolist():
        day = layout.day_of_number(day_number)
        rows = None if one_day else np.flatnonzero(day_index == day_number)
        _commit_day(store, tenant, day, batch, rows, options, result)
        result.days.append(day)
    store.delete(present)
    return result


@dataclass
class _Batch:
    """The rows of one flush round and what is known about each row."""

    entries: pa.Table
    streams: pa.Table
    keys: list[str]
    source: np.ndarray
    line_bytes: np.ndarray
    offsets: dict[str, dict[str, int]]


def _commit_day(
    store: ObjectStore,
    tenant: str,
    day: str,
    batch: _Batch,
    rows: np.ndarray | None,
    options: ChunkOptions,
    result: FlushResult,
) -> None:
    """Write and commit the day's rows of `batch` (`rows`: their indices; None: all rows,
    the common one-day round, which then needs no index copies)."""
    for _attempt in range(MAX_COMMIT_RETRIES):
        base = manifest.load_latest(store, tenant, day)
        # Listed after pinning: a landing object gone by now was deleted by a flush that
        # had committed all its rows, possibly in a version older than `base` whose
        # successors no longer name it (`publish` prunes names of deleted objects).
        landed = {o.key for o in store.list(layout.landing_prefix(tenant))}
        absorbed = [
            i
            for i, key in enumerate(batch.keys)
            if key in base.applied_landing or key not in landed
        ]
        fresh = rows
        if absorbed:
            all_rows = np.arange(len(batch.source)) if rows is None else rows
            fresh = all_rows[~np.isin(batch.source[all_rows], absorbed)]
        if fresh is not None and len(fresh) == 0:
            return
        counts = np.bincount(
            batch.source if fresh is None else batch.source[fresh], minlength=len(batch.keys)
        )
        sources = sorted(batch.keys[i] for i in np.flatnonzero(counts).tolist())
        refs, written = write_chunks(
            store, tenant, day, batch.entries, options, base.refs, batch.streams, rows=fresh
        )
        try:
            manifest.publish(
                store,
                base,
                pa.concat_tables([base.refs, refs]),
                operation="flush",
                applied_landing=sources,
                extra=_offsets_record(
                    store, base, (batch.offsets[s] for s in sources if s in batch.offsets)
                ),
                landed=landed,
            )
        except manifest.CommitConflict:
            result.conflicts += 1
            store.delete(key for key, _size in written)
            continue
        result.rows += len(batch.source) if fresh is None else len(fresh)
        result.raw_bytes += int(
            (batch.line_bytes if fresh is None else batch.line_bytes[fresh]).sum()
        )
        result.chunks += len(written)
        result.chunk_bytes += sum(size for _key, size in written)
        result.commits += 1
        return
    raise manifest.CommitConflict(
        f"gave up publishing {tenant}/{day} after {MAX_COMMIT_RETRIES} conflicting commits"
    )


def merge_offsets(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Per-partition maximum of several `{source partition: next offset}` maps.

    >>> merge_offsets([{"a": 3, "b": 9}, {"a": 5}])
    {'a': 5, 'b': 9}
    """
    merged: dict[str, int] = {}
    for part in parts:
        for name, offset in part.items():
            if offset > merged.get(name, -1):
                merged[name] = int(offset)
    return dict(sorted(merged.items()))


def committed_source_offsets(store: ObjectStore, tenant: str, day: str) -> dict[str, int]:
    """The source offsets absorbed into a tenant's day: those of the newest version that
    records them (versions written by other operations may not)."""
    for version in reversed(manifest.versions(store, tenant, day)):
        commit = manifest.load(store, tenant, day, version).commit
        if SOURCE_OFFSETS_FIELD in commit:
            return dict(commit[SOURCE_OFFSETS_FIELD])
    return {}


def _offsets_record(
    store: ObjectStore, base: manifest.Manifest, new: Iterable[dict[str, int]]
) -> dict[str, dict[str, int]] | None:
    """The `source_offsets` field of the next commit, or None when there is nothing to
    record (lakes fed only by pushes keep commit records as they were)."""
    new = list(new)
    if SOURCE_OFFSETS_FIELD in base.commit:
        carried = dict(base.commit[SOURCE_OFFSETS_FIELD])
    elif new:
        carried = committed_source_offsets(store, base.tenant, base.day)
    else:
        return None
    return {SOURCE_OFFSETS_FIELD: merge_offsets([carried, *new])}
