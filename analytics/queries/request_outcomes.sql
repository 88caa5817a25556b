-- Request outcomes by the provider and model that produced them: how many requests ended ok,
-- degraded or in error, needed a fallback (fallback_depth > 0), were hedged or came from the cache,
-- and those counts as shares of the group's requests. Deduplicated requests created at or after
-- ${since}.
-- params: since, tenant
--   since   DateTime  first instant included (created_at >= since)
--   tenant  String    one tenant_id, or '' for every tenant
SELECT
    provider,
    model,
    toUInt64(count()) AS requests,
    toUInt64(countIf(status = 'ok')) AS ok_requests,
    toUInt64(countIf(status = 'degraded')) AS degraded_requests,
    toUInt64(countIf(status = 'error')) AS error_requests,
    toUInt64(countIf(fallback_depth > 0)) AS fallback_requests,
    toUInt64(countIf(hedged = 1)) AS hedged_requests,
    toUInt64(countIf(cache_hit = 1)) AS cache_hit_requests,
    error_requests / requests AS error_rate,
    fallback_requests / requests AS fallback_rate,
    hedged_requests / requests AS hedge_rate
FROM ${database}.v_requests
WHERE created_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
GROUP BY provider, model
ORDER BY provider, model;
