-- hubble_tcp_flags_total{flag,family} per destination: FORWARDED TCP flows only; SYN without ACK
-- is SYN, SYN with ACK is SYN-ACK, FIN and RST by themselves. SYN-ACKs travel server -> client, so
-- they are keyed back to the connection's destination (the flow's source).
WITH tcp AS (
    SELECT
        date_trunc('hour', ts) AS hour,
        ip_version AS family,
        CASE WHEN tcp_syn AND tcp_ack THEN src_entity ELSE dst_entity END AS server,
        CASE WHEN tcp_syn AND tcp_ack THEN src_port ELSE dst_port END AS server_port,
        tcp_syn AND NOT tcp_ack AS syn,
        tcp_syn AND tcp_ack AS syn_ack,
        tcp_fin AS fin,
        tcp_rst AS rst
    FROM {{ ref('hubble_flows') }}
    WHERE verdict = 'FORWARDED' AND l4_proto = 'TCP'
)
SELECT
    hour,
    family,
    server,
    server_port,
    count(*) FILTER (WHERE syn) AS syn,
    count(*) FILTER (WHERE syn_ack) AS syn_ack,
    count(*) FILTER (WHERE fin) AS fin,
    count(*) FILTER (WHERE rst) AS rst,
    CASE
        WHEN count(*) FILTER (WHERE syn) > 0 THEN greatest(
            count(*) FILTER (WHERE syn) - count(*) FILTER (WHERE syn_ack), 0
        ) / count(*) FILTER (WHERE syn)
    END AS unanswered_syn_ratio
FROM tcp
GROUP BY ALL
HAVING count(*) FILTER (WHERE syn OR syn_ack OR fin OR rst) > 0
