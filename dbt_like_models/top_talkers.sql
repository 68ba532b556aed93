-- Flows per (source, destination) pair and day, reserved identities (host, health, remote-node)
-- left out as Hubble dashboards do; non-reply flows only, so a connection is counted from its
-- initiator's side.
SELECT
    src_ns,
    src_entity,
    dst_ns,
    dst_entity,
    count(*) AS flows,
    count(*) FILTER (WHERE verdict = 'DROPPED') AS dropped,
    count(DISTINCT dst_port) AS ports
FROM {{ ref('hubble_flows') }}
WHERE NOT coalesce(is_reply, FALSE)
    AND coalesce(src_identity, 0) NOT IN (1, 4, 6)
    AND coalesce(dst_identity, 0) NOT IN (1, 4, 6)
GROUP BY ALL
