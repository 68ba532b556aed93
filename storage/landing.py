"""Write-ahead landing: accepted batches become durable objects before they are acknowledged.

A landing object is an Arrow IPC file of one tenant's entries (lz4-compressed on S3).
Its rows hold fingerprint, ts, line and structured metadata; each stream's labels are
stored once, in the file's schema metadata, instead of once per row — the per-row labels
map is what costs most to encode, decode and copy, and a batch has few streams.
`GroupCommitter` is how a busy server writes few objects: every request hands its batch
to one writer thread and waits; whatever queued up while the previous write was in flight
goes out together as one object per tenant. A request can also announce itself while it is
still being decoded (`announce()`): the writer then holds the next object open for it, for
at most `max_wait_s`, so that requests arriving together share one object — its encoding,
its fsyncs and its thread wake-ups are most of a push's landing cost. On a busy server (the
previous object was shared) the writer also lingers `settle_s` for the next request.
Nothing is acknowledged before its object is durable, and a failed write fails every
request that was waiting on it.

A writer may attach its own string metadata to an object (`metadata=`; read back with
`landing_metadata`). Kafka ingestion stores the consumed offsets this way, so that the
offsets are durable in the very object that holds their records, and writes such objects
with `write_landing_once` under a key it derives from the batch: create-if-absent makes a
second writer of the same batch lose instead of duplicating it.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

import pyarrow as pa

from storage import layout
from storage.chunks import ROW_COLUMNS
from storage.objectstore import ObjectInfo, ObjectStore
from storage.schema import ENTRY_SCHEMA, LABELS_TYPE, STREAMS_SCHEMA, streams_of, with_labels

# Landing objects live minutes, so (de)compression speed matters more than size: none on
# local disk (encoding is then ~7x cheaper), lz4 where the bytes cross a network (S3).
_IPC_OPTIONS = {
    False: pa.ipc.IpcWriteOptions(compression=None),
    True: pa.ipc.IpcWriteOptions(compression="lz4"),
}


_STREAMS_KEY = b"loglake.streams"
SOURCE_OFFSETS = "loglake.source_offsets"
"""Landing metadata key of a JSON object `{source partition: next offset}` (Kafka ingest);
flush carries these into the manifest commit that absorbs the object (`storage.flush`)."""
ROW_SCHEMA = pa.schema([ENTRY_SCHEMA.field(name) for name in ROW_COLUMNS])
"""The per-row columns of a landing object: the entry schema without `labels`."""


def split_entries(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """An entry table as a landing object holds it: (per-row columns, streams table)."""
    return table.select(ROW_COLUMNS), streams_of(table)


def encode_landing(
    table: pa.Table, compress: bool = True, metadata: dict[str, str] | None = None
) -> bytes:
    """Serialise entries as an Arrow IPC file (lz4 when `compress`), labels once per
    stream; `metadata` is stored as extra schema metadata (see `landing_metadata`)."""
    rows, streams = split_entries(table)
    return encode_landing_parts(rows, streams, compress, metadata)


def encode_landing_parts(
    rows: pa.Table,
    streams: pa.Table,
    compress: bool = True,
    metadata: dict[str, str] | None = None,
) -> bytes:
    """`encode_landing` of entries already split: `rows` with `ROW_SCHEMA`'s columns and
    `streams` (`STREAMS_SCHEMA`) holding every fingerprint of `rows` once."""
    meta = json.dumps(
        [
            [fp, labels]
            for fp, labels in zip(
                streams.column("fingerprint").to_pylist(),
                streams.column("labels").to_pylist(),
                strict=True,
            )
        ]
    ).encode()
    extra = {k.encode(): v.encode() for k, v in (metadata or {}).items()}
    if _STREAMS_KEY in extra:
        raise ValueError(f"landing metadata key {_STREAMS_KEY.decode()!r} is reserved")
    schema = ROW_SCHEMA.with_metadata({**extra, _STREAMS_KEY: meta})
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, schema, options=_IPC_OPTIONS[compress]) as writer:
        writer.write_table(rows.select(ROW_COLUMNS).cast(schema))
    return sink.getvalue()


def decode_landing_parts(data: bytes) -> tuple[pa.Table, pa.Table]:
    """Read a landing object as (per-row columns, streams table)."""
    rows = pa.ipc.open_file(pa.BufferReader(data)).read_all()
    pairs = json.loads(rows.schema.metadata[_STREAMS_KEY])
    streams = pa.table(
        {
            "fingerprint": pa.array([fp for fp, _ in pairs], pa.int64()),
            "labels": pa.array([[tuple(kv) for kv in labels] for _, labels in pairs], LABELS_TYPE),
        },
        schema=STREAMS_SCHEMA,
    )
    return rows.replace_schema_metadata(None), streams


def landing_metadata(data: bytes) -> dict[str, str]:
    """The writer's metadata of a landing object (empty for objects written without);
    only the file footer is parsed, not the rows."""
    meta = pa.ipc.open_file(pa.BufferReader(data)).schema.metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items() if k != _STREAMS_KEY}


def decode_landing(data: bytes) -> pa.Table:
    """Read a landing object back into an entry table (`ENTRY_SCHEMA`)."""
    return with_labels(*decode_landing_parts(data))


def write_landing(store: ObjectStore, tenant: str, table: pa.Table) -> str:
    """Durably write one landing object and return its key."""
    return write_landing_parts(store, tenant, *split_entries(table))


def write_landing_parts(store: ObjectStore, tenant: str, rows: pa.Table, streams: pa.Table) -> str:
    """`write_landing` of entries already split (see `encode_landing_parts`)."""
    key = layout.landing_key(tenant)
    store.put(key, encode_landing_parts(rows, streams, compress=store.is_s3))
    return key


def write_landing_once(
    store: ObjectStore,
    tenant: str,
    name: str,
    table: pa.Table,
    metadata: dict[str, str] | None = None,
) -> str | None:
    """Durably write a landing object named `name` (no folder, no suffix) only if no object
    has that key yet (create-if-absent); its key, or None when another writer was first."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid landing object name {name!r}")
    key = f"{layout.landing_prefix(tenant)}/{name}.arrow"
    data = encode_landing(table, compress=store.is_s3, metadata=metadata)
    return key if store.put_if_absent(key, data) else None


def list_landing(store: ObjectStore, tenant: str | None = None) -> list[ObjectInfo]:
    """Landing objects, oldest first, for one tenant or all of them."""
    return [o for o in store.list(layout.landing_prefix(tenant)) if o.key.endswith(".arrow")]


def landing_tenants(store: ObjectStore) -> list[str]:
    """Tenants that have landing objects folders."""
    return [layout.tenant_of_dir(d) for d in store.list_dirs(layout.LANDING)]


@dataclass
class _Pending:
    tenant: str
    rows: pa.Table
    streams: pa.Table
    size: int
    future: Future[str] = field(default_factory=Future)


@dataclass
class CommitStats:
    """What the group committer has done; the server exports it on `/metrics`."""

    objects: int = 0
    requests: int = 0
    rows: int = 0
    failures: int = 0
    seconds: float = 0.0


class GroupCommitter:
    """Batches concurrent landing writes into few durable objects (group commit).

    `submit()` (an entry table) and `submit_parts()` (rows and streams, as
    `encode_landing_parts` takes them: nothing to split) return a future that resolves to the
    landing key once the batch is durable. The writer holds an object open at most
    `max_wait_s` for batches that are `announce()`d, and `settle_s` for more when the
    previous object was shared by several requests.
    """

    def __init__(
        self,
        store: ObjectStore,
        max_bytes: int = 64 * 1024 * 1024,
        max_wait_s: float = 0.01,
        settle_s: float = 0.003,
    ) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.max_wait_s = max_wait_s
        self.settle_s = settle_s
        self.stats = CommitStats()
        self._queue: list[_Pending] = []
        self._queued_bytes = 0
        self._announced = 0
        self._shared = False
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="landing-writer", daemon=True)
        self._thread.start()

    def submit(self, tenant: str, table: pa.Table) -> Future[str]:
        """Queue a batch for the next group commit."""
        return self.submit_parts(tenant, *split_entries(table))

    def submit_parts(self, tenant: str, rows: pa.Table, streams: pa.Table) -> Future[str]:
        """Queue a batch given as (per-row columns, streams table) for the next group commit."""
        pending = _Pending(tenant, rows, streams, rows.get_total_buffer_size())
        with self._cond:
            if self._closed:
                raise RuntimeError("landing writer is closed")
            self._queue.append(pending)
            self._queued_bytes += pending.size
            self._cond.notify()
        return pending.future

    @contextlib.contextmanager
    def announce(self) -> Iterator[None]:
        """Within this block a batch is being prepared and will likely be submitted: the
        writer holds its next object open for it (at most `max_wait_s` after that object's
        first batch), so that concurrent requests share one object."""
        with self._cond:
            self._announced += 1
        try:
            yield
        finally:
            with self._cond:
                self._announced -= 1
                self._cond.notify()

    def write(self, tenant: str, table: pa.Table) -> str:
        """Submit and wait until durable."""
        return self.submit(tenant, table).result()

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _take(self) -> list[_Pending]:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            # Hold the object open while a request is being prepared; and, when the previous
            # object was shared (a busy server), for `settle_s` anyway: the next request is
            # then likely on its way. A lone pusher pays no wait.
            started = time.monotonic()
            deadline = started + self.max_wait_s
            settle = started + (min(self.settle_s, self.max_wait_s) if self._shared else 0.0)
            while not self._closed and self._queued_bytes < self.max_bytes:
                remaining = (deadline if self._announced else settle) - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch, size = [], 0
            while self._queue and (not batch or size < self.max_bytes):
                item = self._queue.pop(0)
                batch.append(item)
                size += item.size
            self._queued_bytes -= size
            self._shared = len(batch) > 1
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            by_tenant: dict[str, list[_Pending]] = defaultdict(list)
            for item in batch:
                by_tenant[item.tenant].append(item)
            for tenant, items in by_tenant.items():
                started = time.perf_counter()
                try:
                    rows = pa.concat_tables([i.rows for i in items])
                    streams = streams_of(pa.concat_tables([i.streams for i in items]))
                    key = write_landing_parts(self.store, tenant, rows, streams)
                except BaseException as exc:  # every waiter must hear about the failure
                    self.stats.failures += 1
                    for item in items:
                        item.future.set_exception(exc)
                    continue
                self.stats.objects += 1
                self.stats.requests += len(items)
                self.stats.rows += rows.num_rows
                self.stats.seconds += time.perf_counter() - started
                for item in items:
                    item.future.set_result(key)
