-- 0003_bodies_latency: answer bodies (opt-in, redacted, kept for a bounded time) and exact latency
-- quantiles in the hourly latency rollup.
--
-- Same rules as 0001: runs unchanged on 18.16 and on current ClickHouse; every statement is
-- idempotent on its own, so an interrupted run is simply re-run.

-- One row per answered request whose answer body the sink stored (analytics.store_bodies: true),
-- deduplicated by request_id exactly like llm_requests (same key, same version). The body is the
-- response's content after redaction (emails, phone numbers, Luhn-valid card numbers and bearer /
-- API-key-looking tokens become placeholders, counted in redactions). Prompts are not stored: they
-- travel on llm.requests, which the sink does not read.
--
-- Retention: 18.16 has no TTL clause (added in 19.6), so the table is partitioned by day and the
-- sink drops whole days older than analytics.body_ttl (analytics.PruneBodies). A body therefore
-- lives between body_ttl and body_ttl plus one day (plus one pruning interval).
CREATE TABLE IF NOT EXISTS ${database}.llm_bodies
(
    request_id String,
    tenant_id String,
    provider String,
    model String,
    created_at DateTime('UTC'),
    response_body String,
    redactions UInt32,
    version UInt64,
    ingested_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(created_at)
ORDER BY (tenant_id, toDate(created_at), request_id)
SETTINGS index_granularity = 8192;

CREATE VIEW IF NOT EXISTS ${database}.v_bodies AS
SELECT
    request_id,
    tenant_id,
    provider,
    model,
    created_at,
    response_body,
    redactions,
    ingested_at
FROM ${database}.llm_bodies FINAL;

-- v_latency_hourly is replaced: 0002's version used quantile(), a sampling estimator whose results
-- differ between server generations (and interpolate); quantileExact returns an observed value and
-- gives the same answer on 18.16 and 26.x. A view holds no data, so dropping it loses nothing.
-- DROP TABLE, not DROP VIEW: 18.16 has no DROP VIEW.
DROP TABLE IF EXISTS ${database}.v_latency_hourly;

-- Latency per hour, tenant, provider and model over requests that produced an answer (ok or
-- degraded): exact p50, p95 and p99 of the total time, the time to first token (requests that
-- measured one, ttft_ms > 0; nan when none did) and the queue time.
CREATE VIEW IF NOT EXISTS ${database}.v_latency_hourly AS
SELECT
    toStartOfHour(created_at) AS hour,
    tenant_id,
    provider,
    model,
    toUInt64(count()) AS requests,
    toUInt64(countIf(ttft_ms > 0)) AS ttft_requests,
    quantileExact(0.5)(total_ms) AS p50_total_ms,
    quantileExact(0.95)(total_ms) AS p95_total_ms,
    quantileExact(0.99)(total_ms) AS p99_total_ms,
    quantileExactIf(0.5)(ttft_ms, ttft_ms > 0) AS p50_ttft_ms,
    quantileExactIf(0.95)(ttft_ms, ttft_ms > 0) AS p95_ttft_ms,
    quantileExactIf(0.99)(ttft_ms, ttft_ms > 0) AS p99_ttft_ms,
    quantileExact(0.5)(queue_ms) AS p50_queue_ms,
    quantileExact(0.99)(queue_ms) AS p99_queue_ms
FROM ${database}.v_requests
WHERE status IN ('ok', 'degraded')
GROUP BY hour, tenant_id, provider, model;
