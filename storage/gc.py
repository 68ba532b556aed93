"""Garbage collection: remove what no live manifest version needs, after a grace period.

Two kinds of garbage accumulate because nothing published is ever overwritten:

- manifest versions superseded by a newer one. A version is kept while a reader may still
  be using it: the latest always, an older one until `grace_ns` after the version that
  superseded it was published (Loki's `retention_delete_delay` idea);
- chunk objects referenced by no kept version: chunks replaced by compaction, retention or
  deletes, and chunks of a writer that lost a race or crashed before its commit;
- on a local lake, temporary files of writes a crash interrupted (landing objects, chunks,
  manifests): never listed as objects, they would otherwise stay forever.

An unreferenced chunk is deleted only once its object is older than the grace period: a
flush or compaction in flight has written chunks it has not committed yet, and those are
young. Manifests are read before chunks are listed, so a chunk committed meanwhile is
either in a version read or young. Empty days keep their latest version: deleting it
would restart the day's version numbers under a writer that pinned it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from storage import layout, manifest
from storage.objectstore import ObjectStore

DEFAULT_GRACE_NS = 2 * 3600 * 1_000_000_000


@dataclass
class GcResult:
    """What one collection removed and kept."""

    manifest_versions_deleted: int = 0
    manifest_versions_kept: int = 0
    chunks_deleted: int = 0
    chunk_bytes_deleted: int = 0
    chunks_live: int = 0
    chunks_young: int = 0
    temp_files_deleted: int = 0
    seconds: float = 0.0


def commit_timestamp(store: ObjectStore, tenant: str, day: str, version: int) -> int:
    """When a manifest version was published (its commit record), read from the footer."""
    return int(manifest.load_commit(store, tenant, day, version).get("timestamp_ns", 0))


def collect_garbage(
    store: ObjectStore,
    grace_ns: int = DEFAULT_GRACE_NS,
    *,
    now_ns: int | None = None,
    dry_run: bool = False,
) -> GcResult:
    """Delete superseded manifest versions and unreferenced chunks older than `grace_ns`."""
    started = time.perf_counter()
    now_ns = time.time_ns() if now_ns is None else now_ns
    cutoff = now_ns - grace_ns
    result = GcResult()
    live: set[str] = set()
    for tenant in manifest.tenants(store):
        for day in manifest.days(store, tenant):
            found = manifest.versions(store, tenant, day)
            if not found:
                continue
            doomed = []
            for older, newer in zip(found, found[1:], strict=False):
                if commit_timestamp(store, tenant, day, newer) < cutoff:
                    doomed.append(older)
            kept = [v for v in found if v not in set(doomed)]
            for version in kept:
                live.update(manifest.load(store, tenant, day, version).chunk_keys())
            result.manifest_versions_kept += len(kept)
            result.manifest_versions_deleted += len(doomed)
            if doomed and not dry_run:
                store.delete(layout.manifest_key(tenant, day, v) for v in doomed)
    doomed_chunks = []
    for obj in store.list(layout.CHUNKS):
        if obj.key in live:
            result.chunks_live += 1
        elif obj.mtime_ns >= cutoff:
            result.chunks_young += 1
        else:
            doomed_chunks.append(obj.key)
            result.chunk_bytes_deleted += obj.size
    result.chunks_deleted = len(doomed_chunks)
    if doomed_chunks and not dry_run:
        store.delete(doomed_chunks)
    # A write takes seconds: a temporary file older than the grace period was left by a
    # process that died while writing it (its object was never published).
    stale = [t.key for t in store.temp_files() if t.mtime_ns < cutoff]
    result.temp_files_deleted = len(stale)
    if stale and not dry_run:
        store.delete(stale)
    result.seconds = time.perf_counter() - started
    return result
