"""Record formats against a real broker: real Hubble flows then SQL, Loki push bodies
(JSON and protobuf), OTLP logs JSON, and poison records that never block a partition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from loglake.hubble.flows import decode_hubble_line
from loglake.ingest.push_proto import encode_push
from loglake.kafka import KafkaIngestConfig, ingest
from loglake.kafka.metrics import KafkaCollector, KafkaStats

HUBBLE = Path("/work/shared/data/hubble")
HUBBLE_FILES = sorted(HUBBLE.glob("*.json")) if HUBBLE.is_dir() else []
NOW_S = 1_763_000_000


def config(broker: str, topic: str, **kw) -> KafkaIngestConfig:
    kw.setdefault("batch_max_wait_s", 0.2)
    return KafkaIngestConfig(brokers=broker, topics=(topic,), **kw)


@pytest.mark.skipif(not HUBBLE_FILES, reason=f"real Hubble samples not found in {HUBBLE}")
def test_real_hubble_flows_through_a_topic_then_sql(kafka_broker, new_topic, produce, lake):
    lines = [
        line for path in HUBBLE_FILES for line in path.read_text().splitlines() if line.strip()
    ]
    expected = [decode_hubble_line(line) for line in lines]
    topic = new_topic(partitions=2)
    produce(topic, lines, partitions=2)
    report = ingest(lake, config(kafka_broker, topic, format="hubble"), max_seconds=60)
    assert report.records == len(lines) and report.bad_records == 0
    rows = lake.sql(
        "SELECT labels['verdict'] AS verdict, count(*) AS n, min(ts) AS lo, max(ts) AS hi "
        "FROM logs WHERE labels['job'] = 'hubble' GROUP BY 1 ORDER BY 1",
        "fake",
    ).to_pylist()
    # Identical (stream, ts, line) entries are answered once, as Loki does: the samples
    # repeat a few flows across files.
    unique = {(tuple(sorted(e.labels.items())), e.ts_ns, e.line): e for e in expected}
    by_verdict: dict[str, list[int]] = {}
    for entry in unique.values():
        by_verdict.setdefault(entry.labels.get("verdict"), []).append(entry.ts_ns)
    assert [(r["verdict"], r["n"], r["lo"], r["hi"]) for r in rows] == [
        (v, len(ts), min(ts), max(ts)) for v, ts in sorted(by_verdict.items())
    ]
    # The JSON is the line: flow fields are there for SQL (and LogQL `| json`).
    namespaces = lake.sql(
        "SELECT DISTINCT json_extract_string(line, '$.flow.source.namespace') AS ns FROM logs "
        "WHERE labels['source_namespace'] IS NOT NULL",
        "fake",
    ).column("ns")
    assert set(namespaces.to_pylist()) == {
        e.labels["source_namespace"] for e in expected if "source_namespace" in e.labels
    }
    lake.flush()
    assert lake.sql("SELECT count(*) AS n FROM logs", "fake").to_pylist() == [{"n": len(unique)}]


def test_loki_push_json_and_protobuf_records(kafka_broker, new_topic, produce, lake):
    topic = new_topic()
    json_body = {
        "streams": [
            {
                "stream": {"app": "cart", "env": "prod"},
                "values": [
                    [str(NOW_S * 10**9 + i), f"json {i}", {"trace_id": f"t{i}"}] for i in range(3)
                ],
            }
        ]
    }
    proto_body = encode_push(
        [('{app="pay"}', [(NOW_S * 10**9 + i, f"proto {i}") for i in range(4)])]
    )
    produce(topic, [json.dumps(json_body), proto_body])
    report = ingest(
        lake,
        config(kafka_broker, topic, format="loki-push", labels={"cluster": "c1"}),
        max_seconds=30,
    )
    assert report.records == 2 and report.lines == 7 and report.bad_records == 0
    rows = lake.sql(
        "SELECT line, ts, labels['app'] AS app, labels['cluster'] AS cluster, "
        "labels['topic'] AS topic, structured_metadata['trace_id'] AS trace "
        "FROM logs ORDER BY line",
        "fake",
    ).to_pylist()
    assert [(r["line"], r["app"], r["cluster"], r["topic"], r["trace"]) for r in rows] == [
        *[(f"json {i}", "cart", "c1", topic, f"t{i}") for i in range(3)],
        *[(f"proto {i}", "pay", "c1", topic, None) for i in range(4)],
    ]
    assert sorted(r["ts"] % 10 for r in rows) == [0, 0, 1, 1, 2, 2, 3]


def test_otlp_json_batches(kafka_broker, new_topic, produce, lake):
    def batch(service: str, n: int) -> str:
        records = [
            {
                "timeUnixNano": str(NOW_S * 10**9 + i),
                "severityText": "WARN",
                "body": {"stringValue": f"{service} msg {i}"},
                "attributes": [{"key": "http.status", "value": {"intValue": "503"}}],
            }
            for i in range(n)
        ]
        resource = [
            {"key": "service.name", "value": {"stringValue": service}},
            {"key": "k8s.namespace.name", "value": {"stringValue": "shop"}},
            {"key": "host.name", "value": {"stringValue": "node-1"}},
        ]
        return json.dumps(
            {
                "resourceLogs": [
                    {
                        "resource": {"attributes": resource},
                        "scopeLogs": [{"scope": {"name": "lib"}, "logRecords": records}],
                    }
                ]
            }
        )

    topic = new_topic()
    produce(topic, [batch("cart", 5), batch("pay", 3)])
    report = ingest(lake, config(kafka_broker, topic, format="otlp-json"), max_seconds=30)
    assert report.records == 2 and report.lines == 8
    rows = lake.sql(
        "SELECT labels['service_name'] AS svc, labels['k8s_namespace_name'] AS ns, "
        "structured_metadata['host_name'] AS host, structured_metadata['http_status'] AS status, "
        "structured_metadata['severity_text'] AS sev, structured_metadata['scope_name'] AS scope, "
        "count(*) AS n FROM logs GROUP BY ALL ORDER BY svc",
        "fake",
    ).to_pylist()
    assert rows == [
        {
            "svc": "cart",
            "ns": "shop",
            "host": "node-1",
            "status": "503",
            "sev": "WARN",
            "scope": "lib",
            "n": 5,
        },
        {
            "svc": "pay",
            "ns": "shop",
            "host": "node-1",
            "status": "503",
            "sev": "WARN",
            "scope": "lib",
            "n": 3,
        },
    ]


def _poison_topic(new_topic, produce) -> tuple[str, int]:
    topic = new_topic()
    good = '{"flow":{"time":"2024-05-01T10:00:00.%09dZ","verdict":"FORWARDED"},"node_name":"n1"}'
    values = []
    for i in range(300):
        values.append(good % i)
        if i % 100 == 50:
            values += ['{"flow": broken', "x" * 300_000, '{"not":"hubble"}']
    produce(topic, values)
    return topic, 300


def test_poison_records_are_stored_with_error_metadata(kafka_broker, new_topic, produce, lake):
    topic, good = _poison_topic(new_topic, produce)
    stats = KafkaStats()
    report = ingest(lake, config(kafka_broker, topic, format="hubble"), max_seconds=30, stats=stats)
    assert report.records == good + 9 and report.bad_records == 9 and report.lines == good + 9
    rows = lake.sql(
        "SELECT structured_metadata['__error__'] AS err, count(*) AS n, max(length(line)) AS len "
        "FROM logs GROUP BY 1 ORDER BY 1 NULLS FIRST",
        "fake",
    ).to_pylist()
    assert rows == [
        {"err": None, "n": good, "len": rows[0]["len"]},
        {"err": "invalid_json", "n": 6, "len": 256 * 1024},  # cut to max_line_size
        {"err": "invalid_record", "n": 3, "len": 16},
    ]
    metrics = {
        (m.name, tuple(s.labels.values())): s.value
        for m in KafkaCollector(stats).collect()
        for s in m.samples
    }
    bad = ("loglake", topic, "0", "invalid_json", "stored")
    assert metrics[("loglake_kafka_bad_records", bad)] == 6
    assert metrics[("loglake_kafka_records_consumed", ("loglake", topic, "0"))] == good + 9
    assert metrics[("loglake_kafka_lines_landed", ("loglake", topic, "0"))] == good + 9
    assert metrics[("loglake_kafka_landed_offset", ("loglake", topic, "0"))] == good + 9
    assert metrics[("loglake_kafka_consumer_lag", ("loglake", topic, "0"))] == 0


def test_poison_records_go_to_the_dead_letter_topic(kafka_broker, new_topic, produce, lake):
    topic, good = _poison_topic(new_topic, produce)
    dlq = new_topic(suffix="-dlq")
    cfg = config(
        kafka_broker, topic, format="hubble", on_error="dead-letter", dead_letter_topic=dlq
    )
    report = ingest(lake, cfg, max_seconds=30)
    assert report.dead_lettered == 9 and report.lines == good
    assert lake.sql("SELECT count(*) AS n FROM logs", "fake").to_pylist() == [{"n": good}]
    reader = Consumer(
        {
            "bootstrap.servers": kafka_broker,
            "group.id": "dlq-check",
            "auto.offset.reset": "earliest",
        }
    )
    reader.subscribe([dlq])
    got = []
    while len(got) < 9:
        got += [m for m in reader.consume(10, 5.0) if m.error() is None]
    reader.close()
    reasons = sorted(dict(m.headers())["loglake_error"].decode() for m in got)
    assert reasons == ["invalid_json"] * 6 + ["invalid_record"] * 3
    assert all(dict(m.headers())["loglake_source"].decode().startswith(f"{topic}/0/") for m in got)
