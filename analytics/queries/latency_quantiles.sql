-- Latency and time to first token by provider and model: exact p50, p95 and p99 (ms) over
-- deduplicated requests that produced an answer (ok or degraded), created at or after ${since}.
-- Time to first token counts only requests that measured one (ttft_ms > 0, ttft_requests of
-- them); with none, its quantiles are nan. quantileExact returns an observed value (the one at
-- position floor(level × n) of the sorted values), so both server generations give the same result.
-- params: since, tenant
--   since   DateTime  first instant included (created_at >= since)
--   tenant  String    one tenant_id, or '' for every tenant
SELECT
    provider,
    model,
    toUInt64(count()) AS requests,
    quantileExact(0.5)(total_ms) AS p50_total_ms,
    quantileExact(0.95)(total_ms) AS p95_total_ms,
    quantileExact(0.99)(total_ms) AS p99_total_ms,
    toUInt64(countIf(ttft_ms > 0)) AS ttft_requests,
    quantileExactIf(0.5)(ttft_ms, ttft_ms > 0) AS p50_ttft_ms,
    quantileExactIf(0.95)(ttft_ms, ttft_ms > 0) AS p95_ttft_ms,
    quantileExactIf(0.99)(ttft_ms, ttft_ms > 0) AS p99_ttft_ms
FROM ${database}.v_requests
WHERE status IN ('ok', 'degraded') AND created_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
GROUP BY provider, model
ORDER BY provider, model;
