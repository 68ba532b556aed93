-- Audit-mode report: policy verdicts that would have been dropped had the policy been enforced
-- (verdict AUDIT), by the pair and port a new allow rule would have to cover.
SELECT
    src_ns,
    src_workload,
    src_entity,
    dst_ns,
    dst_workload,
    dst_entity,
    l4_proto,
    dst_port,
    direction,
    count(*) AS flows,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM {{ ref('hubble_flows') }}
WHERE verdict = 'AUDIT'
GROUP BY ALL
