"""Kafka consumers run by the server (`LOGLAKE_KAFKA_CONSUMERS`), see `loglake.kafka.service`."""

from loglake.kafka.service import register

__all__ = ["register"]
