-- Budget burn: spend per tenant per UTC day against the tenant's daily budget. Budgets live in the
-- routing config (routing.tenants.<id>.budget.daily_usd; "default" for unlisted tenants), so they
-- come in as parameters: two parallel arrays and the default. burn is spend / budget (0 without a
-- budget); over_budget is 1 when the day's spend exceeded a budget. Deduplicated requests created
-- at or after ${since}.
-- params: since, tenant, budget_tenants, budget_daily_usd, default_daily_usd
--   since              DateTime       first instant included (created_at >= since)
--   tenant             String         one tenant_id, or '' for every tenant
--   budget_tenants     Array(String)  tenant ids with their own budget
--   budget_daily_usd   Array(Float64) their daily budgets, same order (0: no daily cap)
--   default_daily_usd  Float64        daily budget of tenants not listed (0: none)
SELECT
    day,
    tenant_id,
    requests,
    spend_usd,
    daily_budget_usd,
    if(daily_budget_usd > 0, spend_usd / daily_budget_usd, 0) AS burn,
    toUInt8(daily_budget_usd > 0 AND spend_usd > daily_budget_usd) AS over_budget
FROM
(
    SELECT
        toDate(created_at) AS day,
        tenant_id,
        toUInt64(count()) AS requests,
        sum(cost_usd) AS spend_usd,
        indexOf(CAST(${budget_tenants} AS Array(String)), tenant_id) AS budget_index,
        toFloat64(if(budget_index = 0, ${default_daily_usd},
            arrayElement(CAST(${budget_daily_usd} AS Array(Float64)), budget_index))) AS daily_budget_usd
    FROM ${database}.v_requests
    WHERE created_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
    GROUP BY day, tenant_id
)
ORDER BY day, tenant_id;
