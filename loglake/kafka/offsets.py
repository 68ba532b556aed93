"""Kafka offsets as the lake stores them: in landing-object metadata, then in manifest
commit records (`storage.flush` carries them), never only in Kafka.

Main interface:

- `partition_key(group, topic, partition)` — the name of one consumed partition in a
  `{name: next offset}` map (a JSON array, so no topic or group name can collide);
- `landing_name(group, topic, partition, first_offset)` — the deterministic landing object
  name of the batch that starts at `first_offset`, so two writers of that batch race for
  one key;
- `lake_offsets(store, tenant, group)` — `{(topic, partition): next offset}` for a group;
- `write_batch_once(store, tenant, name, rows, streams, offsets)` — land one batch with its
  offsets, create-if-absent.

Landing objects are never rewritten, so the offsets read from one are remembered (per
store, by key, size and modification time): a rebalance reads only the objects landed
since the previous one, not every landing object of the tenant again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import weakref

import pyarrow as pa

from storage import layout, manifest
from storage.flush import committed_source_offsets, merge_offsets
from storage.landing import SOURCE_OFFSETS, encode_landing_parts, landing_metadata, list_landing
from storage.objectstore import ObjectInfo, ObjectStore

LANDING_PREFIX = "kafka-"

_seen: weakref.WeakKeyDictionary[ObjectStore, dict[ObjectInfo, dict[str, int]]] = (
    weakref.WeakKeyDictionary()
)
"""Offsets recorded in each landing object already read, per store."""
_seen_lock = threading.Lock()


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


def write_batch_once(
    store: ObjectStore,
    tenant: str,
    name: str,
    rows: pa.Table,
    streams: pa.Table,
    offsets: dict[str, int],
) -> str | None:
    """Durably land a batch (`rows` and `streams` as `encode_landing_parts` takes them) with
    `offsets` in its metadata, under `name` only if no object has that key yet; its key, or
    None when another writer was first (`storage.landing.write_landing_once`, without
    joining the labels to every row first)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid landing object name {name!r}")
    key = f"{layout.landing_prefix(tenant)}/{name}.arrow"
    data = encode_landing_parts(rows, streams, store.is_s3, encode_offsets(offsets))
    return key if store.put_if_absent(key, data) else None


def lake_offsets(store: ObjectStore, tenant: str, group: str) -> dict[tuple[str, int], int]:
    """The next offset of every partition the group has landed for the tenant.

    Landing objects are read before manifests: a flush publishes a manifest before it
    deletes the landing objects it absorbed, so an object that is gone by the time it is
    read has its offsets in a manifest read afterwards.
    """
    found: list[dict[str, int]] = []
    prefix = group_prefix(group)
    with _seen_lock:
        seen = _seen.setdefault(store, {})
    listed = [
        obj for obj in list_landing(store, tenant) if obj.key.rsplit("/", 1)[-1].startswith(prefix)
    ]
    for obj in listed:
        offsets = seen.get(obj)
        if offsets is None:
            with contextlib.suppress(FileNotFoundError):
                meta = landing_metadata(store.get(obj.key)).get(SOURCE_OFFSETS)
                offsets = json.loads(meta) if meta else {}
                with _seen_lock:
                    seen[obj] = offsets
        if offsets:
            found.append(offsets)
    with _seen_lock:  # forget the objects a flush has absorbed (same tenant and group only)
        listed_now = set(listed)
        for obj in [o for o in seen if o.key.rsplit("/", 1)[-1].startswith(prefix)]:
            if obj.key.startswith(layout.landing_prefix(tenant) + "/") and obj not in listed_now:
                del seen[obj]
    for day in manifest.days(store, tenant):
        found.append(committed_source_offsets(store, tenant, day))
    out: dict[tuple[str, int], int] = {}
    for name, offset in merge_offsets(found).items():
        owner, topic, partition = json.loads(name)
        if owner == group:
            out[(topic, int(partition))] = offset
    return out
