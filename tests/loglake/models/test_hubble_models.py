"""Every Hubble model over the real shared flows plus labelled synthetic ones: the figures the
models produce equal figures computed here, independently, from the raw JSON lines."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from loglake.lake import Lake
from loglake.models import build_models, load_project, register_models
from storage import duck
from storage.snapshot import take_snapshot
from tests.loglake.models.conftest import SYNTHETIC_DAY, TENANT, land_lines, unique_flows

DAY_REAL = ("2021-06-16", "2021-10-04", "2021-11-10", "2023-08-21")


@pytest.fixture(scope="module")
def built(built_lake: tuple[Lake, list], flow_lines: dict[str, list[str]]):
    """The lake with every model built; yields (query function, parsed flows)."""
    hubble_lake, results = built_lake
    failed = [(r.model, r.day, c.test.name) for r in results for c in r.failed_checks]
    assert failed == []
    flows = [
        doc["flow"]
        for doc in unique_flows(flow_lines["real"] + flow_lines["synthetic"])
        if "flow" in doc
    ]
    con = duck.connect(hubble_lake.store)
    duck.register_logs(con, hubble_lake.store, take_snapshot(hubble_lake.store, TENANT))
    register_models(con, hubble_lake.store, TENANT)

    def query(sql: str) -> list[tuple]:
        return con.execute(sql).fetchall()

    yield query, flows
    con.close()


def test_every_model_builds_for_every_day(built_lake: tuple[Lake, list]) -> None:
    _, results = built_lake
    project = load_project()
    days = {r.day for r in results}
    assert days == {*DAY_REAL, SYNTHETIC_DAY}
    assert {(r.model, r.day) for r in results} == {(m, d) for m in project.models for d in days}
    assert all(r.status == "built" for r in results)


def test_hubble_flows_has_one_row_per_distinct_flow(built) -> None:
    query, flows = built
    assert query("SELECT count(*) FROM hubble_flows") == [(len(flows),)]
    per_day = Counter(f["time"][:10] for f in flows)
    got = dict(query("SELECT CAST(date AS VARCHAR), count(*) FROM hubble_flows GROUP BY 1"))
    assert got == per_day
    # the synthetic rows are labelled as such
    synthetic = sum(1 for f in flows if f.get("node_name", "").startswith("synthetic-"))
    assert query("SELECT count(*) FROM hubble_flows WHERE node LIKE 'synthetic-%'") == [
        (synthetic,)
    ]


def test_flows_by_verdict_counts_every_flow_once(built) -> None:
    query, flows = built
    expected = Counter(f.get("verdict", "VERDICT_UNKNOWN") for f in flows)
    got = dict(query("SELECT verdict, sum(flows) FROM flows_by_verdict GROUP BY verdict"))
    assert got == expected
    traces = Counter(
        ["to-endpoint", "to-proxy", "to-host", "to-stack", "to-overlay"][
            f["event_type"].get("sub_type", 0)
        ]
        for f in flows
        if f.get("event_type", {}).get("type") == 4 and f["event_type"].get("sub_type", 0) < 5
    )
    got = dict(
        query("SELECT subtype, sum(flows) FROM flows_by_verdict WHERE type = 'Trace' GROUP BY 1")
    )
    assert {k: v for k, v in got.items() if k in traces} == traces


def test_drops_by_reason(built) -> None:
    query, flows = built
    expected = Counter(f.get("drop_reason_desc") for f in flows if f.get("verdict") == "DROPPED")
    got = dict(query("SELECT reason, sum(drops) FROM drops_by_reason GROUP BY reason"))
    assert got == expected
    # the two real DROPPED records (Cilium docs) are there, POLICY_DENIED included
    assert expected["POLICY_DENIED"] > 1 and expected["INVALID_SOURCE_IP"] >= 1


def test_policy_verdicts_and_audit_report(built) -> None:
    query, flows = built

    def counted(f: dict) -> bool:
        src, dst = f.get("source", {}).get("identity", 0), f.get("destination", {}).get("identity")
        return f.get("event_type", {}).get("type") == 5 and src not in (1, 4) and dst != 4

    expected = Counter(f.get("verdict") for f in flows if counted(f))
    got = dict(query("SELECT verdict, sum(verdicts) FROM policy_verdicts GROUP BY verdict"))
    assert got == expected
    audits = sum(1 for f in flows if f.get("verdict") == "AUDIT")
    assert audits > 0
    assert query("SELECT sum(flows) FROM policy_audit") == [(audits,)]


def _is_reply(f: dict) -> bool | None:
    if "is_reply" in f:
        return f["is_reply"]
    return True if f.get("reply") else None


def test_dns_queries_and_errors(built) -> None:
    query, flows = built
    dns = [f for f in flows if "dns" in f.get("l7", {})]
    responses = [f for f in dns if f.get("verdict") != "DROPPED" and _is_reply(f)]
    nxdomain = sum(1 for f in responses if f["l7"]["dns"].get("rcode", 0) == 3)
    servfail = sum(1 for f in responses if f["l7"]["dns"].get("rcode", 0) == 2)
    denied = sum(1 for f in dns if f.get("verdict") == "DROPPED")
    real_nxdomain = sum(
        1 for f in responses if f["l7"]["dns"].get("rcode") == 3 and "synthetic" not in str(f)
    )
    assert real_nxdomain == 102  # the documented search-domain storm in the real captures
    assert dict(query("SELECT kind, sum(flows) FROM dns_queries GROUP BY kind")) == {
        "query": len(dns) - len(responses),
        "response": len(responses),
    }
    got = dict(query("SELECT rcode, sum(errors) FROM dns_errors GROUP BY rcode"))
    assert got["Non-Existent Domain"] == nxdomain
    assert got.get("Server Failure", 0) == servfail
    assert got.get("Policy denied", 0) == denied
    assert denied > 0 and servfail > 0


def test_http_golden_signals_count_responses_like_httpv2(built) -> None:
    query, flows = built
    responses = [
        f
        for f in flows
        if f.get("l7", {}).get("type") == "RESPONSE" and "code" in f["l7"].get("http", {})
    ]
    codes = Counter(f["l7"]["http"]["code"] for f in responses)
    real_503 = sum(
        1 for f in responses if f["l7"]["http"]["code"] == 503 and "synthetic" not in str(f)
    )
    assert real_503 == 151
    [(requests, errors_5xx, errors_4xx)] = query(
        "SELECT sum(requests), sum(errors_5xx), sum(errors_4xx) FROM http_golden_signals"
    )
    assert requests == len(responses)
    assert errors_5xx == sum(n for code, n in codes.items() if code >= 500)
    assert errors_4xx == sum(n for code, n in codes.items() if 400 <= code < 500)
    # p50 of one destination, from the raw latency strings
    latencies = sorted(
        int(f["l7"]["latency_ns"]) / 1e9
        for f in responses
        if f.get("source", {}).get("pod_name", "").startswith("details-")
        and "latency_ns" in f["l7"]
    )
    # Responses carry the server as source; these have no labels, so the pod names it.
    [(p50,)] = query(
        "SELECT latency_p50_s FROM http_golden_signals WHERE dst_workload LIKE 'bookinfo/details-%'"
    )
    n = len(latencies)
    median = (latencies[(n - 1) // 2] + latencies[n // 2]) / 2
    assert p50 == pytest.approx(median)


def test_tcp_connection_health(built) -> None:
    query, flows = built
    tcp = [f for f in flows if f.get("verdict") == "FORWARDED" and "TCP" in f.get("l4", {})]
    flags = [f["l4"]["TCP"].get("flags", {}) for f in tcp]
    expected = (
        sum(1 for g in flags if g.get("SYN") and not g.get("ACK")),
        sum(1 for g in flags if g.get("SYN") and g.get("ACK")),
        sum(1 for g in flags if g.get("FIN")),
        sum(1 for g in flags if g.get("RST")),
    )
    got = query("SELECT sum(syn), sum(syn_ack), sum(fin), sum(rst) FROM tcp_connection_health")
    assert got == [expected]
    [(ratio,)] = query(
        "SELECT max(unanswered_syn_ratio) FROM tcp_connection_health "
        "WHERE server = 'bookinfo/reviews'"
    )
    assert 0 < ratio < 1


def test_top_talkers_service_map_and_world(built) -> None:
    query, flows = built

    def identity(f: dict, side: str) -> int:
        return f.get(side, {}).get("identity", 0)

    talkers = [
        f
        for f in flows
        if not _is_reply(f)
        and identity(f, "source") not in (1, 4, 6)
        and identity(f, "destination") not in (1, 4, 6)
    ]
    assert query("SELECT sum(flows) FROM top_talkers") == [(len(talkers),)]

    world = [
        f
        for f in flows
        if "reserved:world" in f.get("destination", {}).get("labels", [])
        and not _is_reply(f)
        and (f.get("verdict") != "DROPPED" or f.get("drop_reason_desc") == "POLICY_DENIED")
    ]
    assert len(world) > 0
    assert query("SELECT sum(flows) FROM flows_to_world") == [(len(world),)]

    edges = [
        f for f in flows if _is_reply(f) is False and f.get("l7", {}).get("type") != "RESPONSE"
    ]
    assert query("SELECT sum(flows) FROM service_map_edges") == [(len(edges),)]
    edge = query(
        "SELECT flows FROM service_map_edges WHERE source = 'bookinfo/productpage' "
        "AND destination = 'bookinfo/details' AND dst_port = 9080 AND verdict = 'REDIRECTED'"
    )
    expected = sum(
        1
        for f in edges
        if f.get("source", {}).get("pod_name", "").startswith("productpage-")
        and f.get("destination", {}).get("pod_name", "").startswith("details-")
        and f.get("verdict") == "REDIRECTED"
        and f["l4"].get("TCP", {}).get("destination_port") == 9080
    )
    assert edge == [(expected,)]


def test_staging_model_reads_flows_with_fields_missing(tmp_path) -> None:
    """Field-masked exporter output, a bare Flow and a flow with nothing but its time."""
    from loglake.config import load_settings

    lake = Lake.open(load_settings(lake=str(tmp_path / "lake")))
    lines = [
        json.dumps({"flow": {"time": "2024-06-01T00:00:01Z"}}),
        json.dumps(
            {
                "flow": {
                    "time": "2024-06-01T00:00:02Z",
                    "verdict": "DROPPED",
                    "drop_reason": 133,
                    "l4": {"ICMPv4": {}},
                    "source": {},
                    "is_reply": False,
                },
                "node_name": "kind-kind/kind-worker",
            }
        ),
        json.dumps({"time": "2024-06-01T00:00:03Z", "verdict": "FORWARDED", "Type": "L3_L4"}),
        json.dumps(
            {"lost_events": {"source": "HUBBLE_RING_BUFFER"}, "time": "2024-06-01T00:00:04Z"}
        ),
    ]
    land_lines(lake, "t", lines)
    build_models(lake.store, tenants=["t"])
    con = duck.connect(lake.store)
    register_models(con, lake.store, "t")
    rows = con.execute(
        "SELECT verdict, drop_reason, direction, is_reply, l4_proto, icmp_type, tcp_syn, "
        "protocol, event_type, node FROM hubble_flows ORDER BY ts"
    ).fetchall()
    assert rows == [
        ("VERDICT_UNKNOWN", None, "TRAFFIC_DIRECTION_UNKNOWN", None, None, None, False,
         "Unknown flow", 0, None),
        ("DROPPED", "133", "TRAFFIC_DIRECTION_UNKNOWN", False, "ICMPv4", 0, False,
         "Unknown flow", 0, "kind-kind/kind-worker"),
        ("FORWARDED", None, "TRAFFIC_DIRECTION_UNKNOWN", None, None, None, False,
         "Unknown flow", 0, None),
    ]  # fmt: skip
