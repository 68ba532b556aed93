"""Offsets in the lake without a broker: a landed batch carries its next offset, the lake's
offsets are read from each landing object once (objects are never rewritten), and a flush
moves them into the manifest without any being lost on the way."""

from __future__ import annotations

from pathlib import Path

from loglake.config import Limits
from loglake.kafka.batch import build_batch
from loglake.kafka.offsets import lake_offsets, landing_name, partition_key, write_batch_once
from loglake.kafka.records import Record
from loglake.lake import Lake, load_settings
from storage.landing import decode_landing, list_landing
from storage.objectstore import ObjectStore

NOW = 1_763_000_000 * 10**9


class CountingStore(ObjectStore):
    """A real local store that remembers which objects were read."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.reads: list[str] = []

    def get(self, key: str) -> bytes:
        self.reads.append(key)
        return super().get(key)


def land(store: ObjectStore, topic: str, first: int, count: int) -> str | None:
    records = [Record(topic, 0, first + i, None, b"line %d" % i, None) for i in range(count)]
    batch = build_batch(
        records,
        "raw",
        lambda _r: {"topic": topic},
        Limits(),
        "fake",
        use_incoming_timestamp=False,
        now_ns=NOW,
        on_error="label",
        same_labels=True,
    )
    name = landing_name("g", topic, 0, first)
    offsets = {partition_key("g", topic, 0): first + count}
    return write_batch_once(store, "fake", name, batch.rows, batch.streams, offsets)


def test_a_landed_batch_holds_its_rows_labels_and_offsets_once(tmp_path: Path):
    store = ObjectStore(str(tmp_path))
    key = land(store, "logs", 0, 3)
    assert key is not None and land(store, "logs", 0, 3) is None  # the second writer loses
    table = decode_landing(store.get(key))
    assert table.column("line").to_pylist() == ["line 0", "line 1", "line 2"]
    assert table.column("labels").to_pylist()[0] == [
        ("service_name", "unknown_service"),
        ("topic", "logs"),
    ]
    assert lake_offsets(store, "fake", "g") == {("logs", 0): 3}
    assert lake_offsets(store, "fake", "other") == {}


def test_each_landing_object_is_read_once_and_flushed_offsets_stay_known(tmp_path: Path):
    settings = load_settings(lake=str(tmp_path))
    settings.limits_config.reject_old_samples = False
    store = CountingStore(str(tmp_path))
    lake = Lake(settings, store)
    land(store, "a", 0, 5)
    land(store, "b", 0, 2)
    assert lake_offsets(store, "fake", "g") == {("a", 0): 5, ("b", 0): 2}
    assert len(store.reads) == 2
    store.reads.clear()
    assert lake_offsets(store, "fake", "g") == {("a", 0): 5, ("b", 0): 2}
    assert store.reads == []
    newest = land(store, "a", 5, 4)
    assert lake_offsets(store, "fake", "g") == {("a", 0): 9, ("b", 0): 2}
    assert store.reads == [newest]
    lake.flush()
    assert list_landing(store, "fake") == []
    assert lake_offsets(store, "fake", "g") == {("a", 0): 9, ("b", 0): 2}
    land(store, "b", 2, 1)
    assert lake_offsets(store, "fake", "g") == {("a", 0): 9, ("b", 0): 3}
