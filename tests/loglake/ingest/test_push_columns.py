"""The columnar protobuf path (`decode_push_batch` → `build_entries`) against upb's reading of
the same bodies: same entries, same accepted and refused bodies, same checks per row."""

from __future__ import annotations

import cramjam
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake.config import Limits
from loglake.ingest.decode import _metadata_pair
from loglake.ingest.errors import PushError
from loglake.ingest.push import DecodedBatch, build_entries, decode_push, decode_push_batch
from loglake.ingest.push_proto import PushRequest, encode_push

NOW = 1_700_000_000_000_000_000
PROTO = "application/x-protobuf"

label_texts = st.sampled_from(['{job="a"}', '{app="api", env="prod"}', '{x="1"}', "{}"])
lines = st.binary(max_size=40)  # includes bytes that are not UTF-8
names = st.sampled_from([b"trace_id", b"k8s.pod", b"1st", b"detected_level", b"\xff"])
metadata = st.lists(st.tuples(names, st.binary(max_size=8)), max_size=2)
entries = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(-(9 * 10**9), 9 * 10**9)),  # s; None: no timestamp
        st.integers(-(10**9), 2 * 10**9),  # nanos, also out of range
        lines,
        metadata,
    ),
    max_size=6,
)
requests = st.lists(st.tuples(label_texts, entries), max_size=5)


def serialize(streams) -> bytes:
    request = PushRequest()
    for labels, items in streams:
        stream = request.streams.add(labels=labels.encode())
        for seconds, nanos, line, pairs in items:
            entry = stream.entries.add(line=line)
            if seconds is not None:
                entry.timestamp.seconds, entry.timestamp.nanos = seconds, nanos
            for name, value in pairs:
                entry.structuredMetadata.add(name=name, value=value)
    return request.SerializeToString()


def upb_reading(raw: bytes) -> list[tuple]:
    """What the previous decoder made of a body: upb's message, walked entry by entry."""
    out = []
    for stream in PushRequest.FromString(raw).streams:
        ts = [e.timestamp.seconds * 10**9 + e.timestamp.nanos for e in stream.entries]
        pairs = [
            tuple(_metadata_pair(p.name, p.value) for p in e.structuredMetadata)
            for e in stream.entries
        ]
        out.append(
            (
                stream.labels.decode(),
                ts,
                [e.line for e in stream.entries],
                pairs if any(pairs) else None,
            )
        )
    return out


@settings(max_examples=100, deadline=None)
@given(requests)
def test_columns_hold_what_upb_reads(streams):
    raw = serialize(streams)
    decoded = decode_push(bytes(cramjam.snappy.compress_raw(raw)), PROTO, None)
    assert [(s.labels, s.ts, s.lines, s.metadata) for s in decoded] == upb_reading(raw)


@settings(max_examples=200, deadline=None)
@given(requests, st.data())
def test_bodies_upb_refuses_are_refused(streams, data):
    raw = bytearray(serialize(streams))
    if raw:
        if data.draw(st.booleans()):
            raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
        else:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = bytes(raw)
    body = bytes(cramjam.snappy.compress_raw(raw))
    try:
        decode_push_batch(body, PROTO, None)
    except PushError as err:
        assert refused_before(raw), err
        assert err.status == 400
    else:
        assert not refused_before(raw)


def refused_before(raw: bytes) -> bool:
    """Whether the previous decoder refused a body: upb could not parse it, or a stream's
    labels are not UTF-8."""
    try:
        request = PushRequest.FromString(raw)
    except DecodeError:
        return True
    try:
        [stream.labels.decode() for stream in request.streams]
    except UnicodeDecodeError:
        return True
    return False


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_each_row_gets_its_own_streams_labels(count):
    """Rows and streams stay aligned, whichever way rows are spread over streams (one
    kernel per stream for a few streams, one for all of them beyond)."""
    streams = [
        (f'{{app="s{i}"}}', [(NOW + j, f"s{i} line {j}") for j in range(i % 3)])
        for i in range(count)
    ]
    result = build_entries(decode_push_batch(encode_push(streams), PROTO, None), Limits(), "t", NOW)
    assert result.error is None
    rows = result.table.to_pylist()
    assert len(rows) == sum(i % 3 for i in range(count))
    for row in rows:
        assert dict(row["labels"])["app"] == row["line"].split()[0]
    by_fp = {}
    for row in rows:
        assert by_fp.setdefault(row["fingerprint"], row["labels"]) == row["labels"]
    assert result.streams == len(by_fp) == result.stream_labels.num_rows


def test_stream_labels_only_hold_streams_with_accepted_rows():
    old = NOW - 30 * 24 * 3_600_000_000_000
    body = encode_push([('{app="old"}', [(old, "x")]), ('{app="new"}', [(NOW, "y")])])
    result = build_entries(decode_push_batch(body, PROTO, None), Limits(), "t", NOW)
    assert result.error is not None and "timestamp too old" in result.error.message
    assert [
        dict(labels)["app"] for labels in result.stream_labels.column("labels").to_pylist()
    ] == ["new"]
    assert result.rows.column("line").to_pylist() == ["y"]


def test_valid_and_invalid_pushes_agree_on_the_rows_they_keep():
    """The all-valid fast path and the per-row path build the same rows."""
    good = [('{app="a"}', [(NOW, "one"), (NOW + 1, "two")]), ('{app="b"}', [(NOW + 2, "three")])]
    bad = [*good, ('{app="c"}', [(NOW + 10**15, "far future")])]
    fast = build_entries(decode_push_batch(encode_push(good), PROTO, None), Limits(), "t", NOW)
    slow = build_entries(decode_push_batch(encode_push(bad), PROTO, None), Limits(), "t", NOW)
    assert fast.error is None and slow.error is not None
    assert fast.table.equals(slow.table)
    assert (fast.lines, fast.bytes, fast.streams) == (slow.lines, slow.bytes, slow.streams)


def test_entry_without_timestamp_is_at_zero():
    raw = serialize([('{job="a"}', [(None, 0, b"no time", [])])])
    [batch_ts] = [decode_push_batch(bytes(cramjam.snappy.compress_raw(raw)), PROTO, None).ts]
    assert batch_ts.to_pylist() == [0]


def test_timestamp_beyond_int64_nanoseconds_is_refused_as_too_new():
    """Nanoseconds past 2262 do not fit int64: the decoder saturates, so the entry is refused
    by the sample-age check (400) instead of failing the request."""
    raw = serialize([('{job="a"}', [(2**62, 0, b"far", [])])])
    batch = decode_push_batch(bytes(cramjam.snappy.compress_raw(raw)), PROTO, None)
    result = build_entries(batch, Limits(), "t", NOW)
    assert result.lines == 0
    assert result.error is not None and result.error.status == 400
    assert "timestamp too new" in result.error.message


def test_streams_and_batch_convert_both_ways():
    body = encode_push([('{a="1"}', [(1, "x", {"k": "v"}), (2, "y")]), ('{b="2"}', [(3, "z")])])
    streams = decode_push(body, PROTO, None)
    again = DecodedBatch.from_streams(streams).streams()
    assert [(s.labels, s.ts, s.lines, s.metadata) for s in again] == [
        (s.labels, s.ts, s.lines, s.metadata) for s in streams
    ]
    assert streams[1].metadata is None
