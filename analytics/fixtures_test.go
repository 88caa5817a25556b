package analytics

import (
	"fmt"

	"github.com/switchyard-llm/switchyard/schemas"
)

// sampleResponse is an ok response that needed a hedge after its first provider timed out.
// Times: created 2025-03-04T05:06:07.891Z, completed 1.5 s later. Costs are sums of powers of two,
// so that float sums in the tests are exact in any order.
func sampleResponse(requestID, tenant, provider, model string) schemas.Response {
	return schemas.Response{
		RequestID: requestID, TenantID: tenant, UserID: "user-7", TaskType: "chat", Priority: "interactive",
		Status: schemas.StatusOK, Provider: provider, Model: model,
		Content:      "the answer, which must never reach ClickHouse",
		FinishReason: "stop",
		Usage:        schemas.Usage{InputTokens: 1200, OutputTokens: 300, CachedTokens: 1000, ReasoningTokens: 40},
		CostUSD:      0.375,
		Latency:      schemas.Latency{QueueMS: 12.5, TTFTMS: 250.25, TotalMS: 1500.75},
		Attempts: []schemas.Attempt{
			{
				AttemptID: "att-" + requestID + "-0", Provider: "anthropic", Model: "claude-sonnet-4-5",
				Outcome: "timeout", ErrorCode: "first_token_timeout", StartedAt: 1741064767900000,
				DurationMS: 800, InputTokens: 1200, CostUSD: 0.125, Hop: 0,
			},
			{
				AttemptID: "att-" + requestID + "-1", Provider: provider, Model: model, Outcome: "ok",
				StartedAt: 1741064768700001, DurationMS: 690.5, TTFTMS: 250.25, InputTokens: 1200,
				OutputTokens: 300, CachedTokens: 1000, CostUSD: 0.25, Hedge: true, Hop: 1,
			},
		},
		FallbackDepth: 1, Hedged: true,
		CreatedAt: 1741064767891, CompletedAt: 1741064769391,
	}
}

func sampleAudit(eventID, requestID, tenant string, i int) schemas.AuditEvent {
	return schemas.AuditEvent{
		EventID: eventID, RequestID: requestID, TenantID: tenant, TS: 1741064767123456 + int64(i),
		Type: "route.decided", Stage: "router", Provider: "openai", Model: "gpt-4o", DurationUS: 1500,
		Attrs: map[string]string{"tier": "standard", "chain": "openai,anthropic", "reason": `cheapest "fit"`},
	}
}

// fixture is a set of responses and audit events with known aggregates.
type fixture struct {
	responses []schemas.Response
	audits    []schemas.AuditEvent
}

// newFixture builds n responses for request ids prefix-0..n-1 spread over two providers (even
// index: openai/gpt-4o at 0.375 USD, odd: anthropic/claude at 0.5 USD, every third one an error
// costing 0.125), each with two attempts, and two audit events per request.
func newFixture(prefix string, n int) fixture {
	var f fixture
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		r := sampleResponse(id, "acme", "openai", "gpt-4o")
		if i%2 == 1 {
			r.Provider, r.Model, r.CostUSD = "anthropic", "claude-sonnet-4-5", 0.5
			r.Attempts[1].Provider, r.Attempts[1].Model = "anthropic", "claude-sonnet-4-5"
		}
		if i%3 == 2 {
			r.Status, r.CostUSD = schemas.StatusError, 0.125
			r.Error = &schemas.ErrorInfo{Code: "unavailable", Retryable: true}
		}
		r.Latency.TotalMS = float64(100 * (i + 1))
		f.responses = append(f.responses, r)
		f.audits = append(f.audits, sampleAudit(id+"-ev-a", id, "acme", 2*i), sampleAudit(id+"-ev-b", id, "acme", 2*i+1))
	}
	return f
}

// want computes the deduplicated aggregates the views must show.
func (f fixture) costByProvider() map[string]ProviderCost {
	out := map[string]ProviderCost{}
	for _, r := range f.responses {
		c := out[r.Provider]
		c.Provider, c.Model = r.Provider, r.Model
		c.Requests++
		if r.Status == schemas.StatusError {
			c.Errors++
		}
		c.InputTokens += r.Usage.InputTokens
		c.OutputTokens += r.Usage.OutputTokens
		c.CachedTokens += r.Usage.CachedTokens
		c.CostUSD += r.CostUSD
		out[r.Provider] = c
	}
	return out
}

func (f fixture) rows() ([]RequestRow, []AttemptRow, []AuditRow) {
	var req []RequestRow
	var att []AttemptRow
	var aud []AuditRow
	for _, r := range f.responses {
		req = append(req, NewRequestRow(r))
		att = append(att, NewAttemptRows(r)...)
	}
	for _, e := range f.audits {
		aud = append(aud, NewAuditRow(e))
	}
	return req, att, aud
}
