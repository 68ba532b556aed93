-- One row per Hubble flow: the flat flow table of reference/hubble_analytics.md §0.
-- Reads the `{job="hubble"}` streams of `logs` (non-flow events such as lost_events carry an
-- `event` label and are left out). Every field is optional in protojson (zero values are
-- omitted, exporters can field-mask), so absent numbers become 0, absent flags false, and
-- absent enums their UNKNOWN name; `is_reply` stays NULL when unknown.
WITH lines AS (
    SELECT
        ts,
        -- one parse per line into a typed struct (absent keys are NULL); a bare Flow
        -- (legacy JSON output) is wrapped so it reads like a GetFlowsResponse
        json_transform(
            CASE
                WHEN regexp_matches(line, '"flow"\s*:\s*\{') THEN line
                ELSE '{"flow":' || line || '}'
            END,
            '{"node_name": "VARCHAR", "flow": {
        "time": "VARCHAR", "uuid": "VARCHAR", "verdict": "VARCHAR", "drop_reason": "INTEGER",
        "drop_reason_desc": "VARCHAR", "Type": "VARCHAR", "node_name": "VARCHAR",
        "event_type": {"type": "INTEGER", "sub_type": "INTEGER"},
        "trace_observation_point": "VARCHAR", "trace_reason": "VARCHAR",
        "traffic_direction": "VARCHAR", "is_reply": "BOOLEAN", "reply": "BOOLEAN",
        "source": {"ID": "BIGINT", "identity": "BIGINT", "namespace": "VARCHAR", "pod_name": "VARCHAR",
            "cluster_name": "VARCHAR", "labels": ["VARCHAR"],
            "workloads": [{"name": "VARCHAR", "kind": "VARCHAR"}]},
        "destination": {"ID": "BIGINT", "identity": "BIGINT", "namespace": "VARCHAR", "pod_name": "VARCHAR",
            "cluster_name": "VARCHAR", "labels": ["VARCHAR"],
            "workloads": [{"name": "VARCHAR", "kind": "VARCHAR"}]},
        "IP": {"source": "VARCHAR", "destination": "VARCHAR", "source_xlated": "VARCHAR",
            "ipVersion": "VARCHAR", "encrypted": "BOOLEAN"},
        "l4": {
            "TCP": {"source_port": "INTEGER", "destination_port": "INTEGER",
                "flags": {"SYN": "BOOLEAN", "ACK": "BOOLEAN", "FIN": "BOOLEAN", "RST": "BOOLEAN",
                    "PSH": "BOOLEAN"}},
            "UDP": {"source_port": "INTEGER", "destination_port": "INTEGER"},
            "SCTP": {"source_port": "INTEGER", "destination_port": "INTEGER"},
            "ICMPv4": {"type": "INTEGER", "code": "INTEGER"},
            "ICMPv6": {"type": "INTEGER", "code": "INTEGER"},
            "VRRP": {"type": "INTEGER"},
            "IGMP": {"type": "INTEGER"}
        },
        "l7": {
            "type": "VARCHAR", "latency_ns": "VARCHAR",
            "dns": {"query": "VARCHAR", "rcode": "INTEGER", "qtypes": ["VARCHAR"],
                "rrtypes": ["VARCHAR"], "ips": ["VARCHAR"]},
            "http": {"code": "INTEGER", "method": "VARCHAR", "url": "VARCHAR",
                "protocol": "VARCHAR"},
            "kafka": {"topic": "VARCHAR"}
        },
        "policy_match_type": "INTEGER",
        "source_names": ["VARCHAR"], "destination_names": ["VARCHAR"],
        "destination_service": {"namespace": "VARCHAR", "name": "VARCHAR"},
        "Summary": "VARCHAR"
    }}'
        ) AS doc
    FROM {{ source('loglake', 'logs') }}
    WHERE labels['job'] = 'hubble' AND labels['event'] IS NULL
),
fields AS (
    SELECT
        ts,
        coalesce(doc.node_name, doc.flow.node_name) AS node,
        doc.flow.uuid AS flow_uuid,
        coalesce(doc.flow.verdict, 'VERDICT_UNKNOWN') AS verdict,
        doc.flow.drop_reason_desc AS drop_reason_desc,
        doc.flow.drop_reason AS drop_reason_code,
        coalesce(doc.flow.Type, 'UNKNOWN_TYPE') AS flow_type,
        coalesce(doc.flow.event_type.type, 0) AS event_type,
        coalesce(doc.flow.event_type.sub_type, 0) AS event_subtype,
        doc.flow.trace_observation_point AS obs_point,
        doc.flow.trace_reason AS trace_reason,
        coalesce(doc.flow.traffic_direction, 'TRAFFIC_DIRECTION_UNKNOWN') AS direction,
        coalesce(doc.flow.is_reply, CASE WHEN doc.flow.reply THEN TRUE END) AS is_reply,
        doc.flow.source.namespace AS src_ns,
        doc.flow.source.pod_name AS src_pod,
        doc.flow.source.identity AS src_identity,
        coalesce(doc.flow.source.labels, []) AS src_labels,
        doc.flow.source.workloads[1].name AS src_workload_name,
        doc.flow.source.workloads[1].kind AS src_workload_kind,
        doc.flow.source.cluster_name AS src_cluster,
        doc.flow.destination.namespace AS dst_ns,
        doc.flow.destination.pod_name AS dst_pod,
        doc.flow.destination.identity AS dst_identity,
        coalesce(doc.flow.destination.labels, []) AS dst_labels,
        doc.flow.destination.workloads[1].name AS dst_workload_name,
        doc.flow.destination.workloads[1].kind AS dst_workload_kind,
        doc.flow.destination.cluster_name AS dst_cluster,
        doc.flow.IP.source AS src_ip,
        doc.flow.IP.destination AS dst_ip,
        doc.flow.IP.source_xlated AS src_ip_xlated,
        doc.flow.IP.ipVersion AS ip_version,
        coalesce(doc.flow.IP.encrypted, FALSE) AS encrypted,
        CASE
            WHEN doc.flow.l4.TCP IS NOT NULL THEN 'TCP'
            WHEN doc.flow.l4.UDP IS NOT NULL THEN 'UDP'
            WHEN doc.flow.l4.ICMPv4 IS NOT NULL THEN 'ICMPv4'
            WHEN doc.flow.l4.ICMPv6 IS NOT NULL THEN 'ICMPv6'
            WHEN doc.flow.l4.SCTP IS NOT NULL THEN 'SCTP'
            WHEN doc.flow.l4.VRRP IS NOT NULL THEN 'VRRP'
            WHEN doc.flow.l4.IGMP IS NOT NULL THEN 'IGMP'
        END AS l4_proto,
        coalesce(doc.flow.l4.TCP.source_port, doc.flow.l4.UDP.source_port,
            doc.flow.l4.SCTP.source_port) AS src_port_raw,
        coalesce(doc.flow.l4.TCP.destination_port, doc.flow.l4.UDP.destination_port,
            doc.flow.l4.SCTP.destination_port) AS dst_port_raw,
        coalesce(doc.flow.l4.ICMPv4, doc.flow.l4.ICMPv6) AS icmp,
        doc.flow.l4.TCP.flags AS tcp_flags,
        doc.flow.l7 AS l7,
        coalesce(doc.flow.policy_match_type, 0) AS policy_match_type,
        coalesce(doc.flow.source_names, []) AS src_names,
        coalesce(doc.flow.destination_names, []) AS dst_names,
        doc.flow.destination_service.namespace AS dst_service_ns,
        doc.flow.destination_service.name AS dst_service_name,
        doc.flow.Summary AS summary
    FROM lines
),
typed AS (
    SELECT
        *,
        -- app as Hubble's `app` context: app.kubernetes.io/name, else k8s-app, else app
        coalesce(
            nullif(regexp_extract(array_to_string(src_labels, chr(10)),
                '(?m)^k8s:app\.kubernetes\.io/name=(.*)$', 1), ''),
            nullif(regexp_extract(array_to_string(src_labels, chr(10)), '(?m)^k8s:k8s-app=(.*)$', 1), ''),
            nullif(regexp_extract(array_to_string(src_labels, chr(10)), '(?m)^k8s:app=(.*)$', 1), '')
        ) AS src_app,
        coalesce(
            nullif(regexp_extract(array_to_string(dst_labels, chr(10)),
                '(?m)^k8s:app\.kubernetes\.io/name=(.*)$', 1), ''),
            nullif(regexp_extract(array_to_string(dst_labels, chr(10)), '(?m)^k8s:k8s-app=(.*)$', 1), ''),
            nullif(regexp_extract(array_to_string(dst_labels, chr(10)), '(?m)^k8s:app=(.*)$', 1), '')
        ) AS dst_app,
        nullif(regexp_extract(array_to_string(src_labels, chr(10)), '(?m)^(reserved:.*)$', 1), '') AS src_reserved,
        nullif(regexp_extract(array_to_string(dst_labels, chr(10)), '(?m)^(reserved:.*)$', 1), '') AS dst_reserved
    FROM fields
)
SELECT
    make_timestamp(ts // 1000) AS ts,
    ts AS ts_ns,
    node,
    flow_uuid,
    verdict,
    CASE
        WHEN verdict = 'DROPPED'
            THEN coalesce(drop_reason_desc, CAST(drop_reason_code AS VARCHAR), 'DROP_REASON_UNKNOWN')
    END AS drop_reason,
    flow_type,
    event_type,
    event_subtype,
    obs_point,
    trace_reason,
    direction,
    is_reply,
    src_ns,
    src_pod,
    src_identity,
    src_labels,
    coalesce(src_workload_name, src_app) AS src_workload,
    src_workload_kind,
    src_app,
    src_cluster,
    src_reserved,
    coalesce(src_ns || '/' || coalesce(src_workload_name, src_app, src_pod), src_reserved, src_ip)
        AS src_entity,
    dst_ns,
    dst_pod,
    dst_identity,
    dst_labels,
    coalesce(dst_workload_name, dst_app) AS dst_workload,
    dst_workload_kind,
    dst_app,
    dst_cluster,
    dst_reserved,
    coalesce(dst_ns || '/' || coalesce(dst_workload_name, dst_app, dst_pod), dst_reserved, dst_ip)
        AS dst_entity,
    list_contains(dst_labels, 'reserved:world') AS dst_is_world,
    src_ip,
    dst_ip,
    src_ip_xlated,
    ip_version,
    encrypted,
    l4_proto,
    src_port_raw AS src_port,
    dst_port_raw AS dst_port,
    CASE WHEN icmp IS NOT NULL THEN coalesce(icmp.type, 0) END AS icmp_type,
    CASE WHEN icmp IS NOT NULL THEN coalesce(icmp.code, 0) END AS icmp_code,
    coalesce(tcp_flags.SYN, FALSE) AS tcp_syn,
    coalesce(tcp_flags.ACK, FALSE) AS tcp_ack,
    coalesce(tcp_flags.FIN, FALSE) AS tcp_fin,
    coalesce(tcp_flags.RST, FALSE) AS tcp_rst,
    coalesce(tcp_flags.PSH, FALSE) AS tcp_psh,
    -- Hubble's FlowProtocol(): L7 events by payload, L3/L4 events by their l4 header
    CASE
        WHEN event_type = 129 THEN
            CASE
                WHEN l7.dns IS NOT NULL THEN 'DNS'
                WHEN l7.http IS NOT NULL THEN 'HTTP'
                WHEN l7.kafka IS NOT NULL THEN 'Kafka'
                ELSE 'Unknown L7'
            END
        WHEN event_type IN (1, 3, 4, 5) THEN coalesce(l4_proto, 'Unknown L4')
        ELSE 'Unknown flow'
    END AS protocol,
    l7.type AS l7_type,
    TRY_CAST(l7.latency_ns AS BIGINT) AS l7_latency_ns,
    l7.dns.query AS dns_query,
    CASE WHEN l7.dns IS NOT NULL THEN coalesce(l7.dns.rcode, 0) END AS dns_rcode,
    coalesce(l7.dns.qtypes, []) AS dns_qtypes,
    coalesce(l7.dns.rrtypes, []) AS dns_rrtypes,
    coalesce(l7.dns.ips, []) AS dns_ips,
    l7.http.code AS http_code,
    l7.http.method AS http_method,
    l7.http.url AS http_url,
    l7.http.protocol AS http_protocol,
    policy_match_type,
    src_names,
    dst_names,
    CASE WHEN dst_service_name IS NOT NULL THEN coalesce(dst_service_ns || '/', '') || dst_service_name END
        AS dst_service,
    summary
FROM typed
