-- Latency quantiles (ms) by provider and model over deduplicated requests that produced an answer
-- (ok or degraded). Time to first token counts only requests that measured one (ttft_ms > 0); a
-- group without any reports nan there. quantile() is the sampling estimator that 18.16 also has:
-- exact up to 8192 values per group, approximate beyond.
-- ${database} is replaced with the database name (default switchyard) before execution.
SELECT
    provider,
    model,
    toUInt64(count()) AS requests,
    quantile(0.5)(total_ms) AS p50_total_ms,
    quantile(0.99)(total_ms) AS p99_total_ms,
    quantileIf(0.5)(ttft_ms, ttft_ms > 0) AS p50_ttft_ms,
    quantileIf(0.99)(ttft_ms, ttft_ms > 0) AS p99_ttft_ms,
    quantile(0.5)(queue_ms) AS p50_queue_ms,
    quantile(0.99)(queue_ms) AS p99_queue_ms
FROM ${database}.v_requests
WHERE status IN ('ok', 'degraded')
GROUP BY provider, model
ORDER BY provider, model;
