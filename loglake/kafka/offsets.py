"""Kafka offsets as the lake stores them: in landing-object metadata, then in manifest
commit records (`storage.flush` carries them), never only in Kafka.

Main interface:

- `partition_key(group, topic, partition)` — the name of one consumed partition in a
  `{name: next offset}` map (a JSON array, so no topic or group name can collide);
- `landing_name(group, topic, partition, first_offset)` — the deterministic landing object
  name of the batch that starts at `first_offset`, so two writers of that batch race for
  one key;
- `lake_offsets(store, tenant, group)` — `{(topic, partition): next offset}` for a group.
"""

from __future__ import annotations

import contextlib
import hashlib
import json

from storage import manifest
from storage.flush import committed_source_offsets, merge_offsets
from storage.landing import SOURCE_OFFSETS, landing_metadata, list_landing
from storage.objectstore import ObjectStore

LANDING_PREFIX = "kafka-"


def partition_key(group: str, topic: str, partition: int) -> str:
    """The offsets-map name of a (group, topic, partition).

    >>> partition_key("g", "logs", 0)
    '["g","logs",0]'
    """
    return json.dumps([group, topic, partition], separators=(",", ":"))


def _tag(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def group_prefix(group: str) -> str:
    """The start of every landing object name a group writes."""
    return f"{LANDING_PREFIX}{_tag(group)}-"


def landing_name(group: str, topic: str, partition: int, first_offset: int) -> str:
    """Landing object name of the batch of (group, topic, partition) starting at
    `first_offset`: deterministic, so a second writer of the same batch loses.

    >>> landing_name("g", "logs", 0, 42) == landing_name("g", "logs", 0, 42)
    True
    >>> landing_name("g", "logs", 0, 42).endswith("-00000000000000000042")
    True
    """
    partition_tag = _tag(json.dumps([topic, partition]))
    return f"{group_prefix(group)}{partition_tag}-{first_offset:020d}"


def encode_offsets(offsets: dict[str, int]) -> dict[str, str]:
    """Landing metadata recording `{partition key: next offset}`."""
    return {SOURCE_OFFSETS: json.dumps(offsets, sort_keys=True)}


def lake_offsets(store: ObjectStore, tenant: str, group: str) -> dict[tuple[str, int], int]:
    """The next offset of every partition the group has landed for the tenant.

    Landing objects are read before manifests: a flush publishes a manifest before it
    deletes the landing objects it absorbed, so an object that is gone by the time it is
    read has its offsets in a manifest read afterwards.
    """
    found: list[dict[str, int]] = []
    prefix = group_prefix(group)
    for obj in list_landing(store, tenant):
        if not obj.key.rsplit("/", 1)[-1].startswith(prefix):
            continue
        with contextlib.suppress(FileNotFoundError):
            meta = landing_metadata(store.get(obj.key)).get(SOURCE_OFFSETS)
            if meta:
                found.append(json.loads(meta))
    for day in manifest.days(store, tenant):
        found.append(committed_source_offsets(store, tenant, day))
    out: dict[tuple[str, int], int] = {}
    for name, offset in merge_offsets(found).items():
        owner, topic, partition = json.loads(name)
        if owner == group:
            out[(topic, int(partition))] = offset
    return out
