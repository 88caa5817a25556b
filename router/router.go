package router

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Reason codes of rejected decisions; they appear in error responses and audit events. Skip
// reasons of single candidates are the Skip* constants in explain.go.
const (
	ReasonModelNotAllowed    = "model_not_allowed"    // the requested model is unknown or not permitted to the tenant
	ReasonProviderNotAllowed = "provider_not_allowed" // the tenant may not use the model's provider
	ReasonRegionNotAllowed   = "region_not_allowed"   // the model's region is not one of the tenant's
	ReasonNoProvider         = "no_allowed_provider"  // the request's allowed_providers excludes every candidate
	ReasonContextTooLong     = "context_too_long"     // no candidate's window holds prompt + max_tokens
	ReasonBudgetExceeded     = "budget_exceeded"      // the tenant's budget (or the request's budget_usd) affords no candidate
	ReasonNoHealthyModel     = "no_healthy_model"     // every candidate's provider or model is unhealthy
	ReasonPrimaryUnavailable = "primary_unavailable"  // the primary is unhealthy and the tenant does not degrade, or nothing may replace it
	ReasonRoutingRejected    = "routing_rejected"     // any other refusal
)

// Degradation reasons (Decision.DegradedReason).
const (
	DegradedPrimaryUnhealthy = "primary_unhealthy"
	DegradedOverBudget       = "over_budget"
)

// Rejection is a request the router refuses to route. It is a client error: the request gets an
// error response with Reason as its code, never a silent reroute.
type Rejection struct {
	Reason string
	Detail string
	// Retryable is true when the same request may succeed later (primary_unavailable,
	// no_healthy_model, budget_exceeded).
	Retryable bool
}

func (r *Rejection) Error() string { return "routing rejected: " + r.Reason + ": " + r.Detail }

// Decision is where a request goes, and why.
type Decision struct {
	Provider string // provider of the first hop
	Model    string // pinned version of the first hop
	Alias    string // model name of the first hop in the routing table
	// Fallbacks is the rest of the chain, each a provider and pinned version.
	Fallbacks []schemas.RouteStep
	Tier      string
	// Rule says which rule matched: "user_choice", "task:<type>" or "default", with
	// "/tier:<tier>" appended when a per-tier chain of that rule matched.
	Rule            string
	EstInputTokens  int64
	EstOutputTokens int64   // of the first hop: max_tokens, else the tier's typical output
	EstCostUSD      float64 // of the first hop
	// Degraded is set when the first hop is not the chain's primary because the primary is
	// unhealthy or over budget; DegradedReason is DegradedPrimaryUnhealthy or DegradedOverBudget.
	Degraded       bool
	DegradedReason string
	// Rerouted is the violation (model_not_allowed, provider_not_allowed, region_not_allowed)
	// of the request's own model that a tenant with on_violation: reroute turned into a route by
	// the task rule; "" otherwise.
	Rerouted string
	// Classification is the tier and how it was reached (source, confidence, features).
	Classification Classification
	// Candidates lists every model considered, in chain order: chosen ones and skipped ones
	// with their reason, each with its estimated tokens and cost.
	Candidates []Candidate
}

// Router makes routing decisions from a validated Table. Decide is safe for concurrent use,
// including concurrently with SetHealth and SetBudgets.
type Router struct {
	table   Table
	models  map[string]*Model
	books   map[string]priceBook
	tenants map[string]*TenantPolicy
	rules   map[string]*namedRule
	def     namedRule
	health  atomic.Pointer[healthBox]
	budgets atomic.Pointer[budgetBox]
	now     func() time.Time
}

// The views are interfaces; atomic.Pointer needs a concrete type, so each sits in a box.
type healthBox struct{ v HealthView }
type budgetBox struct{ v BudgetView }

// New builds a Router. The table must be valid (see Table.Validate); New checks everything
// Validate does except the floating-alias rule, which is configuration policy applied when the
// config is checked (config.Validate calls Table.Validate).
func New(t Table) (*Router, error) {
	if err := t.validate(nil, false); err != nil {
		return nil, err
	}
	// The router keeps its own copies: a caller changing its table afterwards changes nothing.
	t.Models, t.Prices = slices.Clone(t.Models), slices.Clone(t.Prices)
	r := &Router{table: t, models: make(map[string]*Model, len(t.Models)), books: make(map[string]priceBook, len(t.Models)),
		tenants: make(map[string]*TenantPolicy, len(t.Tenants)), now: time.Now}
	for i := range t.Models {
		m := &t.Models[i]
		r.models[m.Name] = m
		r.books[m.Name] = newPriceBook(m, t.Prices)
	}
	// A request may also name a model by its pinned version.
	for i := range t.Models {
		if _, ok := r.models[t.Models[i].Version]; !ok {
			r.models[t.Models[i].Version] = &t.Models[i]
		}
	}
	r.rules = make(map[string]*namedRule, len(t.Tasks))
	for task, rule := range t.Tasks {
		r.rules[task] = newNamedRule(rule, "task:"+task)
	}
	r.def = *newNamedRule(t.Default, "default")
	for id, p := range t.Tenants {
		r.tenants[id] = &p
	}
	return r, nil
}

// SetHealth installs the provider health view Decide reads; nil means every provider is
// healthy. It may be called at any time: the view is swapped atomically, and Decide only calls
// its read method, so the view must itself be safe for concurrent reads.
func (r *Router) SetHealth(v HealthView) {
	if v == nil {
		r.health.Store(nil)
		return
	}
	r.health.Store(&healthBox{v})
}

// SetBudgets installs the tenant spend view Decide reads; nil means no tenant is limited. Same
// concurrency contract as SetHealth.
func (r *Router) SetBudgets(v BudgetView) {
	if v == nil {
		r.budgets.Store(nil)
		return
	}
	r.budgets.Store(&budgetBox{v})
}

// SetClock replaces the clock used for budget periods and for prices of requests without
// created_at. Call it before the first Decide. Default time.Now.
func (r *Router) SetClock(now func() time.Time) { r.now = now }

// Model returns the model with the given name or pinned version.
func (r *Router) Model(name string) (Model, bool) {
	m, ok := r.models[name]
	if !ok {
		return Model{}, false
	}
	return *m, true
}

// EstimateTokens estimates the prompt's input tokens for the model the request names (any
// model: o200k_base when it names none), with the package's shared Estimator: exact BPE for
// OpenAI models, a documented per-family approximation for others (see Estimator.Count).
func EstimateTokens(req *schemas.Request) int64 {
	return defaultEstimator.Count(req.Model, req).Input
}

// TypicalOutputTokens is the output a request without max_tokens is costed at, by tier:
// simple 256, standard 512, complex and long-context 1024 (capped by the model's
// max_output_tokens). It prices candidates; it never limits a call.
func TypicalOutputTokens(tier string) int64 {
	switch tier {
	case TierSimple:
		return 256
	case TierStandard:
		return 512
	}
	return 1024
}

// Decide routes a request; docs/routing.md walks through the steps:
//
//  1. The tenant's policy (its entry, else "default"). A request's own model the tenant may not
//     use is rejected, or, with on_violation: reroute, routed by the task rule (Rerouted).
//  2. Tokens are estimated once, then classified into a tier.
//  3. The chain: the user's model (with the rule's fallbacks when the rule names it as
//     primary), else the task rule's chain for the tier, else its own chain, else the default
//     rule's. A long-context request whose rule has no long-context chain also considers every
//     other model whose window fits, cheapest first.
//  4. Each candidate is costed and checked, in order: the request's allowed_providers, the
//     tenant's providers, models and regions, the context window; the first to pass is the
//     primary, and later ones dearer than it fail the premium rule; then health, the
//     request's budget_usd and the tenant's remaining budget.
//  5. The first survivor is the first hop (degraded when it is not the primary); the rest are
//     the fallback chain.
func (r *Router) Decide(req *schemas.Request) (Decision, error) {
	var d Decision
	pol := r.policy(req.TenantID)
	nr, taskRule := r.ruleFor(req.TaskType)
	rule := &nr.Rule

	var user *Model
	if req.Model != "" {
		m, ok := r.models[req.Model]
		viol, detail := "", ""
		switch {
		case !ok:
			viol, detail = ReasonModelNotAllowed, fmt.Sprintf("model %q is not in the routing table", req.Model)
		default:
			if viol = pol.violation(m); viol != "" {
				detail = violationDetail(viol, m, req.TenantID)
			}
		}
		switch {
		case viol == "":
			user = m
		case pol.reroute():
			d.Rerouted = viol
		default:
			// Refused; the decision still explains itself: tier, and the refused model's estimate.
			d.EstInputTokens = EstimateTokens(req)
			d.Classification = Classify(req, d.EstInputTokens)
			d.Tier = d.Classification.Tier
			if m != nil {
				c := r.candidate(req, m, d.EstInputTokens, d.Tier, r.priceTime(req))
				c.Role, c.Reason, c.Detail = RoleSkipped, viol, detail
				d.Candidates = append(d.Candidates, c)
			}
			return d, &Rejection{Reason: viol, Detail: detail}
		}
	}

	// Tokens are counted once, with the tokenizer of the chain's first model; the others'
	// checks reuse that count (families differ by a few percent, see docs/classifier.md).
	first := rule.Model
	if user != nil {
		first = user.Name
	}
	d.EstInputTokens = defaultEstimator.Count(r.models[first].Version, req).Input
	d.Classification = Classify(req, d.EstInputTokens)
	d.Tier = d.Classification.Tier

	chain, tierMatched := rule.chain(d.Tier)
	var buf [8]string
	names := buf[:0]
	if user != nil {
		d.Rule = "user_choice"
		names = append(names, user.Name)
		// A user's choice keeps the fallbacks of the task rule that names it as primary, if any.
		switch {
		case !taskRule:
		case chain.Model == user.Name:
			names = append(names, chain.Fallbacks...)
		case rule.Model == user.Name:
			names = append(names, rule.Fallbacks...)
		}
	} else {
		d.Rule = nr.name
		if tierMatched {
			d.Rule = nr.tierNames[d.Tier]
		}
		names = append(names, chain.Model)
		names = append(names, chain.Fallbacks...)
	}
	extended := len(names)
	if d.Tier == TierLongContext && !tierMatched {
		names = r.appendFitting(names, req, d.EstInputTokens)
	}

	at := r.priceTime(req)
	var health HealthView
	if h := r.health.Load(); h != nil {
		health = h.v
	}
	remaining, limited := 0.0, false
	if b := r.budgets.Load(); b != nil {
		remaining, limited = budgetLeft(b.v, req.TenantID, req.RequestID, r.now())
	}
	premiumOK := req.Priority == schemas.PriorityInteractive && pol != nil && pol.AllowPremiumFallback

	d.Candidates = make([]Candidate, 0, len(names))
	// primary is the index of the chain's primary: the first candidate the request and the
	// tenant may use and whose window fits, healthy and affordable or not. Its cost is the
	// premium rule's reference; passing it over for health or budget is a degradation.
	primary, chosen := -1, -1
	var degradeReason, lastReason string
	for i, name := range names {
		m := r.models[name]
		c := r.candidate(req, m, d.EstInputTokens, d.Tier, at)
		if i >= extended {
			c.Source = SourceLongContext
		}
		c.Reason, c.Detail = r.checkStatic(req, pol, m, &c)
		switch {
		case c.Reason != "":
		case primary < 0:
			primary = len(d.Candidates)
		case !premiumOK && c.EstCostUSD > d.Candidates[primary].EstCostUSD*(1+1e-9):
			c.Reason, c.Detail = SkipPricierThanPrimary, fmt.Sprintf("est $%.6f above the primary's $%.6f", c.EstCostUSD, d.Candidates[primary].EstCostUSD)
		}
		if c.Reason == "" {
			c.Reason, c.Detail = r.checkState(req, m, &c, health, remaining, limited)
		}
		if c.Reason != "" {
			c.Role = RoleSkipped
			d.Candidates = append(d.Candidates, c)
			lastReason = c.Reason
			if primary == len(d.Candidates)-1 {
				switch c.Reason {
				case SkipUnhealthy:
					degradeReason = DegradedPrimaryUnhealthy
				case SkipOverBudget, SkipOverRequestBudget:
					degradeReason = DegradedOverBudget
				}
				if !pol.degrade() {
					if degradeReason == DegradedOverBudget {
						return d, &Rejection{Reason: ReasonBudgetExceeded, Detail: c.Detail, Retryable: true}
					}
					return d, &Rejection{Reason: ReasonPrimaryUnavailable, Detail: c.Detail, Retryable: true}
				}
			}
			continue
		}
		if chosen < 0 {
			chosen = len(d.Candidates)
			c.Role = RolePrimary
			d.Provider, d.Model, d.Alias = m.Provider, m.Version, m.Name
			d.EstOutputTokens, d.EstCostUSD = c.EstOutputTokens, c.EstCostUSD
			if degradeReason != "" {
				d.Degraded, d.DegradedReason = true, degradeReason
			}
		} else {
			c.Role = RoleFallback
			d.Fallbacks = append(d.Fallbacks, schemas.RouteStep{Provider: m.Provider, Model: m.Version})
		}
		d.Candidates = append(d.Candidates, c)
	}
	if chosen < 0 {
		rej := &Rejection{Reason: rejectionReason(lastReason, degradeReason), Detail: fmt.Sprintf("no candidate among %v fits the request", slices.Clone(names))}
		rej.Retryable = rej.Reason == ReasonBudgetExceeded || rej.Reason == ReasonNoHealthyModel || rej.Reason == ReasonPrimaryUnavailable
		return d, rej
	}
	return d, nil
}

// candidate is m costed for the request: input tokens plus max_tokens, else the tier's typical
// output capped by the model, at the prices in force at at (batch rates for batch priority).
func (r *Router) candidate(req *schemas.Request, m *Model, input int64, tier string, at time.Time) Candidate {
	c := Candidate{Alias: m.Name, Provider: m.Provider, Version: m.Version, EstInputTokens: input}
	c.EstOutputTokens = int64(req.MaxTokens)
	if c.EstOutputTokens <= 0 {
		c.EstOutputTokens = min(TypicalOutputTokens(tier), int64(m.MaxOutputTokens))
	}
	c.EstCostUSD = r.books[m.Name].at(at).ForPriority(req.Priority).Cost(schemas.Usage{InputTokens: input, OutputTokens: c.EstOutputTokens})
	return c
}

// checkStatic returns why the request may never use a candidate (its own and its tenant's
// restrictions, the context window), or "".
func (r *Router) checkStatic(req *schemas.Request, pol *TenantPolicy, m *Model, c *Candidate) (reason, detail string) {
	if len(req.AllowedProviders) > 0 && !slices.Contains(req.AllowedProviders, m.Provider) {
		return SkipNoAllowedProvider, fmt.Sprintf("provider %q not in the request's allowed_providers", m.Provider)
	}
	if v := pol.violation(m); v != "" {
		return v, violationDetail(v, m, req.TenantID)
	}
	out := int64(req.MaxTokens)
	if out <= 0 {
		out = int64(m.MaxOutputTokens)
	}
	if c.EstInputTokens+out > int64(m.ContextWindow) || int64(req.MaxTokens) > int64(m.MaxOutputTokens) {
		return SkipContextTooLong, fmt.Sprintf("%d input + %d output tokens exceed window %d (max output %d)", c.EstInputTokens, out, m.ContextWindow, m.MaxOutputTokens)
	}
	return "", ""
}

// checkState returns why a candidate may not serve the request now (health, budgets), or "".
func (r *Router) checkState(req *schemas.Request, m *Model, c *Candidate, health HealthView, remaining float64, limited bool) (reason, detail string) {
	if health != nil {
		if why, bad := health.Unhealthy(m.Provider, ""); bad {
			return SkipUnhealthy, "provider " + m.Provider + ": " + why
		}
		if why, bad := health.Unhealthy(m.Provider, m.Version); bad {
			return SkipUnhealthy, "model " + m.Version + ": " + why
		}
	}
	if req.BudgetUSD != nil && c.EstCostUSD > *req.BudgetUSD {
		return SkipOverRequestBudget, fmt.Sprintf("est $%.6f above the request's budget_usd $%.6f", c.EstCostUSD, *req.BudgetUSD)
	}
	if limited && c.EstCostUSD > remaining {
		return SkipOverBudget, fmt.Sprintf("est $%.6f above the tenant's remaining $%.6f", c.EstCostUSD, remaining)
	}
	return "", ""
}

// appendFitting adds, cheapest first, the models not yet in names whose window holds the
// prompt plus output, for long-context requests whose rule names no long-context chain.
func (r *Router) appendFitting(names []string, req *schemas.Request, input int64) []string {
	start := len(names)
	for i := range r.table.Models {
		m := &r.table.Models[i]
		out := int64(req.MaxTokens)
		if out <= 0 {
			out = int64(m.MaxOutputTokens)
		}
		if !slices.Contains(names[:start], m.Name) && input+out <= int64(m.ContextWindow) {
			names = append(names, m.Name)
		}
	}
	at := r.priceTime(req)
	slices.SortStableFunc(names[start:], func(a, b string) int {
		pa, pb := r.books[a].at(at), r.books[b].at(at)
		ca := pa.Cost(schemas.Usage{InputTokens: input, OutputTokens: 1024})
		cb := pb.Cost(schemas.Usage{InputTokens: input, OutputTokens: 1024})
		switch {
		case ca < cb:
			return -1
		case ca > cb:
			return 1
		}
		return 0
	})
	return names
}

// priceTime is the instant whose prices apply to a request: its created_at, else now.
func (r *Router) priceTime(req *schemas.Request) time.Time {
	if req.CreatedAt > 0 {
		return time.UnixMilli(req.CreatedAt)
	}
	return r.now()
}

// rejectionReason is the code of a request no candidate may serve: from the degradation that
// found no replacement, else from the last candidate's skip reason.
func rejectionReason(skip, degraded string) string {
	switch {
	case skip == SkipOverBudget || skip == SkipOverRequestBudget || degraded == DegradedOverBudget:
		return ReasonBudgetExceeded
	case skip == SkipUnhealthy:
		return ReasonNoHealthyModel
	case degraded == DegradedPrimaryUnhealthy:
		return ReasonPrimaryUnavailable
	}
	switch skip {
	case SkipNoAllowedProvider, SkipContextTooLong, ReasonModelNotAllowed, ReasonProviderNotAllowed, ReasonRegionNotAllowed:
		return skip
	}
	return ReasonRoutingRejected
}

// ruleFor returns the rule of a task type, and whether it is the task's own rule (false: the
// default rule).
func (r *Router) ruleFor(task string) (*namedRule, bool) {
	if rule, ok := r.rules[task]; ok {
		return rule, true
	}
	return &r.def, false
}

// namedRule is a rule with its precomputed Decision.Rule names, its own and per tier.
type namedRule struct {
	Rule
	name      string
	tierNames map[string]string
}

func newNamedRule(rule Rule, name string) *namedRule {
	nr := &namedRule{Rule: rule, name: name, tierNames: make(map[string]string, len(rule.Tiers))}
	for tier := range rule.Tiers {
		nr.tierNames[tier] = name + "/tier:" + tier
	}
	return nr
}

// IsRejection reports whether err is a routing rejection and returns it.
func IsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}
