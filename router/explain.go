package router

import (
	"strconv"
	"strings"
)

// Skip reasons: why a candidate was passed over (Candidate.Reason). The tenant-policy reasons
// are the rejection codes ReasonModelNotAllowed, ReasonProviderNotAllowed and
// ReasonRegionNotAllowed.
const (
	SkipNoAllowedProvider  = ReasonNoProvider       // not in the request's allowed_providers
	SkipContextTooLong     = ReasonContextTooLong   // window too small for prompt + max_tokens
	SkipUnhealthy          = "unhealthy"            // provider or model reported unhealthy (Detail says why)
	SkipOverBudget         = "over_budget"          // estimated cost above the tenant's remaining budget
	SkipOverRequestBudget  = "over_request_budget"  // estimated cost above the request's budget_usd
	SkipPricierThanPrimary = "pricier_than_primary" // a fallback dearer than the first hop (premium rule)
)

// Candidate roles.
const (
	RolePrimary  = "primary"  // the first hop
	RoleFallback = "fallback" // in the fallback chain
	RoleSkipped  = "skipped"  // passed over, see Reason
)

// Candidate sources.
const (
	SourceRule        = ""             // named by the rule or the user's choice
	SourceLongContext = "long_context" // added because the prompt is long-context and fits its window
)

// Candidate is one model Decide considered, with its estimate and its fate.
type Candidate struct {
	Alias    string
	Provider string
	Version  string
	// Source is SourceRule or SourceLongContext.
	Source          string
	EstInputTokens  int64
	EstOutputTokens int64
	// EstCostUSD is the token-aware estimate at the request's prices (batch rates for batch
	// priority).
	EstCostUSD float64
	// Role is RolePrimary, RoleFallback or RoleSkipped.
	Role string
	// Reason is the Skip* or tenant-policy code of a skipped candidate; Detail says more.
	Reason string
	Detail string
}

// Skipped returns the candidates that were passed over, in the order considered.
func (d *Decision) Skipped() []Candidate {
	var out []Candidate
	for _, c := range d.Candidates {
		if c.Role == RoleSkipped {
			out = append(out, c)
		}
	}
	return out
}

// RouteReason is the work item's route_reason for a decision: "degraded:<reason>" (e.g.
// "degraded:primary_unhealthy", "degraded:over_budget") when the decision is degraded, else
// the rule (Decision.Rule).
func (d *Decision) RouteReason() string {
	if d.Degraded {
		return DegradedPrefix + d.DegradedReason
	}
	return d.Rule
}

// DegradedPrefix starts the route_reason of a degraded decision.
const DegradedPrefix = "degraded:"

// DegradedReason parses a work item's route_reason: the degradation reason and true when the
// router degraded the request (see Decision.RouteReason).
func DegradedReason(routeReason string) (string, bool) {
	return strings.CutPrefix(routeReason, DegradedPrefix)
}

// Summary renders the features that drive classification as "name=value" pairs, for audit
// events and logs. It never contains prompt text.
func (f Features) Summary() string {
	b := make([]byte, 0, 160)
	kv := func(k string, v int64) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = strconv.AppendInt(b, v, 10)
	}
	kv("tokens", f.InputTokens)
	kv("turns", int64(f.Turns))
	kv("user_turns", int64(f.UserTurns))
	kv("tools", int64(f.Tools))
	kv("tool_results", int64(f.ToolResults))
	kv("images", int64(f.Images))
	kv("code_blocks", int64(f.CodeBlocks))
	kv("questions", int64(f.Questions))
	kv("complex_kw", int64(f.ComplexHits))
	kv("simple_kw", int64(f.SimpleHits))
	kv("last_user_words", int64(f.LastUserWords))
	kv("max_tokens", int64(f.MaxTokens))
	b = append(b, " json_schema="...)
	b = strconv.AppendBool(b, f.JSONSchema)
	b = append(b, " json_mode="...)
	b = strconv.AppendBool(b, f.JSONMode)
	if f.TaskType != "" {
		b = append(b, " task_type="...)
		b = append(b, f.TaskType...)
	}
	return string(b)
}
