"""`loglake push`: ship files (or standard input) through the push API in batches.

Two input formats:
- `raw`: one entry per line with the `--labels` stream; the timestamp comes from a
  logfmt or JSON field (`--timestamp-field`) when given and parseable, else now;
- `hubble`: Hubble exporter / `hubble observe -o json` output, one flow per line, decoded
  with loglake's Hubble decoder (timestamp from `flow.time`, labels job/node/verdict/
  namespaces), so the same flows land the same way as from Kafka.

`--follow` keeps reading appended lines, as a shipper tailing a log file does.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from rich.progress import Progress

from loglake.client import Entry, PushClient
from loglake.ingest.labels import format_labels, labels_text, parse_labels

FORMATS = ("raw", "hubble")


@dataclass(frozen=True)
class ShipOptions:
    """What and where to ship."""

    addr: str = "http://127.0.0.1:3100"
    tenant: str | None = None
    labels: str = '{job="loglake-push"}'
    fmt: str = "raw"
    timestamp_field: str | None = None
    batch_size: int = 1000
    follow: bool = False
    poll_interval: float = 0.5


@dataclass
class ShipStats:
    """Counters of one `ship` run."""

    lines: int = 0
    bytes: int = 0
    requests: int = 0


def parse_timestamp(value: str) -> int | None:
    """Nanoseconds from an RFC3339 time or a Unix epoch in s/ms/µs/ns (by magnitude).

    >>> parse_timestamp("2024-05-01T00:00:01.5Z")
    1714521601500000000
    >>> parse_timestamp("1714521601")
    1714521601000000000
    >>> parse_timestamp("nonsense") is None
    True
    """
    value = value.strip().strip('"')
    if re.fullmatch(r"\d+(\.\d+)?", value):
        number = float(value) if "." in value else int(value)
        digits = len(value.split(".")[0])
        scale = 1e9 if digits <= 10 else 1e6 if digits <= 13 else 1e3 if digits <= 16 else 1
        return int(number * scale)
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(\.\d{1,9})?(Z|[+-]\d\d:?\d\d)?", value)
    if not m:
        return None
    base = dt.datetime.fromisoformat(m.group(1).replace(" ", "T") + _zone(m.group(3)))
    fraction = int((m.group(2) or ".0")[1:].ljust(9, "0"))
    return int(base.timestamp()) * 1_000_000_000 + fraction


def _zone(text: str | None) -> str:
    if not text or text == "Z":
        return "+00:00"
    return text if ":" in text else f"{text[:3]}:{text[3:]}"


def field_timestamp(line: str, name: str) -> int | None:
    """The timestamp in field `name` of a logfmt or JSON line, if present and valid."""
    if line.startswith("{"):
        try:
            value = json.loads(line).get(name)
        except (ValueError, AttributeError):
            value = None
        return parse_timestamp(str(value)) if value is not None else None
    m = re.search(rf'(?:^|\s){re.escape(name)}=("[^"]*"|\S+)', line)
    return parse_timestamp(m.group(1)) if m else None


def _read_lines(files: list[str], follow: bool, poll: float) -> Iterator[str | None]:
    """Lines of the files in turn; with `follow`, None marks each idle poll of a file."""
    for name in files:
        handle: IO[str] = sys.stdin if name == "-" else open(name, encoding="utf-8")  # noqa: SIM115
        try:
            while True:
                line = handle.readline()
                if line:
                    if line.endswith("\n"):
                        line = line[:-1]
                    if line:
                        yield line
                    continue
                if not follow or name == "-":
                    break
                yield None
                time.sleep(poll)
        finally:
            if handle is not sys.stdin:
                handle.close()


def _entries(files: list[str], options: ShipOptions) -> Iterator[tuple[str, Entry] | None]:
    """(stream, entry) pairs of the input; None when a followed file is idle."""
    if options.fmt == "hubble":
        from loglake.hubble.flows import decode_hubble_line

        for line in _read_lines(files, options.follow, options.poll_interval):
            if line is None:
                yield None
                continue
            flow = decode_hubble_line(line)
            yield labels_text(flow.labels), (flow.ts_ns, flow.line)
        return
    stream = format_labels(parse_labels(options.labels))
    for line in _read_lines(files, options.follow, options.poll_interval):
        if line is None:
            yield None
            continue
        ts = field_timestamp(line, options.timestamp_field) if options.timestamp_field else None
        yield stream, (ts if ts is not None else time.time_ns(), line)


def ship(files: list[str], options: ShipOptions, progress: Progress | None = None) -> ShipStats:
    """Ship the lines of `files` in batches of `options.batch_size`; returns counters."""
    if options.fmt not in FORMATS:
        raise ValueError(f"unknown format {options.fmt!r}; choose one of {', '.join(FORMATS)}")
    stats = ShipStats()
    task = progress.add_task("push", total=None, detail="lines") if progress else None
    with PushClient(options.addr, options.tenant) as client:
        batch: dict[str, list[Entry]] = {}
        size = 0

        def send() -> None:
            nonlocal batch, size
            client.push(batch)
            stats.requests += 1
            stats.lines += size
            if progress is not None and task is not None:
                progress.update(task, completed=stats.lines)
            batch, size = {}, 0

        for item in _entries(files, options):
            if item is None:  # the followed file is idle: ship what we have
                if size:
                    send()
                continue
            stream, entry = item
            batch.setdefault(stream, []).append(entry)
            size += 1
            stats.bytes += len(entry[1].encode())
            if size >= options.batch_size:
                send()
        if size:
            send()
    return stats
