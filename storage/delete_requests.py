"""Delete requests, stored durably in the lake beside the data they delete.

    delete_requests/tenant=<t>/<request id>.json        the request (written once)
    delete_requests/tenant=<t>/<request id>.cancelled   cancelled before processing
    delete_requests/tenant=<t>/<request id>.processed   its deletions are committed

Every object is written once (create-if-absent), so the state of a request is which of
the three exist: a request is `received` until its `.processed` marker exists, and a
cancelled one is no longer listed (Loki removes cancelled requests). Request ids are
Loki's: the 8 hex digits of a 32-bit FNV-1 hash of tenant, creation time and query.
Times are Unix milliseconds, as Loki's `model.Time`.

The key spelling lives here rather than in `storage.layout` for now (see the module's
functions `request_prefix` and `request_key`).
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import asdict, dataclass

from storage.layout import hive_escape, tenant_of_dir
from storage.objectstore import ObjectStore
from storage.selection import LabelMatcher, LineFilter

DELETE_REQUESTS = "delete_requests"
RECEIVED = "received"
PROCESSED = "processed"


def request_prefix(tenant: str | None = None) -> str:
    """Folder of a tenant's delete requests, or of all of them."""
    if tenant is None:
        return DELETE_REQUESTS
    return f"{DELETE_REQUESTS}/tenant={hive_escape(tenant)}"


def request_key(tenant: str, request_id: str, kind: str = "json") -> str:
    """Key of a request object (`json`) or of one of its markers (`cancelled`,
    `processed`)."""
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


@dataclass(frozen=True)
class DeleteRequest:
    """One delete request: what it selects, over which time range, and its state."""

    request_id: str
    tenant: str
    query: str
    start_ms: int
    end_ms: int
    created_at_ms: int
    matchers: tuple[LabelMatcher, ...]
    filters: tuple[LineFilter, ...] = ()
    status: str = RECEIVED

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
        """The stored form (status is not stored: markers hold it)."""
        data = asdict(self)
        data.pop("status")
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes, status: str) -> DeleteRequest:
        """Read a stored request."""
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


def add_request(
    store: ObjectStore,
    tenant: str,
    query: str,
    start_ms: int,
    end_ms: int,
    matchers: tuple[LabelMatcher, ...],
    filters: tuple[LineFilter, ...] = (),
) -> DeleteRequest:
    """Store a new request durably and return it (status `received`)."""
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
        )
        if store.put_if_absent(request_key(tenant, request.request_id), request.encode()):
            return request


def tenants_with_requests(store: ObjectStore) -> list[str]:
    """Tenants that have delete requests."""
    return [tenant_of_dir(d) for d in store.list_dirs(DELETE_REQUESTS)]


def list_requests(store: ObjectStore, tenant: str) -> list[DeleteRequest]:
    """A tenant's requests that are not cancelled, oldest first."""
    keys = {o.key for o in store.list(request_prefix(tenant))}
    out = []
    for key in sorted(keys):
        if not key.endswith(".json"):
            continue
        stem = key[: -len(".json")]
        if f"{stem}.cancelled" in keys:
            continue
        status = PROCESSED if f"{stem}.processed" in keys else RECEIVED
        try:
            out.append(DeleteRequest.decode(store.get(key), status))
        except FileNotFoundError:
            continue
    return sorted(out, key=lambda r: (r.created_at_ms, r.request_id))


def get_request(store: ObjectStore, tenant: str, request_id: str) -> DeleteRequest | None:
    """One request by id; None when unknown or cancelled."""
    return next((r for r in list_requests(store, tenant) if r.request_id == request_id), None)


def cancel_request(store: ObjectStore, tenant: str, request_id: str) -> None:
    """Mark a request cancelled; it is then neither listed nor processed."""
    store.put_if_absent(request_key(tenant, request_id, "cancelled"), b"{}")


def is_cancelled(store: ObjectStore, tenant: str, request_id: str) -> bool:
    """Whether a request was cancelled (checked again before each commit)."""
    return store.exists(request_key(tenant, request_id, "cancelled"))


def mark_processed(store: ObjectStore, tenant: str, request_id: str, summary: dict) -> None:
    """Record that the request's deletions are committed."""
    store.put_if_absent(
        request_key(tenant, request_id, "processed"), json.dumps(summary, sort_keys=True).encode()
    )
