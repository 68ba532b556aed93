"""Small builders of entry tables for storage tests."""

from __future__ import annotations

import pyarrow as pa

from storage import duck
from storage.objectstore import ObjectStore
from storage.schema import ENTRY_SCHEMA
from storage.snapshot import take_snapshot

DAY = 86_400 * 1_000_000_000
T0 = 1_714_521_600 * 1_000_000_000  # 2024-05-01T00:00:00Z


def entries(
    fingerprint: int,
    labels: dict[str, str],
    timestamps: list[int],
    lines: list[str] | None = None,
    metadata: dict[str, str] | None = None,
) -> pa.Table:
    """An entry table of one stream."""
    n = len(timestamps)
    return pa.table(
        {
            "fingerprint": [fingerprint] * n,
            "ts": timestamps,
            "line": lines if lines is not None else [f"line ts={t}" for t in timestamps],
            "labels": [list(labels.items())] * n,
            "structured_metadata": [list((metadata or {}).items())] * n,
        },
        schema=ENTRY_SCHEMA,
    )


def query_rows(store: ObjectStore, tenant: str = "t") -> list[tuple[int, int, str]]:
    """Every (fingerprint, ts, line) the tenant's `logs` view returns, sorted."""
    con = duck.connect(store)
    try:
        duck.register_logs(con, store, take_snapshot(store, tenant))
        rows = con.execute("SELECT fingerprint, ts, line FROM logs").fetchall()
    finally:
        con.close()
    return sorted(rows)
