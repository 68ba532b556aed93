"""Retention: entries older than their stream's retention period leave the lake.

The period of a stream follows Loki's rules (`pkg/compactor/retention/expiration.go`):
among the tenant's `retention_stream` rules whose selector matches the stream's labels the
one with the highest `priority` wins, ties going to the shorter `period`; without a match
the tenant's `retention_period` applies; 0 keeps data forever. (A tenant's effective rules
and period are its overrides on top of the global limits, as Loki builds per-tenant limits,
which yields Loki's documented precedence.)

What expires is decided per chunk, as Loki decides it (`expirationChecker.Expired`: a
chunk goes when `now - chunk.Through > period`). Loki's chunk holds one stream, so
loglake's equivalent is a manifest reference, one stream's rows in one chunk: they expire
together when `now - max_ts > period`, the newest of them older than the period. Entries
of a stream whose newest entry in that chunk is still within the period stay, however old
— as in Loki, nothing is removed before its whole chunk has expired, and a query may see
entries somewhat older than the period until then. Wholly expired days and chunks leave
the manifest without a chunk being read; a chunk where only some streams expired is
rewritten without them (`storage.rewrite.rewrite_day`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from storage import layout, manifest
from storage.chunks import ChunkOptions
from storage.manifest import Manifest
from storage.objectstore import ObjectStore
from storage.rewrite import RewriteResult, rewrite_day
from storage.selection import LabelMatcher, labels_mask

NO_CUTOFF = -(2**63)


@dataclass(frozen=True)
class StreamRule:
    """A `retention_stream` rule: streams its matchers select keep data for `period_ns`."""

    matchers: tuple[LabelMatcher, ...]
    priority: int
    period_ns: int


@dataclass(frozen=True)
class RetentionPolicy:
    """One tenant's effective retention: its stream rules and its retention period."""

    period_ns: int = 0
    rules: tuple[StreamRule, ...] = ()

    def periods(self, labels: pa.ChunkedArray | pa.Array) -> list[int]:
        """The retention period of each label set (0: keep forever)."""
        n = len(labels)
        best: list[StreamRule | None] = [None] * n
        for rule in self.rules:
            hit = labels_mask(labels, rule.matchers).to_pylist()
            for i in range(n):
                if not hit[i]:
                    continue
                current = best[i]
                if current is not None and (
                    current.priority > rule.priority
                    or (current.priority == rule.priority and current.period_ns <= rule.period_ns)
                ):
                    continue
                best[i] = rule
        return [self.period_ns if r is None else r.period_ns for r in best]


@dataclass
class RetentionResult:
    """What one retention pass over a tenant removed."""

    tenant: str
    days_dropped: int = 0
    chunks_dropped: int = 0
    chunks_rewritten: int = 0
    rows_removed: int = 0
    commits: int = 0
    days: list[str] = field(default_factory=list)

    def add(self, day: RewriteResult, whole_day: bool) -> None:
        """Count one day's rewrite."""
        self.chunks_dropped += day.chunks_dropped
        self.chunks_rewritten += day.chunks_rewritten
        self.rows_removed += day.rows_removed
        if day.chunks_dropped or day.chunks_rewritten:
            self.commits += 1
            self.days.append(day.day)
            self.days_dropped += int(whole_day)


def cutoffs(refs: pa.Table, policy: RetentionPolicy, now_ns: int) -> pa.Array:
    """Per manifest row: entries of that row's stream with `ts` below this are expired."""
    periods = policy.periods(refs.column("labels"))
    return pa.array([now_ns - p if p > 0 else NO_CUTOFF for p in periods], pa.int64())


def stream_cutoffs(table: pa.Table, policy: RetentionPolicy, now_ns: int) -> pa.Array:
    """Per row of entries: the expiry cutoff of its stream, matched once per stream."""
    fps = table.column("fingerprint")
    unique = pc.unique(fps)
    first = pc.index_in(unique, value_set=fps)
    per_stream = cutoffs(pa.table({"labels": table.column("labels").take(first)}), policy, now_ns)
    return per_stream.take(pc.index_in(fps, value_set=unique))


def stream_newest(table: pa.Table) -> pa.Array:
    """Per row of a chunk's entries: the newest timestamp of its stream in the chunk
    (the reference's `max_ts`, Loki's chunk `Through`)."""
    newest = table.select(["fingerprint", "ts"]).group_by("fingerprint").aggregate([("ts", "max")])
    at = pc.index_in(table.column("fingerprint"), value_set=newest.column("fingerprint"))
    return newest.column("ts_max").take(at)


def expired_rows_kept(table: pa.Table, policy: RetentionPolicy, now_ns: int) -> pa.Array:
    """Mask of a chunk's rows that stay: those of streams whose newest entry in the chunk
    is within its period (`max_ts >= now - period`)."""
    return pc.greater_equal(stream_newest(table), stream_cutoffs(table, policy, now_ns))


def apply_retention(
    store: ObjectStore,
    tenant: str,
    policy: RetentionPolicy,
    options: ChunkOptions | None = None,
    *,
    now_ns: int | None = None,
) -> RetentionResult:
    """Remove the tenant's expired (chunk, stream) references and their entries; see the
    module docstring."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    options = options or ChunkOptions()
    result = RetentionResult(tenant)
    positive = [p for p in (policy.period_ns, *(r.period_ns for r in policy.rules)) if p > 0]
    if not positive:
        return result
    latest_cutoff = now_ns - min(positive)
    for day in manifest.days(store, tenant):
        if layout.day_bounds(day)[0] >= latest_cutoff:
            continue  # even the shortest period expires nothing this day holds
        outcome = {"whole_day": False}

        def plan(base: Manifest, outcome: dict = outcome) -> tuple[set[str], set[str]]:
            refs = base.refs
            if refs.num_rows == 0:
                return set(), set()
            cut = cutoffs(refs, policy, now_ns)
            chunks = refs.column("chunk")
            expired = pc.less(refs.column("max_ts"), cut)
            alive = set(chunks.filter(pc.invert(expired)).to_pylist())
            touched = set(chunks.filter(expired).to_pylist())
            outcome["whole_day"] = not alive
            return set(chunks.to_pylist()) - alive, touched & alive

        def keep_rows(table: pa.Table) -> pa.Array:
            return expired_rows_kept(table, policy, now_ns)

        day_result = rewrite_day(
            store, tenant, day, plan, keep_rows, options, operation="retention"
        )
        result.add(day_result, outcome["whole_day"])
    return result
