package roles

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/anthropic"
	"github.com/switchyard-llm/switchyard/adapters/openai"
	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/resilience"
	"github.com/switchyard-llm/switchyard/schemas"
)

// The worker's resilience paths end to end: a kfake cluster of its own per test, two provider
// simulators (p1, p2) and a Guard built from the test's settings. Every figure asserted comes
// from the output topics or the simulators' counters.

// rig is the resilience tests' harness: like newHarness, with a second simulator, a Guard with
// the test's settings, the health topic, and a reader that stops at the end offset instead of
// waiting out a poll timeout.
type rig struct {
	t          *testing.T
	cl         *kgo.Client
	adm        *kadm.Client
	seeds      []string
	codec      *schemas.Codec
	sim1, sim2 *sim.Server
	url1, url2 string
	guard      *Guard
}

// fast returns settings for tests: short backoff and open timeout, edited by edit, then
// defaulted the way config.Load does.
func fast(edit func(*resilience.Settings)) resilience.Settings {
	s := resilience.Settings{
		Retry:   resilience.RetrySettings{BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond},
		Breaker: resilience.BreakerSettings{OpenTimeout: 200 * time.Millisecond},
	}
	if edit != nil {
		edit(&s)
	}
	return s.WithDefaults(5*time.Second, 16)
}

// newRig starts a cluster, two simulators and a Guard. settings nil gives p1 and p2 fast(nil).
func newRig(t *testing.T, cfg1, cfg2 sim.Config, settings map[string]resilience.Settings) *rig {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1,
		topics.Requests, topics.Responses, topics.Stream, topics.Audit, topics.DLQ, topics.Work("p1"), topics.Work("p2"), healthTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	seeds := cluster.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	codec, err := schemas.NewCodec(schemas.CodecOptions{OutputFormat: schemas.FormatSingleObject})
	if err != nil {
		t.Fatal(err)
	}
	if settings == nil {
		settings = map[string]resilience.Settings{"p1": fast(nil), "p2": fast(nil)}
	}
	r := &rig{t: t, cl: cl, adm: kadm.NewClient(cl), seeds: seeds, codec: codec, guard: NewGuard(GuardConfig{Settings: settings})}
	r.sim1, r.url1 = r.startSim(cfg1)
	r.sim2, r.url2 = r.startSim(cfg2)
	return r
}

func (r *rig) startSim(cfg sim.Config) (*sim.Server, string) {
	r.t.Helper()
	srv, err := sim.NewServer(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = srv.Close() })
	return srv, url
}

// openai returns an OpenAI adapter named name for the simulator at url, through the
// watchdog's transport (as cmd/switchyard builds it), so first-byte and stall bounds apply.
func (r *rig) openai(name, url string) adapters.Adapter {
	r.t.Helper()
	hc := resilience.NewHTTPClient(0)
	r.t.Cleanup(hc.CloseIdleConnections)
	ad, err := openai.New(openai.Config{Name: name, BaseURL: url + "/v1", HTTPClient: hc})
	if err != nil {
		r.t.Fatal(err)
	}
	return ad
}

func (r *rig) anthropic(name, url string) adapters.Adapter {
	r.t.Helper()
	hc := resilience.NewHTTPClient(0)
	r.t.Cleanup(hc.CloseIdleConnections)
	ad, err := anthropic.New(anthropic.Config{Name: name, BaseURL: url, HTTPClient: hc})
	if err != nil {
		r.t.Fatal(err)
	}
	return ad
}

func (r *rig) worker(provider string, ad adapters.Adapter) *WorkerRole {
	return &WorkerRole{Provider: provider, Adapter: ad, Client: r.cl, Codec: r.codec, Prices: prices{}, Topics: topics, Guard: r.guard}
}

// workItem is a first hop of request id at provider's model.
func workItem(id, provider, model string, stream bool, fallbacks ...schemas.RouteStep) schemas.WorkItem {
	return schemas.WorkItem{
		Request: schemas.Request{RequestID: id, TenantID: "acme", CreatedAt: time.Now().UnixMilli(), TaskType: "chat",
			Priority: "interactive", Stream: stream, DeadlineMS: 30_000, ResponseFormat: schemas.ResponseFormat{Type: "text"},
			Messages: []schemas.Message{{Role: "user", Content: "tell me a story"}}},
		Provider: provider, Model: model, Fallbacks: fallbacks,
	}
}

// handle runs one work item through w and fails the test if Handle does.
func (r *rig) handle(w *WorkerRole, it schemas.WorkItem) {
	r.t.Helper()
	v, err := r.codec.Encode(schemas.TypeWorkItem, &it)
	if err != nil {
		r.t.Fatal(err)
	}
	rec := &kgo.Record{Topic: topics.Work(it.Provider), Partition: 0, Offset: 7, Key: []byte(it.Request.RequestID), Value: v}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Handle(ctx, rec); err != nil {
		r.t.Fatalf("handle %s: %v", it.Request.RequestID, err)
	}
}

// readAll returns every record of topic up to its current end offset, decoded.
func readAll[T any](r *rig, topic string, typ schemas.Type) []T {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := r.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		r.t.Fatal(err)
	}
	var end int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			r.t.Fatalf("end offset of %s: %v", topic, o.Err)
		}
		end += o.Offset
	})
	if end <= 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	var out []T
	for int64(len(out)) < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			r.t.Fatalf("%s: read %d of %d records", topic, len(out), end)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			var v T
			if err := r.codec.Decode(typ, rec.Value, "", &v); err != nil {
				r.t.Fatalf("%s offset %d: %v", topic, rec.Offset, err)
			}
			out = append(out, v)
		})
	}
	return out
}

func (r *rig) responses() []schemas.Response {
	return readAll[schemas.Response](r, topics.Responses, schemas.TypeResponse)
}

func (r *rig) work(provider string) []schemas.WorkItem {
	return readAll[schemas.WorkItem](r, topics.Work(provider), schemas.TypeWorkItem)
}

func (r *rig) dlq() []schemas.DeadLetter {
	return readAll[schemas.DeadLetter](r, topics.DLQ, schemas.TypeDeadLetter)
}

func (r *rig) chunks() []schemas.StreamChunk {
	return readAll[schemas.StreamChunk](r, topics.Stream, schemas.TypeStreamChunk)
}

func (r *rig) events() []schemas.AuditEvent {
	return readAll[schemas.AuditEvent](r, topics.Audit, schemas.TypeAuditEvent)
}

func (r *rig) health() []schemas.ProviderHealth {
	return readAll[schemas.ProviderHealth](r, healthTopic, schemas.TypeHealth)
}

// ofType returns the events of type typ (of request id, unless id is "").
func ofType(evs []schemas.AuditEvent, typ, id string) []schemas.AuditEvent {
	var out []schemas.AuditEvent
	for _, ev := range evs {
		if ev.Type == typ && (id == "" || ev.RequestID == id) {
			out = append(out, ev)
		}
	}
	return out
}

// drainChanges returns the breaker changes the Guard has queued, without waiting.
func drainChanges(g *Guard) []resilience.StateChange {
	var out []resilience.StateChange
	for {
		select {
		case ch := <-g.Changes():
			out = append(out, ch)
		default:
			return out
		}
	}
}

func ptr[T any](v T) *T { return &v }

// One retryable failure is absorbed within the hop: two calls, one response, one retry event.
func TestResilienceRetryWithinTheHop(t *testing.T) {
	r := newRig(t, sim.Config{}, sim.Config{}, nil)
	w := r.worker("p1", r.openai("p1", r.url1))
	r.handle(w, workItem("retry-1", "p1", sim.Model500Once, false))

	resps := r.responses()
	if len(resps) != 1 {
		t.Fatalf("want 1 response, got %d: %+v", len(resps), resps)
	}
	resp := resps[0]
	if resp.Status != schemas.StatusOK || resp.Provider != "p1" || resp.Content == "" || resp.FallbackDepth != 0 || len(resp.Attempts) != 2 {
		t.Fatalf("response %+v", resp)
	}
	a0, a1 := resp.Attempts[0], resp.Attempts[1]
	if a0.AttemptID != "retry-1/h0/a0" || a0.Outcome != "error" || a0.ErrorCode != "internal" {
		t.Errorf("first attempt %+v", a0)
	}
	if a1.AttemptID != "retry-1/h0/a1" || a1.Outcome != "ok" || a1.ErrorCode != "" {
		t.Errorf("second attempt %+v", a1)
	}
	evs := r.events()
	retries := ofType(evs, schemas.EventRetryScheduled, "retry-1")
	if len(retries) != 1 || retries[0].Attrs["try"] != "2" || retries[0].Attrs["error_kind"] != "internal" || retries[0].Provider != "p1" {
		t.Errorf("retry events %+v", retries)
	}
	if n := len(ofType(evs, schemas.EventAttemptFailed, "")); n != 1 {
		t.Errorf("attempt.failed events: %d, want 1", n)
	}
	if n := len(ofType(evs, schemas.EventAttemptSucceeded, "")); n != 1 {
		t.Errorf("attempt.succeeded events: %d, want 1", n)
	}
	if n := r.sim1.Calls("retry-1"); n != 2 {
		t.Errorf("simulator saw %d calls for retry-1, want 2", n)
	}
	if w := r.work("p2"); len(w) != 0 {
		t.Errorf("a retried hop must not fall back: %+v", w)
	}
}

// A Retry-After longer than retry.max_retry_after sends the request down the chain at once,
// and the cool-down it started refuses the next request locally: no call reaches the
// provider before the time it named.
func TestResilienceRetryAfterIsHonoured(t *testing.T) {
	r := newRig(t, sim.Config{RetryAfter: time.Second}, sim.Config{}, map[string]resilience.Settings{
		"p1": fast(func(s *resilience.Settings) { s.Retry.MaxRetryAfter = 100 * time.Millisecond }),
		"p2": fast(nil),
	})
	w := r.worker("p1", r.openai("p1", r.url1))
	next := schemas.RouteStep{Provider: "p2", Model: "sim-ok"}

	start := time.Now()
	r.handle(w, workItem("ra-1", "p1", sim.Model429RetryAfter, false, next))
	if d := time.Since(start); d >= time.Second {
		t.Errorf("the hop waited %s in line for a 1s Retry-After over max_retry_after 100ms", d)
	}
	hops := r.work("p2")
	if len(hops) != 1 {
		t.Fatalf("want 1 work item on p2, got %d", len(hops))
	}
	if h := hops[0]; h.Provider != "p2" || h.Model != "sim-ok" || h.Hop != 1 || len(h.Attempts) != 1 ||
		h.Attempts[0].Outcome != "error" || h.Attempts[0].ErrorCode != "rate_limited" {
		t.Fatalf("fallback item %+v", h)
	}
	evs := r.events()
	cds := ofType(evs, schemas.EventCooldownStarted, "ra-1")
	if len(cds) != 1 || cds[0].Attrs["reason"] != resilience.ReasonRetryAfter || cds[0].Attrs["wait_ms"] != "1000" {
		t.Errorf("cool-down events %+v", cds)
	}
	if n := len(ofType(evs, schemas.EventRetryScheduled, "")); n != 0 {
		t.Errorf("%d retries scheduled inside a 1s Retry-After", n)
	}
	if fb := ofType(evs, schemas.EventFallbackEnqueued, "ra-1"); len(fb) != 1 || fb[0].Attrs["reason"] != "rate_limited" {
		t.Errorf("fallback events %+v", fb)
	}
	callsBefore := r.sim1.TotalCalls()
	if callsBefore != 1 {
		t.Fatalf("simulator calls after the 429: %d, want 1", callsBefore)
	}

	// Still inside the provider's window: refused locally, down the chain.
	r.handle(w, workItem("ra-2", "p1", sim.Model429RetryAfter, false, next))
	hops = r.work("p2")
	if len(hops) != 2 {
		t.Fatalf("want 2 work items on p2, got %d", len(hops))
	}
	if h := hops[1]; h.Request.RequestID != "ra-2" || len(h.Attempts) != 1 || h.Attempts[0].Outcome != "rejected" ||
		h.Attempts[0].ErrorCode != resilience.ReasonRetryAfter || h.Attempts[0].Provider != "p1" {
		t.Fatalf("second fallback item %+v", h)
	}
	if rej := ofType(r.events(), schemas.EventAttemptRejected, "ra-2"); len(rej) != 1 || rej[0].Attrs["reason"] != resilience.ReasonRetryAfter || rej[0].Attrs["until_ms"] == "" {
		t.Errorf("rejection events %+v", rej)
	}
	st := r.sim1.Stats()
	if st.TotalCalls != callsBefore || r.sim1.Calls("ra-2") != 0 {
		t.Errorf("a call reached the cooling provider: total %d (was %d), ra-2 %d", st.TotalCalls, callsBefore, r.sim1.Calls("ra-2"))
	}
	if st.RetryAfterViolations != 0 {
		t.Errorf("Retry-After violations: %d", st.RetryAfterViolations)
	}
	if resps := r.responses(); len(resps) != 0 {
		t.Errorf("fallback hops must not respond: %+v", resps)
	}
}

// The breaker opens after ConsecutiveFailures provider failures, refuses further calls
// locally (they go down the chain), lets calls through after OpenTimeout and closes after
// HalfOpenRequests successes.
func TestResilienceBreakerOpensRefusesAndCloses(t *testing.T) {
	r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{
		"p1": fast(func(s *resilience.Settings) {
			s.Breaker = resilience.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: 150 * time.Millisecond, HalfOpenRequests: 2}
			s.Retry.MaxAttempts = 1
		}),
		"p2": fast(nil),
	})
	w := r.worker("p1", r.openai("p1", r.url1))
	if err := r.sim1.SetFault("m1", sim.Model503); err != nil {
		t.Fatal(err)
	}
	next := schemas.RouteStep{Provider: "p2", Model: "m2"}
	ids := []string{"br-0", "br-1", "br-2", "br-3", "br-4"}
	for i, id := range ids {
		r.handle(w, workItem(id, "p1", "m1", false, next))
		want := resilience.StateClosed
		if i >= 2 {
			want = resilience.StateOpen
		}
		if st := r.guard.Breakers.State("p1", "m1"); st != want {
			t.Fatalf("after %d failures the breaker is %s, want %s", i+1, st, want)
		}
	}
	if n := r.sim1.TotalCalls(); n != 3 {
		t.Fatalf("simulator calls: %d, want 3 (the open breaker lets none through)", n)
	}
	hops := r.work("p2")
	if len(hops) != len(ids) {
		t.Fatalf("want %d work items on p2, got %d", len(ids), len(hops))
	}
	for i, h := range hops {
		a := h.Attempts
		switch {
		case len(a) != 1 || h.Request.RequestID != ids[i]:
			t.Errorf("item %d: %+v", i, h)
		case i < 3 && (a[0].Outcome != "error" || a[0].ErrorCode != "unavailable"):
			t.Errorf("item %d attempt %+v, want error unavailable", i, a[0])
		case i >= 3 && (a[0].Outcome != "rejected" || a[0].ErrorCode != resilience.ReasonBreakerOpen):
			t.Errorf("item %d attempt %+v, want rejected breaker_open", i, a[0])
		}
	}
	if fb := ofType(r.events(), schemas.EventFallbackEnqueued, "br-4"); len(fb) != 1 || fb[0].Attrs["reason"] != resilience.ReasonBreakerOpen {
		t.Errorf("fallback of a refused call %+v", fb)
	}

	// The provider recovers; after the open timeout the breaker lets probes through.
	if err := r.sim1.SetFault("m1", ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(170 * time.Millisecond)
	if st := r.guard.Breakers.State("p1", "m1"); st != resilience.StateHalfOpen {
		t.Fatalf("after the open timeout the breaker is %s, want half-open", st)
	}
	r.handle(w, workItem("br-5", "p1", "m1", false, next))
	if st := r.guard.Breakers.State("p1", "m1"); st != resilience.StateHalfOpen {
		t.Fatalf("after 1 of 2 half-open successes the breaker is %s", st)
	}
	r.handle(w, workItem("br-6", "p1", "m1", false, next))
	if st := r.guard.Breakers.State("p1", "m1"); st != resilience.StateClosed {
		t.Fatalf("after 2 half-open successes the breaker is %s", st)
	}
	resps := r.responses()
	if len(resps) != 2 || resps[0].Status != schemas.StatusOK || resps[1].Status != schemas.StatusOK || resps[1].Provider != "p1" {
		t.Fatalf("responses %+v", resps)
	}
	if n := r.sim1.TotalCalls(); n != 5 {
		t.Errorf("simulator calls: %d, want 5", n)
	}
	var got []string
	for _, ch := range drainChanges(r.guard) {
		if ch.Provider != "p1" || ch.Model != "m1" {
			t.Errorf("change of another breaker %+v", ch)
		}
		got = append(got, ch.From.String()+">"+ch.To.String())
	}
	want := []string{"closed>open", "open>half-open", "half-open>closed"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("breaker transitions %v, want %v", got, want)
	}
}

// Client errors end the request at once with an error response and a DLQ record; they are
// neither retried nor counted by the breaker.
func TestResilienceClientErrorsNeverTripTheBreaker(t *testing.T) {
	r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{
		"p1": fast(func(s *resilience.Settings) { s.Breaker.ConsecutiveFailures = 3 }),
		"p2": fast(nil),
	})
	w := r.worker("p1", r.openai("p1", r.url1))
	// The only fallback has a smaller window: a context-window error has nowhere to go.
	w.Windows = func(provider, model string) int {
		if provider == "p1" {
			return 8000
		}
		return 4000
	}
	small := schemas.RouteStep{Provider: "p2", Model: "small"}
	const n = 20
	cases := []struct{ model, code string }{
		{sim.Model400, schemas.ReasonInvalidRequest},
		{sim.ModelContextLength, schemas.ReasonContextTooLong},
	}
	for _, c := range cases {
		for i := range n {
			r.handle(w, workItem(c.model+"-"+itoa(int64(i)), "p1", c.model, false, small))
		}
	}
	resps, dls := r.responses(), r.dlq()
	if len(resps) != n*len(cases) || len(dls) != n*len(cases) {
		t.Fatalf("responses %d, dead letters %d, want %d each", len(resps), len(dls), n*len(cases))
	}
	for i, resp := range resps {
		want := cases[i/n].code
		if resp.Status != schemas.StatusError || resp.Error == nil || resp.Error.Code != want || resp.Error.Retryable ||
			len(resp.Attempts) != 1 || resp.Attempts[0].ErrorCode != want {
			t.Errorf("response %d: %+v", i, resp)
		}
		if dls[i].Reason != want || dls[i].RequestID != resp.RequestID || dls[i].SourceTopic != topics.Work("p1") {
			t.Errorf("dead letter %d: reason %q request %q", i, dls[i].Reason, dls[i].RequestID)
		}
	}
	for _, c := range cases {
		if st := r.guard.Breakers.State("p1", c.model); st != resilience.StateClosed {
			t.Errorf("breaker of %s is %s after %d client errors", c.model, st, n)
		}
		if got := r.sim1.ModelCalls(c.model); got != n {
			t.Errorf("simulator calls for %s: %d, want %d (no retries)", c.model, got, n)
		}
	}
	if ch := drainChanges(r.guard); len(ch) != 0 {
		t.Errorf("breaker changes %+v", ch)
	}
	evs := r.events()
	if k := len(ofType(evs, schemas.EventRetryScheduled, "")); k != 0 {
		t.Errorf("%d retries of client errors", k)
	}
	if k := len(ofType(evs, schemas.EventFallbackSkipped, "")); k != n {
		t.Errorf("candidate_skipped events %d, want %d (one per context-window error)", k, n)
	}
	if hops := r.work("p2"); len(hops) != 0 {
		t.Errorf("client errors went down the chain: %d items", len(hops))
	}
}

// A context-window error skips the chain's models whose window is not larger.
func TestResilienceContextTooLongFallsToALargerWindow(t *testing.T) {
	r := newRig(t, sim.Config{}, sim.Config{}, nil)
	w := r.worker("p1", r.openai("p1", r.url1))
	w.Windows = func(provider, model string) int {
		return map[string]int{"p1/m1": 8000, "p2/small": 4000, "p2/big": 128000}[provider+"/"+model]
	}
	if err := r.sim1.SetFault("m1", sim.ModelContextLength); err != nil {
		t.Fatal(err)
	}
	r.handle(w, workItem("ctx-1", "p1", "m1", false, schemas.RouteStep{Provider: "p2", Model: "small"}, schemas.RouteStep{Provider: "p2", Model: "big"}))

	hops := r.work("p2")
	if len(hops) != 1 {
		t.Fatalf("want 1 work item on p2, got %d", len(hops))
	}
	if h := hops[0]; h.Model != "big" || h.Hop != 1 || len(h.Fallbacks) != 0 || len(h.Attempts) != 1 || h.Attempts[0].ErrorCode != "context_too_long" {
		t.Fatalf("fallback item %+v", h)
	}
	evs := r.events()
	skipped := ofType(evs, schemas.EventFallbackSkipped, "ctx-1")
	if len(skipped) != 1 || skipped[0].Provider != "p2" || skipped[0].Model != "small" || skipped[0].Attrs["reason"] != "context_window" ||
		skipped[0].Attrs["window"] != "4000" || skipped[0].Attrs["needed_over"] != "8000" {
		t.Errorf("skipped events %+v", skipped)
	}
	if fb := ofType(evs, schemas.EventFallbackEnqueued, "ctx-1"); len(fb) != 1 || fb[0].Attrs["to_model"] != "big" || fb[0].Attrs["reason"] != "context_too_long" {
		t.Errorf("fallback events %+v", fb)
	}
	if n := r.sim1.TotalCalls(); n != 1 {
		t.Errorf("simulator calls %d, want 1", n)
	}
	if resps, dls := r.responses(), r.dlq(); len(resps) != 0 || len(dls) != 0 {
		t.Errorf("responses %d, dead letters %d, want none", len(resps), len(dls))
	}
}

// A content-filter refusal follows worker.content_filter: an error and a DLQ record, or the
// next provider.
func TestResilienceContentFilterPolicy(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(map[bool]string{false: "error", true: "fallback"}[fallback], func(t *testing.T) {
			r := newRig(t, sim.Config{}, sim.Config{}, nil)
			w := r.worker("p1", r.openai("p1", r.url1))
			w.ContentFilterFallback = fallback
			r.handle(w, workItem("cf-1", "p1", sim.ModelContentFilter, false, schemas.RouteStep{Provider: "p2", Model: "m2"}))
			resps, dls, hops := r.responses(), r.dlq(), r.work("p2")
			if !fallback {
				if len(resps) != 1 || resps[0].Status != schemas.StatusError || resps[0].Error.Code != "content_filtered" {
					t.Fatalf("responses %+v", resps)
				}
				if len(dls) != 1 || dls[0].Reason != schemas.ReasonContentFiltered || dls[0].RequestID != "cf-1" {
					t.Fatalf("dead letters %+v", dls)
				}
				if len(hops) != 0 {
					t.Fatalf("work on p2: %d items", len(hops))
				}
				return
			}
			if len(resps) != 0 || len(dls) != 0 {
				t.Fatalf("responses %d, dead letters %d, want none", len(resps), len(dls))
			}
			if len(hops) != 1 || hops[0].Model != "m2" || hops[0].Attempts[0].ErrorCode != "content_filtered" {
				t.Fatalf("work on p2 %+v", hops)
			}
		})
	}
}

// hedgeRig is a rig whose p1 simulator is slow for the models "slow" (800 ms) and "slowish"
// (250 ms), with a p1 worker that may hedge to p2.
func hedgeRig(t *testing.T, p1 resilience.Settings) (*rig, *WorkerRole) {
	r := newRig(t, sim.Config{ModelLatency: map[string]sim.Latency{"slow": {Base: 800 * time.Millisecond}, "slowish": {Base: 250 * time.Millisecond}}},
		sim.Config{}, map[string]resilience.Settings{"p1": p1, "p2": fast(nil)})
	w := r.worker("p1", r.openai("p1", r.url1))
	ad2 := r.openai("p2", r.url2)
	w.Peers = func(provider string) adapters.Adapter {
		if provider == "p2" {
			return ad2
		}
		return nil
	}
	return r, w
}

func hedgeSettings(edit func(*resilience.Settings)) resilience.Settings {
	return fast(func(s *resilience.Settings) {
		s.Hedge = resilience.HedgeSettings{Enabled: ptr(true), Delay: 50 * time.Millisecond, MaxRate: 1}
		s.Breaker.ConsecutiveFailures = 2
		if edit != nil {
			edit(s)
		}
	})
}

// A slow primary is hedged to the next provider after the fixed delay: the hedge answers,
// the primary is cancelled and not held against its breaker.
func TestResilienceHedgeWinsAndSparesTheBreaker(t *testing.T) {
	r, w := hedgeRig(t, hedgeSettings(nil))
	next := schemas.RouteStep{Provider: "p2", Model: "sim-ok"}
	const n = 5
	for i := range n {
		start := time.Now()
		r.handle(w, workItem("hg-"+itoa(int64(i)), "p1", "slow", false, next))
		if d := time.Since(start); d >= 800*time.Millisecond {
			t.Errorf("request %d took %s: the hedge did not answer before the 800ms primary", i, d)
		}
	}
	resps := r.responses()
	if len(resps) != n {
		t.Fatalf("want %d responses, got %d", n, len(resps))
	}
	for i, resp := range resps {
		if resp.Status != schemas.StatusOK || resp.Provider != "p2" || resp.Model != "sim-ok" || !resp.Hedged || len(resp.Attempts) != 2 {
			t.Fatalf("response %d: %+v", i, resp)
		}
		for _, a := range resp.Attempts {
			switch {
			case a.Hedge && (a.Provider != "p2" || a.Outcome != "ok"):
				t.Errorf("response %d hedge attempt %+v", i, a)
			case !a.Hedge && (a.Provider != "p1" || a.Outcome != "cancelled" || a.ErrorCode != "canceled"):
				t.Errorf("response %d primary attempt %+v", i, a)
			}
		}
		if resp.Attempts[0].Hedge == resp.Attempts[1].Hedge {
			t.Errorf("response %d: want one hedge and one primary attempt: %+v", i, resp.Attempts)
		}
	}
	evs := r.events()
	if k := len(ofType(evs, schemas.EventHedgeStarted, "")); k != n {
		t.Errorf("hedge.started events %d, want %d", k, n)
	}
	decided := ofType(evs, schemas.EventHedgeDecided, "")
	if len(decided) != n {
		t.Errorf("hedge.decided events %d, want %d", len(decided), n)
	}
	for _, ev := range decided {
		if ev.Attrs["hedge_won"] != "true" || ev.Attrs["outcome"] != "ok" || ev.Provider != "p2" {
			t.Errorf("hedge.decided %+v", ev.Attrs)
		}
	}
	if k := len(ofType(evs, schemas.EventHedgeCancelled, "")); k != n {
		t.Errorf("hedge.loser_cancelled events %d, want %d", k, n)
	}
	// Five cancelled primaries against ConsecutiveFailures 2: counted, they would have opened it.
	if st := r.guard.Breakers.State("p1", "slow"); st != resilience.StateClosed {
		t.Errorf("primary breaker %s after %d cancelled hedge losers", st, n)
	}
	if ch := drainChanges(r.guard); len(ch) != 0 {
		t.Errorf("breaker changes %+v", ch)
	}
	if a, b := r.sim1.ModelCalls("slow"), r.sim2.TotalCalls(); a != n || b != n {
		t.Errorf("simulator calls: primary %d, hedge %d, want %d each (hedge by model %v)", a, b, n, r.sim2.Stats().ByModel)
	}
	if hops := r.work("p2"); len(hops) != 0 {
		t.Errorf("a won hedge must not also fall back: %d items", len(hops))
	}
}

// With no hedge budget the primary is waited for, and the denial is audited.
func TestResilienceHedgeBudgetDenied(t *testing.T) {
	s := hedgeSettings(nil)
	s.Hedge.MaxRate = 0 // after WithDefaults, which reads 0 as "default 0.05"
	r, w := hedgeRig(t, s)
	r.handle(w, workItem("hd-1", "p1", "slowish", false, schemas.RouteStep{Provider: "p2", Model: "sim-ok"}))
	resps := r.responses()
	if len(resps) != 1 || resps[0].Status != schemas.StatusOK || resps[0].Provider != "p1" || resps[0].Hedged || len(resps[0].Attempts) != 1 {
		t.Fatalf("responses %+v", resps)
	}
	evs := r.events()
	if denied := ofType(evs, schemas.EventHedgeDenied, "hd-1"); len(denied) != 1 || denied[0].Attrs["to_provider"] != "p2" || denied[0].Attrs["delay_ms"] != "50" {
		t.Errorf("hedge.budget_denied events %+v", denied)
	}
	if k := len(ofType(evs, schemas.EventHedgeStarted, "")); k != 0 {
		t.Errorf("hedge.started events %d without budget", k)
	}
	if k := r.sim2.TotalCalls(); k != 0 {
		t.Errorf("the hedge provider got %d calls", k)
	}
}

// A streamed hedge: only the winner's deltas reach the stream, and they make the answer.
func TestResilienceHedgeStreamsOnlyTheWinner(t *testing.T) {
	r, w := hedgeRig(t, hedgeSettings(nil))
	r.handle(w, workItem("hs-1", "p1", "slow", true, schemas.RouteStep{Provider: "p2", Model: "sim-ok"}))
	resps := r.responses()
	if len(resps) != 1 || resps[0].Status != schemas.StatusOK || resps[0].Provider != "p2" || !resps[0].Hedged || len(resps[0].Attempts) != 2 {
		t.Fatalf("responses %+v", resps)
	}
	var winner string
	for _, a := range resps[0].Attempts {
		if a.Hedge {
			winner = a.AttemptID
		}
	}
	chunks := r.chunks()
	if len(chunks) < 3 {
		t.Fatalf("chunks %+v", chunks)
	}
	var text strings.Builder
	for i, c := range chunks {
		if c.Seq != int32(i) {
			t.Fatalf("chunk %d has seq %d", i, c.Seq)
		}
		if c.Kind == schemas.ChunkDelta {
			if c.AttemptID != winner || c.Provider != "p2" {
				t.Errorf("delta of attempt %s (%s), the winner is %s", c.AttemptID, c.Provider, winner)
			}
			text.WriteString(c.Delta)
		}
	}
	if last := chunks[len(chunks)-1]; last.Kind != schemas.ChunkDone || last.Provider != "p2" {
		t.Errorf("last chunk %+v", last)
	}
	if text.String() != resps[0].Content {
		t.Errorf("stream %q != response %q", text.String(), resps[0].Content)
	}
}

// A hedge is a call to the next provider of the chain, so it must name that provider's
// model, not the primary's.
func TestResilienceHedgeCallsTheHedgeModel(t *testing.T) {
	for _, stream := range []bool{false, true} {
		r, w := hedgeRig(t, hedgeSettings(nil))
		r.handle(w, workItem("hm-1", "p1", "slow", stream, schemas.RouteStep{Provider: "p2", Model: "sim-ok"}))
		if resps := r.responses(); len(resps) != 1 || resps[0].Provider != "p2" || resps[0].Model != "sim-ok" {
			t.Fatalf("stream %v: responses %+v", stream, resps)
		}
		if by := r.sim2.Stats().ByModel; by["sim-ok"] != 1 || len(by) != 1 {
			t.Errorf("stream %v: the hedge provider was asked for %v, want sim-ok once", stream, by)
		}
	}
}

// resumeRun streams a request whose p1 answer is cut, then handles its fallback item with a
// p2 worker on an "anthropic" or "openai" adapter (p2Kind). It returns the text streamed by p1, the hop's
// seq, every chunk and the responses.
func resumeRun(t *testing.T, p2Kind string) (r *rig, partial string, seq int32, chunks []schemas.StreamChunk, resps []schemas.Response) {
	t.Helper()
	// p2 answers in 5 tokens, so a restarted answer cannot pass for the continued one.
	r = newRig(t, sim.Config{}, sim.Config{OutputTokens: 5}, map[string]resilience.Settings{
		"p1": fast(func(s *resilience.Settings) { s.Retry.MaxAttempts = 1 }),
		"p2": fast(nil),
	})
	w1 := r.worker("p1", r.openai("p1", r.url1))
	model := "gpt-sim"
	ad2 := r.openai("p2", r.url2)
	if p2Kind == "anthropic" {
		model, ad2 = "claude-sim", r.anthropic("p2", r.url2)
	}
	r.handle(w1, workItem("sr-1", "p1", sim.ModelStreamCut, true, schemas.RouteStep{Provider: "p2", Model: model}))
	if resps := r.responses(); len(resps) != 0 {
		t.Fatalf("the cut hop published a response: %+v", resps)
	}
	hop0 := r.chunks()
	var streamed strings.Builder
	for _, c := range hop0 {
		if c.Kind != schemas.ChunkDelta {
			t.Fatalf("hop 0 chunk %+v: only deltas before the fallback", c)
		}
		streamed.WriteString(c.Delta)
	}
	hops := r.work("p2")
	if len(hops) != 1 {
		t.Fatalf("want 1 work item on p2, got %d", len(hops))
	}
	item := hops[0]
	if item.Partial == "" || item.Partial != streamed.String() || item.StreamSeq != int32(len(hop0)) || item.StreamSeq == 0 {
		t.Fatalf("fallback item partial %q (streamed %q), stream seq %d (chunks %d)", item.Partial, streamed.String(), item.StreamSeq, len(hop0))
	}
	if len(item.Attempts) != 1 || item.Attempts[0].Outcome != "error" {
		t.Fatalf("fallback item attempts %+v", item.Attempts)
	}
	r.handle(r.worker("p2", ad2), item)
	chunks = r.chunks()
	for i, c := range chunks {
		if c.Seq != int32(i) {
			t.Fatalf("chunk %d has seq %d: seqs must be contiguous from 0 across hops", i, c.Seq)
		}
	}
	resps = r.responses()
	for _, resp := range resps {
		// C8: a cut answer is never published as a success.
		if resp.Status == schemas.StatusOK && resp.Content == item.Partial {
			t.Fatalf("the cut answer was published as a success: %+v", resp)
		}
	}
	if len(resps) != 1 || resps[0].Status != schemas.StatusOK || resps[0].Provider != "p2" || len(resps[0].Attempts) != 2 {
		t.Fatalf("responses %+v", resps)
	}
	if last := chunks[len(chunks)-1]; last.Kind != schemas.ChunkDone {
		t.Fatalf("last chunk %+v", last)
	}
	return r, item.Partial, item.StreamSeq, chunks, resps
}

// afterSwitch returns the switch chunk at seq and the deltas after it, joined.
func afterSwitch(t *testing.T, chunks []schemas.StreamChunk, seq int32) (schemas.StreamChunk, string) {
	t.Helper()
	sw := chunks[seq]
	if sw.Kind != schemas.ChunkProviderSwitch || sw.Provider != "p2" {
		t.Fatalf("chunk %d is %+v, want a provider_switch to p2", seq, sw)
	}
	var sb strings.Builder
	for _, c := range chunks[seq+1:] {
		if c.Kind == schemas.ChunkProviderSwitch {
			t.Fatalf("a second switch %+v", c)
		}
		sb.WriteString(c.Delta)
	}
	return sw, sb.String()
}

// A model that takes a prefill continues the streamed text: the switch says continue and the
// answer starts with what readers already have.
func TestResilienceStreamResumeContinues(t *testing.T) {
	r, partial, seq, chunks, resps := resumeRun(t, "anthropic")
	sw, _ := afterSwitch(t, chunks, seq)
	if sw.Mode != schemas.StreamContinue {
		t.Fatalf("switch mode %q, want continue", sw.Mode)
	}
	if !strings.HasPrefix(resps[0].Content, partial) || len(resps[0].Content) <= len(partial) {
		t.Errorf("response %q does not continue the partial %q", resps[0].Content, partial)
	}
	if ev := ofType(r.events(), schemas.EventStreamResumed, "sr-1"); len(ev) != 1 || ev[0].Attrs["mode"] != schemas.StreamContinue ||
		ev[0].Attrs["partial_chars"] != itoa(int64(len(partial))) {
		t.Errorf("stream.provider_switched events %+v", ev)
	}
}

// The continued answer holds the partial once, and the deltas after a continue switch are
// only the new text: a reader that appends them to what it had gets the response.
func TestResilienceStreamResumeDoesNotRepeatThePartial(t *testing.T) {
	_, partial, seq, chunks, resps := resumeRun(t, "anthropic")
	_, after := afterSwitch(t, chunks, seq)
	if got := partial + after; got != resps[0].Content {
		t.Errorf("partial + deltas after the switch = %q, response %q", got, resps[0].Content)
	}
	if strings.HasPrefix(after, strings.TrimSpace(partial)) {
		t.Errorf("the deltas after a continue switch repeat the partial: %q", after)
	}
	if k := strings.Count(resps[0].Content, strings.TrimSpace(partial)); k != 1 {
		t.Errorf("the partial appears %d times in the response %q", k, resps[0].Content)
	}
}

// A model without prefill restarts: the switch says restart and the answer is the new
// provider's alone.
func TestResilienceStreamResumeRestarts(t *testing.T) {
	r, partial, seq, chunks, resps := resumeRun(t, "openai")
	sw, after := afterSwitch(t, chunks, seq)
	if sw.Mode != schemas.StreamRestart {
		t.Fatalf("switch mode %q, want restart", sw.Mode)
	}
	if strings.HasPrefix(resps[0].Content, partial) {
		t.Errorf("a restarted answer %q starts with the dropped partial %q", resps[0].Content, partial)
	}
	if after != resps[0].Content {
		t.Errorf("deltas after the switch %q != response %q", after, resps[0].Content)
	}
	if ev := ofType(r.events(), schemas.EventStreamResumed, "sr-1"); len(ev) != 1 || ev[0].Attrs["mode"] != schemas.StreamRestart {
		t.Errorf("stream.provider_switched events %+v", ev)
	}
}

// scripted is an adapter that answers its calls from a script (the last answer repeats) and
// keeps what it was sent.
type scripted struct {
	name    string
	answers []*adapters.Result
	mu      sync.Mutex
	calls   []adapters.Call
}

func (s *scripted) Name() string { return s.name }
func (s *scripted) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Tools: true, ParallelTools: true}
}

func (s *scripted) Complete(_ context.Context, c *adapters.Call) (*adapters.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *c
	cp.Messages = append([]schemas.Message(nil), c.Messages...)
	s.calls = append(s.calls, cp)
	res := *s.answers[min(len(s.calls), len(s.answers))-1]
	return &res, nil
}

func toolAnswer(id, args string) *adapters.Result {
	return &adapters.Result{FinishReason: adapters.FinishToolCalls, Usage: schemas.Usage{InputTokens: 10, OutputTokens: 5},
		ToolCalls: []schemas.ToolCall{{ID: id, Name: "set_count", Arguments: args}}}
}

func toolItem(id, model string, schema string) schemas.WorkItem {
	it := workItem(id, "p1", model, false)
	it.Request.Messages[0].Content = "please call tool set_count"
	it.Request.Tools = []schemas.Tool{{Name: "set_count", Parameters: schema}}
	return it
}

// An invalid tool call is asked again once with a corrective tool message naming the
// validation error; the corrected call is the answer.
func TestResilienceToolCallCorrectiveRetry(t *testing.T) {
	r := newRig(t, sim.Config{}, sim.Config{}, nil)
	fake := &scripted{name: "p1", answers: []*adapters.Result{toolAnswer("call_1", `{"count":"three"}`), toolAnswer("call_2", `{"count":3}`)}}
	w := r.worker("p1", fake)
	w.ToolCallRetries = 1
	r.handle(w, toolItem("tc-1", "m1", `{"type":"object","properties":{"count":{"type":"integer"}},"required":["count"]}`))

	resps := r.responses()
	if len(resps) != 1 {
		t.Fatalf("responses %+v", resps)
	}
	resp := resps[0]
	if resp.Status != schemas.StatusOK || len(resp.ToolCalls) != 1 || !resp.ToolCalls[0].Valid || resp.ToolCalls[0].Arguments != `{"count":3}` ||
		len(resp.Attempts) != 2 || resp.Attempts[0].Outcome != "ok" || resp.Attempts[1].Outcome != "ok" {
		t.Fatalf("response %+v", resp)
	}
	evs := r.events()
	invalid := ofType(evs, schemas.EventToolCallInvalid, "tc-1")
	if len(invalid) != 1 || invalid[0].Attrs["tool_call_id"] != "call_1" || invalid[0].Attrs["error"] == "" {
		t.Fatalf("tool_call.invalid events %+v", invalid)
	}
	if k := len(ofType(evs, schemas.EventToolCallRetry, "tc-1")); k != 1 {
		t.Errorf("corrective retries %d, want 1", k)
	}
	if k := len(ofType(evs, schemas.EventToolCallGaveUp, "")); k != 0 {
		t.Errorf("gave_up events %d", k)
	}
	if len(fake.calls) != 2 {
		t.Fatalf("adapter calls %d, want 2", len(fake.calls))
	}
	msgs := fake.calls[1].Messages
	if len(msgs) != 3 || msgs[0].Role != "user" || msgs[1].Role != "assistant" || len(msgs[1].ToolCalls) != 1 || msgs[1].ToolCalls[0].ID != "call_1" {
		t.Fatalf("second call messages %+v", msgs)
	}
	tool := msgs[2]
	if tool.Role != "tool" || tool.ToolCallID != "call_1" || tool.Name != "set_count" ||
		!strings.HasPrefix(tool.Content, "Error: the arguments do not match") || !strings.Contains(tool.Content, invalid[0].Attrs["error"]) {
		t.Errorf("corrective message %+v (validation error %q)", tool, invalid[0].Attrs["error"])
	}
	if len(fake.calls[0].Messages) != 1 {
		t.Errorf("the first call was sent %d messages", len(fake.calls[0].Messages))
	}
}

// Calls still invalid after the corrections end the request in error: through the simulator
// (which fills integers with 1, under the schema's minimum), and through a fake.
func TestResilienceToolCallGivesUp(t *testing.T) {
	schema := `{"type":"object","properties":{"count":{"type":"integer","minimum":5}},"required":["count"]}`
	check := func(t *testing.T, r *rig, id string) {
		t.Helper()
		resps := r.responses()
		if len(resps) != 1 || resps[0].Status != schemas.StatusError || resps[0].Error == nil || resps[0].Error.Code != "invalid_tool_call" ||
			len(resps[0].Attempts) != 2 || len(resps[0].ToolCalls) != 1 || resps[0].ToolCalls[0].Valid {
			t.Fatalf("responses %+v", resps)
		}
		evs := r.events()
		if g := ofType(evs, schemas.EventToolCallGaveUp, id); len(g) != 1 || g[0].Attrs["corrections"] != "1" || g[0].Attrs["invalid"] != "1" {
			t.Errorf("gave_up events %+v", g)
		}
		if k := len(ofType(evs, schemas.EventToolCallRetry, id)); k != 1 {
			t.Errorf("corrective retries %d, want 1", k)
		}
	}
	t.Run("sim", func(t *testing.T) {
		r := newRig(t, sim.Config{}, sim.Config{}, nil)
		w := r.worker("p1", r.openai("p1", r.url1))
		w.ToolCallRetries = 1
		r.handle(w, toolItem("tg-1", "sim-ok", schema))
		check(t, r, "tg-1")
		if n := r.sim1.Calls("tg-1"); n != 2 {
			t.Errorf("simulator calls %d, want 2", n)
		}
	})
	t.Run("fake", func(t *testing.T) {
		r := newRig(t, sim.Config{}, sim.Config{}, nil)
		fake := &scripted{name: "p1", answers: []*adapters.Result{toolAnswer("call_1", `{"count":"three"}`)}}
		w := r.worker("p1", fake)
		w.ToolCallRetries = 1
		r.handle(w, toolItem("tg-2", "m1", schema))
		check(t, r, "tg-2")
		if len(fake.calls) != 2 {
			t.Errorf("adapter calls %d, want 2", len(fake.calls))
		}
	})
}

// A request that used its attempt budget on earlier hops ends without a call.
func TestResilienceAttemptBudgetExhausted(t *testing.T) {
	r := newRig(t, sim.Config{}, sim.Config{}, nil)
	w := r.worker("p1", r.openai("p1", r.url1))
	w.AttemptBudget = 2
	it := workItem("ab-1", "p1", sim.ModelOK, false, schemas.RouteStep{Provider: "p2", Model: "m2"})
	it.Hop = 2
	it.Attempts = []schemas.Attempt{
		{AttemptID: "ab-1/h0/a0", Provider: "p0", Model: "m0", Outcome: "error", ErrorCode: "unavailable", CostUSD: 0.001},
		{AttemptID: "ab-1/h1/a0", Provider: "p3", Model: "m3", Outcome: "timeout", ErrorCode: "timeout", Hop: 1},
	}
	r.handle(w, it)
	resps := r.responses()
	if len(resps) != 1 || resps[0].Status != schemas.StatusError || resps[0].Error.Code != "attempt_budget_exhausted" || !resps[0].Error.Retryable ||
		len(resps[0].Attempts) != 2 || resps[0].FallbackDepth != 2 || resps[0].CostUSD != 0.001 {
		t.Fatalf("responses %+v", resps)
	}
	if ev := ofType(r.events(), schemas.EventAttemptBudgetExhausted, "ab-1"); len(ev) != 1 || ev[0].Attrs["attempts"] != "2" || ev[0].Attrs["budget"] != "2" {
		t.Errorf("budget events %+v", ev)
	}
	if n := r.sim1.TotalCalls(); n != 0 {
		t.Errorf("simulator calls %d, want 0", n)
	}
	if hops := r.work("p2"); len(hops) != 0 {
		t.Errorf("work on p2: %d items", len(hops))
	}
}

// Each phase bound cuts a silent provider: the attempt times out in that phase, near its
// bound, and the breaker counts it.
func TestResilienceTimeouts(t *testing.T) {
	cases := []struct {
		name, model string
		stream      bool
		timeouts    resilience.Timeouts
		phase       string
		limit       time.Duration
	}{
		{"total", sim.ModelHang, false, resilience.Timeouts{Total: 200 * time.Millisecond}, "total", 200 * time.Millisecond},
		{"first_byte", sim.ModelHang, false, resilience.Timeouts{FirstByte: 100 * time.Millisecond, Total: 5 * time.Second}, "first_byte", 100 * time.Millisecond},
		{"stall", sim.ModelStall, true, resilience.Timeouts{Stall: 100 * time.Millisecond, Total: 5 * time.Second}, "stall", 100 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{
				"p1": fast(func(s *resilience.Settings) {
					s.Timeouts = c.timeouts
					s.Retry.MaxAttempts = 1
					s.Breaker.ConsecutiveFailures = 1
					s.Breaker.OpenTimeout = 10 * time.Second
				}),
			})
			w := r.worker("p1", r.openai("p1", r.url1))
			r.handle(w, workItem("to-1", "p1", c.model, c.stream))
			resps := r.responses()
			if len(resps) != 1 || resps[0].Status != schemas.StatusError || resps[0].Error.Code != "timeout" || len(resps[0].Attempts) != 1 {
				t.Fatalf("responses %+v", resps)
			}
			a := resps[0].Attempts[0]
			bound := float64(c.limit.Milliseconds())
			if a.Outcome != "timeout" || a.ErrorCode != "timeout" || a.DurationMS < bound*0.9 || a.DurationMS >= 1000 {
				t.Errorf("attempt %+v, want a timeout after about %v", a, c.limit)
			}
			ev := ofType(r.events(), schemas.EventAttemptTimedOut, "to-1")
			if len(ev) != 1 || ev[0].Attrs["phase"] != c.phase || ev[0].Attrs["limit_ms"] != itoa(c.limit.Milliseconds()) ||
				ev[0].Attrs["attempt_id"] != a.AttemptID || ev[0].DurationUS >= 1_000_000 {
				t.Errorf("attempt.timed_out events %+v", ev)
			}
			if st := r.guard.Breakers.State("p1", c.model); st != resilience.StateOpen {
				t.Errorf("breaker %s after a timeout with consecutive_failures 1", st)
			}
			if c.stream {
				chunks := r.chunks()
				if len(chunks) < 2 || chunks[len(chunks)-1].Kind != schemas.ChunkError {
					t.Errorf("a stalled stream must end with an error chunk: %+v", chunks)
				}
			}
		})
	}
}

// waitHealth polls the health topic until ok accepts its records.
func waitHealth(t *testing.T, r *rig, what string, ok func([]schemas.ProviderHealth) bool) []schemas.ProviderHealth {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		recs := r.health()
		if ok(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("health topic: %s not seen in %+v", what, recs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statuses collapses the records of one source into its successive "status/reason" values.
func statuses(recs []schemas.ProviderHealth, source string) []string {
	var out []string
	for _, h := range recs {
		if h.Source != source {
			continue
		}
		s := h.Provider + "/" + h.Model + " " + h.Status + " " + h.Reason
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func runReporter(t *testing.T, cfg HealthReporterConfig) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = NewHealthReporter(cfg).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// Breaker changes reach the health topic at once: open (unhealthy), half-open after the
// timeout (restated by the reporter's tick), closed; each with its audit event.
func TestResilienceHealthReporterBreaker(t *testing.T) {
	r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{
		"p1": fast(func(s *resilience.Settings) {
			s.Breaker = resilience.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: 100 * time.Millisecond, HalfOpenRequests: 1}
		}),
	})
	runReporter(t, HealthReporterConfig{Client: r.cl, Codec: r.codec, HealthTopic: healthTopic, AuditTopic: topics.Audit,
		Guard: r.guard, Source: "w1", Interval: 50 * time.Millisecond})

	done, err := r.guard.Breakers.Allow("p1", "m1")
	if err != nil {
		t.Fatal(err)
	}
	done(&adapters.Error{Provider: "p1", Kind: adapters.Unavailable, Status: 503})
	recs := waitHealth(t, r, "p1/m1 unhealthy", func(recs []schemas.ProviderHealth) bool { return len(recs) > 0 })
	if h := recs[0]; h.Provider != "p1" || h.Model != "m1" || h.Status != schemas.HealthUnhealthy ||
		h.Reason != resilience.ReasonBreakerOpen || h.Source != "w1/breaker" || h.TS == 0 {
		t.Fatalf("first health record %+v", h)
	}
	// No traffic: the reporter's tick moves the breaker to half-open after the open timeout.
	waitHealth(t, r, "p1/m1 half-open", func(recs []schemas.ProviderHealth) bool {
		return recs[len(recs)-1].Reason == "breaker_half_open"
	})
	done, err = r.guard.Breakers.Allow("p1", "m1")
	if err != nil {
		t.Fatalf("half-open breaker refused its probe: %v", err)
	}
	done(nil)
	recs = waitHealth(t, r, "p1/m1 closed", func(recs []schemas.ProviderHealth) bool {
		return recs[len(recs)-1].Reason == "breaker_closed"
	})
	want := []string{"p1/m1 unhealthy breaker_open", "p1/m1 healthy breaker_half_open", "p1/m1 healthy breaker_closed"}
	if got := statuses(recs, "w1/breaker"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("health sequence %q, want %q", got, want)
	}
	var types []string
	for _, ev := range r.events() {
		if ev.Provider == "p1" && ev.Model == "m1" && ev.Stage == schemas.StageHealth {
			types = append(types, ev.Type)
			if ev.Type == schemas.EventBreakerOpened && (ev.Attrs["consecutive_failures"] != "1" || ev.Attrs["source"] != "w1" || ev.RequestID != "") {
				t.Errorf("breaker.opened %+v", ev)
			}
		}
	}
	wantTypes := []string{schemas.EventBreakerOpened, schemas.EventBreakerHalfOpened, schemas.EventBreakerClosed}
	if strings.Join(types, " ") != strings.Join(wantTypes, " ") {
		t.Errorf("health audit events %v, want %v", types, wantTypes)
	}
}

func probeSettings() resilience.HealthCheckSettings {
	return resilience.HealthCheckSettings{Model: "probe-m", Interval: 20 * time.Millisecond, Timeout: time.Second, Window: 4, MaxErrorRate: 0.5}
}

// A failing probe model marks the whole provider unhealthy at once, and healthy again once it
// answers.
func TestResilienceHealthReporterProbe(t *testing.T) {
	// A breaker that never opens here: the probe verdict alone is under test.
	r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{
		"p3": fast(func(s *resilience.Settings) { s.Breaker.ConsecutiveFailures = 1000; s.Breaker.MinRequests = 1000 }),
	})
	if err := r.sim1.SetFault("probe-m", sim.Model503); err != nil {
		t.Fatal(err)
	}
	runReporter(t, HealthReporterConfig{Client: r.cl, Codec: r.codec, HealthTopic: healthTopic, AuditTopic: topics.Audit,
		Guard: r.guard, Source: "w1", Interval: time.Second,
		Probes: []Probe{{Provider: "p3", Adapter: r.openai("p3", r.url1), Settings: probeSettings()}}})

	recs := waitHealth(t, r, "a probe verdict", func(recs []schemas.ProviderHealth) bool { return len(recs) > 0 })
	if h := recs[0]; h.Provider != "p3" || h.Model != "" || h.Status != schemas.HealthUnhealthy || h.Source != "w1/probe" ||
		h.Reason != "probe_errors: 1/1 failed" {
		t.Fatalf("first probe record %+v", h)
	}
	r.sim1.ClearFaults()
	recs = waitHealth(t, r, "p3 healthy", func(recs []schemas.ProviderHealth) bool {
		return recs[len(recs)-1].Status == schemas.HealthHealthy
	})
	// Every record is a verdict restated per probe: unhealthy ones while the 503s fill the
	// window, then healthy once passing probes outweigh them (within one window of 4).
	var verdicts []string
	for _, h := range recs {
		if h.Source != "w1/probe" || h.Provider != "p3" {
			t.Errorf("probe record %+v", h)
		}
		if len(verdicts) == 0 || verdicts[len(verdicts)-1] != h.Status {
			verdicts = append(verdicts, h.Status)
		}
	}
	if strings.Join(verdicts, " ") != "unhealthy healthy" {
		t.Errorf("probe verdicts %v", statuses(recs, "w1/probe"))
	}
	var changed []string
	evs := r.events()
	for _, ev := range ofType(evs, schemas.EventHealthChanged, "") {
		changed = append(changed, ev.Attrs["status"])
	}
	if strings.Join(changed, " ") != "unhealthy healthy" {
		t.Errorf("health.changed events %v", changed)
	}
	if k := len(ofType(evs, schemas.EventProbeFailed, "")); k < 1 {
		t.Errorf("probe_failed events %d", k)
	}
	if n := r.sim1.ModelCalls("probe-m"); n < 2 {
		t.Errorf("probe calls %d", n)
	}
}

// While the probe model keeps failing, the provider must not be reported healthy. With a
// breaker that opens on the probes' failures, refused probes count as passes and the verdict
// turns healthy while every call still fails.
func TestResilienceHealthReporterProbeStaysUnhealthyWhileTheBreakerIsOpen(t *testing.T) {
	r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{
		"p3": fast(func(s *resilience.Settings) {
			s.Breaker.ConsecutiveFailures = 2
			s.Breaker.OpenTimeout = 10 * time.Second
		}),
	})
	if err := r.sim1.SetFault("probe-m", sim.Model503); err != nil {
		t.Fatal(err)
	}
	runReporter(t, HealthReporterConfig{Client: r.cl, Codec: r.codec, HealthTopic: healthTopic, AuditTopic: topics.Audit,
		Guard: r.guard, Source: "w1", Interval: time.Second,
		Probes: []Probe{{Provider: "p3", Adapter: r.openai("p3", r.url1), Settings: probeSettings()}}})
	// Ten probe records: the breaker opened after two, well inside.
	recs := waitHealth(t, r, "10 probe verdicts", func(recs []schemas.ProviderHealth) bool { return len(recs) >= 10 })
	for i, h := range recs {
		if h.Source == "w1/probe" && h.Status != schemas.HealthUnhealthy {
			t.Fatalf("probe record %d says %s (%q) while every probe call fails (simulator calls %d)", i, h.Status, h.Reason, r.sim1.ModelCalls("probe-m"))
		}
	}
}
