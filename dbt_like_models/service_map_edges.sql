-- Service-map edges as Hubble UI draws them: source -> destination workload (or service), L4
-- protocol, port and verdict, from non-reply flows; L7 responses are skipped because their source
-- is the server.
SELECT
    src_entity AS source,
    coalesce(dst_service, dst_entity) AS destination,
    l4_proto,
    dst_port,
    verdict,
    count(*) AS flows,
    max(ts) AS last_seen
FROM {{ ref('hubble_flows') }}
WHERE is_reply IS NOT DISTINCT FROM FALSE
    AND coalesce(l7_type, '') <> 'RESPONSE'
    AND src_entity IS NOT NULL
    AND dst_entity IS NOT NULL
GROUP BY ALL
