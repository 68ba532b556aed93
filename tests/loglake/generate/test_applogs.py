"""The application-log generator: deterministic, sized as asked, realistic logfmt."""

from __future__ import annotations

import re
from collections import Counter

import pyarrow as pa
import pytest

from loglake.generate.applogs import (
    DEFAULT_START_NS,
    NS_PER_SECOND,
    AppLogConfig,
    generate_app_logs,
    loki_push_batches,
    push_request_json,
    stream_labels,
)
from loglake.ingest.labels import labels_text, parse_labels

LOGFMT_PAIR = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s"=]+)(?: |$)')
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def logfmt(line: str) -> dict[str, str]:
    """Parse a logfmt line strictly: the pairs must cover the whole line."""
    pairs = list(LOGFMT_PAIR.finditer(line))
    assert "".join(m.group(0) for m in pairs) == line, line
    return {m.group(1): m.group(2).strip('"') for m in pairs}


def collect(config: AppLogConfig) -> tuple[list[dict[str, str]], list[int], list[str]]:
    labels, stamps, lines = [], [], []
    for batch in generate_app_logs(config):
        assert len(batch.timestamps_ns) == len(batch.lines)
        labels += [batch.labels] * len(batch.lines)
        stamps += batch.timestamps_ns
        lines += batch.lines
    return labels, stamps, lines


def test_same_seed_same_output_other_seed_other_output():
    config = AppLogConfig(seed=42, streams=10, total_lines=3000, batch_lines=500)
    assert collect(config) == collect(config)
    assert collect(config)[2] != collect(AppLogConfig(seed=43, streams=10, total_lines=3000))[2]


def test_total_lines_is_exact_and_streams_are_all_used():
    labels, _, lines = collect(AppLogConfig(seed=1, streams=50, total_lines=20_000))
    assert len(lines) == 20_000
    assert len({labels_text(lab) for lab in labels}) == 50


def test_total_bytes_and_average_line_length():
    _, _, lines = collect(AppLogConfig(seed=2, streams=20, total_bytes=2_000_000))
    size = sum(len(line.encode()) for line in lines)
    assert abs(size - 2_000_000) / 2_000_000 < 0.05
    assert 130 <= size / len(lines) <= 150


def test_lines_are_valid_logfmt_with_realistic_fields():
    _, stamps, lines = collect(AppLogConfig(seed=3, streams=16, total_lines=20_000))
    parsed = [logfmt(line) for line in lines]
    levels = Counter(p["level"] for p in parsed)
    assert levels["info"] / len(parsed) > 0.75
    assert 0.02 < levels["warn"] / len(parsed) < 0.15
    assert 0.01 < levels["error"] / len(parsed) < 0.1
    statuses = Counter(p["status"][0] for p in parsed if "status" in p)
    assert statuses["2"] / sum(statuses.values()) > 0.85
    assert statuses["4"] > 0 and statuses["5"] > 0
    durations = {p.get("duration") or p["took"] for p in parsed}
    assert len(durations) > 500
    trace_ids = [p["trace_id"] for p in parsed if "trace_id" in p]
    assert len(set(trace_ids)) == len(trace_ids) > len(parsed) / 2
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in trace_ids)
    # the line's own ts= is the entry timestamp, to the millisecond
    for p, ts in zip(parsed[:500], stamps[:500], strict=True):
        seconds, nanos = divmod(ts, NS_PER_SECOND)
        assert p["ts"].endswith(f".{nanos // 1_000_000:03d}Z")


def test_logs_compress_like_real_logs_not_trivially():
    _, _, lines = collect(AppLogConfig(seed=4, streams=5, total_lines=20_000))
    data = "\n".join(lines).encode()
    ratio = len(data) / len(pa.compress(data, codec="zstd", asbytes=True))
    assert 2.0 < ratio < 8.0


def test_labels_have_loki_names_and_realistic_cardinality():
    labels = stream_labels(AppLogConfig(streams=200))
    assert all(LABEL_NAME.fullmatch(name) for lab in labels for name in lab)
    assert len({lab["pod"] for lab in labels}) == 200
    assert len({lab["app"] for lab in labels}) == 16
    assert {lab["env"] for lab in labels} == {"prod", "staging", "dev"}
    assert len({lab["namespace"] for lab in labels}) < 16


def test_timestamps_in_range_with_configured_disorder():
    start, end = DEFAULT_START_NS, DEFAULT_START_NS + 600 * NS_PER_SECOND
    config = AppLogConfig(
        seed=5,
        streams=4,
        total_lines=40_000,
        start_ns=start,
        end_ns=end,
        out_of_order_fraction=0.05,
        batch_lines=5_000,
    )
    per_stream: dict[str, list[int]] = {}
    for batch in generate_app_logs(config):
        per_stream.setdefault(labels_text(batch.labels), []).extend(batch.timestamps_ns)
    stamps = [t for ts in per_stream.values() for t in ts]
    assert min(stamps) >= start and max(stamps) < end
    behind = 0
    for ts in per_stream.values():
        latest = ts[0]
        for t in ts[1:]:
            behind += t < latest
            latest = max(latest, t)
    assert 0.02 < behind / len(stamps) < 0.08
    # spread over the whole range, not bunched up
    assert max(stamps) - min(stamps) > 0.95 * (end - start)


def test_no_disorder_means_sorted_streams():
    config = AppLogConfig(seed=6, streams=3, total_lines=5_000, out_of_order_fraction=0.0)
    per_stream: dict[str, list[int]] = {}
    for batch in generate_app_logs(config):
        per_stream.setdefault(labels_text(batch.labels), []).extend(batch.timestamps_ns)
    assert all(ts == sorted(ts) for ts in per_stream.values())


def test_push_batches_regroup_the_same_lines():
    config = AppLogConfig(seed=7, streams=6, total_lines=2_345)
    pushes = list(loki_push_batches(config, lines_per_push=500))
    assert [sum(map(len, p.values())) for p in pushes] == [500] * 4 + [345]
    pushed = sorted(
        (key, ts, line) for p in pushes for key, entries in p.items() for ts, line in entries
    )
    generated = sorted(
        (labels_text(b.labels), ts, line)
        for b in generate_app_logs(config)
        for ts, line in zip(b.timestamps_ns, b.lines, strict=True)
    )
    assert pushed == generated
    body = push_request_json(pushes[0])
    stream = body["streams"][0]
    assert dict(parse_labels(labels_text(stream["stream"]))) == stream["stream"]
    assert isinstance(stream["values"][0][0], str)


def test_label_strings_round_trip_with_escapes():
    labels = {"a": 'say "hi"\\', "b": "x\ny"}
    assert dict(parse_labels(labels_text(labels))) == labels
    with pytest.raises(ValueError, match="parse error"):
        parse_labels("app=x")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"streams": 0},
        {"total_lines": 1, "total_bytes": 1},
        {"end_ns": DEFAULT_START_NS},
        {"out_of_order_fraction": 1.5},
        {"batch_lines": 0},
    ],
)
def test_bad_configuration_is_rejected(kwargs):
    with pytest.raises(ValueError):
        AppLogConfig(**kwargs)


def test_zero_lines_yield_nothing():
    assert list(generate_app_logs(AppLogConfig(total_lines=0))) == []
