"""Hubble JSON lines → entries: real captures, timestamps to the ns, clear errors."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from loglake.hubble.flows import (
    HubbleDecodeError,
    decode_hubble_event,
    decode_hubble_line,
    iter_hubble_entries,
    parse_rfc3339_ns,
    read_hubble_batches,
    to_stream_batches,
)

DATA = Path("/work/shared/data/hubble")
REAL_FILES = sorted(DATA.glob("*.json")) if DATA.is_dir() else []
needs_data = pytest.mark.skipif(not REAL_FILES, reason=f"real Hubble samples not found in {DATA}")


def read_all(path: Path) -> list:
    return [entry for batch in read_hubble_batches(path, batch_lines=100) for entry in batch]


@needs_data
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_every_real_file_decodes_line_for_line(path):
    entries = read_all(path)
    raw = path.read_bytes().decode().split("\n")
    assert [e.line for e in entries] == [line for line in raw if line]
    for entry in entries:
        flow = json.loads(entry.line)["flow"]
        assert entry.kind == "flow"
        assert entry.labels["job"] == "hubble"
        assert entry.labels["verdict"] == flow["verdict"]
        assert entry.labels["node"] == flow["node_name"]
        assert entry.labels.get("source_namespace") == flow["source"].get("namespace")
        assert entry.labels.get("destination_namespace") == flow["destination"].get("namespace")
        assert "" not in entry.labels.values()
        assert set(entry.labels) <= {
            "job",
            "node",
            "verdict",
            "source_namespace",
            "destination_namespace",
        }


@needs_data
def test_real_files_counts_and_verdicts():
    counts = {p.name: len(read_all(p)) for p in REAL_FILES}
    assert counts["hubble-otel__basic-sample-400-tcp-flows.json"] == 400
    assert counts["hubble-otel__basic-sample-400-icmpv4-flows.json"] == 18
    assert counts["hubble-otel__basic-sample-330-dns-flows.json"] == 330
    assert sum(counts.values()) == 1918
    verdicts = Counter(e.labels["verdict"] for p in REAL_FILES for e in read_all(p))
    assert verdicts == {"FORWARDED": 1459, "REDIRECTED": 457, "DROPPED": 2}
    namespaces = Counter(e.labels.get("source_namespace") for p in REAL_FILES for e in read_all(p))
    assert set(namespaces) == {"bookinfo", "kube-system", "istio-system", "jaeger", "default", None}


@needs_data
def test_docs_dropped_flows_labels():
    first, second = read_all(DATA / "cilium-docs__export-example-dropped.json")
    assert first.labels == {"job": "hubble", "node": "kind-kind/kind-worker", "verdict": "DROPPED"}
    assert second.labels == {
        "job": "hubble",
        "node": "kind-kind/kind-worker",
        "verdict": "DROPPED",
        "source_namespace": "default",
        "destination_namespace": "default",
    }
    # 2023-08-21T12:12:18Z = 1692619938 s (19590 days * 86400 + 12h12m18s)
    assert second.ts_ns == 1_692_619_938_510_175_415


@needs_data
def test_real_timestamps_to_the_nanosecond():
    icmp = read_all(DATA / "hubble-otel__basic-sample-400-icmpv4-flows.json")
    # line 2 has a 6-digit fraction: "2021-11-10T10:41:26.095357Z"
    # 2021-11-10 is day 18941 since the epoch: 18941 * 86400 + 10:41:26 = 1636540886
    assert icmp[1].ts_ns == 1_636_540_886_095_357_000
    dns = read_all(DATA / "hubble-otel__basic-sample-330-dns-flows.json")
    # "2021-10-04T11:22:26.593860659Z": day 18904 * 86400 + 11:22:26 = 1633346546
    assert dns[1].ts_ns == 1_633_346_546_593_860_659
    for entry in icmp + dns:
        assert entry.ts_ns == parse_rfc3339_ns(json.loads(entry.line)["flow"]["time"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-11-10T10:40:56.871850100Z", 1_636_540_856_871_850_100),
        ("2021-11-10T10:40:56.8718501Z", 1_636_540_856_871_850_100),
        ("2021-11-10T10:40:56Z", 1_636_540_856_000_000_000),
        ("2021-11-10T12:40:56.000000001+02:00", 1_636_540_856_000_000_001),
        ("2021-11-10t10:40:56.5z", 1_636_540_856_500_000_000),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000_000),
    ],
)
def test_rfc3339_parsing(text, expected):
    assert parse_rfc3339_ns(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2021-11-10 10:40:56Z",
        "2021-11-10T10:40:56",
        "2021-11-10T10:40:56.1234567890Z",
        "2021-02-30T00:00:00Z",
        "2021-11-10T24:00:00Z",
        "2016-12-31T23:59:60Z",
        "1636540856",
    ],
)
def test_rfc3339_rejects(text):
    with pytest.raises(ValueError, match="invalid RFC 3339 timestamp"):
        parse_rfc3339_ns(text)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"flow":{"time":', "invalid JSON: Expecting value at column 17"),
        ("not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"hello": "world"}', "not a Hubble event"),
        ('{"flow": "x"}', "flow: expected a JSON object"),
        ('{"flow": {"time": "yesterday"}}', "flow: invalid RFC 3339 timestamp 'yesterday'"),
        ('{"flow": {"time": 12}}', "invalid RFC 3339 timestamp 12"),
        ('{"flow": {"verdict": "DROPPED"}}', "no timestamp"),
        ('{"flow": {"time": "2021-11-10T10:40:56Z", "verdict": 2}}', "flow.verdict: expected"),
        ('{"flow": {"time": "2021-11-10T10:40:56Z", "source": []}}', "flow.source: expected"),
        (b'{"flow": "\xff"}', "not valid UTF-8 at byte 10"),
    ],
)
def test_bad_input_rejected_clearly(line, message):
    with pytest.raises(HubbleDecodeError, match=message.replace("(", r"\(").replace(".", r"\.")):
        decode_hubble_line(line)


def test_errors_name_the_file_and_line_or_are_skipped(tmp_path):
    good = '{"flow":{"time":"2021-11-10T10:40:56Z","verdict":"FORWARDED"},"node_name":"n1"}'
    path = tmp_path / "events.log"
    path.write_text(f"{good}\n\n{good}\n{{oops\n{good}\n")
    with pytest.raises(HubbleDecodeError, match=r"events\.log line 4: invalid JSON"):
        read_all(path)
    entries = [e for b in read_hubble_batches(path, skip_invalid=True) for e in b]
    assert len(entries) == 3


def test_other_event_kinds_and_bare_flows():
    lost = decode_hubble_line(
        '{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"3","cpu":1},'
        '"node_name":"kind-worker","time":"2024-05-01T00:00:00.5Z"}'
    )
    assert lost.kind == "lost_events"
    assert lost.labels == {"job": "hubble", "node": "kind-worker", "event": "lost_events"}
    assert lost.ts_ns == 1_714_521_600_500_000_000
    status = decode_hubble_event(
        {
            "node_status": {"state_change": "NODE_CONNECTED", "node_names": ["a"]},
            "time": "2024-05-01T00:00:00Z",
        }
    )
    assert status.labels == {"job": "hubble", "event": "node_status"}
    assert status.line == (
        '{"node_status":{"state_change":"NODE_CONNECTED","node_names":["a"]},'
        '"time":"2024-05-01T00:00:00Z"}'
    )
    agent = decode_hubble_line(
        '{"agent_event":{"type":"AGENT_STARTED"},"time":"2024-05-01T00:00:00Z"}'
    )
    assert agent.labels["event"] == "agent_event"
    bare = decode_hubble_line(
        '{"time":"2024-05-01T00:00:01Z","verdict":"AUDIT","node_name":"n2",'
        '"source":{"namespace":"a"},"destination":{"namespace":"b"}}'
    )
    assert bare.kind == "flow"
    assert bare.labels == {
        "job": "hubble",
        "node": "n2",
        "verdict": "AUDIT",
        "source_namespace": "a",
        "destination_namespace": "b",
    }


def test_missing_time_uses_default_when_given():
    line = '{"flow":{"verdict":"DROPPED"},"node_name":"n"}'
    assert decode_hubble_line(line, default_ts_ns=7).ts_ns == 7
    # the envelope time stands in for a field-masked flow.time
    entry = decode_hubble_line('{"flow":{"verdict":"DROPPED"},"time":"1970-01-01T00:00:01Z"}')
    assert entry.ts_ns == 1_000_000_000


def test_line_kept_exactly_and_sources_of_all_kinds(tmp_path):
    line = '{ "flow" : {"time":"2021-11-10T10:40:56.1Z", "verdict":"FORWARDED"} }'
    assert decode_hubble_line(line + "\r\n").line == line
    assert decode_hubble_line(line.encode() + b"\n").line == line
    gz = tmp_path / "events.log.1.gz"
    gz.write_bytes(gzip.compress((line + "\n").encode() * 5))
    assert [len(b) for b in read_hubble_batches(gz, batch_lines=2)] == [2, 2, 1]
    text_stream = io.StringIO((line + "\n") * 3)
    assert sum(map(len, read_hubble_batches(text_stream))) == 3
    binary_stream = io.BytesIO((line + "\n").encode() * 3)
    assert sum(map(len, read_hubble_batches(binary_stream))) == 3
    assert sum(map(len, read_hubble_batches([line, line]))) == 2


def test_stream_batches_group_by_label_set():
    lines = [
        '{"flow":{"time":"1970-01-01T00:00:01Z","verdict":"FORWARDED"}}',
        '{"flow":{"time":"1970-01-01T00:00:02Z","verdict":"DROPPED"}}',
        '{"flow":{"time":"1970-01-01T00:00:03Z","verdict":"FORWARDED"}}',
    ]
    streams = to_stream_batches(iter_hubble_entries(lines))
    assert [(s[0]["verdict"], s[1]) for s in streams] == [
        ("FORWARDED", [1_000_000_000, 3_000_000_000]),
        ("DROPPED", [2_000_000_000]),
    ]
    assert streams[0][2] == [lines[0], lines[2]]


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00Z", "2262-04-11T23:47:16.854775808Z"])
def test_timestamps_an_entry_cannot_hold_are_rejected_not_landed(stamp):
    # An entry's timestamp is an int64 of nanoseconds: 1677-09-21 to 2262-04-11.
    with pytest.raises(HubbleDecodeError, match="out of range"):
        decode_hubble_line(json.dumps({"flow": {"time": stamp}}))
    last = decode_hubble_line('{"flow":{"time":"2262-04-11T23:47:16.854775807Z"}}')
    assert last.ts_ns == 2**63 - 1
