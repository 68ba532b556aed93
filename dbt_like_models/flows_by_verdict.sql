-- hubble_flows_processed_total{protocol,type,subtype,verdict} per hour: every flow counts once.
SELECT
    date_trunc('hour', ts) AS hour,
    protocol,
    CASE event_type
        WHEN 129 THEN 'L7'
        WHEN 1 THEN 'Drop'
        WHEN 3 THEN 'Capture'
        WHEN 4 THEN 'Trace'
        WHEN 5 THEN 'PolicyVerdict'
        ELSE 'Unknown'
    END AS type,
    CASE
        WHEN event_type = 129 THEN coalesce(
            CASE protocol WHEN 'DNS' THEN 'DNS' WHEN 'HTTP' THEN 'HTTP' WHEN 'Kafka' THEN 'Kafka' END, ''
        )
        WHEN event_type = 4 THEN coalesce([
            'to-endpoint', 'to-proxy', 'to-host', 'to-stack', 'to-overlay', 'from-endpoint',
            'from-proxy', 'from-host', 'from-stack', 'from-overlay', 'from-network', 'to-network',
            'from-crypto', 'to-crypto'
        ][event_subtype + 1], CAST(event_subtype AS VARCHAR))
        WHEN event_type IN (1, 3, 5) THEN ''
        ELSE CAST(event_subtype AS VARCHAR)
    END AS subtype,
    verdict,
    count(*) AS flows
FROM {{ ref('hubble_flows') }}
GROUP BY ALL
