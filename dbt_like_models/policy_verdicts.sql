-- hubble_policy_verdicts_total{direction,match} (+ verdict and workload context): policy-verdict
-- events only (event type 5), skipping the host as source and health endpoints on either side.
SELECT
    date_trunc('hour', ts) AS hour,
    CASE direction
        WHEN 'INGRESS' THEN 'ingress'
        WHEN 'EGRESS' THEN 'egress'
        ELSE 'traffic_direction_unknown'
    END AS direction,
    coalesce(
        ['none', 'L3-Only', 'L3-L4', 'L4-Only', 'all', 'L3-Proto', 'Proto-Only'][policy_match_type + 1],
        CAST(policy_match_type AS VARCHAR)
    ) AS match,
    verdict,
    src_ns,
    src_workload,
    dst_ns,
    dst_workload,
    count(*) AS verdicts
FROM {{ ref('hubble_flows') }}
WHERE event_type = 5
    AND coalesce(src_identity, 0) <> 1
    AND coalesce(src_identity, 0) <> 4
    AND coalesce(dst_identity, 0) <> 4
GROUP BY ALL
