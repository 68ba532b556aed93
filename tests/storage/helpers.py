"""Small builders of entry tables for storage tests."""

from __future__ import annotations

import pyarrow as pa

from storage.schema import ENTRY_SCHEMA

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
