-- Cost by tenant, provider, model and day: what each tenant spent where, and the tokens behind it.
-- One row per UTC day × tenant × provider × model over deduplicated requests created at or after
-- ${since}; cost_usd is the response's cost for the whole request (hedge losers and failed hops
-- included), attributed to the provider that produced the outcome.
-- params: since, tenant
--   since   DateTime  first instant included (created_at >= since)
--   tenant  String    one tenant_id, or '' for every tenant
SELECT
    toDate(created_at) AS day,
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
WHERE created_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
GROUP BY day, tenant_id, provider, model
ORDER BY day, tenant_id, total_cost_usd DESC, provider, model;
