package router

import (
	"fmt"
	"slices"
	"time"
)

// DefaultTenant is the key of routing.tenants that applies to tenants without an entry.
const DefaultTenant = "default"

// What a tenant's policy does with a request whose own model it may not use.
const (
	OnViolationReject  = "reject"  // an error response naming the violation (the default)
	OnViolationReroute = "reroute" // route by the task rule instead, recorded in the decision
)

// TenantPolicy is what one tenant may use and spend. The zero value allows everything,
// rejects violations, degrades when the primary is unavailable or over budget, and has no
// budget.
type TenantPolicy struct {
	// AllowedProviders limits the tenant to these providers. Default none: any provider.
	AllowedProviders []string `yaml:"allowed_providers" json:"allowed_providers"`
	// AllowedModels limits the tenant to these model aliases. Default none: any model.
	AllowedModels []string `yaml:"allowed_models" json:"allowed_models"`
	// Regions limits the tenant to models whose region is one of these. Default none: any
	// region, models without a region included.
	Regions []string `yaml:"regions" json:"regions"`
	// OnViolation is what happens when the request names a model the tenant may not use:
	// "reject" (an error response model_not_allowed, provider_not_allowed or
	// region_not_allowed) or "reroute" (the task rule routes instead). Default "reject".
	OnViolation string `yaml:"on_violation" json:"on_violation"`
	// Budget caps the tenant's daily and monthly spend; the router reads what is left from its
	// BudgetView. Default no cap.
	Budget Budget `yaml:"budget" json:"budget"`
	// Degrade lets the router pick the next model of the chain, marked degraded, when the
	// primary is unhealthy or over budget; false rejects instead (primary_unavailable,
	// budget_exceeded). Default true.
	Degrade *bool `yaml:"degrade" json:"degrade"`
	// AllowPremiumFallback lets the fallback chain of an interactive request hold models whose
	// estimated cost is above the primary's. Default false: such models are dropped from the
	// chain (reason pricier_than_primary).
	AllowPremiumFallback bool `yaml:"allow_premium_fallback" json:"allow_premium_fallback"`
}

func (p *TenantPolicy) degrade() bool { return p == nil || p.Degrade == nil || *p.Degrade }

func (p *TenantPolicy) reroute() bool { return p != nil && p.OnViolation == OnViolationReroute }

// violation returns why the tenant may not use m: ReasonProviderNotAllowed,
// ReasonModelNotAllowed or ReasonRegionNotAllowed, or "" when it may.
func (p *TenantPolicy) violation(m *Model) string {
	switch {
	case p == nil:
		return ""
	case len(p.AllowedProviders) > 0 && !slices.Contains(p.AllowedProviders, m.Provider):
		return ReasonProviderNotAllowed
	case len(p.AllowedModels) > 0 && !slices.Contains(p.AllowedModels, m.Name):
		return ReasonModelNotAllowed
	case len(p.Regions) > 0 && !slices.Contains(p.Regions, m.Region):
		return ReasonRegionNotAllowed
	}
	return ""
}

func (p TenantPolicy) validate(add func(string, ...any), path string, providers, models, regions map[string]bool) {
	for i, name := range p.AllowedProviders {
		if providers != nil && !providers[name] {
			add("%s.allowed_providers[%d]: unknown provider %q", path, i, name)
		}
	}
	for i, name := range p.AllowedModels {
		if !models[name] {
			add("%s.allowed_models[%d]: unknown model %q", path, i, name)
		}
	}
	for i, r := range p.Regions {
		if r == "" || !regions[r] {
			add("%s.regions[%d]: no model is in region %q", path, i, r)
		}
	}
	switch p.OnViolation {
	case "", OnViolationReject, OnViolationReroute:
	default:
		add("%s.on_violation: %q, want reject or reroute", path, p.OnViolation)
	}
	if p.Budget.DailyUSD < 0 {
		add("%s.budget.daily_usd: must be >= 0", path)
	}
	if p.Budget.MonthlyUSD < 0 {
		add("%s.budget.monthly_usd: must be >= 0", path)
	}
}

// Policy returns the policy that applies to a tenant: its own entry, else the "default" entry,
// else the zero policy (ok false).
func (r *Router) Policy(tenant string) (TenantPolicy, bool) {
	if p := r.policy(tenant); p != nil {
		return *p, true
	}
	return TenantPolicy{}, false
}

func (r *Router) policy(tenant string) *TenantPolicy {
	if p, ok := r.tenants[tenant]; ok {
		return p
	}
	return r.tenants[DefaultTenant]
}

// TenantBudget returns the budget that applies to a tenant: its own entry's, else the
// "default" entry's (each tenant then has its own caps of that size, not a shared pool); false
// when neither sets one. Its signature fits LedgerConfig.Limits.
func (r *Router) TenantBudget(tenant string) (Budget, bool) {
	p := r.policy(tenant)
	if p == nil || p.Budget == (Budget{}) {
		return Budget{}, false
	}
	return p.Budget, true
}

// Budgets returns the budget of every tenant entry that has one, by tenant id ("default"
// included), for the code that keeps the BudgetView current.
func (r *Router) Budgets() map[string]Budget {
	out := map[string]Budget{}
	for id, p := range r.tenants {
		if p.Budget != (Budget{}) {
			out[id] = p.Budget
		}
	}
	return out
}

func violationDetail(reason string, m *Model, tenant string) string {
	switch reason {
	case ReasonProviderNotAllowed:
		return fmt.Sprintf("tenant %q may not use provider %q (model %q)", tenant, m.Provider, m.Name)
	case ReasonRegionNotAllowed:
		return fmt.Sprintf("tenant %q may not use region %q (model %q)", tenant, m.Region, m.Name)
	}
	return fmt.Sprintf("tenant %q may not use model %q", tenant, m.Name)
}

// RequestBudgetView is an optional capability of a BudgetView: what a tenant may still spend as
// one request sees it, that request's own reservation (held from an earlier delivery of the
// same request) not counted against it. Without it a re-delivered request could find its own
// reservation in the way and be degraded or refused. Decide uses it when the view has it.
type RequestBudgetView interface {
	RemainingFor(tenant, requestID string, now time.Time) (usd float64, limited bool)
}

// budgetLeft asks the budget view what the request's tenant may still spend.
func budgetLeft(v BudgetView, tenant, requestID string, now time.Time) (float64, bool) {
	if rv, ok := v.(RequestBudgetView); ok {
		return rv.RemainingFor(tenant, requestID, now)
	}
	return v.Remaining(tenant, now)
}
