package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/consumers/roles"
	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// The routing brain end to end on the real broker: a provider reported unhealthy on
// llm.provider.health is routed around, with the answer marked degraded; a tenant with a daily
// budget is served until its spend, shared through llm.spend and settled from llm.responses,
// reaches the budget, and then refused with budget_exceeded; every decision is explained in
// route.* audit events.
func TestRoutingPolicyOnRealKafka(t *testing.T) {
	kafka, ch := realServices(t)
	brokers := strings.Split(kafka, ",")
	_, simURL := startSim(t, sim.Config{Latency: sim.Latency{Base: 2 * time.Millisecond}})
	cfg := itConfig(t, simURL, kafka, ch, "")
	cfg.ClickHouse.Addr = "" // analytics is not under test here
	const budget = 0.0005    // USD per day: a few dozen small gpt-4o-mini answers
	cfg.Routing.Tenants["frugal"] = router.TenantPolicy{Budget: router.Budget{DailyUSD: budget}}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	app, err := NewApp(cfg, AppOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	topics := cfg.Topics()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Anthropic is out of the pool before the router starts: summarization's primary
	// (claude-haiku) must give way to its fallback.
	if err := roles.PublishHealth(ctx, cl, topics.Health, app.Codec(), schemas.ProviderHealth{
		Provider: "anthropic", Status: schemas.HealthUnhealthy, Reason: "probe_failed", TS: time.Now().UnixMilli(), Source: "test",
	}); err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctx, []string{"router", "worker"}, nil); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- app.Run(ctx) }()
	o := watchOutcomes(t, ctx, brokers, app.Codec(), topics)

	send := func(id, tenant, task string) {
		req := schemas.Request{RequestID: id, TenantID: tenant, CreatedAt: time.Now().UnixMilli(), TaskType: task,
			Priority: "interactive", MaxTokens: 64, ResponseFormat: schemas.ResponseFormat{Type: "text"},
			Messages: []schemas.Message{{Role: "user", Content: "a short question, " + id}}}
		val, err := app.Codec().Encode(schemas.TypeRequest, &req)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topics.Requests, Key: []byte(id), Value: val}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var summaries, frugal []string
	for i := range 20 {
		id := fmt.Sprintf("%ssum/%d", topics.Requests, i)
		send(id, "acme", "summarization")
		summaries = append(summaries, id)
	}
	// The budgeted tenant's requests go one at a time, each after the previous answer, so that
	// the spend has settled before the next decision: the test is about the budget, not the
	// overshoot bound of concurrent admissions (docs/budgets.md).
	for i := range 80 {
		id := fmt.Sprintf("%sfrugal/%d", topics.Requests, i)
		send(id, "frugal", "chat")
		frugal = append(frugal, id)
		waitFor(t, 30*time.Second, "answer to "+id, func() (bool, string) {
			n, _ := o.count([]string{id})
			return n == 1, id
		})
	}
	waitFor(t, time.Minute, "every answer", func() (bool, string) {
		n, _ := o.count(append(append([]string(nil), summaries...), frugal...))
		return n == len(summaries)+len(frugal), fmt.Sprintf("%d answered", n)
	})

	o.mu.Lock()
	for _, id := range summaries {
		r := o.responses[id][0]
		if r.Status != schemas.StatusDegraded || r.DegradedReason != "primary_unhealthy" || r.Provider == "anthropic" || r.Content == "" {
			t.Errorf("%s: status %s (%s) from %s: want degraded primary_unhealthy, not anthropic", id, r.Status, r.DegradedReason, r.Provider)
		}
	}
	var okCost float64
	var served, refused int
	for _, id := range frugal {
		r := o.responses[id][0]
		switch {
		case r.Status == schemas.StatusOK:
			served++
			okCost += r.CostUSD
		case r.Error != nil && r.Error.Code == "budget_exceeded":
			refused++
		default:
			t.Errorf("%s: status %s error %+v", id, r.Status, r.Error)
		}
	}
	o.mu.Unlock()
	if served == 0 || refused == 0 {
		t.Errorf("budgeted tenant: %d served, %d refused: want both", served, refused)
	}
	if okCost > budget {
		t.Errorf("budgeted tenant spent $%.6f, budget $%.6f", okCost, budget)
	}
	// Every decision is explained: each request classified, each routed one decided, each
	// degraded one and each refusal said so.
	want := map[string]int{
		schemas.EventRouteClassified: len(summaries) + len(frugal),
		schemas.EventRouteDecided:    len(summaries) + served,
		schemas.EventRouteDegraded:   len(summaries),
		schemas.EventRouteRejected:   refused,
	}
	got := map[string]int{}
	ac, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Audit),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	waitFor(t, 30*time.Second, "route audit events", func() (bool, string) {
		pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer pcancel()
		ac.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			var ev schemas.AuditEvent
			if err := app.Codec().Decode(schemas.TypeAuditEvent, r.Value, "", &ev); err == nil {
				got[ev.Type]++
			}
		})
		for typ, n := range want {
			if got[typ] < n {
				return false, fmt.Sprintf("%s: %d of %d", typ, got[typ], n)
			}
		}
		return true, ""
	})
	t.Logf("unhealthy anthropic: %d summarization answers degraded to the fallback; tenant with a $%.4f/day budget: %d served for $%.6f, %d refused with budget_exceeded",
		len(summaries), budget, served, okCost, refused)
	cancel()
	if err := <-runDone; err != nil {
		t.Errorf("pipeline: %v", err)
	}
}
