-- Error rate by kind: failed attempts (outcome neither ok nor cancelled) by provider, outcome and
-- error code, and their share of all the provider's attempts started at or after ${since}
-- (deduplicated by attempt_id). Most frequent first within a provider. ALL, not ANY: current
-- ClickHouse's ANY INNER JOIN also keeps one row per left key (18.16's does not); the right side
-- has one row per provider, so ALL is exact on both. The subqueries carry aliases because current
-- ClickHouse requires them on joined subqueries.
-- params: since, tenant
--   since   DateTime  first instant included (started_at >= since)
--   tenant  String    one tenant_id, or '' for every tenant
SELECT
    provider,
    outcome,
    error_code,
    kind_attempts,
    provider_attempts,
    kind_attempts / provider_attempts AS rate
FROM
(
    SELECT
        provider,
        outcome,
        error_code,
        toUInt64(count()) AS kind_attempts
    FROM ${database}.v_attempts
    WHERE outcome NOT IN ('ok', 'cancelled') AND started_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
    GROUP BY provider, outcome, error_code
) AS kinds
ALL INNER JOIN
(
    SELECT
        provider,
        toUInt64(count()) AS provider_attempts
    FROM ${database}.v_attempts
    WHERE started_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
    GROUP BY provider
) AS totals USING provider
ORDER BY provider, kind_attempts DESC, outcome, error_code;
