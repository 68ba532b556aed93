"""The synthetic Hubble flow generator: deterministic, marked, decodable, covers the enums."""

from __future__ import annotations

import json
from collections import Counter
from functools import cache

from loglake.generate.hubble import (
    DEFAULT_START_NS,
    NS_PER_SECOND,
    FlowConfig,
    format_timestamp,
    generate_flow_lines,
    write_flow_file,
)
from loglake.hubble.flows import decode_hubble_line, parse_rfc3339_ns, read_hubble_batches

CONFIG = FlowConfig(seed=11, flows=10_000, nodes=4, lost_events_fraction=0.002)


@cache
def sample() -> tuple[str, ...]:
    return tuple(generate_flow_lines(CONFIG))


@cache
def flows() -> tuple[dict, ...]:
    return tuple(event["flow"] for event in map(json.loads, sample()) if "flow" in event)


def test_deterministic_and_exact_count():
    small = FlowConfig(seed=5, flows=777)
    lines = list(generate_flow_lines(small))
    assert len(lines) == 777
    assert lines == list(generate_flow_lines(small))
    assert lines != list(generate_flow_lines(FlowConfig(seed=6, flows=777)))
    assert list(generate_flow_lines(FlowConfig(flows=0))) == []


def test_every_line_decodes_and_is_marked_synthetic():
    end = CONFIG.end
    for line in sample():
        entry = decode_hubble_line(line)
        assert entry.line == line
        assert entry.labels["node"].startswith("synthetic-")
        assert DEFAULT_START_NS <= entry.ts_ns < end + 10 * NS_PER_SECOND
        event = json.loads(line)
        if entry.kind == "flow":
            flow = event["flow"]
            assert flow["time"] == event["time"]
            assert flow["emitter"]["version"].endswith("+synthetic")
            for side in ("source", "destination"):
                if "pod_name" in flow[side]:
                    assert flow[side]["cluster_name"] == "synthetic"
                    assert "k8s:io.cilium.k8s.policy.cluster=synthetic" in flow[side]["labels"]
    kinds = Counter(decode_hubble_line(line).kind for line in sample())
    assert kinds["lost_events"] > 0 and kinds["flow"] > 0.99 * len(sample())


def test_verdict_ratios_are_realistic():
    verdicts = Counter(flow["verdict"] for flow in flows())
    total = sum(verdicts.values())
    assert set(verdicts) == {
        "FORWARDED",
        "DROPPED",
        "AUDIT",
        "REDIRECTED",
        "TRACED",
        "TRANSLATED",
        "ERROR",
    }
    assert verdicts["FORWARDED"] / total > 0.7
    assert 0.01 < verdicts["DROPPED"] / total < 0.1
    assert verdicts["ERROR"] < verdicts["AUDIT"] < verdicts["DROPPED"]


def test_covers_the_enums_and_shapes():
    all_flows = flows()
    assert {f["Type"] for f in all_flows} == {"L3_L4", "L7", "SOCK"}
    assert {next(iter(f["l4"])) for f in all_flows} == {"TCP", "UDP", "ICMPv4", "ICMPv6"}
    assert {f["event_type"]["type"] for f in all_flows} == {1, 4, 5, 7, 129}
    points = {f.get("trace_observation_point") for f in all_flows} - {None}
    assert {"TO_ENDPOINT", "TO_PROXY", "TO_STACK", "TO_OVERLAY", "FROM_ENDPOINT"} <= points
    assert {f.get("traffic_direction") for f in all_flows} == {"INGRESS", "EGRESS", None}
    assert {f.get("is_reply") for f in all_flows} == {True, False, None}
    drops = Counter(f["drop_reason_desc"] for f in all_flows if f["verdict"] == "DROPPED")
    assert drops.most_common(1)[0][0] == "POLICY_DENIED"
    assert {"POLICY_DENY", "INVALID_SOURCE_IP", "CT_MAP_INSERTION_FAILED"} <= set(drops)
    for f in all_flows:
        if f["verdict"] == "DROPPED" and f["Type"] == "L3_L4":
            assert f["event_type"] == {"type": 1, "sub_type": f["drop_reason"]}
    dns = [f["l7"] for f in all_flows if "dns" in f.get("l7", {})]
    assert {d["type"] for d in dns} == {"REQUEST", "RESPONSE"}
    assert {d["dns"].get("rcode", 0) for d in dns if d["type"] == "RESPONSE"} == {0, 2, 3}
    http = [f["l7"] for f in all_flows if "http" in f.get("l7", {})]
    codes = {h["http"]["code"] // 100 for h in http if h["type"] == "RESPONSE"}
    assert codes == {2, 4, 5}
    assert all(isinstance(h["latency_ns"], str) for h in http if h["type"] == "RESPONSE")
    world = [f for f in all_flows if "reserved:world" in f["destination"].get("labels", [])]
    assert world and all(f["destination"].get("namespace") is None for f in world)
    assert any("destination_names" in f for f in world)


def test_zero_values_are_omitted_like_protojson():
    for flow in flows():
        assert flow.get("reply", True) is True
        for proto in flow["l4"].values():
            assert all(proto.get("flags", {}).values())
        assert flow["event_type"].get("sub_type", 1) != 0
        assert "" not in (flow["source"].get("namespace"), flow["destination"].get("namespace"))


def test_timestamps_have_protojson_precision_and_round_trip():
    stamps = [json.loads(line)["time"] for line in sample()]
    digits = Counter(len(s.split(".")[1]) - 1 if "." in s else 0 for s in stamps)
    assert digits[9] > digits[6] > 0
    for stamp in stamps[:2000]:
        assert format_timestamp(parse_rfc3339_ns(stamp)) == stamp


def test_written_file_reads_back(tmp_path):
    path = tmp_path / "events.log"
    config = FlowConfig(seed=2, flows=1_234)
    size = write_flow_file(path, config)
    assert size == path.stat().st_size
    entries = [e for batch in read_hubble_batches(path, batch_lines=500) for e in batch]
    assert [e.line for e in entries] == list(generate_flow_lines(config))
