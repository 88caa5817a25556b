-- Degraded share by reason: requests answered in degraded mode (status degraded: the router picked
-- a lesser model because the primary was unhealthy or over budget, ...) by degraded_reason, and
-- their share of all deduplicated requests created at or after ${since}.
-- params: since, tenant
--   since   DateTime  first instant included (created_at >= since)
--   tenant  String    one tenant_id, or '' for every tenant
SELECT
    degraded_reason,
    toUInt64(count()) AS degraded_requests,
    toUInt64((
        SELECT count()
        FROM ${database}.v_requests
        WHERE created_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
    )) AS all_requests,
    degraded_requests / all_requests AS share
FROM ${database}.v_requests
WHERE status = 'degraded' AND created_at >= ${since} AND (${tenant} = '' OR tenant_id = ${tenant})
GROUP BY degraded_reason
ORDER BY degraded_requests DESC, degraded_reason;
