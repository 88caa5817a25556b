package router

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// fakeHealth marks providers ("p1") or provider models ("p1/small-2024-01-01") unhealthy.
type fakeHealth map[string]string

func (h fakeHealth) Unhealthy(provider, model string) (string, bool) {
	key := provider
	if model != "" {
		key += "/" + model
	}
	why, bad := h[key]
	return why, bad
}

// fakeBudgets is what each tenant may still spend; tenants absent are unlimited.
type fakeBudgets map[string]float64

func (b fakeBudgets) Remaining(tenant string, _ time.Time) (float64, bool) {
	v, ok := b[tenant]
	return v, ok
}

// policyTable: a cheap EU model, a mid US model and a dear EU model; tenants with policies.
func policyTable() Table {
	f := false
	return Table{
		Models: []Model{
			{Name: "cheap", Provider: "p1", Version: "cheap-2025-01-01", Region: "eu", ContextWindow: 100000, MaxOutputTokens: 4000, Price: Price{InputPerMTok: 0.1, OutputPerMTok: 0.4}},
			{Name: "mid", Provider: "p2", Version: "mid-2025-01-01", Region: "us", ContextWindow: 100000, MaxOutputTokens: 4000, Price: Price{InputPerMTok: 1, OutputPerMTok: 4}},
			{Name: "dear", Provider: "p3", Version: "dear-2025-01-01", Region: "eu", ContextWindow: 100000, MaxOutputTokens: 4000, Price: Price{InputPerMTok: 10, OutputPerMTok: 40}},
		},
		Default: Rule{Model: "dear", Fallbacks: []string{"mid", "cheap"}},
		Tasks: map[string]Rule{
			"chat": {Model: "cheap", Fallbacks: []string{"mid", "dear"}},
		},
		Tenants: map[string]TenantPolicy{
			"eu-only":     {Regions: []string{"eu"}},
			"p1-only":     {AllowedProviders: []string{"p1"}},
			"cheap-only":  {AllowedModels: []string{"cheap"}},
			"rerouter":    {AllowedModels: []string{"cheap", "mid"}, OnViolation: OnViolationReroute},
			"strict":      {Degrade: &f},
			"premium":     {AllowPremiumFallback: true},
			"eu-rerouter": {Regions: []string{"eu"}, OnViolation: OnViolationReroute},
		},
	}
}

func tenantReq(tenant, task, model string) *schemas.Request {
	return &schemas.Request{RequestID: "r", TenantID: tenant, TaskType: task, Model: model, Priority: schemas.PriorityInteractive,
		Messages: []schemas.Message{{Role: "user", Content: "Please look at the order history and tell me what happened with the last two deliveries."}}}
}

func chainOf(d Decision) string {
	s := []string{d.Alias}
	for _, c := range d.Candidates {
		if c.Role == RoleFallback {
			s = append(s, c.Alias)
		}
	}
	return strings.Join(s, ",")
}

func skipsOf(d Decision) string {
	var s []string
	for _, c := range d.Candidates {
		if c.Role == RoleSkipped {
			s = append(s, c.Alias+":"+c.Reason)
		}
	}
	return strings.Join(s, ",")
}

func TestTenantPolicy(t *testing.T) {
	r, err := New(policyTable())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		req      *schemas.Request
		chain    string
		skips    string
		rule     string
		rerouted string
		reject   string
	}{
		{"no policy: user's model honoured", tenantReq("anyone", "chat", "mid"), "mid", "", "user_choice", "", ""},
		{"region allows the user's model", tenantReq("eu-only", "chat", "dear"), "dear", "", "user_choice", "", ""},
		{"region refuses the user's model", tenantReq("eu-only", "chat", "mid"), "", "", "", "", ReasonRegionNotAllowed},
		{"provider refuses the user's model", tenantReq("p1-only", "chat", "mid"), "", "", "", "", ReasonProviderNotAllowed},
		{"model list refuses the user's model", tenantReq("cheap-only", "chat", "dear"), "", "", "", "", ReasonModelNotAllowed},
		{"unknown model refused", tenantReq("anyone", "chat", "gpt-9"), "", "", "", "", ReasonModelNotAllowed},
		{"reroute: the rule routes instead, and says so", tenantReq("rerouter", "chat", "dear"), "cheap", "mid:pricier_than_primary,dear:model_not_allowed", "task:chat", ReasonModelNotAllowed, ""},
		{"reroute of an unknown model", tenantReq("rerouter", "chat", "gpt-9"), "cheap", "mid:pricier_than_primary,dear:model_not_allowed", "task:chat", ReasonModelNotAllowed, ""},
		{"reroute by region", tenantReq("eu-rerouter", "chat", "mid"), "cheap", "mid:region_not_allowed,dear:pricier_than_primary", "task:chat", ReasonRegionNotAllowed, ""},
		{"rule chain filtered by region", tenantReq("eu-only", "other", ""), "dear,cheap", "mid:region_not_allowed", "default", "", ""},
		{"rule chain filtered by provider", tenantReq("p1-only", "other", ""), "cheap", "dear:provider_not_allowed,mid:provider_not_allowed", "default", "", ""},
		{"rule chain filtered to nothing", tenantReq("p1-only", "code", "mid"), "", "", "", "", ReasonProviderNotAllowed},
		{"default tenant entry absent: everything allowed", tenantReq("nobody", "other", ""), "dear,mid,cheap", "", "default", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := r.Decide(tt.req)
			if tt.reject != "" {
				rej, ok := IsRejection(err)
				if !ok || rej.Reason != tt.reject {
					t.Fatalf("want rejection %q, got %v", tt.reject, err)
				}
				if !strings.Contains(rej.Detail, tt.req.TenantID) && tt.req.Model != "gpt-9" {
					t.Errorf("detail %q does not name the tenant", rej.Detail)
				}
				// A refused user's model is explained too: tier, and the model with its estimate.
				if tt.req.Model != "" && tt.req.Model != "gpt-9" {
					if d.Tier == "" || len(d.Candidates) != 1 || d.Candidates[0].Reason != tt.reject || d.Candidates[0].EstCostUSD <= 0 {
						t.Errorf("refusal not explained: tier %q candidates %+v", d.Tier, d.Candidates)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := chainOf(d); got != tt.chain {
				t.Errorf("chain %s, want %s", got, tt.chain)
			}
			if got := skipsOf(d); got != tt.skips {
				t.Errorf("skips %s, want %s", got, tt.skips)
			}
			if d.Rule != tt.rule || d.Rerouted != tt.rerouted {
				t.Errorf("rule %q rerouted %q, want %q %q", d.Rule, d.Rerouted, tt.rule, tt.rerouted)
			}
		})
	}
}

func TestDefaultTenantEntryApplies(t *testing.T) {
	tb := policyTable()
	tb.Tenants[DefaultTenant] = TenantPolicy{AllowedModels: []string{"cheap"}}
	r, err := New(tb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Decide(tenantReq("unlisted", "chat", "mid")); err == nil {
		t.Fatal("the default entry must apply to an unlisted tenant")
	}
	// A listed tenant's own entry replaces the default entry.
	if d, err := r.Decide(tenantReq("premium", "chat", "mid")); err != nil || d.Alias != "mid" {
		t.Fatalf("listed tenant: %v %+v", err, d)
	}
	if p, ok := r.Policy("unlisted"); !ok || len(p.AllowedModels) != 1 {
		t.Fatalf("Policy(unlisted) = %+v %v", p, ok)
	}
}

func TestHealthSkip(t *testing.T) {
	r, err := New(policyTable())
	if err != nil {
		t.Fatal(err)
	}
	q := tenantReq("premium", "other", "") // chain dear, mid, cheap
	d, err := r.Decide(q)
	if err != nil || d.Degraded || chainOf(d) != "dear,mid,cheap" {
		t.Fatalf("nil view means healthy: %v %s %+v", err, chainOf(d), d)
	}

	r.SetHealth(fakeHealth{"p3": "breaker_open"})
	d, err = r.Decide(q)
	if err != nil {
		t.Fatal(err)
	}
	if chainOf(d) != "mid,cheap" || !d.Degraded || d.DegradedReason != DegradedPrimaryUnhealthy || d.RouteReason() != "degraded:primary_unhealthy" {
		t.Fatalf("chain %s degraded %v %q route %q", chainOf(d), d.Degraded, d.DegradedReason, d.RouteReason())
	}
	if c := d.Candidates[0]; c.Reason != SkipUnhealthy || !strings.Contains(c.Detail, "breaker_open") {
		t.Fatalf("skip %+v", c)
	}

	// A single model of a provider.
	r.SetHealth(fakeHealth{"p2/mid-2025-01-01": "error_rate"})
	d, err = r.Decide(q)
	if err != nil || chainOf(d) != "dear,cheap" || d.Degraded || skipsOf(d) != "mid:unhealthy" {
		t.Fatalf("model-level: %v %s %s degraded %v", err, chainOf(d), skipsOf(d), d.Degraded)
	}

	// Everything down.
	r.SetHealth(fakeHealth{"p1": "x", "p2": "x", "p3": "x"})
	if _, err := r.Decide(q); !isReason(err, ReasonNoHealthyModel) {
		t.Fatalf("want %s, got %v", ReasonNoHealthyModel, err)
	}
	// A tenant that does not degrade is refused when its primary is down.
	r.SetHealth(fakeHealth{"p3": "probe_failed"})
	if _, err := r.Decide(tenantReq("strict", "other", "")); !isReason(err, ReasonPrimaryUnavailable) {
		t.Fatalf("want %s, got %v", ReasonPrimaryUnavailable, err)
	}
	r.SetHealth(nil)
	if d, err := r.Decide(q); err != nil || d.Degraded {
		t.Fatalf("after SetHealth(nil): %v %+v", err, d)
	}
}

func isReason(err error, reason string) bool {
	rej, ok := IsRejection(err)
	return ok && rej.Reason == reason
}

func TestBudgetInDecision(t *testing.T) {
	r, err := New(policyTable())
	if err != nil {
		t.Fatal(err)
	}
	q := tenantReq("premium", "other", "") // dear, mid, cheap
	full, err := r.Decide(q)
	if err != nil {
		t.Fatal(err)
	}
	cost := map[string]float64{}
	for _, c := range full.Candidates {
		cost[c.Alias] = c.EstCostUSD
	}
	if !(cost["dear"] > cost["mid"] && cost["mid"] > cost["cheap"] && cost["cheap"] > 0) {
		t.Fatalf("costs %v", cost)
	}

	// Enough for mid, not for dear: degrade to mid, over_budget.
	r.SetBudgets(fakeBudgets{"premium": (cost["dear"] + cost["mid"]) / 2, "strict": (cost["dear"] + cost["mid"]) / 2})
	d, err := r.Decide(q)
	if err != nil {
		t.Fatal(err)
	}
	if chainOf(d) != "mid,cheap" || !d.Degraded || d.DegradedReason != DegradedOverBudget || d.RouteReason() != "degraded:over_budget" {
		t.Fatalf("chain %s degraded %v %q", chainOf(d), d.Degraded, d.DegradedReason)
	}
	if c := d.Candidates[0]; c.Reason != SkipOverBudget || c.EstCostUSD != cost["dear"] {
		t.Fatalf("skip %+v", c)
	}
	// No degradation allowed: budget_exceeded.
	if _, err := r.Decide(tenantReq("strict", "other", "")); !isReason(err, ReasonBudgetExceeded) {
		t.Fatalf("want %s, got %v", ReasonBudgetExceeded, err)
	}
	// Nothing affordable: budget_exceeded, retryable.
	r.SetBudgets(fakeBudgets{"premium": cost["cheap"] / 2})
	_, err = r.Decide(q)
	if rej, ok := IsRejection(err); !ok || rej.Reason != ReasonBudgetExceeded || !rej.Retryable {
		t.Fatalf("want retryable %s, got %v", ReasonBudgetExceeded, err)
	}
	// A tenant without a budget is not limited.
	if d, err := r.Decide(tenantReq("eu-only", "other", "")); err != nil || d.Degraded {
		t.Fatalf("unlimited tenant: %v %+v", err, d)
	}
	// The request's own budget_usd caps every candidate the same way.
	r.SetBudgets(nil)
	q2 := tenantReq("premium", "other", "")
	capUSD := (cost["mid"] + cost["cheap"]) / 2
	q2.BudgetUSD = &capUSD
	d, err = r.Decide(q2)
	if err != nil || chainOf(d) != "cheap" || d.DegradedReason != DegradedOverBudget || skipsOf(d) != "dear:over_request_budget,mid:over_request_budget" {
		t.Fatalf("request cap: %v %s %s %+v", err, chainOf(d), skipsOf(d), d)
	}
}

// requestBudgets holds one reservation per request id; RemainingFor gives it back to its own
// request.
type requestBudgets struct {
	left     float64
	reserved map[string]float64
}

func (b requestBudgets) Remaining(string, time.Time) (float64, bool) { return b.left, true }

func (b requestBudgets) RemainingFor(_, requestID string, _ time.Time) (float64, bool) {
	return b.left + b.reserved[requestID], true
}

func TestRedeliveredRequestKeepsItsReservation(t *testing.T) {
	r, err := New(policyTable())
	if err != nil {
		t.Fatal(err)
	}
	q := tenantReq("premium", "other", "") // dear first
	d, err := r.Decide(q)
	if err != nil {
		t.Fatal(err)
	}
	// The first delivery reserved the estimate; nothing else is left.
	r.SetBudgets(requestBudgets{left: 0, reserved: map[string]float64{q.RequestID: d.EstCostUSD}})
	again, err := r.Decide(q)
	if err != nil || again.Alias != "dear" || again.Degraded {
		t.Fatalf("re-delivery: %v %s degraded %v", err, again.Alias, again.Degraded)
	}
	other := tenantReq("premium", "other", "")
	other.RequestID = "r-other"
	if _, err := r.Decide(other); !isReason(err, ReasonBudgetExceeded) {
		t.Fatalf("another request: want %s, got %v", ReasonBudgetExceeded, err)
	}
}

func TestPremiumFallbackRule(t *testing.T) {
	r, err := New(policyTable())
	if err != nil {
		t.Fatal(err)
	}
	// chat: cheap, then mid and dear, both dearer than cheap.
	for _, tt := range []struct {
		tenant, priority, chain string
	}{
		{"premium", schemas.PriorityInteractive, "cheap,mid,dear"},
		{"premium", schemas.PriorityBatch, "cheap"},
		{"premium", schemas.PriorityBackground, "cheap"},
		{"eu-only", schemas.PriorityInteractive, "cheap"}, // allow_premium_fallback false (and mid is us)
		{"anyone", schemas.PriorityInteractive, "cheap"},  // no policy at all
	} {
		q := tenantReq(tt.tenant, "chat", "")
		q.Priority = tt.priority
		d, err := r.Decide(q)
		if err != nil {
			t.Fatal(err)
		}
		if chainOf(d) != tt.chain {
			t.Errorf("%s/%s: chain %s, want %s (skips %s)", tt.tenant, tt.priority, chainOf(d), tt.chain, skipsOf(d))
		}
	}
	// The primary is the reference even when it is passed over: a degraded request does not
	// step up to a dearer model unless the premium rule allows it.
	r.SetHealth(fakeHealth{"p1": "breaker_open"})
	_, err = r.Decide(tenantReq("anyone", "chat", ""))
	if rej, ok := IsRejection(err); !ok || rej.Reason != ReasonPrimaryUnavailable || !rej.Retryable {
		t.Fatalf("want retryable %s, got %v", ReasonPrimaryUnavailable, err)
	}
	d, err := r.Decide(tenantReq("premium", "chat", ""))
	if err != nil || chainOf(d) != "mid,dear" || !d.Degraded || skipsOf(d) != "cheap:unhealthy" {
		t.Fatalf("premium: %v chain %s skips %s degraded %v", err, chainOf(d), skipsOf(d), d.Degraded)
	}
	// A primary that cannot take the request (window, policy) is not the primary: the next
	// model that can is, and it is the reference.
	q := tenantReq("anyone", "other", "") // dear, mid, cheap
	q.AllowedProviders = []string{"p2", "p1"}
	d, err = r.Decide(q)
	if err != nil || chainOf(d) != "mid" || d.Degraded || skipsOf(d) != "dear:no_allowed_provider,cheap:unhealthy" {
		t.Fatalf("restricted: %v chain %s skips %s degraded %v", err, chainOf(d), skipsOf(d), d.Degraded)
	}
}

func TestSetViewsConcurrently(t *testing.T) {
	r, err := New(policyTable())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				r.SetHealth(fakeHealth{"p3": "x"})
				r.SetBudgets(fakeBudgets{"premium": 1})
			} else {
				r.SetHealth(nil)
				r.SetBudgets(nil)
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if _, err := r.Decide(tenantReq("premium", "other", "")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 4 {
		if _, err := r.Decide(tenantReq("premium", "other", "")); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestTenantValidation(t *testing.T) {
	tb := policyTable()
	tb.Tenants["bad"] = TenantPolicy{AllowedProviders: []string{"p9"}, AllowedModels: []string{"nope"}, Regions: []string{"mars"},
		OnViolation: "ignore", Budget: Budget{DailyUSD: -1, MonthlyUSD: -2}}
	tb.Tenants[" "] = TenantPolicy{}
	err := tb.Validate(map[string]bool{"p1": true, "p2": true, "p3": true})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`routing.tenants.bad.allowed_providers[0]: unknown provider "p9"`,
		`routing.tenants.bad.allowed_models[0]: unknown model "nope"`,
		`routing.tenants.bad.regions[0]: no model is in region "mars"`,
		`routing.tenants.bad.on_violation: "ignore", want reject or reroute`,
		"routing.tenants.bad.budget.daily_usd: must be >= 0",
		"routing.tenants.bad.budget.monthly_usd: must be >= 0",
		"routing.tenants: empty tenant id",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	tb = policyTable()
	tb.Tenants["b"] = TenantPolicy{Budget: Budget{DailyUSD: 5}}
	r, err := New(tb)
	if err != nil {
		t.Fatal(err)
	}
	if b := r.Budgets(); len(b) != 1 || b["b"].DailyUSD != 5 {
		t.Fatalf("Budgets() = %v", b)
	}
	if b, ok := r.TenantBudget("b"); !ok || b.DailyUSD != 5 {
		t.Fatalf("TenantBudget(b) = %v %v", b, ok)
	}
	if _, ok := r.TenantBudget("other"); ok {
		t.Fatal("a tenant without a budget entry has none")
	}
	tb.Tenants[DefaultTenant] = TenantPolicy{Budget: Budget{MonthlyUSD: 30}}
	r, _ = New(tb)
	if b, ok := r.TenantBudget("other"); !ok || b.MonthlyUSD != 30 {
		t.Fatalf("default entry's budget: %v %v", b, ok)
	}
}

// BenchmarkDecidePolicy is a decision with every policy step in play: a tenant with regions and
// a budget, a health view, a budget view, dated prices, and a degraded primary.
func BenchmarkDecidePolicy(b *testing.B) {
	tb := policyTable()
	tb.Prices = []PriceEntry{{Model: "mid", EffectiveFrom: day("2025-01-01"), Price: Price{InputPerMTok: 0.9, OutputPerMTok: 3.6}}}
	tb.Tenants["bench"] = TenantPolicy{Regions: []string{"eu", "us"}, Budget: Budget{DailyUSD: 100}, AllowPremiumFallback: true}
	r, err := New(tb)
	if err != nil {
		b.Fatal(err)
	}
	r.SetHealth(fakeHealth{"p3": "breaker_open"})
	r.SetBudgets(fakeBudgets{"bench": 50})
	q := tenantReq("bench", "other", "")
	q.Messages[0].Content = strings.Repeat("Please summarise the delivery history of my last orders. ", 20)
	q.CreatedAt = day("2025-06-01").UnixMilli()
	if d, err := r.Decide(q); err != nil || !d.Degraded || d.Alias != "mid" {
		b.Fatalf("%v %+v", err, d)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Decide(q); err != nil {
			b.Fatal(err)
		}
	}
}
