-- HTTP golden signals per destination workload, as Hubble's httpV2: requests are counted from
-- RESPONSE flows, whose source is the server, so the request's destination is the flow's source.
-- latency from l7.latency_ns; reporter from the direction the response was observed in.
WITH responses AS (
    SELECT
        date_trunc('hour', ts) AS hour,
        src_ns AS dst_ns,
        coalesce(src_workload, src_entity) AS dst_workload,
        dst_entity AS client,
        http_method AS method,
        http_code AS status,
        CASE direction WHEN 'EGRESS' THEN 'client' WHEN 'INGRESS' THEN 'server' ELSE 'unknown' END
            AS reporter,
        l7_latency_ns / 1e9 AS latency_s
    FROM {{ ref('hubble_flows') }}
    WHERE l7_type = 'RESPONSE' AND http_code IS NOT NULL
)
SELECT
    hour,
    dst_ns,
    dst_workload,
    method,
    reporter,
    count(*) AS requests,
    count(*) FILTER (WHERE status >= 500) AS errors_5xx,
    count(*) FILTER (WHERE status >= 400 AND status < 500) AS errors_4xx,
    count(*) FILTER (WHERE status >= 500) / count(*) AS error_ratio,
    count(*) / 3600.0 AS requests_per_s,
    quantile_cont(latency_s, 0.5) AS latency_p50_s,
    quantile_cont(latency_s, 0.95) AS latency_p95_s,
    quantile_cont(latency_s, 0.99) AS latency_p99_s
FROM responses
GROUP BY ALL
