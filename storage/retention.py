"""Retention: entries older than their stream's retention period leave the lake.

The period of a stream follows Loki's rules (`pkg/compactor/retention/expiration.go`):
among the tenant's `retention_stream` rules whose selector matches the stream's labels the
one with the highest `priority` wins, ties going to the shorter `period`; without a match
the tenant's `retention_period` applies; 0 keeps data forever. (A tenant's effective rules
and period are its overrides on top of the global limits, as Loki builds per-tenant limits,
which yields Loki's documented precedence.)

An entry expires when `now - ts > period`. That is per entry, finer than Loki's per-chunk
decision, so a chunk straddling the cutoff loses exactly its expired rows: references of
wholly expired (chunk, stream) pairs — and whole expired days — leave the manifest without
a chunk being read; partially expired chunks are rewritten (`storage.rewrite.rewrite_day`).
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

    @property
    def enabled(self) -> bool:
        """Whether any stream can expire at all."""
        return self.period_ns > 0 or any(r.period_ns > 0 for r in self.rules)


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


def apply_retention(
    store: ObjectStore,
    tenant: str,
    policy: RetentionPolicy,
    options: ChunkOptions | None = None,
    *,
    now_ns: int | None = None,
) -> RetentionResult:
    """Remove the tenant's expired entries; see the module docstring."""
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
            alive = set(chunks.filter(pc.greater_equal(refs.column("max_ts"), cut)).to_pylist())
            touched = set(chunks.filter(pc.less(refs.column("min_ts"), cut)).to_pylist())
            outcome["whole_day"] = not alive
            return set(chunks.to_pylist()) - alive, touched & alive

        def keep_rows(table: pa.Table) -> pa.ChunkedArray:
            return pc.greater_equal(table.column("ts"), stream_cutoffs(table, policy, now_ns))

        day_result = rewrite_day(
            store, tenant, day, plan, keep_rows, options, operation="retention"
        )
        result.add(day_result, outcome["whole_day"])
    return result
