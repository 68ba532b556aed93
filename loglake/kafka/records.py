"""Kafka records → decoded entries, per format; `RecordError` for a record that is bad.

Main interface: `decode_batch(records, fmt, label_fn, ...)` decodes the records of one
partition batch into a `DecodedBatch` for `loglake.ingest.push.build_entries` (which
applies Loki's label and line checks; `DecodedBatch.streams()` gives them per stream),
and reports each undecodable record as a `RecordError` instead of raising, so one bad record
never blocks its partition.

Formats (see `KafkaIngestConfig`):

- `raw`: the value bytes are the line, unchanged (as `loki.source.kafka`); the timestamp is
  the record's (`use_incoming_timestamp`) or the read time; records with equal labels share
  one stream, so a batch is usually one stream.
- `hubble`: `decode_hubble_line` — `flow.time` (else the record time), labels `job`,
  `node`, `verdict`, namespaces; the JSON is the line. A batch whose records share their
  configured labels is decoded at once (`decode_hubble_values`, same result).
- `loki-push`: a push body per record — JSON when it starts with `{`, else snappy protobuf
  (what `/loki/api/v1/push` takes); stream labels win over configured ones.
- `otlp-json`: `otlp.decode_otlp_json`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, overload

import numpy as np
import pyarrow as pa
from confluent_kafka import Message

from loglake.hubble.flows import decode_hubble_line, decode_hubble_values
from loglake.ingest.errors import PushError
from loglake.ingest.labels import LabelParseError, labels_text, parse_labels
from loglake.ingest.push import DecodedBatch, DecodedStream, decode_push
from loglake.kafka.otlp import decode_otlp_json


class Record(NamedTuple):
    """The parts of a Kafka record ingestion uses (a tuple: a consumer makes one per
    record, and a frozen dataclass costs ten times as much to build)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None


class MessageRecords(Sequence[Record]):
    """The records of one partition as the consumer read them (confluent-kafka `Message`s),
    each turned into a `Record` only when asked for: the batch decoders read the values (and
    timestamps) of all of them at once (`record_values`, `record_timestamps_ns`), which
    costs a fraction of building a tuple per record."""

    __slots__ = ("messages", "partition", "topic", "values")

    def __init__(
        self,
        topic: str,
        partition: int,
        messages: list[Message],
        values: list[bytes | None] | None = None,
    ) -> None:
        self.topic, self.partition, self.messages = topic, partition, messages
        self.values = values
        """The messages' values, when the consumer read them already."""

    def __len__(self) -> int:
        return len(self.messages)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...
    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        if isinstance(index, slice):
            return [self._record(m) for m in self.messages[index]]
        return self._record(self.messages[index])

    def _record(self, message: Message) -> Record:
        kind, ts = message.timestamp()
        return Record(
            self.topic,
            self.partition,
            message.offset(),
            message.key(),
            message.value(),
            ts if kind != 0 else None,  # 0: TIMESTAMP_NOT_AVAILABLE
        )


def record_values(records: Sequence[Record]) -> list[bytes]:
    """The values of the records (b"" for a null value), in order."""
    if isinstance(records, MessageRecords):
        values = records.values or list(map(Message.value, records.messages))
    else:
        values = [record.value for record in records]
    if None in values:
        values = [value or b"" for value in values]
    return values


def record_timestamps_ns(records: Sequence[Record], fallback_ns: int) -> list[int]:
    """`record_ts_ns` of every record, in order."""
    if not isinstance(records, MessageRecords):
        return [record_ts_ns(record, fallback_ns) for record in records]
    return [
        ts * 1_000_000 if kind != 0 and ts >= 0 else fallback_ns
        for kind, ts in map(Message.timestamp, records.messages)
    ]


@dataclass(frozen=True, slots=True)
class RecordError:
    """A record that could not be decoded or whose entries Loki's checks reject."""

    record: Record
    reason: str
    """Short code, the `__error__` value and the `reason` metric label."""
    details: str


def record_labels(
    record: Record,
    static: Mapping[str, str],
    meta: Mapping[str, str],
    group_id: str,
    member_id: str = "",
) -> dict[str, str]:
    """Configured labels plus the kept `__meta_kafka_*` values of this record.

    >>> r = Record("logs", 3, 7, None, b"x", None)
    >>> record_labels(r, {"job": "app"}, {"__meta_kafka_topic": "topic",
    ...     "__meta_kafka_message_key": "key"}, "g")
    {'job': 'app', 'topic': 'logs', 'key': 'none'}
    """
    labels = dict(static)
    for name, target in meta.items():
        if name == "__meta_kafka_topic":
            labels[target] = record.topic
        elif name == "__meta_kafka_partition":
            labels[target] = str(record.partition)
        elif name == "__meta_kafka_group_id":
            labels[target] = group_id
        elif name == "__meta_kafka_member_id":
            labels[target] = member_id
        elif name == "__meta_kafka_message_offset":
            labels[target] = str(record.offset)
        elif name == "__meta_kafka_message_key":
            labels[target] = record.key.decode("utf-8", "replace") if record.key else "none"
    return labels


def record_ts_ns(record: Record, fallback_ns: int) -> int:
    """The record's timestamp in ns, or `fallback_ns` when the broker gave none."""
    if record.timestamp_ms is None or record.timestamp_ms < 0:
        return fallback_ns
    return record.timestamp_ms * 1_000_000


class _Streams:
    """Entries grouped by label text, in first-seen order."""

    def __init__(self) -> None:
        self.by_text: dict[str, DecodedStream] = {}
        self._text_cache: dict[tuple[tuple[str, str], ...], str] = {}

    def text(self, labels: Mapping[str, str]) -> str:
        key = tuple(sorted(labels.items()))
        text = self._text_cache.get(key)
        if text is None:
            text = self._text_cache[key] = labels_text(labels)
        return text

    def add(self, text: str, ts: int, line: str | bytes, metadata: tuple | None = None) -> None:
        stream = self.by_text.get(text)
        if stream is None:
            stream = self.by_text[text] = DecodedStream(text, [], [], None)
        if metadata and stream.metadata is None:
            stream.metadata = [()] * len(stream.ts)
        stream.ts.append(ts)
        stream.lines.append(line)
        if stream.metadata is not None:
            stream.metadata.append(metadata or ())


def decode_record(
    record: Record,
    fmt: str,
    base_labels: Mapping[str, str],
    *,
    use_incoming_timestamp: bool,
    now_ns: int,
) -> list[DecodedStream]:
    """One record's streams; raises ValueError (`RecordError` material) when it is bad."""
    out = _Streams()
    _decode_into(out, record, fmt, base_labels, use_incoming_timestamp, now_ns)
    return list(out.by_text.values())


def _decode_into(
    out: _Streams,
    record: Record,
    fmt: str,
    base_labels: Mapping[str, str],
    use_incoming_timestamp: bool,
    now_ns: int,
) -> None:
    value = record.value or b""
    if fmt == "raw":
        ts = record_ts_ns(record, now_ns) if use_incoming_timestamp else now_ns
        out.add(out.text(base_labels), ts, value)
    elif fmt == "hubble":
        entry = decode_hubble_line(value, default_ts_ns=record_ts_ns(record, now_ns))
        out.add(out.text({**base_labels, **entry.labels}), entry.ts_ns, entry.line)
    elif fmt == "loki-push":
        if not value.strip():
            raise ValueError("empty record")
        is_json = value.lstrip()[:1] == b"{"
        content_type = "application/json" if is_json else "application/x-protobuf"
        try:
            streams = decode_push(value, content_type, None)
        except PushError as err:
            raise ValueError(err.message) from None
        for stream in streams:
            # Loki's label text parser runs later in build_entries; configured labels only
            # fill names the stream lacks, so they are appended as text and parsed once.
            text = _merge_label_text(stream.labels, base_labels)
            for i, (ts, line) in enumerate(zip(stream.ts, stream.lines, strict=True)):
                meta = stream.metadata[i] if stream.metadata else None
                out.add(text, ts, line, meta)
    elif fmt == "otlp-json":
        for labels, ts, line, metadata in decode_otlp_json(value, default_ts_ns=now_ns):
            out.add(out.text({**base_labels, **labels}), ts, line, metadata)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def _merge_label_text(text: str, base: Mapping[str, str]) -> str:
    """Stream label text with the configured labels it lacks added (parsed later)."""
    if not base:
        return text
    try:
        own = dict(parse_labels(text))
    except LabelParseError:
        return text  # build_entries reports it with Loki's message
    return labels_text({**base, **own})


def decode_batch(
    records: Sequence[Record],
    fmt: str,
    label_fn: Callable[[Record], Mapping[str, str]],
    *,
    use_incoming_timestamp: bool,
    now_ns: int,
    same_labels: bool = False,
) -> tuple[DecodedBatch, list[RecordError]]:
    """Decode a batch of records: (the entries of the good ones, the bad ones).

    `label_fn(record)` gives a record's configured + `__meta_kafka_*` labels; with
    `same_labels` it gives every record the same ones, and `raw` and `hubble` batches are
    then built as Arrow columns without a Python object per record beyond its value.
    """
    if fmt == "raw" and same_labels and records:
        labels = labels_text(label_fn(records[0]))
        lines = pa.array(record_values(records), pa.binary())
        if use_incoming_timestamp:
            ts = pa.array(record_timestamps_ns(records, now_ns), pa.int64())
        else:
            ts = pa.repeat(pa.scalar(now_ns, pa.int64()), len(records))
        return DecodedBatch([labels], [0, len(records)], ts, lines), []
    if fmt == "hubble" and same_labels and records:
        return _decode_hubble_batch(records, label_fn(records[0]), now_ns)
    out = _Streams()
    errors: list[RecordError] = []
    for record in records:
        try:
            _decode_into(out, record, fmt, label_fn(record), use_incoming_timestamp, now_ns)
        except ValueError as err:  # HubbleDecodeError, OtlpDecodeError, UnicodeDecodeError
            reason = "invalid_json" if "JSON" in str(err) else "invalid_record"
            errors.append(RecordError(record, reason, f"{fmt}: {err}"))
    return DecodedBatch.from_streams(list(out.by_text.values())), errors


def _decode_hubble_batch(
    records: Sequence[Record], base_labels: Mapping[str, str], now_ns: int
) -> tuple[DecodedBatch, list[RecordError]]:
    """`decode_batch` of `hubble` records sharing `base_labels`, decoded at once: the same
    streams (first seen first, rows in record order) and errors as record by record.

    Rows are grouped by stream with array operations; the lines are known to be UTF-8
    (`decode_hubble_values` rejects the others), so they become a string column as they are.
    """
    batch = decode_hubble_values(
        record_values(records), default_ts_ns=lambda i: record_ts_ns(records[i], now_ns)
    )
    errors = []
    for i, err in sorted(batch.errors.items()):
        reason = "invalid_json" if "JSON" in str(err) else "invalid_record"
        errors.append(RecordError(records[i], reason, f"hubble: {err}"))
    codes = batch.label_index
    rows = np.flatnonzero(codes >= 0)
    if not len(rows):
        return DecodedBatch.from_streams([]), errors
    # Label sets the configured labels make equal share one stream; streams are numbered
    # by their first row.
    texts = [labels_text({**base_labels, **labels}) for labels in batch.label_sets]
    used, first = np.unique(codes[rows], return_index=True)
    first_row: dict[str, int] = {}
    for code, row in zip(used.tolist(), rows[first].tolist(), strict=True):
        text = texts[code]
        first_row[text] = min(row, first_row.get(text, row))
    order = sorted(first_row, key=first_row.__getitem__)
    number = {text: n for n, text in enumerate(order)}
    stream_of_code = np.asarray([number.get(text, -1) for text in texts], np.int64)
    row_stream = stream_of_code[codes[rows]]
    rows = rows[np.argsort(row_stream, kind="stable")]
    offsets = np.concatenate(([0], np.cumsum(np.bincount(row_stream, minlength=len(order)))))
    if len(rows) == len(codes) and len(order) == 1:
        lines, ts = batch.lines, batch.ts_ns
    else:  # reordering references costs less than reordering the copied lines
        lines = [batch.lines[i] for i in rows.tolist()]
        ts = batch.ts_ns[rows]
    lines_array = pa.array(lines, pa.binary()).view(pa.string())
    return DecodedBatch(order, offsets.tolist(), pa.array(ts, pa.int64()), lines_array), errors
