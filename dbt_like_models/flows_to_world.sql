-- hubble_flows_to_world_total{protocol,verdict} (+ port): non-reply flows whose destination is
-- `reserved:world`; drops count only when the reason is POLICY_DENIED (Hubble's default).
SELECT
    date_trunc('hour', ts) AS hour,
    protocol,
    verdict,
    src_ns,
    src_workload,
    dst_port,
    coalesce(dst_names[1], dst_ip) AS destination,
    count(*) AS flows
FROM {{ ref('hubble_flows') }}
WHERE dst_is_world
    AND NOT coalesce(is_reply, FALSE)
    AND (verdict <> 'DROPPED' OR drop_reason = 'POLICY_DENIED')
GROUP BY ALL
