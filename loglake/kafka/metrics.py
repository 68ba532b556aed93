"""What a Kafka consumer has done, as plain counters and as a Prometheus collector.

`KafkaStats` is updated by the consumer (one thread); `KafkaCollector(stats)` exposes it,
read at scrape time, for a registry such as `loglake.metrics.Metrics.registry`:

    loglake_kafka_records_total{topic}          records consumed
    loglake_kafka_bytes_total{topic}            record value bytes consumed
    loglake_kafka_lines_total{topic}            entries landed (including `__error__` ones)
    loglake_kafka_bad_records_total{topic,reason,action}   poison records (stored / dead-lettered)
    loglake_kafka_landing_objects_total         landing objects written
    loglake_kafka_landing_conflicts_total       batches another consumer had landed first
    loglake_kafka_consumer_lag{topic,partition} high watermark − next offset to land
    loglake_kafka_busy_seconds_total            consumer-thread CPU seconds spent ingesting
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass
class KafkaStats:
    """Counters of one consumer (or of several runs, when reused)."""

    records: Counter = field(default_factory=Counter)
    """Records per topic."""
    bytes: Counter = field(default_factory=Counter)
    """Value bytes per topic."""
    lines: Counter = field(default_factory=Counter)
    """Entries landed per topic."""
    bad: Counter = field(default_factory=Counter)
    """Bad records per (topic, reason, action)."""
    landing_objects: int = 0
    landing_conflicts: int = 0
    rebalances: int = 0
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per partition: high watermark minus the next offset to land."""
    cpu_seconds: float = 0.0

    def total_lag(self) -> int:
        """Records behind, summed over the partitions last seen."""
        return sum(max(0, v) for v in self.lag.values())


class KafkaCollector(Collector):
    """Exports a `KafkaStats` to Prometheus, read at every scrape."""

    def __init__(self, stats: KafkaStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self.stats
        for name, doc, counts in (
            ("loglake_kafka_records", "Kafka records consumed.", s.records),
            ("loglake_kafka_bytes", "Kafka record value bytes consumed.", s.bytes),
            ("loglake_kafka_lines", "Entries landed from Kafka records.", s.lines),
        ):
            family = CounterMetricFamily(name, doc, labels=["topic"])
            for topic, value in sorted(counts.items()):
                family.add_metric([topic], value)
            yield family
        bad = CounterMetricFamily(
            "loglake_kafka_bad_records",
            "Poison records: stored with __error__ metadata or sent to the dead-letter topic.",
            labels=["topic", "reason", "action"],
        )
        for (topic, reason, action), value in sorted(s.bad.items()):
            bad.add_metric([topic, reason, action], value)
        yield bad
        yield CounterMetricFamily(
            "loglake_kafka_landing_objects",
            "Landing objects written by the Kafka consumer.",
            value=s.landing_objects,
        )
        yield CounterMetricFamily(
            "loglake_kafka_landing_conflicts",
            "Batches another consumer had already landed (lost create-if-absent races).",
            value=s.landing_conflicts,
        )
        yield CounterMetricFamily(
            "loglake_kafka_busy_seconds", "CPU seconds the consumer spent.", value=s.cpu_seconds
        )
        lag = GaugeMetricFamily(
            "loglake_kafka_consumer_lag",
            "Records between the next offset to land and the partition's high watermark.",
            labels=["topic", "partition"],
        )
        for (topic, partition), value in sorted(s.lag.items()):
            lag.add_metric([topic, str(partition)], max(0, value))
        yield lag
