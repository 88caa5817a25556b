-- 0002_views: what analysts read. Every view reads deduplicated data (FINAL), so a record the sink
-- inserted twice counts once, whether or not ClickHouse has merged the parts yet.
--
-- The hourly rollups are plain views over the deduplicated views, not materialized views: a
-- materialized view sees each inserted block before deduplication, so a re-delivered batch would be
-- counted twice in a Summing/AggregatingMergeTree rollup. Aggregating FINAL data at read time stays
-- exact under at-least-once delivery.
--
-- Aliases never repeat a column name (sum(cost_usd) AS total_cost_usd): older servers and the new
-- analyzer resolve an alias before a column of the same name.

CREATE VIEW IF NOT EXISTS ${database}.v_requests AS
SELECT
    request_id,
    tenant_id,
    user_id,
    task_type,
    priority,
    status,
    provider,
    model,
    finish_reason,
    input_tokens,
    output_tokens,
    cached_tokens,
    reasoning_tokens,
    cost_usd,
    queue_ms,
    ttft_ms,
    total_ms,
    fallback_depth,
    hedged,
    cache_hit,
    degraded_reason,
    error_code,
    error_retryable,
    attempts,
    created_at,
    created_at_ms,
    completed_at,
    completed_at_ms,
    ingested_at
FROM ${database}.llm_requests FINAL;

CREATE VIEW IF NOT EXISTS ${database}.v_attempts AS
SELECT
    attempt_id,
    request_id,
    tenant_id,
    provider,
    model,
    outcome,
    error_code,
    started_at,
    started_at_us,
    duration_ms,
    ttft_ms,
    input_tokens,
    output_tokens,
    cached_tokens,
    cost_usd,
    hedge,
    hop,
    ingested_at
FROM ${database}.llm_attempts FINAL;

CREATE VIEW IF NOT EXISTS ${database}.v_audit_events AS
SELECT
    event_id,
    request_id,
    tenant_id,
    ts,
    ts_us,
    type,
    stage,
    provider,
    model,
    duration_us,
    attrs,
    ingested_at
FROM ${database}.llm_audit_events FINAL;

-- Cost per hour, tenant, provider and model. cost_usd is what the response reports for the whole
-- request (attributed to the provider that produced the outcome); per-attempt spend, including
-- hedge losers and failed hops, is in v_attempts.
CREATE VIEW IF NOT EXISTS ${database}.v_cost_hourly AS
SELECT
    toStartOfHour(created_at) AS hour,
    tenant_id,
    provider,
    model,
    toUInt64(count()) AS requests,
    toUInt64(countIf(status = 'error')) AS errors,
    toInt64(sum(input_tokens)) AS total_input_tokens,
    toInt64(sum(output_tokens)) AS total_output_tokens,
    toInt64(sum(cached_tokens)) AS total_cached_tokens,
    sum(cost_usd) AS total_cost_usd
FROM ${database}.v_requests
GROUP BY hour, tenant_id, provider, model;

-- Latency per hour, tenant, provider and model, over requests that produced an answer (ok or
-- degraded). Time to first token counts only requests that measured one (ttft_ms > 0).
CREATE VIEW IF NOT EXISTS ${database}.v_latency_hourly AS
SELECT
    toStartOfHour(created_at) AS hour,
    tenant_id,
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
GROUP BY hour, tenant_id, provider, model;
