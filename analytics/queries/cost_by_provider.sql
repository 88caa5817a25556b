-- Cost by provider and model over deduplicated requests, most expensive first.
-- ${database} is replaced with the database name (default switchyard) before execution.
-- cost_usd is the response's cost for the whole request, attributed to the provider that produced
-- the outcome; per-attempt spend is in v_attempts.
SELECT
    provider,
    model,
    toUInt64(count()) AS requests,
    toUInt64(countIf(status = 'error')) AS errors,
    toInt64(sum(input_tokens)) AS total_input_tokens,
    toInt64(sum(output_tokens)) AS total_output_tokens,
    toInt64(sum(cached_tokens)) AS total_cached_tokens,
    sum(cost_usd) AS total_cost_usd
FROM ${database}.v_requests
GROUP BY provider, model
ORDER BY total_cost_usd DESC, provider, model;
