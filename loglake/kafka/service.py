"""Kafka consumers inside the server process, with their figures on its `/metrics`.

Main interface:

- `KafkaService(lake, configs)` — one `KafkaIngester` per configuration, each in its own
  thread, consuming without end (`until_caught_up=False`) exactly once as `ingest` does;
  `stop()` lands what was read and closes the consumers. A consumer that fails (broker
  gone for good, dead-letter topic unwritable) is logged, counted in
  `loglake_kafka_consumer_restarts_total` and restarted after a pause: it resumes from the
  lake's offsets, so nothing is lost or doubled.
- `attach(app, configs)` — start the service with a FastAPI app (after the app's own
  startup), stop it at shutdown, and export its `KafkaStats` on the app's registry
  (`app.state.metrics.registry`, see `loglake.kafka.metrics` for the names).
- `register(app)` — `attach` the consumers listed in the YAML file that
  `LOGLAKE_KAFKA_CONSUMERS` names, if set (the server's route-module hook):

      consumers:
        - brokers: 127.0.0.1:9092
          topics: [app-logs, ^team-.*]     # or "app-logs,^team-.*"
          format: raw                      # raw | loki-push | hubble | otlp-json
          group_id: loglake
          labels: {job: app}               # or '{job="app"}'
          client_config: {security.protocol: SASL_SSL}

  Every key is a `KafkaIngestConfig` field; an unknown key is an error naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from loglake.kafka.config import KafkaIngestConfig, parse_label_option
from loglake.kafka.consumer import KafkaIngester
from loglake.kafka.metrics import KafkaCollector, KafkaStats
from loglake.lake import Lake

CONSUMERS_ENV = "LOGLAKE_KAFKA_CONSUMERS"
"""Environment variable naming the YAML file of the consumers the server runs."""
RESTART_PAUSE_S = 5.0

log = logging.getLogger("loglake.kafka")


class KafkaService:
    """Runs consumers in background threads; see the module docstring."""

    def __init__(self, lake: Lake, configs: Sequence[KafkaIngestConfig]) -> None:
        self.lake = lake
        self.configs = list(configs)
        self.stats = [KafkaStats(group=c.group_id) for c in self.configs]
        self.restarts = [0] * len(self.configs)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start one thread per consumer."""
        self._stop.clear()
        for index, config in enumerate(self.configs):
            thread = threading.Thread(
                target=self._run, args=(index,), name=f"kafka-{config.group_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Land what was read, close the consumers and wait for their threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    def _run(self, index: int) -> None:
        ingester = KafkaIngester(self.lake, self.configs[index], self.stats[index])
        while not self._stop.is_set():
            try:
                ingester.run(until_caught_up=False, stop=self._stop)
            except Exception:
                log.exception("Kafka consumer %s failed; restarting", self.configs[index].topics)
                self.restarts[index] += 1
                self._stop.wait(RESTART_PAUSE_S)

    def collector(self) -> Collector:
        """A Prometheus collector of every consumer's figures."""
        return _ServiceCollector(self)


class _ServiceCollector(Collector):
    def __init__(self, service: KafkaService) -> None:
        self.service = service
        self.stats = KafkaCollector(service.stats)

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield from self.stats.collect()
        restarts = CounterMetricFamily(
            "loglake_kafka_consumer_restarts",
            "Consumers restarted after a failure (they resume from the lake's offsets).",
            labels=["group"],
        )
        totals: dict[str, int] = {}
        for config, count in zip(self.service.configs, self.service.restarts, strict=True):
            totals[config.group_id] = totals.get(config.group_id, 0) + count
        for group, count in sorted(totals.items()):
            restarts.add_metric([group], count)
        yield restarts


def attach(app: FastAPI, configs: Sequence[KafkaIngestConfig]) -> KafkaService:
    """Run `configs` with `app` (see the module docstring); the service is also
    `app.state.kafka`."""
    service = KafkaService(app.state.lake, configs)
    app.state.kafka = service
    app.state.metrics.registry.register(service.collector())
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[Any]:
        async with inner(running) as state:
            service.start()
            try:
                yield state
            finally:
                await asyncio.to_thread(service.stop)

    app.router.lifespan_context = lifespan
    return service


def register(app: FastAPI) -> None:
    """Run the consumers of the file `LOGLAKE_KAFKA_CONSUMERS` names, when it is set."""
    path = os.environ.get(CONSUMERS_ENV)
    if path:
        attach(app, load_consumers(Path(path)))


_FIELDS = {f.name for f in dataclasses.fields(KafkaIngestConfig)}


def load_consumers(path: Path) -> list[KafkaIngestConfig]:
    """The consumers a YAML file lists (see the module docstring); ValueError names the
    file and what is wrong."""
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("consumers") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty list under 'consumers'")
    return [_consumer(path, number, entry) for number, entry in enumerate(entries, start=1)]


def _consumer(path: Path, number: int, entry: Any) -> KafkaIngestConfig:
    where = f"{path}: consumer {number}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping of settings")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown setting {', '.join(map(repr, unknown))}")
    values = dict(entry)
    topics = values.get("topics", ())
    if isinstance(topics, str):
        topics = [t.strip() for t in topics.split(",") if t.strip()]
    values["topics"] = tuple(str(t) for t in topics)
    try:
        if isinstance(values.get("labels"), str):
            values["labels"] = parse_label_option(values["labels"])
        for name in ("labels", "meta_labels", "topic_formats", "client_config"):
            if name in values:
                if not isinstance(values[name], dict):
                    raise ValueError(f"{name} must be a mapping")
                values[name] = {str(k): str(v) for k, v in values[name].items()}
        return KafkaIngestConfig(**values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from None
