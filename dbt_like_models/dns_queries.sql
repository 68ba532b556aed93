-- hubble_dns_queries_total / hubble_dns_responses_total per hour, query and client. As Hubble's
-- DNS handler: a DROPPED flow is a query with rcode "Policy denied"; a non-reply flow is a query;
-- a reply is a response with its rcode. On responses the DNS server is the flow's source, so the
-- client is its destination.
SELECT
    date_trunc('hour', ts) AS hour,
    CASE
        WHEN verdict = 'DROPPED' THEN 'query'
        WHEN coalesce(is_reply, FALSE) THEN 'response'
        ELSE 'query'
    END AS kind,
    CASE
        WHEN verdict = 'DROPPED' THEN 'Policy denied'
        WHEN NOT coalesce(is_reply, FALSE) THEN ''
        ELSE coalesce([
            'No Error', 'Format Error', 'Server Failure', 'Non-Existent Domain',
            'Not Implemented', 'Refused'
        ][dns_rcode + 1], CAST(dns_rcode AS VARCHAR))
    END AS rcode,
    CASE WHEN coalesce(is_reply, FALSE) AND verdict <> 'DROPPED' THEN dns_rcode END AS rcode_code,
    dns_query AS query,
    array_to_string(dns_qtypes, ',') AS qtypes,
    CASE WHEN coalesce(is_reply, FALSE) THEN dst_ns ELSE src_ns END AS client_ns,
    CASE WHEN coalesce(is_reply, FALSE) THEN dst_workload ELSE src_workload END AS client_workload,
    CASE WHEN coalesce(is_reply, FALSE) THEN dst_pod ELSE src_pod END AS client_pod,
    count(*) AS flows,
    CAST(sum(len(dns_ips)) AS BIGINT) AS ips_returned
FROM {{ ref('hubble_flows') }}
WHERE dns_rcode IS NOT NULL
GROUP BY ALL
