package roles

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/internal/promtest"
	"github.com/switchyard-llm/switchyard/resilience"
	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// sampleCount is the number of observations of a histogram series (labels as name=value pairs).
func sampleCount(t *testing.T, reg *prometheus.Registry, name string, labels ...string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// A terminal response that went through two hops counts every attempt's tokens and cost under
// its own provider and model, the reasoning and cache-write tokens of the answering attempt,
// one response and one end-to-end latency under the provider that answered.
func TestMetricsTokensAndCostOfATerminalResponse(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.responded(&schemas.Response{
		RequestID: "r1", Status: schemas.StatusOK, Provider: "p2", Model: "m2-v1",
		Usage:   schemas.Usage{InputTokens: 100, OutputTokens: 40, ReasoningTokens: 7, CacheWriteTokens: 3},
		Latency: schemas.Latency{TotalMS: 1500},
		Attempts: []schemas.Attempt{
			{Provider: "p1", Model: "m1-v1", Outcome: "rejected", ErrorCode: "breaker_open"},
			{Provider: "p1", Model: "m1-v1", Outcome: "timeout", InputTokens: 100, OutputTokens: 5, CostUSD: 0.25},
			{Provider: "p2", Model: "m2-v1", Outcome: "ok", InputTokens: 100, OutputTokens: 40, CachedTokens: 60, CostUSD: 0.5},
		},
	})
	want := `
# HELP switchyard_tokens_total Tokens of every attempt of the requests that got a terminal response, by provider, model and kind (input, output, cached, cache_write, reasoning).
# TYPE switchyard_tokens_total counter
switchyard_tokens_total{kind="cache_write",model="m1-v1",provider="p1"} 0
switchyard_tokens_total{kind="cached",model="m1-v1",provider="p1"} 0
switchyard_tokens_total{kind="input",model="m1-v1",provider="p1"} 100
switchyard_tokens_total{kind="output",model="m1-v1",provider="p1"} 5
switchyard_tokens_total{kind="reasoning",model="m1-v1",provider="p1"} 0
switchyard_tokens_total{kind="cache_write",model="m2-v1",provider="p2"} 3
switchyard_tokens_total{kind="cached",model="m2-v1",provider="p2"} 60
switchyard_tokens_total{kind="input",model="m2-v1",provider="p2"} 100
switchyard_tokens_total{kind="output",model="m2-v1",provider="p2"} 40
switchyard_tokens_total{kind="reasoning",model="m2-v1",provider="p2"} 7
# HELP switchyard_cost_usd_total Cost in USD of every attempt of the requests that got a terminal response, by provider and model.
# TYPE switchyard_cost_usd_total counter
switchyard_cost_usd_total{model="m1-v1",provider="p1"} 0.25
switchyard_cost_usd_total{model="m2-v1",provider="p2"} 0.5
# HELP switchyard_responses_total Terminal responses published, by the provider that answered (none for router rejections) and status (ok, degraded, error).
# TYPE switchyard_responses_total counter
switchyard_responses_total{provider="p2",status="ok"} 1
`
	if err := promtest.GatherAndCompare(reg, want, "switchyard_tokens_total", "switchyard_cost_usd_total", "switchyard_responses_total"); err != nil {
		t.Fatal(err)
	}
	if n := sampleCount(t, reg, "switchyard_request_duration_seconds", "provider", "p2"); n != 1 {
		t.Fatalf("request duration observations: %d, want 1", n)
	}
}

// A worker's answered request counts its response and the tokens and cost of its attempts
// once, after the response is acknowledged; its stages are timed.
func TestMetricsWorkerCountsItsTerminalResponse(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	h.worker.Metrics = NewMetrics(reg)
	if err := h.worker.Handle(context.Background(), h.workRecordWith("sim-ok", false, time.Now(), func(it *schemas.WorkItem) {
		it.RoutedAt = time.Now().UnixMilli()
	})); err != nil {
		t.Fatal(err)
	}
	resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse)
	if len(resps) != 1 || len(resps[0].Attempts) != 1 {
		t.Fatalf("responses %+v", resps)
	}
	a := resps[0].Attempts[0]
	want := `
# HELP switchyard_cost_usd_total Cost in USD of every attempt of the requests that got a terminal response, by provider and model.
# TYPE switchyard_cost_usd_total counter
switchyard_cost_usd_total{model="sim-ok",provider="p1"} ` + ftoa(a.CostUSD) + `
# HELP switchyard_responses_total Terminal responses published, by the provider that answered (none for router rejections) and status (ok, degraded, error).
# TYPE switchyard_responses_total counter
switchyard_responses_total{provider="p1",status="ok"} 1
`
	if err := promtest.GatherAndCompare(reg, want, "switchyard_cost_usd_total", "switchyard_responses_total"); err != nil {
		t.Fatal(err)
	}
	if a.InputTokens == 0 || a.CostUSD <= 0 {
		t.Fatalf("attempt %+v: the simulator reported no usage", a)
	}
	for _, stage := range []string{stageQueue, stageDecode, stageProduce} {
		if n := sampleCount(t, reg, "switchyard_stage_duration_seconds", "role", "worker", "stage", stage); n != 1 {
			t.Errorf("worker stage %s: %d observations, want 1", stage, n)
		}
	}
}

// Poison requests and a panic are counted in switchyard_dlq_total by stage and reason once
// their dead letters are acknowledged; a validation failure counts as "validation".
func TestMetricsDLQAfterPoisonRecords(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	rt, err := router.New(router.Table{
		Models:  []router.Model{{Name: "m", Provider: "p1", Version: "m-1", ContextWindow: 8000, MaxOutputTokens: 1000, Price: router.Price{InputPerMTok: 1, OutputPerMTok: 1}}},
		Default: router.Rule{Model: "m"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &RouterRole{Client: h.cl, Codec: h.codec, Router: rt, Topics: topics, Metrics: m}
	good := `{"request_id":"r1","tenant_id":"acme","created_at":1,"messages":[{"role":"user","content":"hi"}]}`
	for _, rec := range []*kgo.Record{
		{Topic: topics.Requests, Offset: 1, Value: []byte(good), Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}},
		{Topic: topics.Requests, Offset: 2, Value: []byte{0x42, 0x00}},
		{Topic: topics.Requests, Offset: 3, Value: []byte(`{"request_id":"r2","created_at":1,"messages":[{"role":"user","content":"hi"}]}`)},
	} {
		if err := r.Handle(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	h.worker.Metrics = m
	if err := h.worker.OnPanic(context.Background(), h.workRecord("sim-ok", false, time.Now()), errors.New("boom"), []byte("stack")); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP switchyard_dlq_total Records dead-lettered to the DLQ topic (counted once acknowledged), by stage and reason.
# TYPE switchyard_dlq_total counter
switchyard_dlq_total{reason="bad_header",stage="ingest"} 1
switchyard_dlq_total{reason="validation",stage="ingest"} 1
switchyard_dlq_total{reason="panic",stage="dispatch"} 1
`
	if err := promtest.GatherAndCompare(reg, want, "switchyard_dlq_total"); err != nil {
		t.Fatal(err)
	}
	// Every request is decoded; only the valid one is routed and has a queue time.
	for stage, n := range map[string]uint64{stageDecode: 3, stageQueue: 1, stageRoute: 1, stageProduce: 3} {
		if got := sampleCount(t, reg, "switchyard_stage_duration_seconds", "role", "router", "stage", stage); got != n {
			t.Errorf("router stage %s: %d observations, want %d", stage, got, n)
		}
	}
}

// Three failures trip p1's breaker: the breaker gauge says open, the transition is counted, the
// three calls that went out were timed and none is left in flight.
func TestMetricsBreakerStateAfterATrip(t *testing.T) {
	r := newRig(t, sim.Config{}, sim.Config{}, nil)
	reg := prometheus.NewRegistry()
	r.guard = NewGuard(GuardConfig{Registerer: reg, Settings: map[string]resilience.Settings{
		"p1": fast(func(s *resilience.Settings) {
			s.Breaker = resilience.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: time.Minute, HalfOpenRequests: 1}
			s.Retry.MaxAttempts = 1
		}),
		"p2": fast(nil),
	}})
	w := r.worker("p1", r.openai("p1", r.url1))
	if err := r.sim1.SetFault("m1", sim.Model503); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t-0", "t-1", "t-2", "t-3"} {
		r.handle(w, workItem(id, "p1", "m1", false, schemas.RouteStep{Provider: "p2", Model: "m2"}))
	}
	want := `
# HELP switchyard_breaker_state Circuit breaker state per provider model: 0 closed, 1 half-open, 2 open.
# TYPE switchyard_breaker_state gauge
switchyard_breaker_state{model="m1",provider="p1"} 2
# HELP switchyard_breaker_transitions_total Circuit breaker state changes, by the state entered.
# TYPE switchyard_breaker_transitions_total counter
switchyard_breaker_transitions_total{model="m1",provider="p1",to="open"} 1
# HELP switchyard_provider_calls_in_flight Provider calls sent and not yet answered (hedges included).
# TYPE switchyard_provider_calls_in_flight gauge
switchyard_provider_calls_in_flight{provider="p1"} 0
switchyard_provider_calls_in_flight{provider="p2"} 0
# HELP switchyard_fallbacks_total Requests sent down the chain to the next provider, by the failure that sent them.
# TYPE switchyard_fallbacks_total counter
switchyard_fallbacks_total{provider="p1",reason="breaker_open"} 1
switchyard_fallbacks_total{provider="p1",reason="unavailable"} 3
`
	if err := promtest.GatherAndCompare(reg, want, "switchyard_breaker_state", "switchyard_breaker_transitions_total",
		"switchyard_provider_calls_in_flight", "switchyard_fallbacks_total"); err != nil {
		t.Fatal(err)
	}
	if n := sampleCount(t, reg, "switchyard_provider_attempt_duration_seconds", "provider", "p1"); n != 3 {
		t.Fatalf("p1 attempt durations: %d, want 3 (the open breaker sends none)", n)
	}
}
