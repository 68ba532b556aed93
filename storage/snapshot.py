"""Snapshot reads: a tenant's lake pinned at one manifest version per day, plus landing.

A `Snapshot` is what a query sees: the chunks of the pinned manifest versions and the
landing rows no pinned version has absorbed yet, so data is queryable the moment its push
is acknowledged and a concurrent flush or compaction is never seen half-done. Identical
(stream, ts, line) entries are returned once, as Loki returns them: `overlaps` names the
only streams and times that can hold duplicates (where their chunk and landing time ranges
overlap), so deduplication costs next to nothing for streams written in order.

Delete requests apply at query time, as Loki's queriers apply them: `deletes` holds the
tenant's requests that can select a line of the snapshot, and `storage.duck.logs_query`
leaves out every line they select. As with Loki's default delete-request store, every
request that is not cancelled counts — from the moment it is received (whatever its
cancel period, so deleted lines vanish from queries at once), while it is processed, and
after (so a line acknowledged during processing does not reappear). Requests are listed
before the manifests are pinned, so a snapshot never misses both a request and the
commit that processed it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from storage import delete_requests, layout, manifest
from storage.chunks import sort_and_dedup
from storage.delete_requests import DeleteRequest
from storage.landing import decode_landing, list_landing
from storage.manifest import Manifest
from storage.objectstore import ObjectStore
from storage.overlaps import Overlaps, find_overlaps
from storage.schema import ENTRY_SCHEMA
from storage.selection import labels_mask

_MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class Snapshot:
    """A consistent, pinned view of one tenant's data; `deletes` are the delete requests
    whose lines queries must leave out."""

    tenant: str
    manifests: dict[str, Manifest]
    landing: pa.Table
    deletes: tuple[DeleteRequest, ...] = ()

    def chunk_refs(self, start_ns: int | None = None, end_ns: int | None = None) -> pa.Table:
        """Chunk references of the pinned versions overlapping `[start_ns, end_ns]`."""
        tables = []
        for day, m in self.manifests.items():
            lo, hi = layout.day_bounds(day)
            if (start_ns is not None and hi <= start_ns) or (end_ns is not None and lo > end_ns):
                continue
            refs = m.refs
            if start_ns is not None:
                refs = refs.filter(pc.greater_equal(refs.column("max_ts"), start_ns))
            if end_ns is not None:
                refs = refs.filter(pc.less_equal(refs.column("min_ts"), end_ns))
            tables.append(refs)
        if not tables:
            return manifest.empty(self.tenant, "1970-01-01").refs
        return pa.concat_tables(tables)

    def chunk_keys(self, start_ns: int | None = None, end_ns: int | None = None) -> list[str]:
        """Distinct chunk keys that may hold entries in the time range, newest first (the
        order `ORDER BY ts DESC LIMIT n` wants: its top-N filter then skips most row groups)."""
        refs = self.chunk_refs(start_ns, end_ns)
        if refs.num_rows:
            refs = refs.sort_by([("max_ts", "descending")])
        keys = refs.column("chunk").to_pylist()
        return list(dict.fromkeys(keys))

    def metadata_in(self, keys: list[str]) -> bool:
        """Whether any of the chunks `keys` may hold structured metadata (true unless the
        manifest recorded none for every one of them)."""
        refs = self.chunk_refs()
        counts = refs.filter(pc.is_in(refs.column("chunk"), pa.array(keys, pa.string())))
        counts = counts.column("metadata_rows")
        return counts.null_count > 0 or (len(counts) > 0 and pc.max(counts).as_py() > 0)

    def overlaps(self) -> Overlaps:
        """Where this snapshot can hold an entry twice (see `storage.overlaps`): the
        sources are its chunk refs and its landing rows, each deduplicated on its own."""
        refs = self.chunk_refs().select(["fingerprint", "min_ts", "max_ts"])
        if self.landing.num_rows:
            landing = (
                pl.from_arrow(self.landing.select(["fingerprint", "ts"]))
                .group_by("fingerprint")
                .agg(pl.col("ts").min().alias("min_ts"), pl.col("ts").max().alias("max_ts"))
                .to_arrow()
                .cast(refs.schema)
            )
            refs = pa.concat_tables([refs, landing])
        return find_overlaps(refs)


def take_snapshot(
    store: ObjectStore,
    tenant: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Snapshot:
    """Pin the latest manifest of every day in range, then read the landing rows that
    those versions have not absorbed.

    Manifests are pinned before landing is listed, and checked again afterwards: a flush
    publishes before it deletes landing objects, so rows that vanished from landing under
    us were absorbed by a version newer than our pin — then the snapshot is taken again.
    """
    for _ in range(_MAX_ATTEMPTS):
        requests = delete_requests.list_requests(store, tenant)
        pinned = {
            day: manifest.load_latest(store, tenant, day)
            for day in _days_in_range(store, tenant, start_ns, end_ns)
        }
        try:
            landing = _read_landing(store, tenant, pinned)
        except FileNotFoundError:
            continue
        # A flush that committed and deleted its landing objects after our pin but before
        # our listing took rows we saw in neither place: then a version moved, so retry.
        latest = {
            day: _latest_version(store, tenant, day)
            for day in _days_in_range(store, tenant, start_ns, end_ns)
        }
        if latest != {day: m.version for day, m in pinned.items()}:
            continue
        if start_ns is not None or end_ns is not None:
            ts = landing.column("ts")
            mask = pc.and_(
                pc.greater_equal(ts, start_ns if start_ns is not None else -(2**63)),
                pc.less_equal(ts, end_ns if end_ns is not None else 2**63 - 1),
            )
            landing = landing.filter(mask)
        snapshot = Snapshot(tenant, pinned, landing)
        deletes = applicable_deletes(snapshot, requests, start_ns, end_ns)
        return Snapshot(tenant, pinned, landing, deletes)
    raise RuntimeError(f"could not pin a consistent snapshot of tenant {tenant!r}")


def applicable_deletes(
    snapshot: Snapshot,
    requests: list[DeleteRequest],
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> tuple[DeleteRequest, ...]:
    """The requests that can select a line of the snapshot: their time range overlaps the
    snapshot's and a stream of its chunks or landing rows in that range matches their
    selector. The rest would only cost the query work."""
    lo = -(2**63) if start_ns is None else start_ns
    hi = 2**63 - 1 if end_ns is None else end_ns
    out = []
    for request in requests:
        first, last = request.start_ms * 1_000_000, request.end_ms * 1_000_000
        if last < lo or first > hi:
            continue
        refs = snapshot.chunk_refs(max(first, lo), min(last, hi))
        if refs.num_rows and pc.any(labels_mask(refs.column("labels"), request.matchers)).as_py():
            out.append(request)
            continue
        landing = snapshot.landing
        if landing.num_rows:
            ts = landing.column("ts")
            hit = pc.and_(
                pc.and_(pc.greater_equal(ts, first), pc.less_equal(ts, last)),
                labels_mask(landing.column("labels"), request.matchers),
            )
            if pc.any(hit).as_py():
                out.append(request)
    return tuple(out)


def _days_in_range(
    store: ObjectStore, tenant: str, start_ns: int | None, end_ns: int | None
) -> list[str]:
    out = []
    for day in manifest.days(store, tenant):
        lo, hi = layout.day_bounds(day)
        if (start_ns is not None and hi <= start_ns) or (end_ns is not None and lo > end_ns):
            continue
        out.append(day)
    return out


def _latest_version(store: ObjectStore, tenant: str, day: str) -> int:
    found = manifest.versions(store, tenant, day)
    return found[-1] if found else 0


def _read_landing(store: ObjectStore, tenant: str, pinned: dict[str, Manifest]) -> pa.Table:
    tables = []
    for obj in list_landing(store, tenant):
        table = decode_landing(store.get(obj.key))
        absorbed_days = [day for day, m in pinned.items() if obj.key in m.applied_landing]
        if absorbed_days:
            day_index = layout.day_numbers(table.column("ts"))
            absorbed = pa.array([layout.day_number(d) for d in absorbed_days], pa.int64())
            table = table.filter(pc.invert(pc.is_in(day_index, value_set=absorbed)))
        tables.append(table)
    if not tables:
        return ENTRY_SCHEMA.empty_table()
    # Identical entries pushed twice are returned once; chunks are deduplicated when written.
    return sort_and_dedup(pa.concat_tables(tables))
