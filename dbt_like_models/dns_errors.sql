-- DNS responses with an error rcode (NXDOMAIN, SERVFAIL, REFUSED, …) and policy-denied queries,
-- by query and client pod: the search-domain NXDOMAIN storms and broken resolvers.
SELECT
    query,
    rcode,
    rcode_code,
    client_ns,
    client_workload,
    client_pod,
    CAST(sum(flows) AS BIGINT) AS errors,
    min(hour) AS first_hour,
    max(hour) AS last_hour
FROM {{ ref('dns_queries') }}
WHERE (kind = 'response' AND rcode_code <> 0) OR rcode = 'Policy denied'
GROUP BY ALL
