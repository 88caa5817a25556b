package router

import "time"

// The router decides from the request and the routing table, and from two views of shared
// state that other code keeps current from Kafka: provider health (llm.provider.health) and
// tenant spend (a compacted spend topic). Decide only reads them; it never blocks on Kafka.

// HealthView reports providers (or single models of a provider) that must not be routed to.
type HealthView interface {
	// Unhealthy reports whether provider (model "" means the whole provider) is out of the
	// pool, and why (e.g. "breaker_open", "probe_failed", "error_rate").
	Unhealthy(provider, model string) (reason string, unhealthy bool)
}

// BudgetView reports what a tenant may still spend.
type BudgetView interface {
	// Remaining returns the least the tenant may still spend over its budget periods (daily,
	// monthly) at now, reservations of requests in flight included, and false when the tenant
	// has no budget.
	Remaining(tenant string, now time.Time) (usd float64, limited bool)
}

// Budget caps a tenant's spend per UTC day and per UTC calendar month, in US dollars. Zero
// means no cap for that period.
type Budget struct {
	DailyUSD   float64 `yaml:"daily_usd" json:"daily_usd"`
	MonthlyUSD float64 `yaml:"monthly_usd" json:"monthly_usd"`
}
