"""Micro-benchmark of the push path: decode + validate + build Arrow for protobuf pushes.

Prints lines/s and MB/s (of raw log lines) for each stage, and ratios against the baseline of
the same process doing only snappy + `PushRequest.ParseFromString` (upb). Ratios, not
targets. The server's path is `decode_push_batch` (protobuf → Arrow columns) +
`build_entries` + `encode_landing_parts` (the landing object, one per request here; the
server shares objects between concurrent requests). `decode_push` is the list-of-streams
form other callers use.

    .venv/bin/python bench/push_decode.py [--lines 1000] [--streams 10] [--repeat 300]
"""

from __future__ import annotations

import argparse
import json
import time

import cramjam

from loglake.config import Limits
from loglake.ingest.push import build_entries, decode_push, decode_push_batch
from loglake.ingest.push_proto import PushRequest, encode_push
from storage.landing import encode_landing_parts


def make_batch(lines: int, streams: int, now: int) -> tuple[list, int]:
    """`lines` ~140-byte lines spread over `streams` streams; returns (streams, line bytes)."""
    out, total = [], 0
    per_stream = lines // streams
    for s in range(streams):
        entries = []
        for i in range(per_stream):
            line = (
                f"level=info ts=2024-05-01T10:00:{i % 60:02d}Z caller=server.go:{i} "
                f'msg="request done" method=GET path=/api/v1/items/{i} status=200 dur={i}ms'
            ).ljust(140, ".")
            total += len(line)
            entries.append((now + i, line))
        out.append((f'{{app="svc{s}", env="prod", namespace="ns", pod="svc{s}-abc"}}', entries))
    return out, total


def timed(fn, repeat: int) -> float:
    fn()
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()

    now = time.time_ns()
    streams, line_bytes = make_batch(args.lines, args.streams, now)
    body = encode_push(streams)
    json_body = json.dumps(
        {
            "streams": [
                {"stream": {"app": "x"}, "values": [[str(ts), line] for ts, line in e]}
                for _, e in streams
            ]
        }
    ).encode()
    limits = Limits()
    lines = args.streams * (args.lines // args.streams)

    def baseline() -> None:
        PushRequest().ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))

    def decode() -> None:
        decode_push_batch(body, "application/x-protobuf", None)

    def decode_streams() -> None:
        decode_push(body, "application/x-protobuf", None)

    def decode_build() -> None:
        build_entries(decode_push_batch(body, "application/x-protobuf", None), limits, "fake", now)

    def decode_build_encode() -> None:
        batch = decode_push_batch(body, "application/x-protobuf", None)
        result = build_entries(batch, limits, "fake", now)
        encode_landing_parts(result.rows, result.stream_labels, compress=False)

    def json_decode_build() -> None:
        build_entries(decode_push(json_body, "application/json", None), limits, "fake", now)

    base = timed(baseline, args.repeat)
    print(f"batch: {lines} lines, {line_bytes} line bytes, {len(body)} body bytes (snappy)")
    for name, fn in [
        ("baseline snappy+ParseFromString", baseline),
        ("decode_push_batch (protobuf)", decode),
        ("decode_push (protobuf, as streams)", decode_streams),
        ("decode+build_entries (protobuf)", decode_build),
        ("decode+build+landing encode (protobuf)", decode_build_encode),
        ("decode+build_entries (JSON)", json_decode_build),
    ]:
        seconds = base if fn is baseline else timed(fn, args.repeat)
        print(
            f"{name:42s} {seconds * 1e3:7.3f} ms/batch  {lines / seconds:12,.0f} lines/s  "
            f"{line_bytes / seconds / 1e6:8.1f} MB/s  x{seconds / base:5.1f} baseline"
        )


if __name__ == "__main__":
    main()
