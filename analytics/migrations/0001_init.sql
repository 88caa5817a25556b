-- 0001_init: the three fact tables.
--
-- Runs unchanged on ClickHouse 18.16 (Debian) and on current ClickHouse (26.x, checked with chdb):
-- no DateTime64, no Map, no LowCardinality (experimental behind a setting on 18.16), no JSON type.
-- Times are DateTime('UTC') in seconds for partitioning and filtering, plus the source value in its
-- source unit (Int64 ms or µs) where precision matters. ${database} is replaced with the target
-- database name before execution. Statements end with a semicolon at the end of a line.
--
-- Delivery is at-least-once, and 18.16 has no insert deduplication token, so duplicates are removed
-- by the data model: each table is a ReplacingMergeTree whose sorting key ends with the idempotency
-- key, and whose partition key and every sorting-key column before the id are deterministic functions
-- of the record itself. ReplacingMergeTree collapses rows that share the full sorting key within one
-- partition, so two copies of a record must land in the same partition with the same key.

CREATE DATABASE IF NOT EXISTS ${database};

-- One row per request outcome (llm.responses), deduplicated by request_id.
--
-- Sorting key (tenant_id, toDate(created_at), request_id), partition toYYYYMM(created_at):
-- tenant_id and created_at come from the request, so every response for a request carries the same
-- values, even one produced by reprocessing the request on a different provider. provider, model
-- and status are deliberately NOT in the key: a reprocessed request can end on another provider,
-- and with those columns in the key its two outcomes would survive as two rows. Analysts filter by
-- tenant and time range, which this key serves; provider and model are cheap to group by.
--
-- version is the response's completed_at (ms): when one request has two outcomes, the later outcome
-- wins, whatever order the sink ingested them in. ingested_at is informational only.
CREATE TABLE IF NOT EXISTS ${database}.llm_requests
(
    request_id String,
    tenant_id String,
    user_id String,
    task_type String,
    priority String,
    status String,
    provider String,
    model String,
    finish_reason String,
    input_tokens Int64,
    output_tokens Int64,
    cached_tokens Int64,
    reasoning_tokens Int64,
    cost_usd Float64,
    queue_ms Float64,
    ttft_ms Float64,
    total_ms Float64,
    fallback_depth Int32,
    hedged UInt8,
    cache_hit UInt8,
    degraded_reason String,
    error_code String,
    error_retryable UInt8,
    attempts UInt32,
    created_at DateTime('UTC'),
    created_at_ms Int64,
    completed_at DateTime('UTC'),
    completed_at_ms Int64,
    version UInt64,
    ingested_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, toDate(created_at), request_id)
SETTINGS index_granularity = 8192;

-- One row per provider attempt (the attempts list of each response), deduplicated by attempt_id.
-- An attempt is copied unchanged along a fallback chain, so the same attempt_id can arrive in
-- several responses; its started_at, request_id and tenant_id are the same in every copy.
CREATE TABLE IF NOT EXISTS ${database}.llm_attempts
(
    attempt_id String,
    request_id String,
    tenant_id String,
    provider String,
    model String,
    outcome String,
    error_code String,
    started_at DateTime('UTC'),
    started_at_us Int64,
    duration_ms Float64,
    ttft_ms Float64,
    input_tokens Int64,
    output_tokens Int64,
    cached_tokens Int64,
    cost_usd Float64,
    hedge UInt8,
    hop Int32,
    ingested_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(started_at)
ORDER BY (tenant_id, toDate(started_at), request_id, attempt_id)
SETTINGS index_granularity = 8192;

-- One row per audit event (llm.audit), deduplicated by event_id. attrs is a JSON object as a String
-- (18.16 has no Map type); read it with visitParamExtractString(attrs, 'key').
CREATE TABLE IF NOT EXISTS ${database}.llm_audit_events
(
    event_id String,
    request_id String,
    tenant_id String,
    ts DateTime('UTC'),
    ts_us Int64,
    type String,
    stage String,
    provider String,
    model String,
    duration_us Int64,
    attrs String,
    ingested_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, toDate(ts), request_id, event_id)
SETTINGS index_granularity = 8192;
