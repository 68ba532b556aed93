"""One partition batch of records → the entries to land (rows, streams), and its bad records.

Main interface: `build_batch(records, ...)` → `Batch`. Records are decoded
(`records.decode_batch`) and checked with Loki's distributor rules for the tenant
(`loglake.ingest.push.build_entries`: label names and limits, line size, sample age, UTF-8,
structured metadata). A record is all or nothing: when any of its entries is rejected the
whole record is bad, so a dead-lettered record can be replayed without duplicating part of
it. The rare batch with a rejection is re-checked record by record to find the culprits;
the common clean batch is checked in one pass.

With `on_error="label"` every bad record becomes one entry that keeps the record's
configured labels, has the raw value (cut to `max_line_size`, invalid UTF-8 replaced) as
its line, and `__error__` (the reason, Loki's discard reason names where Loki has one),
`__error_details__` and `kafka_source` (`topic/partition/offset`) as structured metadata.
Its timestamp is the record's (else the read time) plus the offset modulo 10^6 as
nanoseconds, so identical bad records stay distinct entries instead of being answered once
as identical (stream, ts, line) entries are. With the metadata,
`{topic="x"} | __error__ != ""` finds them and `| __error__ = ""` leaves them out, as for
Loki's own parser errors. Stream labels cannot carry them: `__` names are reserved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from loglake.config import Limits
from loglake.ingest.labels import labels_text, resolve_stream
from loglake.ingest.push import build_entries
from loglake.kafka.records import (
    Record,
    RecordError,
    decode_batch,
    decode_record,
    record_ts_ns,
)
from storage.landing import ROW_SCHEMA, split_entries
from storage.schema import ENTRY_SCHEMA, LABELS_TYPE, STREAMS_SCHEMA, streams_of, with_labels

MAX_ERROR_DETAILS = 1024
"""Bytes of `__error_details__` kept: enough to act on, small against metadata limits."""


@dataclass
class Batch:
    """What a partition batch lands and what it could not.

    The entries come as a landing object holds them (`storage.landing.encode_landing_parts`):
    `rows` without labels and `streams` with each stream's labels once, so that nothing
    builds a labels map per row only for landing to split it again.
    """

    rows: pa.Table
    """The entries to land, `storage.landing.ROW_SCHEMA`."""
    streams: pa.Table
    """(fingerprint, labels) of every stream of `rows`, once each: `STREAMS_SCHEMA`."""
    bad: list[RecordError] = field(default_factory=list)

    @property
    def table(self) -> pa.Table:
        """The entries with their labels on every row (`ENTRY_SCHEMA`)."""
        return with_labels(self.rows, self.streams)


def build_batch(
    records: Sequence[Record],
    fmt: str,
    label_fn: Callable[[Record], Mapping[str, str]],
    limits: Limits,
    tenant: str,
    *,
    use_incoming_timestamp: bool,
    now_ns: int,
    on_error: str,
    same_labels: bool = False,
) -> Batch:
    """Decode and validate a batch; see the module docstring. `same_labels`: `label_fn`
    gives every record the same labels."""
    options = {"use_incoming_timestamp": use_incoming_timestamp, "now_ns": now_ns}
    decoded, bad = decode_batch(records, fmt, label_fn, same_labels=same_labels, **options)
    parts: list[tuple[pa.Table, pa.Table]] = []
    if decoded.labels:
        result = build_entries(decoded, limits, tenant, now_ns)
        if result.error is None:
            parts.append((result.rows, result.stream_labels))
        else:
            failed = {id(e.record) for e in bad}
            for record in records:
                if id(record) in failed:
                    continue
                own = decode_record(record, fmt, label_fn(record), **options)
                checked = build_entries(own, limits, tenant, now_ns)
                if checked.error is None:
                    parts.append((checked.rows, checked.stream_labels))
                    continue
                reason = next(iter(checked.discarded), "invalid_labels")
                bad.append(RecordError(record, reason, checked.error.message))
    if bad and on_error == "label":
        parts.append(split_entries(error_entries(bad, label_fn, limits, now_ns)))
    if not parts:
        return Batch(ROW_SCHEMA.empty_table(), STREAMS_SCHEMA.empty_table(), bad)
    if len(parts) == 1:
        return Batch(*parts[0], bad)
    rows = pa.concat_tables([rows for rows, _ in parts])
    streams = streams_of(pa.concat_tables([streams for _, streams in parts]))
    return Batch(rows, streams, bad)


def error_entries(
    bad: Sequence[RecordError],
    label_fn: Callable[[Record], Mapping[str, str]],
    limits: Limits,
    now_ns: int,
) -> pa.Table:
    """One `__error__` entry per bad record (see the module docstring)."""
    discover = tuple(limits.discover_service_name)
    fingerprints, stamps, labels, lines, metadata = [], [], [], [], []
    for error in bad:
        stream = resolve_stream(labels_text(label_fn(error.record)), discover)
        raw = error.record.value or b""
        if limits.max_line_size and len(raw) > limits.max_line_size:
            raw = raw[: limits.max_line_size]
        details = error.details.encode()[:MAX_ERROR_DETAILS].decode("utf-8", "ignore")
        record = error.record
        fingerprints.append(stream.fingerprint)
        labels.append(list(stream.labels))
        lines.append(raw.decode("utf-8", "replace"))
        stamps.append(record_ts_ns(record, now_ns) + record.offset % 1_000_000)
        source = f"{record.topic}/{record.partition}/{record.offset}"
        metadata.append(
            [("__error__", error.reason), ("__error_details__", details), ("kafka_source", source)]
        )
    return pa.Table.from_arrays(
        [
            pa.array(fingerprints, pa.int64()),
            pa.array(stamps, pa.int64()),
            pa.array(lines, pa.string()),
            pa.array(labels, LABELS_TYPE),
            pa.array(metadata, LABELS_TYPE),
        ],
        schema=ENTRY_SCHEMA,
    )
