"""Prometheus metrics of one server, under Loki's names where Loki has the metric, so
existing Loki dashboards and alerts keep working."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from storage.landing import CommitStats


class _LandingCollector(Collector):
    """The landing group committer's counters as Prometheus counters."""

    def __init__(self, stats: CommitStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        s = self.stats
        yield CounterMetricFamily(
            "loglake_landing_objects",
            "Landing objects written (one per tenant per group commit).",
            value=s.objects,
        )
        yield CounterMetricFamily(
            "loglake_landing_batches", "Push batches made durable in landing objects.", s.requests
        )
        yield CounterMetricFamily("loglake_landing_rows", "Entries written to landing.", s.rows)
        yield CounterMetricFamily(
            "loglake_landing_write_failures", "Landing writes that failed.", s.failures
        )
        yield CounterMetricFamily(
            "loglake_landing_write_seconds", "Time spent writing landing objects.", s.seconds
        )


class Metrics:
    """The counters, gauges and histograms the server updates."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        disable_created_metrics()  # Loki exposes no `_created` series either
        self.registry = CollectorRegistry()
        r = self.registry
        self.lines_received = Counter(
            "loki_distributor_lines_received",
            "Log lines received and accepted, per tenant.",
            ["tenant"],
            registry=r,
        )
        self.bytes_received = Counter(
            "loki_distributor_bytes_received",
            "Uncompressed bytes of lines (and structured metadata) accepted, per tenant.",
            ["tenant"],
            registry=r,
        )
        self.discarded_samples = Counter(
            "loki_discarded_samples",
            "Entries rejected at ingestion, per reason and tenant.",
            ["reason", "tenant"],
            registry=r,
        )
        self.discarded_bytes = Counter(
            "loki_discarded_bytes",
            "Bytes of entries rejected at ingestion, per reason and tenant.",
            ["reason", "tenant"],
            registry=r,
        )
        self.request_errors = Counter(
            "loglake_request_errors",
            "Requests answered with an error, per route and status code.",
            ["route", "status"],
            registry=r,
        )
        self.flushes = Counter(
            "loglake_flushes", "Flush runs, by outcome.", ["outcome"], registry=r
        )
        self.flush_seconds = Histogram(
            "loglake_flush_duration_seconds",
            "Duration of flush runs.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.flushed_rows = Counter(
            "loglake_flushed_rows", "Entries moved from landing into chunks.", registry=r
        )
        self.landing_backlog = Gauge(
            "loglake_landing_backlog_objects",
            "Landing objects not yet flushed, as of the last flush.",
            registry=r,
        )

    def watch_landing(self, stats: CommitStats) -> None:
        """Export the group committer's counters, read at every scrape."""
        self.registry.register(_LandingCollector(stats))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
