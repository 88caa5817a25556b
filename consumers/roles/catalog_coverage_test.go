package roles

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/anthropic"
	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/resilience"
	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Every type of the audit catalogue is emitted by some scenario of the real roles (router,
// worker, health reporter, spend sync) on kfake and the provider simulator, and every event
// emitted has the common fields and only the attributes its type declares. A type that no
// scenario emits is reported by name: either a scenario is missing or nothing emits it (and
// then it does not belong in the catalogue).
func TestCatalogEveryTypeIsEmitted(t *testing.T) {
	spec := map[string]schemas.EventSpec{}
	for _, e := range schemas.Catalog {
		spec[e.Type] = e
	}
	var mu sync.Mutex
	seen := map[string][]string{} // type -> scenarios that emitted it
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range catalogScenarios() {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				evs := sc.run(t)
				for _, p := range eventProblems(spec, evs) {
					t.Error(p)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, ev := range evs {
					if !slices.Contains(seen[ev.Type], sc.name) {
						seen[ev.Type] = append(seen[ev.Type], sc.name)
					}
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	var missing, undeclared []string
	for typ := range spec {
		if len(seen[typ]) == 0 {
			missing = append(missing, typ)
		}
	}
	for typ := range seen {
		if _, ok := spec[typ]; !ok {
			undeclared = append(undeclared, typ)
		}
	}
	sort.Strings(missing)
	sort.Strings(undeclared)
	t.Logf("%d declared types, %d emitted", len(spec), len(seen))
	for _, typ := range slices.Sorted(maps.Keys(seen)) {
		t.Logf("%-28s %s", typ, strings.Join(seen[typ], ", "))
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d declared event types emitted by no scenario: %s", len(missing), len(spec), strings.Join(missing, ", "))
	}
	if len(undeclared) > 0 {
		t.Errorf("emitted event types missing from the catalogue: %s", strings.Join(undeclared, ", "))
	}
}

// The prompt every scenario sends contains this; no attribute may.
const catalogPromptMark = "tell me a story"

// eventProblems checks the fields of every event against the catalogue and returns what is
// wrong with them.
func eventProblems(spec map[string]schemas.EventSpec, evs []schemas.AuditEvent) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	ids := map[string]bool{}
	for _, ev := range evs {
		s, ok := spec[ev.Type]
		if !ok {
			bad("event %s: type %q not in the catalogue", ev.EventID, ev.Type)
			continue
		}
		switch {
		case ev.EventID == "" || ev.Stage == "" || ev.TS <= 0:
			bad("%s: event_id %q, stage %q, ts %d: all required", ev.Type, ev.EventID, ev.Stage, ev.TS)
		case ev.Stage != s.Stage:
			bad("%s: stage %q, the catalogue says %q", ev.Type, ev.Stage, s.Stage)
		case ev.Stage != schemas.StageHealth && (ev.RequestID == "" || ev.TenantID == ""):
			bad("%s (%s): request_id %q, tenant_id %q: required outside the health stage", ev.Type, ev.EventID, ev.RequestID, ev.TenantID)
		case ev.Stage == schemas.StageHealth && ev.RequestID != "":
			bad("%s: a health event names request %q", ev.Type, ev.RequestID)
		case ev.DurationUS < 0:
			bad("%s: duration_us %d", ev.Type, ev.DurationUS)
		}
		if ids[ev.EventID] {
			bad("event id %s used twice", ev.EventID)
		}
		ids[ev.EventID] = true
		for _, name := range slices.Sorted(maps.Keys(ev.Attrs)) {
			v := ev.Attrs[name]
			if !slices.ContainsFunc(s.Attrs, func(a schemas.AttrSpec) bool { return a.Name == name }) {
				bad("%s: attribute %q is not declared for the type", ev.Type, name)
			}
			if strings.Contains(v, catalogPromptMark) {
				bad("%s: attribute %s carries prompt text", ev.Type, name)
			}
		}
	}
	return out
}

// eventProblems finds each kind of fault.
func TestCatalogEventProblems(t *testing.T) {
	spec := map[string]schemas.EventSpec{}
	for _, e := range schemas.Catalog {
		spec[e.Type] = e
	}
	ok := schemas.AuditEvent{EventID: "r/h0/work.received/0", RequestID: "r", TenantID: "t", TS: 1, Type: schemas.EventWorkReceived,
		Stage: schemas.StageDispatch, Attrs: map[string]string{"hop": "0"}}
	if p := eventProblems(spec, []schemas.AuditEvent{ok}); len(p) != 0 {
		t.Fatalf("a good event: %v", p)
	}
	edit := func(f func(*schemas.AuditEvent)) schemas.AuditEvent {
		ev := ok
		ev.Attrs = maps.Clone(ok.Attrs)
		f(&ev)
		return ev
	}
	cases := []struct {
		ev   schemas.AuditEvent
		want string
	}{
		{edit(func(e *schemas.AuditEvent) { e.Type = "work.invented" }), `type "work.invented" not in the catalogue`},
		{edit(func(e *schemas.AuditEvent) { e.TS = 0 }), "all required"},
		{edit(func(e *schemas.AuditEvent) { e.Stage = schemas.StageRoute }), `the catalogue says "dispatch"`},
		{edit(func(e *schemas.AuditEvent) { e.TenantID = "" }), "required outside the health stage"},
		{edit(func(e *schemas.AuditEvent) { e.Attrs["prompt"] = "x" }), `attribute "prompt" is not declared`},
		{edit(func(e *schemas.AuditEvent) { e.Attrs["hop"] = catalogPromptMark }), "carries prompt text"},
		{edit(func(e *schemas.AuditEvent) {
			e.Type, e.Stage, e.Attrs = schemas.EventBreakerOpened, schemas.StageHealth, nil
		}), "a health event names request"},
	}
	for _, c := range cases {
		p := eventProblems(spec, []schemas.AuditEvent{c.ev})
		if len(p) != 1 || !strings.Contains(p[0], c.want) {
			t.Errorf("%+v: problems %q, want one with %q", c.ev, p, c.want)
		}
	}
	if p := eventProblems(spec, []schemas.AuditEvent{ok, ok}); len(p) != 1 || !strings.Contains(p[0], "used twice") {
		t.Errorf("a repeated id: %q", p)
	}
}

type catalogScenario struct {
	name string
	run  func(t *testing.T) []schemas.AuditEvent
}

func catalogScenarios() []catalogScenario {
	return []catalogScenario{
		{"router", catalogRouter},
		{"stream-cache-truncated", func(t *testing.T) []schemas.AuditEvent {
			// Anthropic with prompt caching on a long prompt: the simulator reports a cache read
			// and a cache write; max_tokens 3 cuts the answer.
			r := newRig(t, sim.Config{}, sim.Config{}, nil)
			ad, err := anthropic.New(anthropic.Config{Name: "p1", BaseURL: r.url1, PromptCache: "5m", HTTPClient: resilience.NewHTTPClient(0)})
			if err != nil {
				t.Fatal(err)
			}
			it := workItem("sc-1", "p1", "claude-sim", true)
			it.Request.Messages[0].Content = catalogPromptMark + strings.Repeat(" and then", 600)
			it.Request.MaxTokens = 3
			r.handle(r.worker("p1", ad), it)
			evs, resp := r.events(), oneResponse(t, r)
			u := resp.Usage
			if ev := one(t, evs, schemas.EventPromptCacheHit, "sc-1"); u.CachedTokens <= 0 || ev.Attrs["cached_tokens"] != itoa(u.CachedTokens) || ev.Attrs["input_tokens"] != itoa(u.InputTokens) {
				t.Errorf("cache hit %v, usage %+v", ev.Attrs, u)
			}
			if ev := one(t, evs, schemas.EventPromptCacheWrite, "sc-1"); u.CacheWriteTokens <= 0 || ev.Attrs["cache_write_tokens"] != itoa(u.CacheWriteTokens) {
				t.Errorf("cache write %v, usage %+v", ev.Attrs, u)
			}
			if ev := one(t, evs, schemas.EventAnswerTruncated, "sc-1"); resp.FinishReason != adapters.FinishLength || ev.Attrs["max_tokens"] != "3" {
				t.Errorf("truncated %v, finish %q", ev.Attrs, resp.FinishReason)
			}
			if ev := one(t, evs, schemas.EventStreamStarted, "sc-1"); ev.Attrs["attempt_id"] != resp.Attempts[0].AttemptID {
				t.Errorf("stream.started %v", ev.Attrs)
			}
			return evs
		}},
		{"cancelled-mid-call", func(t *testing.T) []schemas.AuditEvent {
			// A streamed call to a hanging model; its caller cancels it 150 ms in.
			r := newRig(t, sim.Config{}, sim.Config{}, nil)
			w := r.worker("p1", r.openai("p1", r.url1))
			w.Cancels = NewCancels(0, nil)
			time.AfterFunc(150*time.Millisecond, func() {
				w.Cancels.Cancel(schemas.Cancel{RequestID: "cx-1", Reason: "client_disconnected", Source: "gateway/test"})
			})
			start := time.Now()
			r.handle(w, workItem("cx-1", "p1", sim.ModelHang, true))
			evs, resp := r.events(), oneResponse(t, r)
			if resp.Status != schemas.StatusError || resp.Error == nil || resp.Error.Code != CodeCancelled {
				t.Errorf("response %+v, want error %s", resp, CodeCancelled)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the cancelled call took %s: the cancel did not end it", d)
			}
			if ev := one(t, evs, schemas.EventRequestCancelled, "cx-1"); ev.Attrs["reason"] != "client_disconnected" || ev.Attrs["at"] != schemas.StageDispatch {
				t.Errorf("request.cancelled %v", ev.Attrs)
			}
			if n := len(resp.Attempts); n != 1 || resp.Attempts[0].Outcome != "cancelled" {
				t.Errorf("attempts %+v, want one cancelled", resp.Attempts)
			}
			// A cancelled request that arrives again is not called at all.
			r2 := newRig(t, sim.Config{}, sim.Config{}, nil)
			w2 := r2.worker("p1", r2.openai("p1", r2.url1))
			w2.Cancels = w.Cancels
			r2.handle(w2, workItem("cx-1", "p1", "sim-ok", false))
			if resp := oneResponse(t, r2); resp.Error == nil || resp.Error.Code != CodeCancelled || len(resp.Attempts) != 0 {
				t.Errorf("re-delivered cancelled request: %+v", resp)
			}
			return evs
		}},
		{"complete-retry-recovered", func(t *testing.T) []schemas.AuditEvent {
			r := newRig(t, sim.Config{}, sim.Config{}, nil)
			r.handle(r.worker("p1", r.openai("p1", r.url1)), workItem("rr-1", "p1", sim.Model500Once, false))
			evs, resp := r.events(), oneResponse(t, r)
			if ev := one(t, evs, schemas.EventRetryRecovered, "rr-1"); ev.Attrs["tries"] != "2" || ev.Attrs["retries"] != "1" {
				t.Errorf("retry.recovered %v", ev.Attrs)
			}
			if ev := one(t, evs, schemas.EventFirstByte, "rr-1"); ev.DurationUS <= 0 || ev.Attrs["attempt_id"] != resp.Attempts[1].AttemptID {
				t.Errorf("attempt.first_byte %+v", ev)
			}
			billedEqualsResponse(t, evs, resp)
			return evs
		}},
		{"retries-exhausted-fallback-answers", func(t *testing.T) []schemas.AuditEvent {
			r := newRig(t, sim.Config{}, sim.Config{}, nil)
			r.handle(r.worker("p1", r.openai("p1", r.url1)), workItem("re-1", "p1", sim.Model503, false, schemas.RouteStep{Provider: "p2", Model: "sim-ok"}))
			hops := r.work("p2")
			if len(hops) != 1 {
				t.Fatalf("work on p2: %d items", len(hops))
			}
			r.handle(r.worker("p2", r.openai("p2", r.url2)), hops[0])
			evs := r.events()
			if ev := one(t, evs, schemas.EventRetryExhausted, "re-1"); ev.Attrs["reason"] != "max_attempts" || ev.Attrs["tries"] != "2" || ev.Attrs["error_kind"] != "unavailable" {
				t.Errorf("retry.exhausted %v", ev.Attrs)
			}
			if ev := one(t, evs, schemas.EventFallbackReceived, "re-1"); ev.Attrs["from_provider"] != "p1" || ev.Attrs["last_error"] != "unavailable" || ev.Attrs["attempts_so_far"] != "2" {
				t.Errorf("work.fallback_received %v", ev.Attrs)
			}
			if ev := one(t, evs, schemas.EventFallbackAnswered, "re-1"); ev.Attrs["hop"] != "1" || ev.Attrs["attempts"] != "3" || ev.Provider != "p2" {
				t.Errorf("fallback.answered %+v", ev)
			}
			return evs
		}},
		{"stream-cut-resumed", func(t *testing.T) []schemas.AuditEvent {
			r, _, _, _, resps := resumeRun(t, "anthropic")
			evs := r.events()
			// The stream started once, on the first hop; the cut attempt is billed at an estimate.
			if ev := one(t, evs, schemas.EventStreamStarted, "sr-1"); ev.Provider != "p1" {
				t.Errorf("stream.started %+v", ev)
			}
			billed := ofType(evs, schemas.EventAttemptBilled, "sr-1")
			if len(billed) != 2 || billed[0].Attrs["estimated"] != "true" || billed[0].Attrs["outcome"] != "error" || billed[1].Attrs["estimated"] != "false" {
				t.Errorf("cost.attempt_billed %+v", billed)
			}
			billedEqualsResponse(t, evs, resps[0])
			return evs
		}},
		{"stream-aborted", func(t *testing.T) []schemas.AuditEvent {
			r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{"p1": fast(func(s *resilience.Settings) { s.Retry.MaxAttempts = 1 })})
			r.handle(r.worker("p1", r.openai("p1", r.url1)), workItem("sa-1", "p1", sim.ModelStreamCut, true))
			return r.events()
		}},
		{"hedge-won", func(t *testing.T) []schemas.AuditEvent {
			r, w := hedgeRig(t, hedgeSettings(nil))
			r.handle(w, workItem("hw-1", "p1", "slow", false, schemas.RouteStep{Provider: "p2", Model: "sim-ok"}))
			evs, resp := r.events(), oneResponse(t, r)
			// The cancelled loser is billed at its estimate, and the response's cost is the sum.
			for _, ev := range ofType(evs, schemas.EventAttemptBilled, "hw-1") {
				if loser := ev.Attrs["hedge"] == "false"; loser != (ev.Attrs["estimated"] == "true") || loser != (ev.Attrs["outcome"] == "cancelled") {
					t.Errorf("cost.attempt_billed %v", ev.Attrs)
				}
			}
			billedEqualsResponse(t, evs, resp)
			return evs
		}},
		{"hedge-denied", func(t *testing.T) []schemas.AuditEvent {
			s := hedgeSettings(nil)
			s.Hedge.MaxRate = 0
			r, w := hedgeRig(t, s)
			r.handle(w, workItem("hd-1", "p1", "slowish", false, schemas.RouteStep{Provider: "p2", Model: "sim-ok"}))
			return r.events()
		}},
		{"retry-after-cooldown", func(t *testing.T) []schemas.AuditEvent {
			r := newRig(t, sim.Config{RetryAfter: time.Second}, sim.Config{}, map[string]resilience.Settings{
				"p1": fast(func(s *resilience.Settings) { s.Retry.MaxRetryAfter = 100 * time.Millisecond }),
			})
			w := r.worker("p1", r.openai("p1", r.url1))
			next := schemas.RouteStep{Provider: "p2", Model: "sim-ok"}
			r.handle(w, workItem("ra-1", "p1", sim.Model429RetryAfter, false, next))
			r.handle(w, workItem("ra-2", "p1", sim.Model429RetryAfter, false, next))
			evs := r.events()
			if ev := one(t, evs, schemas.EventRetryExhausted, "ra-1"); ev.Attrs["reason"] != "retry_after_too_long" || ev.Attrs["tries"] != "1" {
				t.Errorf("retry.exhausted %v", ev.Attrs)
			}
			if k := len(ofType(evs, schemas.EventRetryExhausted, "ra-2")); k != 0 {
				t.Errorf("a local refusal is not a retryable failure: %d retry.exhausted", k)
			}
			return evs
		}},
		{"limits-wait", func(t *testing.T) []schemas.AuditEvent {
			// TPM 6000: a burst of 600 tokens refilled at 100 a second. The first call takes
			// 595 of them, the second (50) waits about half a second.
			r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{
				"p1": fast(func(s *resilience.Settings) { s.Limits = resilience.LimitSettings{TPM: 6000, MaxWait: 2 * time.Second} }),
			})
			w := r.worker("p1", r.openai("p1", r.url1))
			for i, tokens := range []int64{590, 45} {
				it := workItem("lw-"+itoa(int64(i)), "p1", sim.ModelOK, false)
				it.EstimatedInputTokens, it.Request.MaxTokens = tokens, 5
				r.handle(w, it)
			}
			evs := r.events()
			// lw-0 found its budget free; a preempted goroutine could still spend a
			// millisecond in Acquire, so only the wait that must happen is asserted.
			ev := one(t, evs, schemas.EventLimitWaited, "lw-1")
			if ms, err := strconv.ParseFloat(ev.Attrs["wait_ms"], 64); err != nil || ms < 1 || ms > 2000 || ev.Attrs["tokens"] != "50" ||
				ev.DurationUS != int64(ms*1000) && ev.DurationUS/1000 != int64(ms) {
				t.Errorf("limit.waited %+v", ev)
			}
			return evs
		}},
		{"answer-too-large", func(t *testing.T) []schemas.AuditEvent {
			r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{"p1": fast(func(s *resilience.Settings) { s.Retry.MaxAttempts = 1 })})
			w := r.worker("p1", r.openai("p1", r.url1))
			w.MaxAnswerBytes = 8
			r.handle(w, workItem("tl-1", "p1", sim.ModelOK, false))
			evs := r.events()
			if ev := one(t, evs, schemas.EventAnswerTooLarge, "tl-1"); ev.Attrs["limit_bytes"] != "8" || ev.Attrs["stream"] != "false" {
				t.Errorf("attempt.answer_too_large %v", ev.Attrs)
			}
			if ev := one(t, evs, schemas.EventResponseError, "tl-1"); ev.Attrs["code"] != "malformed" || ev.Attrs["attempts"] != "1" {
				t.Errorf("response.error %v", ev.Attrs)
			}
			return evs
		}},
		{"timeout", func(t *testing.T) []schemas.AuditEvent {
			r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{
				"p1": fast(func(s *resilience.Settings) {
					s.Timeouts = resilience.Timeouts{Total: 150 * time.Millisecond}
					s.Retry.MaxAttempts = 1
				}),
			})
			r.handle(r.worker("p1", r.openai("p1", r.url1)), workItem("to-1", "p1", sim.ModelHang, false))
			return r.events()
		}},
		{"deadline-and-attempt-budget", func(t *testing.T) []schemas.AuditEvent {
			r := newRig(t, sim.Config{}, sim.Config{}, nil)
			w := r.worker("p1", r.openai("p1", r.url1))
			late := workItem("dl-1", "p1", sim.ModelOK, false)
			late.Request.CreatedAt, late.Request.DeadlineMS = time.Now().Add(-time.Minute).UnixMilli(), 1000
			r.handle(w, late)
			w.AttemptBudget = 1
			spent := workItem("ab-1", "p1", sim.ModelOK, false, schemas.RouteStep{Provider: "p2", Model: "m2"})
			spent.Hop = 1
			spent.Attempts = []schemas.Attempt{{AttemptID: "ab-1/h0/a0", Provider: "p2", Model: "m0", Outcome: "error", ErrorCode: "unavailable"}}
			r.handle(w, spent)
			return r.events()
		}},
		{"context-too-long", func(t *testing.T) []schemas.AuditEvent {
			r := newRig(t, sim.Config{}, sim.Config{}, nil)
			w := r.worker("p1", r.openai("p1", r.url1))
			w.Windows = func(provider, model string) int {
				return map[string]int{"p1/" + sim.ModelContextLength: 8000, "p2/small": 4000, "p2/big": 128000}[provider+"/"+model]
			}
			r.handle(w, workItem("cl-1", "p1", sim.ModelContextLength, false, schemas.RouteStep{Provider: "p2", Model: "small"}, schemas.RouteStep{Provider: "p2", Model: "big"}))
			return r.events()
		}},
		{"content-filter", func(t *testing.T) []schemas.AuditEvent {
			r := newRig(t, sim.Config{}, sim.Config{}, nil)
			w := r.worker("p1", r.openai("p1", r.url1))
			r.handle(w, workItem("cf-1", "p1", sim.ModelContentFilter, false))      // refused: error and DLQ
			r.handle(w, workItem("cf-2", "p1", "sim-content-filter-finish", false)) // cut: degraded
			evs := r.events()
			if ev := one(t, evs, schemas.EventResponseError, "cf-1"); ev.Attrs["code"] != "content_filtered" || ev.Attrs["retryable"] != "false" {
				t.Errorf("response.error %v", ev.Attrs)
			}
			if ev := one(t, evs, schemas.EventResponseDegraded, "cf-2"); ev.Attrs["reason"] != "content_filtered" {
				t.Errorf("response.degraded %v", ev.Attrs)
			}
			return evs
		}},
		{"tool-calls", func(t *testing.T) []schemas.AuditEvent {
			r := newRig(t, sim.Config{}, sim.Config{}, nil)
			schema := `{"type":"object","properties":{"count":{"type":"integer"}},"required":["count"]}`
			fixed := &scripted{name: "p1", answers: []*adapters.Result{toolAnswer("call_1", `{"count":"three"}`), toolAnswer("call_2", `{"count":3}`)}}
			w := r.worker("p1", fixed)
			w.ToolCallRetries = 1
			r.handle(w, toolItem("tc-1", "m1", schema))
			stubborn := &scripted{name: "p1", answers: []*adapters.Result{toolAnswer("call_1", `{"count":"three"}`)}}
			w = r.worker("p1", stubborn)
			w.ToolCallRetries = 1
			r.handle(w, toolItem("tc-2", "m1", schema))
			evs := r.events()
			if ev := one(t, evs, schemas.EventToolCallCorrected, "tc-1"); ev.Attrs["corrections"] != "1" || ev.Attrs["calls"] != "1" {
				t.Errorf("tool_call.corrected %v", ev.Attrs)
			}
			if k := len(ofType(evs, schemas.EventToolCallCorrected, "tc-2")); k != 0 {
				t.Errorf("tc-2 was never corrected, yet %d tool_call.corrected", k)
			}
			if ev := one(t, evs, schemas.EventResponseError, "tc-2"); ev.Attrs["code"] != "invalid_tool_call" {
				t.Errorf("response.error %v", ev.Attrs)
			}
			return evs
		}},
		{"breaker-and-probes", catalogBreakerAndProbes},
	}
}

// catalogRouter routes requests through a real router and ledger: a user's model honoured,
// rerouted and refused; a degraded route; a reservation that no longer fits; an invalid and an
// undecodable request. The routed request is then answered by a worker, and the spend sync
// settles its reservation.
func catalogRouter(t *testing.T) []schemas.AuditEvent {
	r := newRig(t, sim.Config{}, sim.Config{}, nil)
	const spendTopic = "llm.spend"
	if _, err := r.adm.CreateTopic(context.Background(), 1, 1, nil, spendTopic); err != nil {
		t.Fatal(err)
	}
	rt, err := router.New(router.Table{
		Models: []router.Model{
			{Name: "m", Provider: "p1", Version: "m-1", ContextWindow: 8000, MaxOutputTokens: 1000, Price: router.Price{InputPerMTok: 1, OutputPerMTok: 1}},
			{Name: "f", Provider: "p2", Version: "f-1", ContextWindow: 8000, MaxOutputTokens: 1000, Price: router.Price{InputPerMTok: 0.5, OutputPerMTok: 0.5}},
			{Name: "d", Provider: "p1", Version: "d-1", ContextWindow: 8000, MaxOutputTokens: 1000, Price: router.Price{InputPerMTok: 2, OutputPerMTok: 2}},
		},
		Default: router.Rule{Model: "m", Fallbacks: []string{"f"}},
		Tasks:   map[string]router.Rule{"deg": {Model: "d", Fallbacks: []string{"f"}}},
		Tenants: map[string]router.TenantPolicy{
			router.DefaultTenant: {Budget: router.Budget{DailyUSD: 100}},
			"strict":             {AllowedModels: []string{"f"}},
			"rr":                 {AllowedModels: []string{"f"}, OnViolation: router.OnViolationReroute},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.SetHealth(unhealthyVersion("d-1"))
	ledger, err := router.NewLedger(router.LedgerConfig{ReplicaID: "r1", Limits: rt.TenantBudget})
	if err != nil {
		t.Fatal(err)
	}
	rt.SetBudgets(ledger)
	spend, err := NewSpendSync(SpendSyncConfig{Brokers: r.seeds, SpendTopic: spendTopic, ResponsesTopic: topics.Responses,
		AuditTopic: topics.Audit, Codec: r.codec, Ledger: ledger, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- spend.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("spend sync: %v", err)
		}
		spend.Close()
	})
	select {
	case <-spend.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("spend sync not ready")
	}

	role := &RouterRole{Client: r.cl, Codec: r.codec, Router: rt, Topics: topics, Budgets: ledger}
	now := itoa(time.Now().UnixMilli())
	req := func(id, tenant, extra string) string {
		return `{"request_id":"` + id + `","tenant_id":"` + tenant + `","created_at":` + now + extra +
			`,"messages":[{"role":"user","content":"` + catalogPromptMark + `"}]}`
	}
	handle := func(role *RouterRole, off int64, body string) {
		t.Helper()
		rec := &kgo.Record{Topic: topics.Requests, Offset: off, Value: []byte(body),
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}}
		if err := role.Handle(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	handle(role, 0, req("rt-ok", "acme", `,"model":"m"`))
	handle(role, 1, req("rt-rr", "rr", `,"model":"m"`))
	handle(role, 2, req("rt-strict", "strict", `,"model":"m"`))
	handle(role, 3, req("rt-deg", "acme", `,"task_type":"deg"`))
	handle(role, 4, `{"request_id":"rt-bad","tenant_id":"acme","created_at":`+now+`,"messages":[]}`)
	handle(role, 5, `{"request_id":`)
	handle(&RouterRole{Client: r.cl, Codec: r.codec, Router: rt, Topics: topics, Budgets: &refuseAll{}}, 6, req("rt-refused", "acme", ""))

	// The reserved request is answered; its response settles the reservation.
	var item *schemas.WorkItem
	for _, it := range r.work("p1") {
		if it.Request.RequestID == "rt-ok" {
			item = &it
		}
	}
	if item == nil {
		t.Fatal("rt-ok was not routed to p1")
	}
	r.handle(r.worker("p1", r.openai("p1", r.url1)), *item)
	evs := waitEvents(t, r, schemas.EventBudgetSettled)

	attr := func(typ, id, name string) string { return one(t, evs, typ, id).Attrs[name] }
	for id, want := range map[string]string{"rt-ok": "default", "rt-rr": "tenant", "rt-strict": "tenant"} {
		if got := attr(schemas.EventPolicyApplied, id, "entry"); got != want {
			t.Errorf("%s: policy entry %q, want %q", id, got, want)
		}
	}
	if got := attr(schemas.EventPolicyApplied, "rt-strict", "allowed_models"); got != "1" {
		t.Errorf("rt-strict: allowed_models %q", got)
	}
	for id, want := range map[string]string{"rt-ok": "honoured/", "rt-rr": "rerouted/model_not_allowed", "rt-strict": "rejected/model_not_allowed"} {
		ev := one(t, evs, schemas.EventPolicyUserModel, id)
		if got := ev.Attrs["outcome"] + "/" + ev.Attrs["violation"]; got != want || ev.Attrs["requested"] != "m" {
			t.Errorf("%s: policy.user_model %v, want %s", id, ev.Attrs, want)
		}
	}
	if k := len(ofType(evs, schemas.EventPolicyUserModel, "rt-deg")); k != 0 {
		t.Errorf("rt-deg named no model, yet %d policy.user_model", k)
	}
	decided := one(t, evs, schemas.EventRouteDecided, "rt-ok")
	if got := attr(schemas.EventBudgetReserved, "rt-ok", "est_cost_usd"); got != decided.Attrs["est_cost_usd"] {
		t.Errorf("reserved %s, decided %s", got, decided.Attrs["est_cost_usd"])
	}
	// Tenants without a budget are admitted without a reservation: no event.
	if k := len(ofType(evs, schemas.EventBudgetReserved, "rt-rr")); k != 0 {
		t.Errorf("rt-rr reserved nothing, yet %d budget.reserved", k)
	}
	one(t, evs, schemas.EventBudgetRefused, "rt-refused")
	if got := attr(schemas.EventResponseError, "rt-refused", "code"); got != router.ReasonBudgetExceeded {
		t.Errorf("rt-refused: response.error code %q", got)
	}
	if got := attr(schemas.EventRequestRejected, "rt-bad", "reason"); got != "validation:messages" {
		t.Errorf("rt-bad: request.rejected reason %q", got)
	}
	if k := len(ofType(evs, schemas.EventRequestValidated, "rt-bad")); k != 0 {
		t.Errorf("rt-bad failed validation, yet %d request.validated", k)
	}
	var cost float64
	for _, resp := range r.responses() {
		if resp.RequestID == "rt-ok" {
			cost = resp.CostUSD
		}
	}
	if ev := one(t, evs, schemas.EventBudgetSettled, "rt-ok"); cost <= 0 || ev.Attrs["cost_usd"] != ftoa(cost) || ev.Attrs["replica"] != "r1" || ev.TenantID != "acme" {
		t.Errorf("budget.settled %+v, response cost %v", ev, cost)
	}
	return evs
}

// one returns the only event of type typ for request id, failing the test when there is not
// exactly one.
func one(t *testing.T, evs []schemas.AuditEvent, typ, id string) schemas.AuditEvent {
	t.Helper()
	got := ofType(evs, typ, id)
	if len(got) != 1 {
		t.Fatalf("%s of %s: %d events, want 1", typ, id, len(got))
	}
	return got[0]
}

func oneResponse(t *testing.T, r *rig) schemas.Response {
	t.Helper()
	resps := r.responses()
	if len(resps) != 1 {
		t.Fatalf("responses %+v", resps)
	}
	return resps[0]
}

// billedEqualsResponse checks that the attempts billed add up to the response's cost.
func billedEqualsResponse(t *testing.T, evs []schemas.AuditEvent, resp schemas.Response) {
	t.Helper()
	billed := ofType(evs, schemas.EventAttemptBilled, resp.RequestID)
	if len(billed) != len(resp.Attempts) {
		t.Errorf("%s: %d attempts billed, %d attempts", resp.RequestID, len(billed), len(resp.Attempts))
	}
	var sum float64
	for _, ev := range billed {
		v, err := strconv.ParseFloat(ev.Attrs["cost_usd"], 64)
		if err != nil {
			t.Fatalf("cost_usd %q: %v", ev.Attrs["cost_usd"], err)
		}
		sum += v
	}
	if math.Abs(sum-resp.CostUSD) > 1e-6*max(resp.CostUSD, 1e-9) && math.Abs(sum-resp.CostUSD) > 1e-12 {
		t.Errorf("%s: attempts billed $%g, response $%g", resp.RequestID, sum, resp.CostUSD)
	}
}

// unhealthyVersion marks one pinned model unhealthy.
type unhealthyVersion string

func (u unhealthyVersion) Unhealthy(_, model string) (string, bool) {
	return resilience.ReasonBreakerOpen, model == string(u)
}

// catalogBreakerAndProbes opens a breaker with user traffic, lets its half-open probe close
// it, and runs a failing then recovering health-check probe, with the health reporter.
func catalogBreakerAndProbes(t *testing.T) []schemas.AuditEvent {
	r := newRig(t, sim.Config{}, sim.Config{}, map[string]resilience.Settings{
		"p1": fast(func(s *resilience.Settings) {
			s.Breaker = resilience.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: 100 * time.Millisecond, HalfOpenRequests: 1}
			s.Retry.MaxAttempts = 1
		}),
		"p3": fast(func(s *resilience.Settings) { s.Breaker.ConsecutiveFailures = 1000; s.Breaker.MinRequests = 1000 }),
	})
	for _, m := range []string{"m1", "probe-m"} {
		if err := r.sim1.SetFault(m, sim.Model503); err != nil {
			t.Fatal(err)
		}
	}
	runReporter(t, HealthReporterConfig{Client: r.cl, Codec: r.codec, HealthTopic: healthTopic, AuditTopic: topics.Audit,
		Guard: r.guard, Source: "w1", Interval: 50 * time.Millisecond,
		Probes: []Probe{{Provider: "p3", Adapter: r.openai("p3", r.url1), Settings: probeSettings()}}})
	w := r.worker("p1", r.openai("p1", r.url1))
	r.handle(w, workItem("bp-0", "p1", "m1", false))
	waitEvents(t, r, schemas.EventBreakerOpened, schemas.EventProbeFailed, schemas.EventHealthChanged)
	r.sim1.ClearFaults()
	time.Sleep(150 * time.Millisecond) // past the open timeout
	r.handle(w, workItem("bp-1", "p1", "m1", false))
	return waitEvents(t, r, schemas.EventBreakerHalfOpened, schemas.EventBreakerClosed, schemas.EventBreakerProbe)
}

// waitEvents reads the audit topic until it holds an event of each type, and returns it all.
func waitEvents(t *testing.T, r *rig, types ...string) []schemas.AuditEvent {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := r.events()
		if !slices.ContainsFunc(types, func(typ string) bool { return len(ofType(evs, typ, "")) == 0 }) {
			return evs
		}
		if time.Now().After(deadline) {
			var got []string
			for _, ev := range evs {
				got = append(got, ev.Type)
			}
			t.Fatalf("audit topic: want %v, got %v", types, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
