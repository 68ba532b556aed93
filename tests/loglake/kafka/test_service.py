"""Consumers run by the server: their records, bytes, lag, landed offsets and bad records
per topic/partition appear on the server's `/metrics`, scraped over HTTP from a real server
on loopback that consumes from the real broker; the consumer threads end with the server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loglake.kafka import KafkaIngestConfig
from loglake.kafka.service import CONSUMERS_ENV, attach, load_consumers, register
from loglake.lake import load_settings
from loglake.server import create_app
from tests.threadserver import ThreadServer

GOOD = '{"flow":{"time":"2024-05-01T10:00:00.%09dZ","verdict":"FORWARDED"},"node_name":"n1"}'


class Served(ThreadServer):
    """A loglake app served in a thread, with its `/metrics` parsed."""

    def metrics(self) -> dict[tuple[str, tuple], float]:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=10).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def wait_for(served: Served, check, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        metrics = served.metrics()
        if check(metrics) or time.monotonic() > deadline:
            return metrics
        time.sleep(0.3)


def series(name: str, **labels: str) -> tuple[str, tuple]:
    return name, tuple(sorted(labels.items()))


@pytest.fixture
def settings(tmp_path: Path):
    settings = load_settings(lake=str(tmp_path / "lake"))
    settings.limits_config.reject_old_samples = False
    return settings


def test_server_consumers_report_records_bytes_lag_and_errors_per_partition(
    kafka_broker, new_topic, produce, settings
):
    topic = new_topic(partitions=2)
    values = [GOOD % i for i in range(400)]
    values[7] = '{"flow": broken'  # partition 1
    values[10] = '{"not":"hubble"}'  # partition 0
    produce(topic, values, partitions=2)
    app = create_app(settings)
    cfg = KafkaIngestConfig(
        brokers=kafka_broker, topics=(topic,), format="hubble", group_id="srv", batch_max_wait_s=0.2
    )
    attach(app, [cfg])
    part = {p: [v for i, v in enumerate(values) if i % 2 == p] for p in (0, 1)}

    def key(name: str, p: int, **extra: str) -> tuple[str, tuple]:
        return series(name, group="srv", topic=topic, partition=str(p), **extra)

    with Served(app) as served:
        got = wait_for(
            served,
            lambda m: all(m.get(key("loglake_kafka_landed_offset", p)) == 200 for p in (0, 1)),
        )
        for p in (0, 1):
            assert got[key("loglake_kafka_records_consumed_total", p)] == 200
            size = sum(len(v.encode()) for v in part[p])
            assert got[key("loglake_kafka_bytes_consumed_total", p)] == size
            assert got[key("loglake_kafka_lines_landed_total", p)] == 200
            assert got[key("loglake_kafka_landed_offset", p)] == 200
            assert got[key("loglake_kafka_consumer_lag", p)] == 0
        bad = "loglake_kafka_bad_records_total"
        assert got[key(bad, 1, reason="invalid_json", action="stored")] == 1
        assert got[key(bad, 0, reason="invalid_record", action="stored")] == 1
        assert got[series("loglake_kafka_landing_objects_total", group="srv")] >= 2
        assert got[series("loglake_kafka_rebalances_total", group="srv")] >= 1
        assert got[series("loglake_kafka_consumer_restarts_total", group="srv")] == 0
        assert got[series("loglake_kafka_consumer_cpu_seconds_total", group="srv")] > 0

        # The consumer keeps running: records produced later are counted too.
        produce(topic, [GOOD % (1000 + i) for i in range(50)], partitions=2)
        got = wait_for(
            served,
            lambda m: all(m.get(key("loglake_kafka_landed_offset", p)) == 225 for p in (0, 1)),
        )
        assert got[key("loglake_kafka_records_consumed_total", 0)] == 225
        assert got[key("loglake_kafka_consumer_lag", 1)] == 0
    assert app.state.lake.sql("SELECT count(*) AS n FROM logs", "fake").to_pylist() == [{"n": 450}]


def test_consumers_file_is_read_and_checked(tmp_path: Path, monkeypatch, settings):
    path = tmp_path / "consumers.yaml"
    path.write_text(
        "consumers:\n"
        "  - brokers: 127.0.0.1:1\n"
        "    topics: logs, ^team-.*\n"
        "    format: hubble\n"
        "    labels: '{job=\"flows\"}'\n"
        "    client_config: {security.protocol: SASL_SSL}\n"
        "  - {brokers: 127.0.0.1:1, topics: [other], group_id: g2}\n"
    )
    first, second = load_consumers(path)
    assert first.topics == ("logs", "^team-.*") and first.format == "hubble"
    assert first.labels == {"job": "flows"}
    assert first.client_config == {"security.protocol": "SASL_SSL"}
    assert second.topics == ("other",) and second.group_id == "g2"

    path.write_text("consumers:\n  - {brokers: b, topics: [t], formats: raw}\n")
    with pytest.raises(ValueError, match=r"consumer 1: unknown setting 'formats'"):
        load_consumers(path)
    path.write_text("consumers:\n  - {brokers: b, topics: [t], format: xml}\n")
    with pytest.raises(ValueError, match=r"consumer 1: format 'xml'"):
        load_consumers(path)

    monkeypatch.delenv(CONSUMERS_ENV, raising=False)
    app = create_app(settings)
    register(app)
    assert not hasattr(app.state, "kafka")
    path.write_text("consumers:\n  - {brokers: 127.0.0.1:1, topics: [t]}\n")
    monkeypatch.setenv(CONSUMERS_ENV, str(path))
    register(app)
    assert [c.topics for c in app.state.kafka.configs] == [("t",)]


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    before = {t.name for t in threading.enumerate()}
    yield
    leftover = {t.name for t in threading.enumerate()} - before
    assert not {name for name in leftover if name.startswith("kafka-")}
