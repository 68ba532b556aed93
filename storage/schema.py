"""Arrow schemas shared by landing objects, chunks and the label manifest.

`ENTRY_SCHEMA` is the one shape an entry has everywhere in the lake: decoders produce it,
landing objects store it, chunks store it (sorted by fingerprint, ts). Keeping it in one
place is what lets DuckDB, Polars, Spark or Trino read any chunk without loglake.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

LABELS_TYPE = pa.map_(pa.string(), pa.string())

ENTRY_SCHEMA = pa.schema(
    [
        pa.field("fingerprint", pa.int64(), nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
        pa.field("line", pa.string(), nullable=False),
        pa.field("labels", LABELS_TYPE, nullable=False),
        pa.field("structured_metadata", LABELS_TYPE, nullable=False),
    ]
)
"""An entry: stream fingerprint (signed view of the 64-bit hash), timestamp in Unix
nanoseconds, the UTF-8 line, the stream labels and the structured metadata."""

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("chunk", pa.string(), nullable=False),
        pa.field("fingerprint", pa.int64(), nullable=False),
        pa.field("labels", LABELS_TYPE, nullable=False),
        pa.field("min_ts", pa.int64(), nullable=False),
        pa.field("max_ts", pa.int64(), nullable=False),
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("metadata_rows", pa.int64(), nullable=True),
    ]
)
"""One row per (chunk, stream): the chunk references. The streams table (fingerprint →
labels, first/last ts, lines, bytes) is the same rows grouped by fingerprint.
`metadata_rows` counts the rows with structured metadata (null: not recorded, in manifests
written before the column), so readers can skip the metadata column of chunks that have
none."""


STREAMS_SCHEMA = pa.schema([ENTRY_SCHEMA.field("fingerprint"), ENTRY_SCHEMA.field("labels")])
"""A streams table: one row per fingerprint with its labels."""


def streams_of(table: pa.Table) -> pa.Table:
    """The distinct streams of an entry table: (fingerprint, labels), first seen first."""
    fps = table.column("fingerprint")
    unique = pc.unique(fps)
    first = pc.index_in(unique, value_set=fps)
    return pa.table(
        {"fingerprint": unique, "labels": table.column("labels").take(first)},
        schema=STREAMS_SCHEMA,
    )


def with_labels(rows: pa.Table, streams: pa.Table) -> pa.Table:
    """Entry table from per-row columns plus the streams table (labels by fingerprint)."""
    index = pc.index_in(rows.column("fingerprint"), value_set=streams.column("fingerprint"))
    labels = streams.column("labels").take(index)
    table = rows.append_column(ENTRY_SCHEMA.field("labels"), labels)
    return table.select(ENTRY_SCHEMA.names)
