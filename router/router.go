package router

import (
	"errors"
	"fmt"
	"slices"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Reason codes of rejected decisions; they appear in error responses and audit events.
const (
	ReasonModelNotAllowed = "model_not_allowed"   // the requested model is unknown or not permitted
	ReasonNoProvider      = "no_allowed_provider" // allowed_providers excludes every candidate
	ReasonContextTooLong  = "context_too_long"    // no candidate's window holds prompt + max_tokens
	ReasonRoutingRejected = "routing_rejected"    // any other refusal
)

// Rejection is a request the router refuses to route. It is a client error: the request gets an
// error response with Reason as its code, never a silent reroute.
type Rejection struct {
	Reason string
	Detail string
}

func (r *Rejection) Error() string { return "routing rejected: " + r.Reason + ": " + r.Detail }

// Decision is where a request goes.
type Decision struct {
	Provider string // provider of the first hop
	Model    string // pinned version of the first hop
	Alias    string // model name of the first hop in the routing table
	// Fallbacks is the rest of the chain, each a provider and pinned version.
	Fallbacks []schemas.RouteStep
	Tier      string
	// Rule says which rule matched: "user_choice", "task:<type>" or "default".
	Rule           string
	EstInputTokens int64
	EstCostUSD     float64
	// Rejected lists the candidates skipped, each with its reason, for the audit trail.
	Rejected []Skip
}

// Skip is a candidate model the router passed over, and why.
type Skip struct {
	Model  string
	Reason string
}

// Router makes routing decisions from a validated Table.
type Router struct {
	table  Table
	models map[string]*Model
}

// New builds a Router. The table must be valid (see Table.Validate).
func New(t Table) (*Router, error) {
	if err := t.Validate(nil); err != nil {
		return nil, err
	}
	r := &Router{table: t, models: make(map[string]*Model, len(t.Models))}
	for i := range t.Models {
		r.models[t.Models[i].Name] = &t.Models[i]
	}
	// A request may also name a model by its pinned version.
	for i := range t.Models {
		if _, ok := r.models[t.Models[i].Version]; !ok {
			r.models[t.Models[i].Version] = &t.Models[i]
		}
	}
	return r, nil
}

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

// Decide routes a request: the user's model when it names one this table knows, else the rule
// for its task type, else the default rule; then drops candidates that break the request's
// provider restriction or whose context window is too small. The first survivor is the primary,
// the rest are its fallback chain.
func (r *Router) Decide(req *schemas.Request) (Decision, error) {
	var d Decision
	var chain []string
	switch {
	case req.Model != "":
		m, ok := r.models[req.Model]
		if !ok {
			d.EstInputTokens = EstimateTokens(req)
			return d, &Rejection{Reason: ReasonModelNotAllowed, Detail: fmt.Sprintf("model %q is not in the routing table", req.Model)}
		}
		d.Rule = "user_choice"
		chain = []string{m.Name}
		// A user's choice keeps the fallbacks of the rule that names it as primary, if any.
		if rule, ok := r.ruleFor(req.TaskType); ok && rule.Model == m.Name {
			chain = append(chain, rule.Fallbacks...)
		}
	default:
		rule, ok := r.ruleFor(req.TaskType)
		d.Rule = "task:" + req.TaskType
		if !ok {
			rule, d.Rule = r.table.Default, "default"
		}
		chain = append([]string{rule.Model}, rule.Fallbacks...)
	}
	// Tokens are counted once, with the tokenizer of the chain's first model; the fallbacks'
	// window checks reuse that count (families differ by a few percent, see docs/classifier.md).
	d.EstInputTokens = defaultEstimator.Count(r.models[chain[0]].Version, req).Input
	d.Tier = tierOf(req, d.EstInputTokens)

	first := true
	var lastReason string
	for _, name := range chain {
		m := r.models[name]
		if len(req.AllowedProviders) > 0 && !slices.Contains(req.AllowedProviders, m.Provider) {
			d.Rejected = append(d.Rejected, Skip{Model: name, Reason: ReasonNoProvider})
			lastReason = ReasonNoProvider
			continue
		}
		out := int64(req.MaxTokens)
		if out <= 0 {
			out = int64(m.MaxOutputTokens)
		}
		if d.EstInputTokens+out > int64(m.ContextWindow) || int64(req.MaxTokens) > int64(m.MaxOutputTokens) {
			d.Rejected = append(d.Rejected, Skip{Model: name, Reason: ReasonContextTooLong})
			lastReason = ReasonContextTooLong
			continue
		}
		if first {
			d.Provider, d.Model, d.Alias = m.Provider, m.Version, m.Name
			d.EstCostUSD = m.Price.Cost(schemas.Usage{InputTokens: d.EstInputTokens, OutputTokens: out})
			first = false
			continue
		}
		d.Fallbacks = append(d.Fallbacks, schemas.RouteStep{Provider: m.Provider, Model: m.Version})
	}
	if first {
		if lastReason == "" {
			lastReason = ReasonRoutingRejected
		}
		return d, &Rejection{Reason: lastReason, Detail: fmt.Sprintf("no candidate among %v fits the request", chain)}
	}
	return d, nil
}

func (r *Router) ruleFor(task string) (Rule, bool) {
	rule, ok := r.table.Tasks[task]
	return rule, ok
}

// tierOf is the request's complexity tier: the rule layer, then the trained classifier (see
// Classify and docs/classifier.md).
func tierOf(req *schemas.Request, tokens int64) string {
	return Classify(req, tokens).Tier
}

// IsRejection reports whether err is a routing rejection and returns it.
func IsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}

// PriceOf returns the price of a pinned model version served by provider.
func (r *Router) PriceOf(provider, version string) (Price, bool) {
	for _, m := range r.table.Models {
		if m.Provider == provider && m.Version == version {
			return m.Price, true
		}
	}
	return Price{}, false
}
