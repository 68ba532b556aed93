"""Processing delete requests: the selected lines leave the chunks, one commit per day.

A request becomes due once its cancel period has passed since it was created (Loki's
`delete_request_cancel_period`). Its shards (`DeleteRequest.shards`) are processed in
order, each marked processed once committed, the request itself after the last one.

Processing first flushes the tenant's landing objects, so lines acknowledged before
processing began are in chunks and are deleted with them; nothing a request selected can
come back with a later flush. (Queries hide the selected lines from the moment a request
is received, see `storage.snapshot`, so a line acknowledged while a request is being
processed stays hidden too.)

For each day a shard's `[start, end]` range touches, the manifest references of matching
streams overlapping the range decide which chunks to look at: a chunk wholly inside the
range, whose streams all match and with no line filter, is dropped without being read;
others are read and rewritten without the deleted lines (`storage.rewrite.rewrite_day`).
A cancelled request is skipped, and checked again before each day's commit.

An entry is deleted when its stream matches the selector, `start <= ts <= end` (request
times in milliseconds, as Loki) and its line passes every line filter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc

from storage import delete_requests, layout, manifest
from storage.chunks import ChunkOptions
from storage.delete_requests import DeleteRequest
from storage.flush import flush
from storage.manifest import Manifest
from storage.objectstore import ObjectStore
from storage.rewrite import rewrite_day
from storage.selection import labels_mask, lines_mask

DEFAULT_CANCEL_PERIOD_NS = 24 * 3600 * 1_000_000_000
_NS_PER_MS = 1_000_000


@dataclass
class DeleteResult:
    """What processing one request removed."""

    request_id: str
    tenant: str
    days: list[str] = field(default_factory=list)
    chunks_dropped: int = 0
    chunks_rewritten: int = 0
    lines_deleted: int = 0
    landing_flushed: int = 0
    shards: int = 0
    cancelled: bool = False


def due_requests(
    store: ObjectStore, tenant: str, cancel_period_ns: int, now_ns: int
) -> list[DeleteRequest]:
    """Requests not wholly processed whose cancel period is over, oldest first."""
    return [
        r
        for r in delete_requests.list_requests(store, tenant)
        if r.status != delete_requests.PROCESSED
        and r.created_at_ms * _NS_PER_MS + cancel_period_ns <= now_ns
    ]


def deleted_mask(request: DeleteRequest, table: pa.Table) -> pa.ChunkedArray:
    """True for each entry of `table` the request deletes."""
    ts = table.column("ts")
    mask = pc.and_(
        pc.greater_equal(ts, request.start_ms * _NS_PER_MS),
        pc.less_equal(ts, request.end_ms * _NS_PER_MS),
    )
    mask = pc.and_(mask, labels_mask(table.column("labels"), request.matchers))
    if request.filters:
        mask = pc.and_(mask, lines_mask(table.column("line"), request.filters))
    return mask


def process_request(
    store: ObjectStore, request: DeleteRequest, options: ChunkOptions | None = None
) -> DeleteResult:
    """Apply one request to the tenant's landing data and chunks and mark it processed."""
    options = options or ChunkOptions()
    result = DeleteResult(request.request_id, request.tenant)
    result.landing_flushed = flush(store, options, tenants=[request.tenant]).landing_objects
    shards = request.shards()
    for index, (start_ms, end_ms) in enumerate(shards):
        if index in request.processed_shards:
            continue
        shard = replace(request, start_ms=start_ms, end_ms=end_ms)
        days = _process_shard(store, shard, options, result)
        if result.cancelled:
            return result
        result.shards += 1
        if len(shards) > 1:
            delete_requests.mark_shard_processed(
                store, request.tenant, request.request_id, index, {"days": days}
            )
    delete_requests.mark_processed(
        store,
        request.tenant,
        request.request_id,
        {"lines_deleted": result.lines_deleted, "days": result.days, "at_ns": time.time_ns()},
    )
    return result


def _process_shard(
    store: ObjectStore, request: DeleteRequest, options: ChunkOptions, result: DeleteResult
) -> list[str]:
    """Delete one shard's lines day by day; the days it changed."""
    start_ns, end_ns = request.start_ms * _NS_PER_MS, request.end_ms * _NS_PER_MS

    def plan(base: Manifest) -> tuple[set[str], set[str]]:
        refs = base.refs
        if refs.num_rows == 0:
            return set(), set()
        hit = pc.and_(
            labels_mask(refs.column("labels"), request.matchers),
            pc.and_(
                pc.less_equal(refs.column("min_ts"), end_ns),
                pc.greater_equal(refs.column("max_ts"), start_ns),
            ),
        )
        touched = set(refs.column("chunk").filter(hit).to_pylist())
        if request.filters:
            return set(), touched
        inside = pc.and_(
            hit,
            pc.and_(
                pc.greater_equal(refs.column("min_ts"), start_ns),
                pc.less_equal(refs.column("max_ts"), end_ns),
            ),
        )
        # a chunk goes whole only when every one of its streams is wholly deleted
        kept = set(refs.column("chunk").filter(pc.invert(inside)).to_pylist())
        return touched - kept, touched & kept

    def keep_rows(table: pa.Table) -> pa.ChunkedArray:
        return pc.invert(deleted_mask(request, table))

    changed = []
    for day in manifest.days(store, request.tenant):
        lo, hi = layout.day_bounds(day)
        if hi <= start_ns or lo > end_ns:
            continue
        if delete_requests.is_cancelled(store, request.tenant, request.request_id):
            result.cancelled = True
            return changed
        day_result = rewrite_day(
            store,
            request.tenant,
            day,
            plan,
            keep_rows,
            options,
            operation="delete",
            extra={"delete_request": request.request_id},
        )
        result.chunks_dropped += day_result.chunks_dropped
        result.chunks_rewritten += day_result.chunks_rewritten
        result.lines_deleted += day_result.rows_removed
        if day_result.chunks_dropped or day_result.chunks_rewritten:
            changed.append(day)
            if day not in result.days:
                result.days.append(day)
    return changed


def process_deletes(
    store: ObjectStore,
    options: ChunkOptions | None = None,
    *,
    cancel_period_ns: int = DEFAULT_CANCEL_PERIOD_NS,
    now_ns: int | None = None,
    tenants: list[str] | None = None,
    on_error: Callable[[DeleteRequest, Exception], None] | None = None,
) -> list[DeleteResult]:
    """Process every due request of every tenant (or of `tenants`). With `on_error`, a
    request that fails is handed to it and stays pending (for the next run) while the
    others are processed; without, the failure ends the run."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    results = []
    for tenant in tenants if tenants is not None else delete_requests.tenants_with_requests(store):
        for request in due_requests(store, tenant, cancel_period_ns, now_ns):
            try:
                results.append(process_request(store, request, options))
            except Exception as err:
                if on_error is None:
                    raise
                on_error(request, err)
    return results
