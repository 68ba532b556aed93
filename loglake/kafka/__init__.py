"""Kafka → lake ingestion with exactly-once delivery.

Main interface: `KafkaIngestConfig` (what to consume and how to decode it) and
`ingest(lake, config, ...)` → `IngestReport` (consume until caught up, or a record/time
bound). The CLI `loglake kafka-ingest` and the Dagster asset `kafka_ingest` both call it;
`loglake.kafka.service` runs consumers without end inside the server, with their figures
on its `/metrics` (`loglake.kafka.metrics`).

How exactly-once holds (the offsets live with the data, never only in Kafka):

- Records are landed in bounded batches, **one landing object per (tenant, partition)
  batch**. Its Arrow metadata records `{[group, topic, partition]: next offset}`
  (`storage.landing.SOURCE_OFFSETS`), so the object that makes the records durable is the
  same object that makes their offsets durable: a crash before it exists loses nothing
  (nothing was recorded), a crash after it leaves records and offsets together.
- The object is written create-if-absent under a name derived from (group, topic,
  partition, first offset) (`offsets.landing_name`). Every batch of a partition starts
  where the previous one ended, so two consumers that both believe they own a partition
  (a rebalance in flight) race for the same name: one wins, the other re-seeks from the
  lake and drops what it read.
- Flush carries the offsets of the objects it absorbs into the manifest commit record
  (`source_offsets`, cumulative per tenant and day) before it deletes them, so the lake
  always knows them: from landing metadata before the flush, from manifests after.
- On start and after every rebalance the consumer seeks each assigned partition to the
  lake's offset (`offsets.lake_offsets`: landing objects first, then manifests, so a
  concurrent flush cannot hide one), or to the oldest retained record when the lake has
  none (as Alloy's `loki.source.kafka`). The group's committed offsets are written after
  each landing, for lag monitoring only, and never read.

Residual window, documented rather than hidden: a consumer stalled beyond the group's
session timeout whose partition was meanwhile re-landed *and flushed* by the new owner
could land its stale batch under a name that no longer exists. The consumer checks that it
still owns a partition right before writing its batch, which makes this need a stall of
seconds exactly at that point.

Bad records never block a partition (`records.RecordError`, `batch.py`): per configuration
they are stored as entries with `__error__`/`__error_details__` structured metadata
(`on_error="label"`) or counted and produced to a dead-letter topic (`"dead-letter"`).
"""

from loglake.kafka.config import FORMATS, KafkaIngestConfig
from loglake.kafka.consumer import IngestReport, ingest

__all__ = ["FORMATS", "IngestReport", "KafkaIngestConfig", "ingest"]
