"""A real Apache Kafka broker for the Kafka ingestion tests, started by
`scripts/kafka-broker` (jars from Maven Central via mvn) on loopback and stopped at the end.

The tests are skipped, saying why, only where Java or Maven is missing."""

from __future__ import annotations

import itertools
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from loglake.lake import Lake, load_settings

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "kafka-broker"
_names = itertools.count()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a single-node KRaft broker on 127.0.0.1."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"a real Kafka broker needs {' and '.join(missing)} on PATH")
    run = tmp_path_factory.mktemp("kafka-broker")
    started = subprocess.run(
        [sys.executable, str(SCRIPT), "start", "--dir", str(run)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if started.returncode != 0:
        pytest.fail(f"kafka-broker start failed:\n{started.stderr}\n{started.stdout}")
    bootstrap = started.stdout.strip().splitlines()[-1]
    yield bootstrap
    subprocess.run([sys.executable, str(SCRIPT), "stop", "--dir", str(run)], timeout=60)


@pytest.fixture
def new_topic(kafka_broker: str, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Factory: create a fresh topic with `partitions` partitions, return its name."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_broker})
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]

    def create(partitions: int = 1, suffix: str = "") -> str:
        name = f"{base}-{next(_names)}{suffix}"
        admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
        return name

    return create


@pytest.fixture
def produce(kafka_broker: str) -> Callable[..., None]:
    """Factory: produce values (bytes or str) to a topic, optionally keyed, stamped, or
    spread round-robin over `partitions`; returns once the broker has them all."""
    from confluent_kafka import Producer

    # librdkafka's own log lines go to Python logging (captured by pytest), not stderr.
    producer = Producer(
        {"bootstrap.servers": kafka_broker, "linger.ms": 5},
        logger=logging.getLogger("kafka-test-producer"),
    )

    def send(
        topic: str,
        values: Sequence[bytes | str],
        *,
        keys: Sequence[bytes | None] | None = None,
        partitions: int | None = None,
        timestamps_ms: Sequence[int] | None = None,
    ) -> None:
        for i, value in enumerate(values):
            kwargs: dict = {"value": value.encode() if isinstance(value, str) else value}
            if keys is not None:
                kwargs["key"] = keys[i]
            if partitions is not None:
                kwargs["partition"] = i % partitions
            if timestamps_ms is not None:
                kwargs["timestamp"] = timestamps_ms[i]
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.1)
        assert producer.flush(30) == 0

    return send


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """A local-directory lake; old samples are accepted (replayed topics and the real
    Hubble captures are years old)."""
    settings = load_settings(lake=str(tmp_path / "lake"))
    settings.limits_config.reject_old_samples = False
    return Lake.open(settings)
