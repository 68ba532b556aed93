"""Where every object of the lake lives: the one module that turns names into keys.

    landing/tenant=<t>/<unix-ns>-<id>.arrow                    write-ahead batches
    chunks/tenant=<t>/date=<YYYY-MM-DD>/<label>=<v>/<id>.parquet  sorted entry chunks
    manifest/tenant=<t>/date=<YYYY-MM-DD>/v<20 digits>.parquet  label manifest versions

Partition values are escaped as Hive escapes them, so Spark, Trino, DuckDB and Polars read
`chunks/` as a Hive-partitioned dataset. Writers, readers, compaction and the query
executor all import these functions; nothing else spells a key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
import uuid

import pyarrow as pa
import pyarrow.compute as pc

LANDING = "landing"
CHUNKS = "chunks"
MANIFEST = "manifest"

HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
"""The directory value Hive (and Spark) use for a missing or empty partition value."""

BUCKET_PREFIX = "__bucket_"
"""Values of a label with too many distinct values share `<label>=__bucket_NN` folders."""

NS_PER_DAY = 86_400 * 1_000_000_000
_HIVE_ESCAPE = set("\"#%'*/:=?\\{[]^") | {chr(c) for c in range(0x20)} | {"\x7f"}
_VERSION_RE = re.compile(r"v(\d{20})\.parquet$")


def hive_escape(value: str) -> str:
    """Escape a partition value as Hive's `FileUtils.escapePathName` does.

    >>> hive_escape("api/v1:GET")
    'api%2Fv1%3AGET'
    >>> hive_escape("")
    '__HIVE_DEFAULT_PARTITION__'
    """
    if value == "":
        return HIVE_DEFAULT_PARTITION
    return "".join(f"%{ord(c):02X}" if c in _HIVE_ESCAPE else c for c in value)


def hive_unescape(value: str) -> str:
    """Invert `hive_escape`.

    >>> hive_unescape(hive_escape("a=b%c"))
    'a=b%c'
    """
    if value == HIVE_DEFAULT_PARTITION:
        return ""
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def day_of(ts_ns: int) -> str:
    """The UTC date (`YYYY-MM-DD`) an entry's timestamp falls on.

    >>> day_of(0)
    '1970-01-01'
    """
    return (dt.date(1970, 1, 1) + dt.timedelta(days=ts_ns // NS_PER_DAY)).isoformat()


def day_numbers(ts: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Days since the epoch (floored, UTC) of nanosecond timestamps, vectorised."""
    floor_shift = pc.if_else(pc.less(ts, 0), NS_PER_DAY - 1, 0)
    return pc.divide(pc.subtract(ts, floor_shift), pa.scalar(NS_PER_DAY, pa.int64()))


def day_of_number(number: int) -> str:
    """The date of a day number from `day_numbers`."""
    return day_of(number * NS_PER_DAY)


def day_number(day: str) -> int:
    """Days since the epoch of a UTC date (the inverse of `day_of_number`)."""
    return (dt.date.fromisoformat(day) - dt.date(1970, 1, 1)).days


def day_bounds(day: str) -> tuple[int, int]:
    """The half-open `[start, end)` nanosecond range of a UTC date."""
    start = day_number(day) * NS_PER_DAY
    return start, start + NS_PER_DAY


def tenant_dir(tenant: str) -> str:
    """The partition folder of a tenant (tenant ids are validated before they get here)."""
    return f"tenant={hive_escape(tenant)}"


def landing_prefix(tenant: str | None = None) -> str:
    """Folder of a tenant's landing objects, or of all landing objects."""
    return LANDING if tenant is None else f"{LANDING}/{tenant_dir(tenant)}"


def landing_key(tenant: str) -> str:
    """A new, unique, time-ordered landing object key for a tenant."""
    return f"{landing_prefix(tenant)}/{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.arrow"


def tenant_of_dir(folder: str) -> str:
    """The tenant id of a `tenant=…` folder name."""
    if not folder.startswith("tenant="):
        raise ValueError(f"not a tenant folder: {folder!r}")
    return hive_unescape(folder[len("tenant=") :])


MAX_FOLDER_BYTES = 255
"""The longest file name most file systems take (Linux's NAME_MAX): a partition folder
named after a longer value is bucketed instead, so no value can stop a flush."""


def partition_value(label: str, value: str, bucketed: bool, buckets: int = 32) -> str:
    """The folder name for one partition label of a chunk.

    A label whose values are too many for a directory level is bucketed by a stable hash,
    so the lake keeps few, large chunks instead of exploding into small files; so is a
    value whose folder name would be longer than `MAX_FOLDER_BYTES` (a label value may be
    2 KiB, and Hive's escaping can triple it). The labels themselves are in the chunk.

    >>> partition_value("service_name", "api", bucketed=False)
    'service_name=api'
    >>> partition_value("pod", "api-7d9f", bucketed=True).startswith("pod=__bucket_")
    True
    >>> partition_value("service_name", "s" * 300, bucketed=False).startswith(
    ...     "service_name=__bucket_")
    True
    """
    folder = f"{label}={hive_escape(value)}"
    if bucketed or len(folder.encode()) > MAX_FOLDER_BYTES:
        digest = hashlib.blake2b(value.encode(), digest_size=4).digest()
        return f"{label}={BUCKET_PREFIX}{int.from_bytes(digest, 'big') % buckets:02d}"
    return folder


def chunk_key(tenant: str, day: str, partition_dirs: tuple[str, ...]) -> str:
    """A new chunk object key under its Hive partition folders."""
    parts = "/".join((CHUNKS, tenant_dir(tenant), f"date={day}", *partition_dirs))
    return f"{parts}/{uuid.uuid4().hex}.parquet"


def manifest_prefix(tenant: str, day: str | None = None) -> str:
    """Folder of a tenant's manifests, or of one day's manifest versions."""
    base = f"{MANIFEST}/{tenant_dir(tenant)}"
    return base if day is None else f"{base}/date={day}"


def manifest_key(tenant: str, day: str, version: int) -> str:
    """Key of one manifest version: zero-padded so keys sort by version."""
    return f"{manifest_prefix(tenant, day)}/v{version:020d}.parquet"


def manifest_version(key: str) -> int | None:
    """The version number of a manifest key, None for anything else.

    >>> manifest_version("manifest/tenant=a/date=2024-01-01/v00000000000000000007.parquet")
    7
    """
    m = _VERSION_RE.search(key)
    return int(m.group(1)) if m else None
