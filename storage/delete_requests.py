"""Delete requests, stored durably in the lake beside the data they delete.

    delete_requests/tenant=<t>/<request id>.json                the request (written once)
    delete_requests/tenant=<t>/<request id>.cancelled           cancelled before processing
    delete_requests/tenant=<t>/<request id>.shard-<n>.processed shard n is committed
    delete_requests/tenant=<t>/<request id>.processed           every shard is committed

Every object is written once (create-if-absent), so the state of a request is which of
them exist. A cancelled request is no longer listed (Loki removes cancelled requests).
Request ids are Loki's: the 8 hex digits of a 32-bit FNV-1 hash of tenant, creation time
and query. Times are Unix milliseconds, as Loki's `model.Time`.

Sharding follows Loki (`pkg/compactor/deletion/request_handler.go`, `buildRequests`): a
request with line filters is split into shards of at most `interval_ms`
(`compactor.delete_max_interval`, default 24h, or the request's `max_interval`), aligned
to multiples of the interval since the epoch, adjacent shards sharing their boundary
millisecond. The shards share the request's id and creation time; they are processed one
by one, and the listing merges them back into one request whose status is `received`,
`processed` or Loki's `N% Complete`.

The key spelling lives here rather than in `storage.layout` for now (see the module's
functions `request_prefix` and `request_key`).
"""

from __future__ import annotations

import json
import struct
import threading
import time
from dataclasses import asdict, dataclass, replace

from storage.layout import tenant_dir, tenant_of_dir
from storage.objectstore import ObjectStore
from storage.selection import LabelMatcher, LineFilter

DELETE_REQUESTS = "delete_requests"
RECEIVED = "received"
PROCESSED = "processed"


def request_prefix(tenant: str | None = None) -> str:
    """Folder of a tenant's delete requests, or of all of them."""
    if tenant is None:
        return DELETE_REQUESTS
    return f"{DELETE_REQUESTS}/{tenant_dir(tenant)}"


def request_key(tenant: str, request_id: str, kind: str = "json") -> str:
    """Key of a request object (`json`) or of one of its markers (`cancelled`,
    `processed`, `shard-<n>.processed`)."""
    return f"{request_prefix(tenant)}/{request_id}.{kind}"


def request_id(tenant: str, query: str, now_ns: int) -> str:
    """Loki's request id: FNV-1 (32-bit) of tenant, creation time (little-endian ns),
    query, as 8 hex digits.

    >>> len(request_id("fake", '{app="a"}', 0))
    8
    """
    h = 0x811C9DC5
    for byte in tenant.encode() + struct.pack("<Q", now_ns & (2**64 - 1)) + query.encode():
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= byte
    return f"{h:08x}"


def shard_ranges(start_ms: int, end_ms: int, interval_ms: int) -> list[tuple[int, int]]:
    """The `[start, end]` ranges Loki's `buildRequests` splits a request into: one range
    when `interval_ms` is 0 or covers the request, else ranges aligned to multiples of
    the interval, the first starting at `start_ms` and the last ending at `end_ms`.

    >>> shard_ranges(1_000, 10_000, 4_000)
    [(1000, 4000), (4000, 8000), (8000, 10000)]
    >>> shard_ranges(1_000, 10_000, 0)
    [(1000, 10000)]
    """
    if interval_ms <= 0 or interval_ms >= end_ms - start_ms:
        return [(start_ms, end_ms)]
    out = []
    shard = start_ms - start_ms % interval_ms
    while shard < end_ms:
        out.append((max(shard, start_ms), min(shard + interval_ms, end_ms)))
        shard += interval_ms
    return out


@dataclass(frozen=True)
class DeleteRequest:
    """One delete request: what it selects, over which time range, and its state.

    `interval_ms` is the shard interval (0: one shard); `processed_shards` the indexes of
    the shards already committed (read from the markers, not stored in the request)."""

    request_id: str
    tenant: str
    query: str
    start_ms: int
    end_ms: int
    created_at_ms: int
    matchers: tuple[LabelMatcher, ...]
    filters: tuple[LineFilter, ...] = ()
    status: str = RECEIVED
    interval_ms: int = 0
    processed_shards: frozenset[int] = frozenset()

    def shards(self) -> list[tuple[int, int]]:
        """The request's shards as `[start_ms, end_ms]` ranges."""
        return shard_ranges(self.start_ms, self.end_ms, self.interval_ms)

    def to_loki(self) -> dict:
        """The JSON object Loki's `GET /loki/api/v1/delete` lists (times in seconds)."""
        return {
            "request_id": self.request_id,
            "start_time": _seconds(self.start_ms),
            "end_time": _seconds(self.end_ms),
            "query": self.query,
            "status": self.status,
            "created_at": _seconds(self.created_at_ms),
            "user_id": "",
        }

    def encode(self) -> bytes:
        """The stored form (status and progress are not stored: markers hold them)."""
        data = asdict(self)
        data.pop("status")
        data.pop("processed_shards")
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes, status: str = RECEIVED) -> DeleteRequest:
        """Read a stored request (requests stored before sharding have one shard)."""
        raw = json.loads(data)
        return cls(
            **{
                **raw,
                "matchers": tuple(LabelMatcher(**m) for m in raw["matchers"]),
                "filters": tuple(LineFilter(f["op"], tuple(f["values"])) for f in raw["filters"]),
                "status": status,
            }
        )


def _seconds(ms: int) -> int | float:
    """Seconds as Prometheus' `model.Time` writes JSON: no fraction when whole."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def status_of(processed: int, total: int) -> str:
    """Loki's `deleteRequestStatus`: the status of a request from its shards' progress.

    >>> status_of(0, 3), status_of(1, 3), status_of(3, 3)
    ('received', '33% Complete', 'processed')
    """
    if processed == 0:
        return RECEIVED
    if processed >= total:
        return PROCESSED
    return f"{int(processed / total * 100)}% Complete"


def add_request(
    store: ObjectStore,
    tenant: str,
    query: str,
    start_ms: int,
    end_ms: int,
    matchers: tuple[LabelMatcher, ...],
    filters: tuple[LineFilter, ...] = (),
    interval_ms: int = 0,
) -> DeleteRequest:
    """Store a new request durably and return it (status `received`); `interval_ms`
    shards it as Loki does (see the module docstring)."""
    while True:
        now_ns = time.time_ns()
        request = DeleteRequest(
            request_id(tenant, query, now_ns),
            tenant,
            query,
            start_ms,
            end_ms,
            now_ns // 1_000_000,
            matchers,
            filters,
            interval_ms=interval_ms,
        )
        if store.put_if_absent(request_key(tenant, request.request_id), request.encode()):
            return request


def tenants_with_requests(store: ObjectStore) -> list[str]:
    """Tenants that have delete requests."""
    return [tenant_of_dir(d) for d in store.list_dirs(DELETE_REQUESTS)]


_decoded: dict[tuple[str, str], DeleteRequest] = {}
_decoded_lock = threading.Lock()
_DECODED_MAX = 10_000


def _load(store: ObjectStore, key: str) -> DeleteRequest:
    """A stored request; request objects are written once, so each is read and decoded
    once per process (every query lists the requests it must filter)."""
    cache_key = (store.url, key)
    with _decoded_lock:
        found = _decoded.get(cache_key)
    if found is not None:
        return found
    request = DeleteRequest.decode(store.get(key))
    with _decoded_lock:
        if len(_decoded) >= _DECODED_MAX:
            _decoded.clear()
        _decoded[cache_key] = request
    return request


def list_requests(store: ObjectStore, tenant: str) -> list[DeleteRequest]:
    """A tenant's requests that are not cancelled, with their status, oldest first."""
    keys = {o.key for o in store.list(request_prefix(tenant))}
    out = []
    for key in sorted(keys):
        if not key.endswith(".json"):
            continue
        stem = key[: -len(".json")]
        if f"{stem}.cancelled" in keys:
            continue
        try:
            request = _load(store, key)
        except FileNotFoundError:
            continue
        shards = len(request.shards())
        done = frozenset(i for i in range(shards) if f"{stem}.shard-{i}.processed" in keys)
        if f"{stem}.processed" in keys:
            done = frozenset(range(shards))
        out.append(replace(request, status=status_of(len(done), shards), processed_shards=done))
    return sorted(out, key=lambda r: (r.created_at_ms, r.request_id))


def get_request(store: ObjectStore, tenant: str, request_id: str) -> DeleteRequest | None:
    """One request by id; None when unknown or cancelled."""
    return next((r for r in list_requests(store, tenant) if r.request_id == request_id), None)


def cancel_request(store: ObjectStore, tenant: str, request_id: str) -> None:
    """Mark a request cancelled; it is then neither listed, nor processed, nor filtered."""
    store.put_if_absent(request_key(tenant, request_id, "cancelled"), b"{}")


def is_cancelled(store: ObjectStore, tenant: str, request_id: str) -> bool:
    """Whether a request was cancelled (checked again before each commit)."""
    return store.exists(request_key(tenant, request_id, "cancelled"))


def mark_shard_processed(
    store: ObjectStore, tenant: str, request_id: str, shard: int, summary: dict
) -> None:
    """Record that one shard's deletions are committed."""
    store.put_if_absent(
        request_key(tenant, request_id, f"shard-{shard}.processed"),
        json.dumps(summary, sort_keys=True).encode(),
    )


def mark_processed(store: ObjectStore, tenant: str, request_id: str, summary: dict) -> None:
    """Record that the request's deletions are committed (all of its shards)."""
    store.put_if_absent(
        request_key(tenant, request_id, "processed"), json.dumps(summary, sort_keys=True).encode()
    )
