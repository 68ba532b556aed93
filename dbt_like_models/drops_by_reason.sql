-- hubble_drop_total{reason,protocol}, per hour, with who was blocked (source -> destination:port),
-- the node and the direction: the `hubble observe --verdict DROPPED` questions.
SELECT
    date_trunc('hour', ts) AS hour,
    drop_reason AS reason,
    protocol,
    node,
    direction,
    src_ns,
    src_workload,
    src_entity,
    dst_ns,
    dst_workload,
    dst_entity,
    dst_port,
    count(*) AS drops,
    max(ts) AS last_seen
FROM {{ ref('hubble_flows') }}
WHERE verdict = 'DROPPED'
GROUP BY ALL
