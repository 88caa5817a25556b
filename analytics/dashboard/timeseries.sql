-- Requests, errors, degraded answers, cost and answer latency per time bucket: the dashboard's
-- charts over time. Deduplicated requests (v_requests) created at or after ${since}; a bucket is
-- ${step} seconds long (3600: hour, 86400: UTC day) and named by its start. Latency quantiles are
-- exact (as in latency_quantiles) over the answered requests (ok or degraded); a bucket without
-- any reports nan. Buckets without requests are absent.
-- params: since, tenant, step
--   since   DateTime  first instant included (created_at >= since)
--   tenant  String    one tenant_id, or '' for every tenant
--   step    UInt32    bucket length in seconds
SELECT
    toDateTime(intDiv(toUInt32(created_at), ${step}) * ${step}, 'UTC') AS bucket,
    toUInt64(count()) AS requests,
    toUInt64(countIf(status = 'error')) AS errors,
    toUInt64(countIf(status = 'degraded')) AS degraded,
    sum(cost_usd) AS total_cost_usd,
    quantileExactIf(0.5)(total_ms, status IN ('ok', 'degraded')) AS p50_total_ms,
    quantileExactIf(0.95)(total_ms, status IN ('ok', 'degraded')) AS p95_total_ms
FROM ${database}.v_requests
WHERE created_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
GROUP BY bucket
ORDER BY bucket
