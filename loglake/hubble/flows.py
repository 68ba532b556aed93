"""Decode Hubble JSON lines (`GetFlowsResponse` / `ExportEvent`) into log entries.

Main interface:

- `decode_hubble_line(line)` → `HubbleEntry(labels, ts_ns, line, kind)` for one JSON line;
  `decode_hubble_event(obj)` for an already parsed object.
- `read_hubble_batches(source, batch_lines)` → lists of entries from a file, a stream or an
  iterable of lines (the exporter's `events.log`, `hubble observe -o json` output).
- `to_stream_batches(entries)` → `(labels, timestamps_ns, lines)` per stream, the shape the
  application-log generator yields too.

What a line becomes:

- **line**: the JSON exactly as received (only the line terminator is removed), so LogQL's
  `| json` and the SQL flow models see every field.
- **timestamp**: `flow.time`, else the envelope's `time` (RFC 3339, up to 9 fractional digits,
  parsed with integer arithmetic so no nanosecond is lost).
- **labels** (low cardinality only): `job="hubble"`, `node` (envelope `node_name`, else
  `flow.node_name`; relay output keeps its `cluster/node` form), and for flows `verdict`,
  `source_namespace`, `destination_namespace`. A label whose value is absent or empty is
  *omitted*, never set to `""`: protojson omits zero values (world/host endpoints have no
  namespace, `VERDICT_UNKNOWN` has no verdict) and Loki treats an empty label as an absent
  one, so `{source_namespace=""}` still selects those flows.
- Other events (`node_status`, `lost_events`, `agent_event`, `debug_event`) are kept, not
  dropped: they are labelled `job`, `node` and `event=<their oneof name>` (flows have no
  `event` label), so lost-event counts stay queryable.
- Bare `Flow` objects (`HUBBLE_COMPAT=legacy-json-output`) are accepted as flows.

Anything else raises `HubbleDecodeError`, a `ValueError` whose message names the line.

>>> entry = decode_hubble_line(
...     '{"flow":{"time":"2021-11-10T10:40:56.871850100Z","verdict":"DROPPED",'
...     '"source":{"namespace":"shop"},"destination":{}},"node_name":"kind-worker"}'
... )
>>> entry.ts_ns
1636540856871850100
>>> sorted(entry.labels.items())
[('job', 'hubble'), ('node', 'kind-worker'), ('source_namespace', 'shop'), ('verdict', 'DROPPED')]
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

JOB = "hubble"
EVENT_KINDS = ("flow", "node_status", "lost_events", "agent_event", "debug_event")
"""The `response_types` oneof of GetFlowsResponse/ExportEvent, in proto field order."""

_BARE_FLOW_KEYS = frozenset(
    ("verdict", "IP", "l4", "source", "destination", "Type", "event_type", "ethernet", "l7")
)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))"
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class HubbleDecodeError(ValueError):
    """A line that is not a Hubble JSON event; the message says which line and why."""


@dataclass(frozen=True, slots=True)
class HubbleEntry:
    """One decoded line: stream labels, timestamp (Unix ns), the line itself, its event kind."""

    labels: dict[str, str]
    ts_ns: int
    line: str
    kind: str


def parse_rfc3339_ns(text: str) -> int:
    """Parse an RFC 3339 timestamp into Unix nanoseconds, exactly.

    Fractions shorter than 9 digits are scaled (`.8718501` is 871850100 ns); offsets other
    than `Z` are applied. Leap seconds are rejected, as `google.protobuf.Timestamp` has none.

    >>> parse_rfc3339_ns("2021-11-10T10:40:56.871850100Z")
    1636540856871850100
    >>> parse_rfc3339_ns("2021-11-10T11:40:56.8718501+01:00")
    1636540856871850100
    >>> parse_rfc3339_ns("1970-01-01T00:00:00Z")
    0
    """
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"invalid RFC 3339 timestamp {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"invalid RFC 3339 timestamp {text!r}: time out of range")
    try:
        days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError as err:
        raise ValueError(f"invalid RFC 3339 timestamp {text!r}: {err}") from None
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
    sign, off_hours, off_minutes = match.group(8, 9, 10)
    if sign is not None:
        offset = int(off_hours) * 3_600 + int(off_minutes) * 60
        seconds -= offset if sign == "+" else -offset
    fraction = match.group(7) or ""
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0") or 0)


def decode_hubble_line(line: str | bytes, *, default_ts_ns: int | None = None) -> HubbleEntry:
    """Decode one JSON line; the entry's line is the input minus its line terminator.

    `default_ts_ns` stamps records without any timestamp (an exporter field mask without
    `time`); when it is None such records are rejected.

    >>> decode_hubble_line('{"flow": ')
    Traceback (most recent call last):
    ...
    loglake.hubble.flows.HubbleDecodeError: invalid JSON: Expecting value at column 10
    """
    if isinstance(line, bytes | bytearray):
        try:
            line = bytes(line).decode("utf-8")
        except UnicodeDecodeError as err:
            raise HubbleDecodeError(f"not valid UTF-8 at byte {err.start}") from None
    text = line[:-1] if line.endswith("\n") else line
    text = text[:-1] if text.endswith("\r") else text
    try:
        event = json.loads(text)
    except json.JSONDecodeError as err:
        raise HubbleDecodeError(f"invalid JSON: {err.msg} at column {err.colno}") from None
    return decode_hubble_event(event, line=text, default_ts_ns=default_ts_ns)


def decode_hubble_event(
    event: Any, *, line: str | None = None, default_ts_ns: int | None = None
) -> HubbleEntry:
    """Turn a parsed GetFlowsResponse/ExportEvent (or bare Flow) into an entry.

    `line` is the text the object was parsed from; without it the object is re-serialised
    compactly (`{"a":1}`), as Go's encoder writes it.
    """
    if not isinstance(event, Mapping):
        raise HubbleDecodeError(f"expected a JSON object, got {type(event).__name__}")
    kind = next((k for k in EVENT_KINDS if k in event), None)
    if kind is None and _BARE_FLOW_KEYS.intersection(event):
        kind, payload, envelope = "flow", event, {}
    elif kind is None:
        raise HubbleDecodeError(
            "not a Hubble event: expected a GetFlowsResponse with one of "
            f"{', '.join(EVENT_KINDS)}, or a bare Flow object"
        )
    else:
        payload, envelope = event[kind], event
        if not isinstance(payload, Mapping):
            raise HubbleDecodeError(f"{kind}: expected a JSON object")

    labels = {"job": JOB}
    node = _string(envelope, "node_name", "node_name") or _string(
        payload, "node_name", f"{kind}.node_name"
    )
    if node:
        labels["node"] = node
    if kind == "flow":
        for label, value in (
            ("verdict", _string(payload, "verdict", "flow.verdict")),
            ("source_namespace", _namespace(payload, "source")),
            ("destination_namespace", _namespace(payload, "destination")),
        ):
            if value:
                labels[label] = value
    else:
        labels["event"] = kind

    stamp = (payload.get("time") if kind == "flow" else None) or envelope.get("time")
    if stamp is None:
        if default_ts_ns is None:
            raise HubbleDecodeError(f"{kind}: no timestamp (neither flow.time nor time)")
        ts_ns = default_ts_ns
    else:
        try:
            ts_ns = parse_rfc3339_ns(stamp)
        except ValueError as err:
            raise HubbleDecodeError(f"{kind}: {err}") from None
    if line is None:
        line = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return HubbleEntry(labels, ts_ns, line, kind)


def _string(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise HubbleDecodeError(f"{path}: expected a string, got {type(value).__name__}")
    return value


def _namespace(flow: Mapping[str, Any], side: str) -> str:
    endpoint = flow.get(side, {})
    if not isinstance(endpoint, Mapping):
        raise HubbleDecodeError(f"flow.{side}: expected a JSON object")
    return _string(endpoint, "namespace", f"flow.{side}.namespace")


def iter_hubble_entries(
    lines: Iterable[str | bytes],
    *,
    name: str = "<input>",
    skip_invalid: bool = False,
    default_ts_ns: int | None = None,
) -> Iterator[HubbleEntry]:
    """Decode JSON lines one by one, skipping blank lines.

    A bad line raises `HubbleDecodeError` naming `name` and the 1-based line number, unless
    `skip_invalid` is set, in which case it is skipped.

    >>> list(iter_hubble_entries(["", "[]"], name="events.log"))
    Traceback (most recent call last):
    ...
    loglake.hubble.flows.HubbleDecodeError: events.log line 2: expected a JSON object, got list
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield decode_hubble_line(line, default_ts_ns=default_ts_ns)
        except HubbleDecodeError as err:
            if not skip_invalid:
                raise HubbleDecodeError(f"{name} line {number}: {err}") from None


def read_hubble_batches(
    source: str | os.PathLike[str] | IO[str] | IO[bytes] | Iterable[str | bytes],
    batch_lines: int = 10_000,
    *,
    skip_invalid: bool = False,
    default_ts_ns: int | None = None,
) -> Iterator[list[HubbleEntry]]:
    """Read JSON lines and yield lists of at most `batch_lines` entries, in file order.

    `source` is a path (`.gz` files are decompressed; rotated exporter files may be), an
    open text or binary file (e.g. `sys.stdin.buffer` for `hubble observe -o json | …`), or
    any iterable of lines. Errors name the file and line (see `iter_hubble_entries`).
    """
    if batch_lines < 1:
        raise ValueError("batch_lines must be at least 1")
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            yield from _batches(handle, str(path), batch_lines, skip_invalid, default_ts_ns)
        return
    name = getattr(source, "name", "<input>")
    yield from _batches(source, str(name), batch_lines, skip_invalid, default_ts_ns)


def _batches(
    lines: Iterable[str | bytes],
    name: str,
    batch_lines: int,
    skip_invalid: bool,
    default_ts_ns: int | None,
) -> Iterator[list[HubbleEntry]]:
    batch: list[HubbleEntry] = []
    entries = iter_hubble_entries(
        lines, name=name, skip_invalid=skip_invalid, default_ts_ns=default_ts_ns
    )
    for entry in entries:
        batch.append(entry)
        if len(batch) == batch_lines:
            yield batch
            batch = []
    if batch:
        yield batch


def to_stream_batches(
    entries: Iterable[HubbleEntry],
) -> list[tuple[dict[str, str], list[int], list[str]]]:
    """Group entries by label set: `(labels, timestamps_ns, lines)` per stream, first seen first.

    >>> lines = ['{"flow":{"time":"1970-01-01T00:00:01Z","verdict":"FORWARDED"}}'] * 2
    >>> [(labels["verdict"], ts) for labels, ts, _ in to_stream_batches(iter_hubble_entries(lines))]
    [('FORWARDED', [1000000000, 1000000000])]
    """
    streams: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[int], list[str]]] = {}
    for entry in entries:
        key = tuple(sorted(entry.labels.items()))
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = (entry.labels, [], [])
        stream[1].append(entry.ts_ns)
        stream[2].append(entry.line)
    return list(streams.values())
