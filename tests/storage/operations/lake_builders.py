"""Lakes for the operations tests: many small flushes of known entries (read back with
`query_rows`)."""

from __future__ import annotations

import pyarrow as pa

from storage.flush import flush
from storage.landing import write_landing
from storage.objectstore import ObjectStore
from tests.storage.helpers import T0, entries

STREAMS = {
    1: {"service_name": "api", "env": "prod"},
    2: {"service_name": "api", "env": "dev"},
    3: {"service_name": "db", "env": "prod", "namespace": "dev"},
}
SECOND = 1_000_000_000


def small_flushes(
    store: ObjectStore,
    tenant: str = "t",
    flushes: int = 6,
    per_stream: int = 20,
    start: int = T0,
    step: int = 60 * SECOND,
) -> list[tuple[int, int, str]]:
    """Flush `flushes` rounds of entries for every stream; returns (fp, ts, line) written.

    Rounds interleave in time, so streams' chunk ranges overlap as with real shippers.
    """
    written = []
    for round_ in range(flushes):
        for fp, labels in STREAMS.items():
            stamps = [start + (i * flushes + round_) * step for i in range(per_stream)]
            lines = [
                f"{labels['service_name']} fp={fp} n={ts} level={'error' if i % 3 else 'info'}"
                for i, ts in enumerate(stamps)
            ]
            write_landing(store, tenant, entries(fp, labels, stamps, lines))
            written.extend((fp, ts, line) for ts, line in zip(stamps, lines, strict=True))
        flush(store)
    return written


def chunk_rows(store: ObjectStore, tenant: str, day: str) -> pa.Table:
    """Rows actually stored in the latest manifest's chunks of a day (no dedup)."""
    from storage import manifest
    from storage.chunks import read_chunk

    m = manifest.load_latest(store, tenant, day)
    return pa.concat_tables([read_chunk(store, k) for k in m.chunk_keys()])
