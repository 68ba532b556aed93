"""Chunk replacement: the commit step compaction, retention and deletes share.

`replace_chunks(store, base, removed, added, …)` publishes the next manifest version of a
tenant's day with the chunk keys `removed` gone and the references `added` in, in one
create-if-absent commit, so a reader pinned on either side sees every entry exactly once.

Chunk objects are immutable and an operation that changes a chunk's rows always gives the
result a new key, so "every removed key is still in the latest version" means the rows the
operation read are still exactly what that version holds. When another writer won the race
(a flush appending chunks, typically), the replacement is therefore rebased onto the winner
instead of being redone; when a removed chunk is gone, `StaleBase` tells the caller to
start over from the latest version.

Helpers here also read a chunk's rows and write replacement chunks in the same Hive
partition folder as the chunk they replace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from storage import layout, manifest
from storage.chunks import ChunkOptions, encode_chunk, put_chunk, read_chunk, stream_refs
from storage.manifest import Manifest
from storage.objectstore import ObjectStore

MAX_COMMIT_RETRIES = 20

CARRIED_COMMIT_FIELDS = ("source_offsets",)
"""Commit-record fields that describe the day's state rather than one commit (the Kafka
offsets absorbed so far): a replacement copies them from its base, so the latest version
still has them once garbage collection removes older versions."""


class StaleBase(Exception):
    """A chunk the operation replaces was removed by a concurrent commit: redo from latest."""


def partition_dirs_of(key: str) -> tuple[str, ...]:
    """The Hive partition folders of a chunk key (below `chunks/tenant=…/date=…/`).

    >>> partition_dirs_of("chunks/tenant=a/date=2024-05-01/service_name=api/x.parquet")
    ('service_name=api',)
    """
    return tuple(key.split("/")[3:-1])


def without_chunks(refs: pa.Table, removed: Iterable[str]) -> pa.Table:
    """Manifest references minus every row of the `removed` chunks."""
    removed = sorted(set(removed))
    if not removed or refs.num_rows == 0:
        return refs
    gone = pc.is_in(refs.column("chunk"), value_set=pa.array(removed, pa.string()))
    return refs.filter(pc.invert(gone))


def write_replacement(
    store: ObjectStore,
    tenant: str,
    day: str,
    dirs: tuple[str, ...],
    table: pa.Table,
    options: ChunkOptions,
) -> tuple[pa.Table, int]:
    """Write sorted entries as one new chunk in partition folder `dirs`; (refs, bytes)."""
    key = layout.chunk_key(tenant, day, dirs)
    data = encode_chunk(table, options)
    put_chunk(store, key, data)
    return stream_refs(key, table), data.size


def replace_chunks(
    store: ObjectStore,
    base: Manifest,
    removed: set[str],
    added: pa.Table,
    *,
    operation: str,
    extra: dict[str, Any] | None = None,
    rebase: bool = True,
) -> tuple[Manifest, int]:
    """Publish `base` with `removed` chunks swapped for `added` refs; (version, conflicts).

    A lost race is rebased onto the newer version when `rebase` and every removed chunk is
    still there; otherwise `StaleBase` is raised (the caller's new chunks are then
    unreferenced and left to garbage collection).
    """
    conflicts = 0
    for _attempt in range(MAX_COMMIT_RETRIES):
        missing = removed - set(base.chunk_keys())
        if missing:
            raise StaleBase(f"{len(missing)} chunks of {base.tenant}/{base.day} were replaced")
        refs = pa.concat_tables([without_chunks(base.refs, removed), added.cast(base.refs.schema)])
        carried = {k: base.commit[k] for k in CARRIED_COMMIT_FIELDS if k in base.commit}
        try:
            published = manifest.publish(
                store, base, refs, operation=operation, extra={**carried, **(extra or {})}
            )
            return published, conflicts
        except manifest.CommitConflict:
            conflicts += 1
            if not rebase:
                raise StaleBase(f"{base.tenant}/{base.day} changed during {operation}") from None
            base = manifest.load_latest(store, base.tenant, base.day)
    raise manifest.CommitConflict(
        f"gave up publishing {base.tenant}/{base.day} after {MAX_COMMIT_RETRIES} conflicts"
    )


@dataclass
class RewriteResult:
    """What a row-removing rewrite of one tenant's day did."""

    tenant: str
    day: str
    chunks_dropped: int = 0
    chunks_rewritten: int = 0
    rows_removed: int = 0
    version: int = 0
    conflicts: int = 0


Plan = Callable[[Manifest], tuple[set[str], set[str]]]
"""Given the pinned version: (chunks whose rows all go, chunks to read and filter)."""

KeepRows = Callable[[pa.Table], pa.ChunkedArray | pa.Array]
"""Given a chunk's entries: a mask of the rows to keep."""


def rewrite_day(
    store: ObjectStore,
    tenant: str,
    day: str,
    plan: Plan,
    keep_rows: KeepRows,
    options: ChunkOptions,
    *,
    operation: str,
    extra: dict[str, Any] | None = None,
) -> RewriteResult:
    """Remove rows from a tenant's day: whole chunks dropped from the manifest without
    being read, partially affected chunks rewritten without the removed rows, all in one
    commit. A concurrent commit makes it start over from the latest version, so rows a
    flush adds meanwhile are judged too."""
    for _attempt in range(MAX_COMMIT_RETRIES):
        base = manifest.load_latest(store, tenant, day)
        result = RewriteResult(tenant, day, version=base.version)
        dropped, partial = plan(base)
        if not dropped and not partial:
            return result
        rows_of = _rows_per_chunk(base.refs)
        removed = set(dropped)
        result.rows_removed = sum(rows_of.get(key, 0) for key in dropped)
        added, written = [], []
        for key in sorted(partial - dropped):
            table = read_chunk(store, key)
            keep = keep_rows(table)
            kept = int(pc.sum(pc.cast(keep, pa.int64())).as_py() or 0)
            if kept == table.num_rows:
                continue
            removed.add(key)
            result.rows_removed += table.num_rows - kept
            if kept == 0:
                result.chunks_dropped += 1
                continue
            refs, _size = write_replacement(
                store, tenant, day, partition_dirs_of(key), table.filter(keep), options
            )
            added.append(refs)
            written.append(refs.column("chunk")[0].as_py())
            result.chunks_rewritten += 1
        result.chunks_dropped += len(dropped)
        if not removed:
            return result
        new_refs = pa.concat_tables(added) if added else base.refs.schema.empty_table()
        try:
            published, _ = replace_chunks(
                store, base, removed, new_refs, operation=operation, extra=extra, rebase=False
            )
        except StaleBase:
            result.conflicts += 1
            store.delete(written)
            continue
        result.version = published.version
        return result
    raise manifest.CommitConflict(f"{operation} of {tenant}/{day} kept losing to other writers")


def _rows_per_chunk(refs: pa.Table) -> dict[str, int]:
    grouped = refs.group_by("chunk", use_threads=False).aggregate([("rows", "sum")])
    return dict(
        zip(
            grouped.column("chunk").to_pylist(), grouped.column("rows_sum").to_pylist(), strict=True
        )
    )
