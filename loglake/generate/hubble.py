"""Seeded generator of synthetic Cilium Hubble flows, as exporter JSON lines.

Main interface: `generate_flow_lines(FlowConfig(...))` yields `GetFlowsResponse` JSON lines
(no trailing newline) such as the Hubble exporter writes to `events.log` and
`hubble observe -o json` prints; `generate_flow_events` yields the same as dicts and
`write_flow_file` writes an NDJSON file.

**Every generated record is synthetic and marked as such** while staying schema-valid:
node names start with `synthetic-` (`synthetic-worker-1`), endpoints carry
`cluster_name: "synthetic"` and the label `k8s:io.cilium.k8s.policy.cluster=synthetic`, and
the `emitter.version` ends in `+synthetic`.

The shapes follow the real captures in `data/hubble/` and `flow.proto` (see
`reference/hubble.md`): protojson field names (`IP`, `Type`, `Summary`, `is_reply`), zero
values omitted, 64-bit integers (`latency_ns`, `socket_cookie`) as strings, timestamps with
9, 6 or 3 fractional digits. A small shop runs on a few nodes, and each simulated event
produces the flows Hubble would record for it:

- HTTP calls through the L7 proxy: policy verdict (`REDIRECTED`, event type 5), `TO_PROXY`
  trace, L7 `REQUEST`/`RESPONSE` (type 129) with `latency_ns`, codes 2xx/4xx/5xx;
- DNS lookups to CoreDNS (UDP 53): L7 DNS requests and responses, `NXDOMAIN` (rcode 3) from
  search-domain expansion, rare `SERVFAIL` (rcode 2);
- TCP connections to databases with SYN, SYN-ACK, ACK/PSH, FIN traces at `TO_STACK`,
  `TO_OVERLAY`, `TO_ENDPOINT`, `FROM_ENDPOINT` (`TRACED`) with `trace_reason`;
- egress to `reserved:world` FQDN destinations with `destination_names`;
- ICMP health probes between `reserved:host`/`remote-node` and `reserved:health`;
- `DROPPED` flows (event type 1): `POLICY_DENIED` (most), `POLICY_DENY` with
  `ingress_denied_by`, `CT_MAP_INSERTION_FAILED`, `STALE_OR_UNROUTABLE_IP`,
  `INVALID_SOURCE_IP` (IPv6 router solicitations), dropped DNS queries;
- `AUDIT` policy verdicts, socket-LB `TRANSLATED` flows (`Type: SOCK`), rare `ERROR`;
- occasional `lost_events` records (not flows), as the exporter writes them.

>>> lines = list(generate_flow_lines(FlowConfig(seed=1, flows=5)))
>>> len(lines)
5
>>> import json
>>> json.loads(lines[0])["node_name"].startswith("synthetic-")
True
"""

from __future__ import annotations

import json
import math
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

NS_PER_SECOND = 1_000_000_000
DEFAULT_START_NS = 1_714_521_600 * NS_PER_SECOND
"""2024-05-01T00:00:00Z."""

CLUSTER = "synthetic"
EMITTER = {"name": "Hubble", "version": "1.17.3+synthetic"}


@dataclass(frozen=True)
class FlowConfig:
    """What to generate: `flows` JSON lines over `[start_ns, end_ns)` on `nodes` nodes.

    `lost_events_fraction` of the lines are `lost_events` records instead of flows.
    """

    seed: int = 0
    flows: int = 10_000
    start_ns: int = DEFAULT_START_NS
    end_ns: int | None = None
    nodes: int = 3
    lost_events_fraction: float = 0.0005

    def __post_init__(self) -> None:
        if self.flows < 0:
            raise ValueError("flows must not be negative")
        if self.nodes < 1:
            raise ValueError("nodes must be at least 1")
        if self.end_ns is not None and self.end_ns <= self.start_ns:
            raise ValueError("end_ns must be after start_ns")

    @property
    def end(self) -> int:
        """End of the time range (exclusive), Unix ns; one hour after start by default."""
        return self.end_ns if self.end_ns is not None else self.start_ns + 3600 * NS_PER_SECOND


def format_timestamp(ts_ns: int) -> str:
    """Render Unix ns as protojson renders a Timestamp: 0, 3, 6 or 9 fractional digits.

    >>> format_timestamp(1636540856871850100)
    '2021-11-10T10:40:56.871850100Z'
    >>> format_timestamp(1636540856095357000)
    '2021-11-10T10:40:56.095357Z'
    >>> format_timestamp(1636540856000000000)
    '2021-11-10T10:40:56Z'
    """
    seconds, nanos = divmod(ts_ns, NS_PER_SECOND)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{nanos // 1_000:06d}Z"
    return f"{text}.{nanos:09d}Z"


@dataclass(frozen=True)
class _Pod:
    name: str
    ip: str
    endpoint_id: int
    node: str
    mac: str


@dataclass(frozen=True)
class _Workload:
    namespace: str
    name: str
    kind: str
    identity: int
    port: int
    service_ip: str
    pods: tuple[_Pod, ...]
    app_label: str

    def endpoint(self, pod: _Pod, local: bool) -> dict[str, Any]:
        """The flow `Endpoint` for one of this workload's pods (`ID` only on its own node)."""
        labels = [
            f"k8s:{self.app_label}",
            f"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={self.namespace}",
            f"k8s:io.cilium.k8s.policy.cluster={CLUSTER}",
            f"k8s:io.cilium.k8s.policy.serviceaccount={self.name}",
            f"k8s:io.kubernetes.pod.namespace={self.namespace}",
        ]
        endpoint: dict[str, Any] = {"ID": pod.endpoint_id} if local else {}
        endpoint.update(
            identity=self.identity,
            cluster_name=CLUSTER,
            namespace=self.namespace,
            labels=labels,
            pod_name=pod.name,
            workloads=[{"name": self.name, "kind": self.kind}],
        )
        return endpoint


_WORKLOADS = (
    # namespace, name, kind, port, app label
    ("shop", "frontend", "Deployment", 8080, "app=frontend"),
    ("shop", "catalog", "Deployment", 8080, "app=catalog"),
    ("shop", "checkout", "Deployment", 8080, "app=checkout"),
    ("shop", "cart", "Deployment", 8080, "app=cart"),
    ("payments", "payments", "Deployment", 8443, "app=payments"),
    ("identity", "auth", "Deployment", 9000, "app=auth"),
    ("data", "postgres", "StatefulSet", 5432, "app=postgres"),
    ("data", "redis", "StatefulSet", 6379, "app=redis"),
    ("kube-system", "coredns", "Deployment", 53, "k8s-app=kube-dns"),
    ("monitoring", "prometheus", "StatefulSet", 9090, "app=prometheus"),
)
_HTTP_EDGES = (
    ("frontend", "catalog", ("/api/v1/products", "/api/v1/products/{id}", "/api/v1/categories")),
    ("frontend", "cart", ("/api/v1/carts/{id}", "/api/v1/carts/{id}/items")),
    ("frontend", "checkout", ("/api/v1/checkout", "/api/v1/orders/{id}")),
    ("checkout", "payments", ("/api/v1/payments", "/api/v1/payments/{id}")),
    ("checkout", "cart", ("/api/v1/carts/{id}",)),
    ("frontend", "auth", ("/api/v1/tokens", "/api/v1/sessions/{id}")),
    ("prometheus", "catalog", ("/metrics",)),
    ("prometheus", "checkout", ("/metrics",)),
    ("prometheus", "payments", ("/metrics",)),
)
_TCP_EDGES = (
    ("catalog", "postgres"),
    ("checkout", "postgres"),
    ("payments", "postgres"),
    ("cart", "redis"),
    ("auth", "redis"),
)
_DENIED_EDGES = (
    ("frontend", "postgres"),
    ("catalog", "payments"),
    ("cart", "auth"),
    ("prometheus", "redis"),
)
_WORLD = (
    ("api.stripe.com", "52.13.148.61", 16777217),
    ("github.com", "140.82.121.4", 16777218),
    ("s3.eu-west-1.amazonaws.com", "52.218.112.20", 16777219),
    ("oauth2.googleapis.com", "142.250.185.74", 16777220),
)
_WORLD_CLIENTS = ("payments", "checkout", "auth", "frontend")
_BLOCKED_DOMAINS = ("pool.minexmr.com.", "tracker.example-ads.net.")
_HTTP_CODES = ((200, 0.84), (201, 0.04), (204, 0.02), (404, 0.04), (500, 0.02), (503, 0.04))
_SCENARIOS = (
    ("http", 0.30),
    ("dns", 0.26),
    ("tcp", 0.14),
    ("world", 0.06),
    ("health", 0.08),
    ("drop", 0.07),
    ("audit", 0.03),
    ("sock", 0.05),
    ("error", 0.01),
)
_OTHER_DROPS = (
    ("CT_MAP_INSERTION_FAILED", 155, 0.4),
    ("STALE_OR_UNROUTABLE_IP", 151, 0.3),
    ("INVALID_SOURCE_IP", 132, 0.3),
)
_FIELD_ORDER = (
    "time",
    "uuid",
    "verdict",
    "drop_reason",
    "ethernet",
    "IP",
    "l4",
    "source",
    "destination",
    "Type",
    "node_name",
    "node_labels",
    "source_names",
    "destination_names",
    "l7",
    "reply",
    "event_type",
    "source_service",
    "destination_service",
    "traffic_direction",
    "policy_match_type",
    "trace_observation_point",
    "trace_reason",
    "drop_reason_desc",
    "is_reply",
    "interface",
    "proxy_port",
    "sock_xlate_point",
    "socket_cookie",
    "cgroup_id",
    "Summary",
    "file",
    "emitter",
    "egress_allowed_by",
    "ingress_allowed_by",
    "egress_denied_by",
    "ingress_denied_by",
)
_POD_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FLAG_ORDER = ("SYN", "ACK", "RST", "FIN", "PSH", "URG", "ECE", "CWR", "NS")
_RESERVED = {
    "host": {"identity": 1, "labels": ["reserved:host"]},
    "world": {"identity": 2, "labels": ["reserved:world"]},
    "health": {"identity": 4, "labels": ["reserved:health"]},
    "remote-node": {"identity": 6, "labels": ["reserved:remote-node"]},
}

_Flow = tuple[int, str, dict[str, Any]]
"""(time offset in ns from the event start, observing node, flow fields without `time`)."""


class _Cluster:
    """The synthetic cluster: nodes, workloads with pods and IPs, deterministic for a seed."""

    def __init__(self, rng: random.Random, nodes: int) -> None:
        self.nodes = [f"synthetic-worker-{i + 1}" for i in range(nodes)]
        self.node_ips = {n: f"172.18.0.{i + 2}" for i, n in enumerate(self.nodes)}
        self.workloads: dict[str, _Workload] = {}
        identity = 12_000
        for index, (namespace, name, kind, port, app_label) in enumerate(_WORKLOADS):
            identity += rng.randrange(50, 4000)
            pods = []
            for replica in range(2 if kind == "StatefulSet" else 3):
                node_index = (index + replica) % nodes
                if kind == "StatefulSet":
                    pod_name = f"{name}-{replica}"
                else:
                    replicaset = "".join(rng.choices(_POD_ALPHABET, k=10))
                    pod_name = f"{name}-{replicaset}-{''.join(rng.choices(_POD_ALPHABET, k=5))}"
                octets = rng.randbytes(6)
                # locally administered unicast, as veth MACs are
                mac = ":".join(f"{b:02x}" for b in (octets[0] & 0xFC | 0x02, *octets[1:]))
                pods.append(
                    _Pod(
                        name=pod_name,
                        ip=f"10.244.{node_index}.{rng.randrange(2, 254)}",
                        endpoint_id=rng.randrange(100, 4096),
                        node=self.nodes[node_index],
                        mac=mac,
                    )
                )
            service_ip = f"10.96.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
            self.workloads[name] = _Workload(
                namespace, name, kind, identity, port, service_ip, tuple(pods), app_label
            )

    def node_labels(self, node: str) -> list[str]:
        return [
            "kubernetes.io/arch=amd64",
            f"kubernetes.io/hostname={node}",
            "kubernetes.io/os=linux",
            f"topology.kubernetes.io/zone=synthetic-{self.nodes.index(node) % 3 + 1}",
        ]


class _FlowMaker:
    """Builds the flows of one simulated event; each method returns a list of `_Flow`."""

    def __init__(self, rng: random.Random, cluster: _Cluster) -> None:
        self.rng = rng
        self.cluster = cluster
        self.http_codes = [c for c, _ in _HTTP_CODES]
        self.http_weights = [w for _, w in _HTTP_CODES]

    # -- helpers ---------------------------------------------------------------------------

    def _pick(self, workload: str) -> tuple[_Workload, _Pod]:
        wl = self.cluster.workloads[workload]
        return wl, self.rng.choice(wl.pods)

    def _port(self) -> int:
        return self.rng.randrange(32768, 61000)

    @staticmethod
    def _tcp(sport: int, dport: int, *flags: str) -> dict[str, Any]:
        tcp: dict[str, Any] = {"source_port": sport, "destination_port": dport}
        if flags:
            tcp["flags"] = {f: True for f in flags}
        return {"TCP": tcp}

    @staticmethod
    def _summary_tcp(*flags: str) -> str:
        return "TCP Flags: " + ", ".join(f for f in _FLAG_ORDER if f in flags)

    def _flow(self, node: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("node_name", node)
        fields["node_labels"] = self.cluster.node_labels(node)
        fields["uuid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        fields["emitter"] = EMITTER
        return {k: fields[k] for k in _FIELD_ORDER if k in fields}

    @staticmethod
    def _ip(src: str, dst: str, **extra: str) -> dict[str, str]:
        version = "IPv6" if ":" in src else "IPv4"
        return {"source": src, "destination": dst, **extra, "ipVersion": version}

    @staticmethod
    def _eth(src: _Pod, dst: _Pod) -> dict[str, str]:
        return {"source": src.mac, "destination": dst.mac}

    def _allowed_by(self, wl: _Workload, direction: str) -> dict[str, list[dict[str, Any]]]:
        policy = {
            "name": f"allow-{wl.name}",
            "namespace": wl.namespace,
            "labels": [
                "k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy",
                f"k8s:io.cilium.k8s.policy.name=allow-{wl.name}",
                f"k8s:io.cilium.k8s.policy.namespace={wl.namespace}",
            ],
            "revision": str(self.rng.randrange(2, 40)),
            "kind": "CiliumNetworkPolicy",
        }
        return {f"{direction}_allowed_by": [policy]}

    # -- scenarios -------------------------------------------------------------------------

    def http(self) -> list[_Flow]:
        client_name, server_name, paths = self.rng.choice(_HTTP_EDGES)
        cwl, cpod = self._pick(client_name)
        swl, spod = self._pick(server_name)
        node = cpod.node
        sport, dport = self._port(), swl.port
        src, dst = cwl.endpoint(cpod, True), swl.endpoint(spod, spod.node == node)
        path = self.rng.choice(paths).format(id=self.rng.randrange(1, 100_000))
        method = "GET" if path == "/metrics" or self.rng.random() < 0.7 else "POST"
        url = f"http://{swl.name}.{swl.namespace}:{dport}{path}"
        code = self.rng.choices(self.http_codes, self.http_weights)[0]
        latency = int(self.rng.lognormvariate(math.log(12e6), 1.0))
        trace_id = f"{self.rng.getrandbits(128):032x}"
        headers = [
            {"key": "Accept", "value": "*/*"},
            {"key": "User-Agent", "value": f"{cwl.name}/1.4.2"},
            {"key": "Traceparent", "value": f"00-{trace_id}-{self.rng.getrandbits(64):016x}-01"},
        ]
        http: dict[str, Any] = {"method": method, "url": url, "protocol": "HTTP/1.1"}
        ip_out, ip_back = self._ip(cpod.ip, spod.ip), self._ip(spod.ip, cpod.ip)
        flows: list[_Flow] = []
        if self.rng.random() < 0.5:
            flows.append(
                (
                    0,
                    node,
                    self._flow(
                        node,
                        verdict="REDIRECTED",
                        ethernet=self._eth(cpod, spod),
                        IP=ip_out,
                        l4=self._tcp(sport, dport, "SYN"),
                        source=src,
                        destination=dst,
                        Type="L3_L4",
                        event_type={"type": 5},
                        traffic_direction="EGRESS",
                        policy_match_type=3,
                        is_reply=False,
                        Summary=self._summary_tcp("SYN"),
                        **self._allowed_by(swl, "egress"),
                    ),
                )
            )
            flows.append(
                (
                    20_000,
                    node,
                    self._flow(
                        node,
                        verdict="FORWARDED",
                        ethernet=self._eth(cpod, spod),
                        IP=ip_out,
                        l4=self._tcp(sport, dport, "SYN"),
                        source=src,
                        destination=dst,
                        Type="L3_L4",
                        event_type={"type": 4, "sub_type": 1},
                        traffic_direction="EGRESS",
                        trace_observation_point="TO_PROXY",
                        trace_reason="NEW",
                        is_reply=False,
                        proxy_port=15001,
                        Summary=self._summary_tcp("SYN"),
                    ),
                )
            )
        l7_request = {"type": "REQUEST", "http": {**http, "headers": headers}}
        flows.append(
            (
                400_000,
                node,
                self._flow(
                    node,
                    verdict="FORWARDED",
                    IP=ip_out,
                    l4=self._tcp(sport, dport),
                    source=src,
                    destination=dst,
                    Type="L7",
                    l7=l7_request,
                    event_type={"type": 129},
                    traffic_direction="EGRESS",
                    is_reply=False,
                    Summary=f"HTTP/1.1 {method} {url}",
                ),
            )
        )
        l7_response = {
            "type": "RESPONSE",
            "latency_ns": str(latency),
            "http": {"code": code, **http, "headers": headers},
        }
        flows.append(
            (
                400_000 + latency,
                node,
                self._flow(
                    node,
                    verdict="FORWARDED",
                    IP=ip_back,
                    l4=self._tcp(dport, sport),
                    source=dst,
                    destination=src,
                    Type="L7",
                    l7=l7_response,
                    reply=True,
                    event_type={"type": 129},
                    traffic_direction="EGRESS",
                    is_reply=True,
                    Summary=f"HTTP/1.1 {code} {latency // 1_000_000}ms ({method} {url})",
                ),
            )
        )
        return flows

    def dns(self, query: str | None = None, client: str | None = None) -> list[_Flow]:
        cwl, cpod = self._pick(client or self.rng.choice(list(self.cluster.workloads)[:7]))
        dwl, dpod = self._pick("coredns")
        node = cpod.node
        sport = self._port()
        src, dst = cwl.endpoint(cpod, True), dwl.endpoint(dpod, dpod.node == node)
        target = self.cluster.workloads[self.rng.choice(("catalog", "payments", "postgres"))]
        rcode = 0
        if query is None:
            roll = self.rng.random()
            if roll < 0.3:
                query = f"{target.name}.{target.namespace}.svc.{cwl.namespace}.svc.cluster.local."
                rcode = 3
            elif roll < 0.32:
                query = f"{self.rng.choice(_WORLD)[0]}."
                rcode = 2
            else:
                query = f"{target.name}.{target.namespace}.svc.cluster.local."
        qtype = "AAAA" if self.rng.random() < 0.3 else "A"
        ip_out, ip_back = self._ip(cpod.ip, dpod.ip), self._ip(dpod.ip, cpod.ip)
        udp_out = {"UDP": {"source_port": sport, "destination_port": 53}}
        udp_back = {"UDP": {"source_port": 53, "destination_port": sport}}
        dns_request = {"query": query, "observation_source": "proxy", "qtypes": [qtype]}
        flows: list[_Flow] = [
            (
                0,
                node,
                self._flow(
                    node,
                    verdict="FORWARDED",
                    ethernet=self._eth(cpod, dpod),
                    IP=ip_out,
                    l4=udp_out,
                    source=src,
                    destination=dst,
                    Type="L3_L4",
                    event_type={"type": 4, "sub_type": 1},
                    traffic_direction="EGRESS",
                    trace_observation_point="TO_PROXY",
                    trace_reason="NEW",
                    is_reply=False,
                    proxy_port=41243,
                    Summary="UDP",
                ),
            ),
            (
                80_000,
                node,
                self._flow(
                    node,
                    verdict="FORWARDED",
                    IP=ip_out,
                    l4=udp_out,
                    source=src,
                    destination=dst,
                    Type="L7",
                    l7={"type": "REQUEST", "dns": dns_request},
                    event_type={"type": 129},
                    traffic_direction="EGRESS",
                    is_reply=False,
                    Summary=f"DNS Query {query} {qtype}",
                ),
            ),
        ]
        latency = int(self.rng.lognormvariate(math.log(900_000), 0.8))
        answer: dict[str, Any] = {"query": query}
        if rcode == 0 and qtype == "A":
            answer.update(ips=[target.service_ip], ttl=30)
            summary = f'DNS Answer "{target.service_ip}" TTL: 30 (Proxy {query} {qtype})'
        elif rcode == 0:
            answer.update(ttl=30)
            summary = f"DNS Answer  TTL: 30 (Proxy {query} {qtype})"
        else:
            answer.update(ttl=4294967295)
            text = "Non-Existent Domain" if rcode == 3 else "Server Failure"
            summary = f"DNS Answer RCode: {text} TTL: 4294967295 (Proxy {query} {qtype})"
        answer["observation_source"] = "proxy"
        if rcode:
            answer["rcode"] = rcode
        answer["qtypes"] = [qtype]
        if "ips" in answer:
            answer["rrtypes"] = [qtype]
        flows.append(
            (
                80_000 + latency,
                node,
                self._flow(
                    node,
                    verdict="FORWARDED",
                    IP=ip_back,
                    l4=udp_back,
                    source=dst,
                    destination=src,
                    Type="L7",
                    l7={"type": "RESPONSE", "latency_ns": str(latency), "dns": answer},
                    reply=True,
                    event_type={"type": 129},
                    traffic_direction="EGRESS",
                    is_reply=True,
                    Summary=summary,
                ),
            )
        )
        return flows

    def tcp(self) -> list[_Flow]:
        client_name, server_name = self.rng.choice(_TCP_EDGES)
        cwl, cpod = self._pick(client_name)
        swl, spod = self._pick(server_name)
        sport, dport = self._port(), swl.port
        cnode, snode = cpod.node, spod.node
        out_point = ("TO_STACK", 3) if cnode == snode else ("TO_OVERLAY", 4)
        lxc = "lxc" + spod.mac.replace(":", "")[:11]
        interface = {"index": self.rng.randrange(10, 60), "name": lxc}
        steps = [
            # (offset, node, outbound?, flags, point, sub_type, reason, verdict)
            (0, cnode, True, ("SYN",), "FROM_ENDPOINT", 5, "NEW", "TRACED"),
            (15_000, cnode, True, ("SYN",), *out_point, "NEW", "FORWARDED"),
            (60_000, snode, True, ("SYN",), "TO_ENDPOINT", 0, "NEW", "FORWARDED"),
            (140_000, cnode, False, ("SYN", "ACK"), "TO_ENDPOINT", 0, "REPLY", "FORWARDED"),
            (180_000, snode, True, ("ACK",), "TO_ENDPOINT", 0, "ESTABLISHED", "FORWARDED"),
            (220_000, snode, True, ("ACK", "PSH"), "TO_ENDPOINT", 0, "ESTABLISHED", "FORWARDED"),
        ]
        if self.rng.random() < 0.5:
            steps.append(
                (
                    9_000_000,
                    snode,
                    True,
                    ("ACK", "FIN"),
                    "TO_ENDPOINT",
                    0,
                    "ESTABLISHED",
                    "FORWARDED",
                )
            )
        flows: list[_Flow] = []
        for offset, node, outbound, flags, point, sub_type, reason, verdict in steps:
            src_pod, dst_pod = (cpod, spod) if outbound else (spod, cpod)
            src_wl, dst_wl = (cwl, swl) if outbound else (swl, cwl)
            ports = (sport, dport) if outbound else (dport, sport)
            event_type = {"type": 4, "sub_type": sub_type} if sub_type else {"type": 4}
            fields: dict[str, Any] = dict(
                verdict=verdict,
                ethernet=self._eth(src_pod, dst_pod),
                IP=self._ip(src_pod.ip, dst_pod.ip),
                l4=self._tcp(*ports, *flags),
                source=src_wl.endpoint(src_pod, src_pod.node == node),
                destination=dst_wl.endpoint(dst_pod, dst_pod.node == node),
                Type="L3_L4",
                event_type=event_type,
                traffic_direction="EGRESS" if node == cnode and outbound else "INGRESS",
                trace_observation_point=point,
                trace_reason=reason,
                is_reply=not outbound,
                Summary=self._summary_tcp(*flags),
            )
            if not outbound:
                fields["reply"] = True
            if point == "TO_ENDPOINT":
                fields["interface"] = interface
            elif point == "TO_OVERLAY":
                fields["interface"] = {"index": 6, "name": "cilium_vxlan"}
            flows.append((offset, node, self._flow(node, **fields)))
        return flows

    def world(self) -> list[_Flow]:
        name, ip, identity = self.rng.choice(_WORLD)
        client = self.rng.choice(_WORLD_CLIENTS)
        flows = self.dns(query=f"{name}.", client=client)
        cwl, cpod = self._pick(client)
        node = cpod.node
        sport = self._port()
        world = {"identity": identity, "labels": [f"fqdn:{name}", "reserved:world"]}
        base = flows[-1][0] + 50_000
        common = dict(
            IP=self._ip(cpod.ip, ip),
            source=cwl.endpoint(cpod, True),
            destination=world,
            Type="L3_L4",
            destination_names=[name],
            traffic_direction="EGRESS",
            is_reply=False,
        )
        flows.append(
            (
                base,
                node,
                self._flow(
                    node,
                    verdict="FORWARDED",
                    l4=self._tcp(sport, 443, "SYN"),
                    event_type={"type": 5},
                    policy_match_type=4,
                    Summary=self._summary_tcp("SYN"),
                    **self._allowed_by(cwl, "egress"),
                    **common,
                ),
            )
        )
        snat = self._ip(cpod.ip, ip, source_xlated=self.cluster.node_ips[node])
        flows.append(
            (
                base + 30_000,
                node,
                self._flow(
                    node,
                    verdict="FORWARDED",
                    l4=self._tcp(sport, 443, "SYN"),
                    event_type={"type": 4, "sub_type": 11},
                    trace_observation_point="TO_NETWORK",
                    trace_reason="NEW",
                    interface={"index": 2, "name": "eth0"},
                    Summary=self._summary_tcp("SYN"),
                    **{**common, "IP": snat},
                ),
            )
        )
        return flows

    def health(self) -> list[_Flow]:
        node = self.rng.choice(self.cluster.nodes)
        remote = self.rng.random() < 0.5 and len(self.cluster.nodes) > 1
        peer = _RESERVED["remote-node" if remote else "host"]
        index = self.cluster.nodes.index(node)
        health_ip = f"10.244.{index}.{200 + index}"
        peer_ip = (
            f"10.244.{(index + 1) % len(self.cluster.nodes)}.1" if remote else f"10.244.{index}.1"
        )
        health = {"ID": 3000 + index, **_RESERVED["health"]}
        if self.rng.random() < 0.15:
            return [
                (
                    0,
                    node,
                    self._flow(
                        node,
                        verdict="FORWARDED",
                        IP=self._ip(f"fd00::{index + 10:x}", f"fd00::{index + 20:x}"),
                        l4={"ICMPv6": {"type": 128}},
                        source=peer,
                        destination=health,
                        Type="L3_L4",
                        event_type={"type": 4},
                        traffic_direction="INGRESS",
                        trace_observation_point="TO_ENDPOINT",
                        is_reply=False,
                        Summary="ICMPv6 EchoRequest",
                    ),
                )
            ]
        point = ("TO_OVERLAY", 4) if remote else ("TO_ENDPOINT", 0)
        request_type = {"type": 4, "sub_type": point[1]} if point[1] else {"type": 4}
        return [
            (
                0,
                node,
                self._flow(
                    node,
                    verdict="FORWARDED",
                    IP=self._ip(peer_ip, health_ip),
                    l4={"ICMPv4": {"type": 8}},
                    source=peer,
                    destination=health,
                    Type="L3_L4",
                    event_type=request_type,
                    traffic_direction="INGRESS",
                    trace_observation_point=point[0],
                    is_reply=False,
                    interface={"index": 10, "name": "lxc_health"},
                    Summary="ICMPv4 EchoRequest",
                ),
            ),
            (
                45_000,
                node,
                self._flow(
                    node,
                    verdict="FORWARDED",
                    IP=self._ip(health_ip, peer_ip),
                    l4={"ICMPv4": {}},
                    source=health,
                    destination=peer,
                    Type="L3_L4",
                    reply=True,
                    event_type={"type": 4, "sub_type": 3},
                    traffic_direction="INGRESS",
                    trace_observation_point="TO_STACK",
                    is_reply=True,
                    Summary="ICMPv4 EchoReply",
                ),
            ),
        ]

    def drop(self) -> list[_Flow]:
        roll = self.rng.random()
        if roll < 0.55:
            return self._policy_drop("POLICY_DENIED", 133)
        if roll < 0.7:
            return self._policy_drop("POLICY_DENY", 181)
        if roll < 0.8:
            return self._dns_drop()
        reason, code, _ = self.rng.choices(_OTHER_DROPS, [r[2] for r in _OTHER_DROPS])[0]
        node = self.rng.choice(self.cluster.nodes)
        if reason == "INVALID_SOURCE_IP":
            fields: dict[str, Any] = dict(
                IP=self._ip(f"fe80::{self.rng.getrandbits(16):x}:ff:fe72:fc14", "ff02::2"),
                l4={"ICMPv6": {"type": 133}},
                source={},
                destination={},
                Summary="ICMPv6 RouterSolicitation",
            )
        else:
            cwl, cpod = self._pick(self.rng.choice(("catalog", "checkout", "cart")))
            node = cpod.node
            sport = self._port()
            fields = dict(
                IP=self._ip(
                    cpod.ip, f"10.244.{self.rng.randrange(0, 8)}.{self.rng.randrange(2, 254)}"
                ),
                l4=self._tcp(sport, 8080, "SYN"),
                source=cwl.endpoint(cpod, True),
                destination={"identity": 2, "labels": ["reserved:world"]},
                traffic_direction="EGRESS",
                is_reply=False,
                Summary=self._summary_tcp("SYN"),
            )
        return [
            (
                0,
                node,
                self._flow(
                    node,
                    verdict="DROPPED",
                    drop_reason=code,
                    Type="L3_L4",
                    event_type={"type": 1, "sub_type": code},
                    drop_reason_desc=reason,
                    file={"name": "bpf_lxc.c", "line": self.rng.randrange(100, 2400)},
                    **fields,
                ),
            )
        ]

    def _policy_drop(self, reason: str, code: int) -> list[_Flow]:
        client_name, server_name = self.rng.choice(_DENIED_EDGES)
        cwl, cpod = self._pick(client_name)
        swl, spod = self._pick(server_name)
        node = spod.node
        sport = self._port()
        extra: dict[str, Any] = {}
        if reason == "POLICY_DENY":
            extra["ingress_denied_by"] = [
                {
                    "name": f"deny-to-{swl.name}",
                    "namespace": swl.namespace,
                    "labels": [f"k8s:io.cilium.k8s.policy.name=deny-to-{swl.name}"],
                    "revision": str(self.rng.randrange(2, 40)),
                    "kind": "CiliumNetworkPolicy",
                }
            ]
        flows: list[_Flow] = []
        # The client retransmits its SYN (after 1 s, then 2 s), each dropped again.
        for attempt, offset in enumerate((0, 1_000_000_000, 3_000_000_000)):
            if attempt and self.rng.random() < 0.4:
                break
            flows.append(
                (
                    offset + self.rng.randrange(0, 5_000_000),
                    node,
                    self._flow(
                        node,
                        verdict="DROPPED",
                        drop_reason=code,
                        ethernet=self._eth(cpod, spod),
                        IP=self._ip(cpod.ip, spod.ip),
                        l4=self._tcp(sport, swl.port, "SYN"),
                        source=cwl.endpoint(cpod, cpod.node == node),
                        destination=swl.endpoint(spod, True),
                        Type="L3_L4",
                        event_type={"type": 1, "sub_type": code},
                        traffic_direction="INGRESS",
                        drop_reason_desc=reason,
                        is_reply=False,
                        Summary=self._summary_tcp("SYN"),
                        file={"name": "bpf_lxc.c", "line": 2060},
                        **extra,
                    ),
                )
            )
        return flows

    def _dns_drop(self) -> list[_Flow]:
        cwl, cpod = self._pick(self.rng.choice(("cart", "catalog", "frontend")))
        dwl, dpod = self._pick("coredns")
        node = cpod.node
        query = self.rng.choice(_BLOCKED_DOMAINS)
        return [
            (
                0,
                node,
                self._flow(
                    node,
                    verdict="DROPPED",
                    drop_reason=133,
                    IP=self._ip(cpod.ip, dpod.ip),
                    l4={"UDP": {"source_port": self._port(), "destination_port": 53}},
                    source=cwl.endpoint(cpod, True),
                    destination=dwl.endpoint(dpod, dpod.node == node),
                    Type="L7",
                    l7={
                        "type": "REQUEST",
                        "dns": {"query": query, "observation_source": "proxy", "qtypes": ["A"]},
                    },
                    event_type={"type": 129},
                    traffic_direction="EGRESS",
                    drop_reason_desc="POLICY_DENIED",
                    is_reply=False,
                    Summary=f"DNS Query {query} A",
                ),
            )
        ]

    def audit(self) -> list[_Flow]:
        client_name, server_name = self.rng.choice(_DENIED_EDGES)
        cwl, cpod = self._pick(client_name)
        swl, spod = self._pick(server_name)
        node = spod.node
        return [
            (
                0,
                node,
                self._flow(
                    node,
                    verdict="AUDIT",
                    ethernet=self._eth(cpod, spod),
                    IP=self._ip(cpod.ip, spod.ip),
                    l4=self._tcp(self._port(), swl.port, "SYN"),
                    source=cwl.endpoint(cpod, cpod.node == node),
                    destination=swl.endpoint(spod, True),
                    Type="L3_L4",
                    event_type={"type": 5},
                    traffic_direction="INGRESS",
                    is_reply=False,
                    Summary=self._summary_tcp("SYN"),
                ),
            )
        ]

    def sock(self) -> list[_Flow]:
        client_name, server_name, _ = self.rng.choice(_HTTP_EDGES)
        cwl, cpod = self._pick(client_name)
        swl, spod = self._pick(server_name)
        node = cpod.node
        service = {"name": swl.name, "namespace": swl.namespace}
        return [
            (
                0,
                node,
                self._flow(
                    node,
                    verdict="TRANSLATED",
                    IP=self._ip(cpod.ip, spod.ip),
                    l4=self._tcp(self._port(), swl.port),
                    source=cwl.endpoint(cpod, True),
                    destination=swl.endpoint(spod, spod.node == node),
                    Type="SOCK",
                    event_type={"type": 7},
                    destination_service=service,
                    traffic_direction="EGRESS",
                    sock_xlate_point="SOCK_XLATE_POINT_POST_DIRECTION_FWD",
                    socket_cookie=str(self.rng.getrandbits(40)),
                    cgroup_id=str(self.rng.randrange(4000, 90_000)),
                ),
            )
        ]

    def error(self) -> list[_Flow]:
        flows = self.http()
        offset, node, response = flows[-1]
        response = {**response, "verdict": "ERROR"}
        response["l7"] = {**response["l7"], "http": {**response["l7"]["http"], "code": 502}}
        return [*flows[:-1], (offset, node, response)]


def generate_flow_events(config: FlowConfig) -> Iterator[dict[str, Any]]:
    """Yield `config.flows` GetFlowsResponse/ExportEvent objects (see the module docstring).

    Events are produced in simulation order: each event's flows are time-ordered, and event
    start times advance evenly across `[start_ns, end_ns)`, so lines are nearly (not
    strictly) time-ordered, as in an `events.log` written by several CPUs.
    """
    if config.flows == 0:
        return
    rng = random.Random(f"{config.seed}/hubble")
    maker = _FlowMaker(rng, _Cluster(random.Random(f"{config.seed}/cluster"), config.nodes))
    scenarios = [getattr(maker, name) for name, _ in _SCENARIOS]
    weights = [w for _, w in _SCENARIOS]
    span = config.end - config.start_ns
    emitted = 0
    while emitted < config.flows:
        base = config.start_ns + span * emitted // config.flows
        base += rng.randrange(0, max(1, span // config.flows))
        if rng.random() < config.lost_events_fraction:
            yield _lost_events(rng, rng.choice(maker.cluster.nodes), base)
            emitted += 1
            continue
        for offset, node, fields in rng.choices(scenarios, weights)[0]():
            if emitted == config.flows:
                return
            ts = base + offset
            if rng.random() < 0.05:
                ts -= ts % 1_000  # some clocks only give microseconds
            stamp = format_timestamp(ts)
            yield {"flow": {"time": stamp, **fields}, "node_name": node, "time": stamp}
            emitted += 1


def _lost_events(rng: random.Random, node: str, ts: int) -> dict[str, Any]:
    lost = {
        "source": "HUBBLE_RING_BUFFER",
        "num_events_lost": str(rng.randrange(1, 500)),
        "cpu": rng.randrange(0, 8),
    }
    return {"lost_events": lost, "node_name": node, "time": format_timestamp(ts)}


def generate_flow_lines(config: FlowConfig) -> Iterator[str]:
    """Yield the events as compact JSON lines (no newline), as the exporter writes them."""
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    for event in generate_flow_events(config):
        yield encode(event)


def write_flow_file(path: str | os.PathLike[str], config: FlowConfig) -> int:
    """Write the generated lines as an NDJSON file (like `events.log`); return its bytes."""
    size = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for line in generate_flow_lines(config):
            size += handle.write(line + "\n")
    return size
