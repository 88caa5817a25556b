-- Attempt outcomes by provider and model: every provider call (hedge losers and failed hops
-- included) started at or after ${since}, deduplicated by attempt_id. failed_attempts are
-- attempts whose outcome is neither ok nor cancelled (a cancelled attempt is a hedge loser or a
-- call abandoned by its deadline); hedge_attempts carry the hedge flag; retry_attempts are the
-- extra attempts on the same provider and model within one hop of one request (every non-hedge
-- attempt after the first). Rates are shares of the group's attempts.
-- params: since, tenant
--   since   DateTime  first instant included (started_at >= since)
--   tenant  String    one tenant_id, or '' for every tenant
SELECT
    provider,
    model,
    toUInt64(sum(hop_attempts)) AS attempts,
    toUInt64(sum(hop_ok)) AS ok_attempts,
    toUInt64(sum(hop_failed)) AS failed_attempts,
    toUInt64(sum(hop_hedges)) AS hedge_attempts,
    toUInt64(sum(hop_retries)) AS retry_attempts,
    failed_attempts / attempts AS error_rate,
    hedge_attempts / attempts AS hedge_rate,
    retry_attempts / attempts AS retry_rate
FROM
(
    SELECT
        request_id,
        hop,
        provider,
        model,
        count() AS hop_attempts,
        countIf(outcome = 'ok') AS hop_ok,
        countIf(outcome NOT IN ('ok', 'cancelled')) AS hop_failed,
        countIf(hedge = 1) AS hop_hedges,
        greatest(countIf(hedge = 0), 1) - 1 AS hop_retries
    FROM ${database}.v_attempts
    WHERE started_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
    GROUP BY request_id, hop, provider, model
)
GROUP BY provider, model
ORDER BY provider, model;
