"""The batch Hubble decoder gives, value for value, what `decode_hubble_line` gives (labels
in the same order, timestamps, lines, error messages), and a `hubble` batch of records
decodes into the same streams as record by record — for the real flows of the shared data
and for every kind of value the fast path hands back to `decode_hubble_line`."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from loglake.hubble.flows import HubbleDecodeError, decode_hubble_line, decode_hubble_values
from loglake.kafka.records import Record, decode_batch

HUBBLE = Path(__file__).resolve().parents[4] / "shared" / "data" / "hubble"
NOW = 1_763_000_000 * 10**9

FLOW = (
    b'{"flow":{"time":"2024-05-01T10:00:00.%09dZ","verdict":"%s","source":{"namespace":"%s"},'
    b'"destination":{"namespace":"db","labels":["k8s:app=db"]},"l4":{"TCP":{"destination_port"'
    b':5432}}},"node_name":"kind-worker","time":"2024-05-01T10:00:00.5Z"}'
)
TRICKY = [
    b'{"flow":{"time":"2021-11-10T11:40:56.8718501+01:00","verdict":"DROPPED"}}',  # offset
    b'{"flow":{"time":"2021-11-10t10:40:56z"}}',  # lower-case t/z
    b'{"flow":{"time":"2021-11-10T10:40:60Z"}}',  # leap second: rejected
    b'{"flow":{"time":"2021-02-29T00:00:00Z"}}',  # no such day
    b'{"flow":{"time":"0001-01-01T00:00:00Z"}}',  # outside Arrow's nanosecond range
    b'{"flow":{"time":"9999-12-31T23:59:59Z"}}',  # beyond an int64 of nanoseconds
    b'{"flow":{"time":"2021-11-10T10:40:56.\xd9\xa1Z"}}',  # non-ASCII digit
    b'{"flow":{"time":""},"time":"1970-01-01T00:00:01Z"}',  # empty flow.time: envelope's
    b'{"flow":{"time":""},"time":""}',
    b'{"flow":{}}',  # no time at all: the record's
    b'{"flow":{"verdict":null}}',
    b'{"flow":{"verdict":"A","source":{"namespace":"a"},"destination":{"namespace":"b"},'
    b'"x":null},"node_name":"n"}',  # null in a field not read
    b'{"flow":{"verdict":"A","source":{"namespace":"a"},"destination":{"namespace":"b"}},'
    b'"node_name":null}',
    b'{"flow":{"verdict":"A","node_name":null,"source":{"namespace":"a"},'
    b'"destination":{"namespace":"b"}},"node_name":""}',
    b'{"flow":{"verdict":"A","node_name":null,"source":{"namespace":"a"},'
    b'"destination":{"namespace":"b"}},"node_name":"n"}',  # flow.node_name not read
    b'{"flow":{"verdict":"A","source":{"namespace":null},"destination":{}},"node_name":"n"}',
    b'{"flow":{"time":null,"verdict":"A"},"time":"2021-11-10T10:40:56Z","node_name":"n"}',
    b'{"flow":{"verdict":"nullish"},"node_name":"n"}',
    b'{"flow":{"source":{"namespace":"a"},"destination":null}}',
    b'{"flow":{"verdict":1}}',
    b'{"flow":"x"}',
    b'{"flow":{"source":[]}}',
    b'{"flow":{"verdict":"A","verdict":"B"}}',  # duplicate key: the last one wins
    b'{"flow":{"verdict":"\\u0041","node_name":"fn"},"node_name":""}',
    b'{"flow":{"verdict":"\\ud800"}}',  # lone surrogate
    b'{"flow":{"verdict":"\xff"}}',  # not UTF-8
    b'{"flow":{"x":NaN}}',
    b'{"flow": ',
    b"",
    b"   ",
    b"[1]",
    b'\xef\xbb\xbf{"flow":{}}',
    b'{"flow":{}} ',
    b'{"flow":{"verdict":"X"}}\r\n',
    b'{"flow":{}}{"flow":{}}',
    b'{"flow":{"verdict":"A"}}{"flow":',  # with the next one, two objects: still two errors
    b'{"verdict":"B"}}',
    b'{"node_status":{"node_name":"a"},"time":"2021-11-10T10:40:56Z"}',
    b'{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":3}}',
    b'{"verdict":"DROPPED","time":"2021-11-10T10:40:56Z"}',  # bare Flow
    b'{"flow":{\n"verdict":"Y","time":"2021-11-10T10:40:56Z"}}',
]


def shared_flows() -> list[bytes]:
    lines = [
        line
        for path in sorted(HUBBLE.glob("*.json"))
        for line in path.read_bytes().splitlines()
        if line.strip()
    ]
    if not lines:
        pytest.skip(f"no Hubble captures under {HUBBLE}")
    return lines


def one_by_one(values: list[bytes], default) -> list:
    out = []
    for i, value in enumerate(values):
        try:
            entry = decode_hubble_line(value, default_ts_ns=default(i) if default else None)
        except HubbleDecodeError as err:
            out.append(("error", str(err)))
        else:
            out.append((list(entry.labels.items()), entry.ts_ns, entry.line.encode()))
    return out


def batched(values: list[bytes], default) -> list:
    batch = decode_hubble_values(values, default_ts_ns=default)
    out = []
    for i in range(len(values)):
        if i in batch.errors:
            assert batch.label_index[i] == -1
            out.append(("error", str(batch.errors[i])))
        else:
            labels = batch.label_sets[batch.label_index[i]]
            out.append((list(labels.items()), int(batch.ts_ns[i]), batch.lines[i]))
    return out


def generated(n: int) -> list[bytes]:
    verdicts = [b"FORWARDED", b"DROPPED", b""]
    return [FLOW % (i, verdicts[i % 3], b"shop" if i % 2 else b"") for i in range(n)]


@pytest.mark.parametrize("default", [None, lambda i: 42 + i], ids=["no-default", "default"])
def test_batch_decoding_equals_line_by_line_on_tricky_values(default):
    random.seed(7)
    values = generated(300) + TRICKY * 2
    random.shuffle(values)
    assert batched(values, default) == one_by_one(values, default)
    assert batched(TRICKY, default) == one_by_one(TRICKY, default)


def test_batch_decoding_equals_line_by_line_on_the_shared_hubble_flows():
    values = shared_flows()
    assert batched(values, lambda i: i) == one_by_one(values, lambda i: i)


def test_hubble_records_decode_into_the_same_streams_batched_or_not():
    values = generated(200) + TRICKY
    random.seed(3)
    random.shuffle(values)
    records = [Record("t", 0, i, None, v, 1_700_000_000_000 + i) for i, v in enumerate(values)]

    def labels(_record):
        return {"job": "kafka", "node": "configured"}

    options = {"use_incoming_timestamp": False, "now_ns": NOW}
    fast = decode_batch(records, "hubble", labels, same_labels=True, **options)
    slow = decode_batch(records, "hubble", labels, same_labels=False, **options)

    def shape(result):
        batch, errors = result
        streams = batch.streams()
        return (
            [
                (
                    s.labels,
                    s.ts,
                    [line if isinstance(line, bytes) else line.encode() for line in s.lines],
                )
                for s in streams
            ],
            [(e.record.offset, e.reason, e.details) for e in errors],
        )

    assert shape(fast) == shape(slow)
    assert len(fast[0].streams()) > 3 and len(fast[1]) > 10
