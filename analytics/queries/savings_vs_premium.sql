-- Savings from routing: per tenant, what the deduplicated requests created at or after ${since}
-- cost, against what they would have cost had every one gone to the most expensive model (the
-- "always premium" counterfactual), priced on the same token counts. The premium model's rates per
-- million tokens come in as parameters (the report picks the configured model with the highest
-- input plus output rate). Input tokens include cached ones, priced at the cached rate. Token sums
-- are taken before pricing, so the result is the same whatever order rows are summed in.
-- params: since, tenant, premium_input_per_mtok, premium_cached_input_per_mtok, premium_output_per_mtok
--   since                          DateTime  first instant included (created_at >= since)
--   tenant                         String    one tenant_id, or '' for every tenant
--   premium_input_per_mtok         Float64   USD per million uncached input tokens
--   premium_cached_input_per_mtok  Float64   USD per million cached input tokens
--   premium_output_per_mtok        Float64   USD per million output tokens
SELECT
    tenant_id,
    requests,
    actual_cost_usd,
    premium_cost_usd,
    premium_cost_usd - actual_cost_usd AS savings_usd,
    if(premium_cost_usd > 0, savings_usd / premium_cost_usd, 0) AS savings_share
FROM
(
    SELECT
        tenant_id,
        toUInt64(count()) AS requests,
        sum(cost_usd) AS actual_cost_usd,
        (toFloat64(sum(input_tokens) - sum(cached_tokens)) * ${premium_input_per_mtok}
            + toFloat64(sum(cached_tokens)) * ${premium_cached_input_per_mtok}
            + toFloat64(sum(output_tokens)) * ${premium_output_per_mtok}) / 1000000 AS premium_cost_usd
    FROM ${database}.v_requests
    WHERE created_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
    GROUP BY tenant_id
)
ORDER BY tenant_id;
