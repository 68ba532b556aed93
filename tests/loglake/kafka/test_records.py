"""Record decoding and consumer settings without a broker: formats, labels, bad records."""

from __future__ import annotations

import json

import pytest

from loglake.config import Limits
from loglake.kafka.batch import build_batch
from loglake.kafka.config import KafkaIngestConfig
from loglake.kafka.otlp import decode_otlp_json
from loglake.kafka.records import Record, decode_batch, record_labels

NOW = 1_763_000_000 * 10**9


def rec(value: bytes, offset: int = 0, key: bytes | None = None) -> Record:
    return Record("logs", 0, offset, key, value, 1_700_000_000_000)


def test_raw_values_are_lines_unchanged_and_keys_become_labels_only_when_asked():
    meta = {"__meta_kafka_topic": "topic", "__meta_kafka_message_key": "key"}
    records = [rec(b"a b c", 0, b"k1"), rec(b'{"x":1}', 1, None)]

    def labels(r: Record):
        return record_labels(r, {"job": "j"}, meta, "g")

    batch, bad = decode_batch(records, "raw", labels, use_incoming_timestamp=True, now_ns=NOW)
    streams = batch.streams()
    assert bad == []
    assert [(s.labels, s.lines, s.ts) for s in streams] == [
        ('{job="j", key="k1", topic="logs"}', [b"a b c"], [1_700_000_000_000 * 10**6]),
        ('{job="j", key="none", topic="logs"}', [b'{"x":1}'], [1_700_000_000_000 * 10**6]),
    ]


def test_loki_push_stream_labels_win_over_configured_ones():
    body = {"streams": [{"stream": {"job": "own"}, "values": [["5", "hi"]]}]}
    batch, _ = decode_batch(
        [rec(json.dumps(body).encode())],
        "loki-push",
        lambda r: {"job": "conf", "env": "prod"},
        use_incoming_timestamp=False,
        now_ns=NOW,
    )
    streams = batch.streams()
    assert [(s.labels, s.ts, s.lines) for s in streams] == [
        ('{env="prod", job="own"}', [5], ["hi"])
    ]


def test_a_bad_record_in_a_batch_is_all_or_nothing():
    good = b'{"streams":[{"stream":{"a":"1"},"values":[["%d","ok"]]}]}' % NOW
    mixed = b'{"streams":[{"stream":{"a":"1"},"values":[["%d","ok2"],["%d","%s"]]}]}' % (
        NOW,
        NOW,
        b"x" * 300_000,
    )
    batch = build_batch(
        [rec(good, 0), rec(mixed, 1), rec(b"{nope", 2)],
        "loki-push",
        lambda r: {},
        Limits(),
        "t",
        use_incoming_timestamp=False,
        now_ns=NOW,
        on_error="dead-letter",
    )
    assert batch.table.column("line").to_pylist() == ["ok"]
    assert [(e.record.offset, e.reason) for e in batch.bad] == [
        (2, "invalid_json"),
        (1, "line_too_long"),
    ]


def test_otlp_non_string_bodies_are_json_and_observed_time_is_the_fallback():
    batch = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "observedTimeUnixNano": "7",
                                "body": {
                                    "kvlistValue": {
                                        "values": [{"key": "a", "value": {"boolValue": True}}]
                                    }
                                },
                                "traceId": "abc",
                            }
                        ]
                    }
                ]
            }
        ]
    }
    assert list(decode_otlp_json(json.dumps(batch), default_ts_ns=NOW)) == [
        ({}, 7, '{"a":true}', (("trace_id", "abc"),))
    ]


def test_otlp_resource_attributes_loki_indexes_by_default_become_labels():
    def attr(key: str, value: str) -> dict:
        return {"key": key, "value": {"stringValue": value}}

    batch = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        attr("deployment.environment.name", "prod"),
                        attr("service.name", "api"),
                        attr("host.name", "h1"),
                    ]
                },
                "scopeLogs": [
                    {"logRecords": [{"timeUnixNano": "5", "body": {"stringValue": "x"}}]}
                ],
            }
        ]
    }
    assert list(decode_otlp_json(json.dumps(batch), default_ts_ns=NOW)) == [
        (
            {"deployment_environment_name": "prod", "service_name": "api"},
            5,
            "x",
            (("host_name", "h1"),),
        )
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "csv"}, "format 'csv'"),
        ({"on_error": "dead-letter"}, "dead_letter_topic"),
        ({"labels": {"__x": "1"}}, "label name '__x'"),
        ({"meta_labels": {"__meta_kafka_nope": "x"}}, "__meta_kafka_nope"),
        ({"tenant": "a/b"}, "unsupported character"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(Exception, match=message):
        KafkaIngestConfig(brokers="127.0.0.1:1", topics=("t",), **kwargs)
