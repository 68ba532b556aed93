"""The label manifest: per tenant and day, which streams exist and which chunks hold them.

A manifest version is one Parquet object with a row per (chunk, stream) — the chunk
references — from which the streams table (fingerprint → labels, first/last ts, lines,
bytes) is derived. Its key-value metadata carries the commit record: the operation, the
parent version, and the landing objects this version has absorbed (so a flush that crashed
after committing never absorbs them twice, and readers never count them twice).

Versions are published with create-if-absent of `v<N+1>`: two writers racing for the same
version cannot both win, and the loser retries on top of the winner. Nothing published is
ever overwritten; readers pin a version and see exactly its chunks.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storage import layout
from storage.objectstore import ObjectStore
from storage.schema import MANIFEST_SCHEMA

_COMMIT_KEY = b"loglake.commit"


class CommitConflict(Exception):
    """Another writer published the version this commit was built for."""


@dataclass(frozen=True)
class Manifest:
    """One pinned manifest version of a tenant's day (version 0: nothing published yet)."""

    tenant: str
    day: str
    version: int
    refs: pa.Table
    commit: dict[str, Any] = field(default_factory=dict)

    @property
    def applied_landing(self) -> frozenset[str]:
        """Landing objects whose rows for this day are already in this version's chunks."""
        return frozenset(self.commit.get("applied_landing", ()))

    def chunk_keys(self) -> list[str]:
        """Distinct chunk keys, in the order they were committed."""
        seen: dict[str, None] = {}
        for key in self.refs.column("chunk").to_pylist():
            seen.setdefault(key, None)
        return list(seen)

    def streams(self) -> pa.Table:
        """The streams table: fingerprint, labels, first/last ts, lines, bytes."""
        if self.refs.num_rows == 0:
            return pa.table(
                {
                    "fingerprint": pa.array([], pa.int64()),
                    "labels": pa.array([], MANIFEST_SCHEMA.field("labels").type),
                    "first_ts": pa.array([], pa.int64()),
                    "last_ts": pa.array([], pa.int64()),
                    "lines": pa.array([], pa.int64()),
                    "bytes": pa.array([], pa.int64()),
                }
            )
        grouped = self.refs.group_by("fingerprint", use_threads=False).aggregate(
            [("min_ts", "min"), ("max_ts", "max"), ("rows", "sum"), ("bytes", "sum")]
        )
        # labels are a function of the fingerprint: take the first row of each stream.
        fps = self.refs.column("fingerprint")
        first = pc.index_in(grouped.column("fingerprint"), value_set=fps)
        labels = self.refs.column("labels").take(first)
        return pa.table(
            {
                "fingerprint": grouped.column("fingerprint"),
                "labels": labels,
                "first_ts": grouped.column("min_ts_min"),
                "last_ts": grouped.column("max_ts_max"),
                "lines": grouped.column("rows_sum"),
                "bytes": grouped.column("bytes_sum"),
            }
        )


def tenants(store: ObjectStore) -> list[str]:
    """Tenants that have at least one manifest."""
    return [layout.tenant_of_dir(d) for d in store.list_dirs(layout.MANIFEST)]


def days(store: ObjectStore, tenant: str) -> list[str]:
    """Days for which the tenant has a manifest, oldest first."""
    out = []
    for d in store.list_dirs(layout.manifest_prefix(tenant)):
        if d.startswith("date="):
            out.append(d[len("date=") :])
    return sorted(out)


def versions(store: ObjectStore, tenant: str, day: str) -> list[int]:
    """Published versions of a tenant's day, ascending."""
    found = (
        layout.manifest_version(o.key) for o in store.list(layout.manifest_prefix(tenant, day))
    )
    return sorted(v for v in found if v is not None)


def empty(tenant: str, day: str) -> Manifest:
    """Version 0: the state before anything is published."""
    return Manifest(tenant, day, 0, MANIFEST_SCHEMA.empty_table(), {})


def load(store: ObjectStore, tenant: str, day: str, version: int) -> Manifest:
    """Read one published version."""
    if version == 0:
        return empty(tenant, day)
    data = store.get(layout.manifest_key(tenant, day, version))
    table = pq.read_table(pa.BufferReader(data))
    meta = table.schema.metadata or {}
    commit = json.loads(meta.get(_COMMIT_KEY, b"{}"))
    return Manifest(tenant, day, version, _current(table.replace_schema_metadata(None)), commit)


def _current(refs: pa.Table) -> pa.Table:
    """Refs of any published version in today's schema: columns added since come as nulls
    (not recorded)."""
    for f in MANIFEST_SCHEMA:
        if f.name not in refs.column_names:
            refs = refs.append_column(f, pa.nulls(refs.num_rows, f.type))
    return refs.select(MANIFEST_SCHEMA.names)


def load_commit(store: ObjectStore, tenant: str, day: str, version: int) -> dict:
    """The commit record of one published version, read from its footer alone."""
    data = store.get(layout.manifest_key(tenant, day, version))
    meta = pq.read_metadata(pa.BufferReader(data)).metadata or {}
    return json.loads(meta.get(_COMMIT_KEY, b"{}"))


def load_latest(store: ObjectStore, tenant: str, day: str) -> Manifest:
    """Pin the newest published version (version 0 when none)."""
    found = versions(store, tenant, day)
    return load(store, tenant, day, found[-1]) if found else empty(tenant, day)


def encode(refs: pa.Table, commit: dict[str, Any]) -> bytes:
    """Serialise a manifest version (refs + commit record) as Parquet."""
    table = refs.cast(MANIFEST_SCHEMA).replace_schema_metadata(
        {_COMMIT_KEY: json.dumps(commit, sort_keys=True).encode()}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", use_dictionary=True)
    return sink.getvalue()


def publish(
    store: ObjectStore,
    base: Manifest,
    refs: pa.Table,
    *,
    operation: str,
    applied_landing: Iterable[str] = (),
    extra: dict[str, Any] | None = None,
    landed: set[str] | None = None,
) -> Manifest:
    """Publish `refs` as version `base.version + 1`; CommitConflict if someone else did.

    `applied_landing` lists landing objects whose rows this version absorbs; entries of the
    base's list whose objects are gone from landing are dropped, so the list stays small.
    `landed`: the tenant's landing keys, when the caller listed them after pinning `base`
    (a key deleted since stays named one version longer; none is dropped early).
    """
    still_landed = (
        landed
        if landed is not None
        else {o.key for o in store.list(layout.landing_prefix(base.tenant))}
    )
    applied = sorted((base.applied_landing & still_landed) | set(applied_landing))
    commit = {
        "version": base.version + 1,
        "parent": base.version,
        "operation": operation,
        "timestamp_ns": time.time_ns(),
        "applied_landing": applied,
        **(extra or {}),
    }
    version = base.version + 1
    if not store.put_if_absent(
        layout.manifest_key(base.tenant, base.day, version), encode(refs, commit)
    ):
        raise CommitConflict(f"manifest {base.tenant}/{base.day} v{version} already published")
    return Manifest(base.tenant, base.day, version, refs.cast(MANIFEST_SCHEMA), commit)
