package router

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/schemas"
)

func testTable() Table {
	return Table{
		Models: []Model{
			{Name: "small", Provider: "p1", Version: "small-2024-01-01", ContextWindow: 8000, MaxOutputTokens: 1000, Price: Price{InputPerMTok: 0.1, OutputPerMTok: 0.4}},
			{Name: "big", Provider: "p2", Version: "big-2024-02-02", ContextWindow: 200000, MaxOutputTokens: 8000, Price: Price{InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.3}},
			{Name: "mid", Provider: "p3", Version: "mid-v3", ContextWindow: 32000, MaxOutputTokens: 4000, Price: Price{InputPerMTok: 1, OutputPerMTok: 2}},
		},
		Default: Rule{Model: "small", Fallbacks: []string{"mid", "big"}},
		Tasks: map[string]Rule{
			"code": {Model: "big", Fallbacks: []string{"mid"}},
		},
		// The chains above put dearer models behind cheaper ones; interactive requests of
		// tenants that allow it keep them (see TestPremiumFallbackRule).
		Tenants: map[string]TenantPolicy{DefaultTenant: {AllowPremiumFallback: true}},
	}
}

func req(task, model string, content string, maxTokens int32, allowed ...string) *schemas.Request {
	return &schemas.Request{RequestID: "r", TenantID: "t", TaskType: task, Model: model, MaxTokens: maxTokens, Priority: schemas.PriorityInteractive,
		AllowedProviders: allowed, Messages: []schemas.Message{{Role: "user", Content: content}}}
}

func TestDecide(t *testing.T) {
	r, err := New(testTable())
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("word ", 8000) // ~10k tokens: too big for "small"
	tests := []struct {
		name      string
		req       *schemas.Request
		provider  string
		model     string
		fallbacks []string
		rule      string
		reject    string
	}{
		{"default rule", req("chat", "", "hi", 0), "p1", "small-2024-01-01", []string{"mid-v3", "big-2024-02-02"}, "default", ""},
		{"task rule", req("code", "", "write a loop", 0), "p2", "big-2024-02-02", []string{"mid-v3"}, "task:code", ""},
		{"user choice by alias", req("chat", "mid", "hi", 0), "p3", "mid-v3", nil, "user_choice", ""},
		{"user choice by pinned version", req("chat", "big-2024-02-02", "hi", 0), "p2", "big-2024-02-02", nil, "user_choice", ""},
		{"user choice keeps rule fallbacks", req("code", "big", "hi", 0), "p2", "big-2024-02-02", []string{"mid-v3"}, "user_choice", ""},
		{"unknown model refused", req("chat", "gpt-9", "hi", 0), "", "", nil, "", ReasonModelNotAllowed},
		{"context window skips small", req("chat", "", long, 500), "p3", "mid-v3", []string{"big-2024-02-02"}, "default", ""},
		{"max_tokens above model cap skips", req("chat", "", "hi", 2000), "p3", "mid-v3", []string{"big-2024-02-02"}, "default", ""},
		{"allowed providers", req("chat", "", "hi", 0, "p2"), "p2", "big-2024-02-02", nil, "default", ""},
		{"no allowed provider", req("chat", "", "hi", 0, "p9"), "", "", nil, "", ReasonNoProvider},
		{"too long for all", req("chat", "small", long, 0), "", "", nil, "", ReasonContextTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := r.Decide(tt.req)
			if tt.reject != "" {
				rej, ok := IsRejection(err)
				if !ok || rej.Reason != tt.reject {
					t.Fatalf("want rejection %q, got %v", tt.reject, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Provider != tt.provider || d.Model != tt.model || d.Rule != tt.rule {
				t.Fatalf("got %s/%s rule %s, want %s/%s rule %s", d.Provider, d.Model, d.Rule, tt.provider, tt.model, tt.rule)
			}
			var fb []string
			for _, s := range d.Fallbacks {
				fb = append(fb, s.Model)
			}
			if strings.Join(fb, ",") != strings.Join(tt.fallbacks, ",") {
				t.Fatalf("fallbacks %v, want %v", fb, tt.fallbacks)
			}
			if d.EstCostUSD <= 0 || d.EstInputTokens <= 0 {
				t.Fatalf("estimate missing: %+v", d)
			}
		})
	}
}

func TestPriceCost(t *testing.T) {
	p := Price{InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.3}
	got := p.Cost(schemas.Usage{InputTokens: 1_000_000, CachedTokens: 500_000, OutputTokens: 100_000})
	want := 0.5*3 + 0.5*0.3 + 0.1*15
	if math.Abs(got-want) > 1e-9 {
		t.Fatalf("cost %v, want %v", got, want)
	}
	// Without a cached price, cached tokens cost the input price.
	p.CachedInputPerMTok = 0
	if got := p.Cost(schemas.Usage{InputTokens: 2_000_000, CachedTokens: 1_000_000}); math.Abs(got-6) > 1e-9 {
		t.Fatalf("cost %v, want 6", got)
	}
	// Anthropic-style usage: 1M input of which 200k read from and 300k written to the cache.
	p = Price{InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.3, CacheWritePerMTok: 3.75}
	got = p.Cost(schemas.Usage{InputTokens: 1_000_000, CachedTokens: 200_000, CacheWriteTokens: 300_000, OutputTokens: 10_000})
	want = 0.5*3 + 0.2*0.3 + 0.3*3.75 + 0.01*15
	if math.Abs(got-want) > 1e-9 {
		t.Fatalf("cost %v, want %v", got, want)
	}
	// Counts beyond the input never produce a negative remainder.
	if got := p.Cost(schemas.Usage{InputTokens: 100, CachedTokens: 80, CacheWriteTokens: 80}); got < 0 || math.Abs(got-(80*0.3+20*3.75)/1e6) > 1e-12 {
		t.Fatalf("cost %v", got)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	tb := Table{
		Models: []Model{
			{Name: "a", Provider: "nope", ContextWindow: 0, MaxOutputTokens: 10},
			{Name: "a", Provider: "p1", Version: "v", ContextWindow: 10, MaxOutputTokens: 20, Price: Price{InputPerMTok: 1, OutputPerMTok: 1}},
		},
		Default: Rule{Model: "zzz", Fallbacks: []string{"a", "a"}},
	}
	err := tb.Validate(map[string]bool{"p1": true})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`routing.models[0].provider: unknown provider "nope"`,
		"routing.models[0].version: required",
		"routing.models[0].context_window: must be > 0",
		"routing.models[0].price",
		`routing.models[1].name: duplicate model "a"`,
		"routing.models[1].max_output_tokens: 20 exceeds context_window 10",
		`routing.default.model: unknown model "zzz"`,
		`routing.default.fallbacks[1]: model "a" appears twice`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	r, err := New(testTable())
	if err != nil {
		b.Fatal(err)
	}
	q := req("chat", "", strings.Repeat("summarise this paragraph please. ", 20), 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Decide(q); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTierChains(t *testing.T) {
	tb := testTable()
	tb.Tasks["code"] = Rule{Model: "big", Fallbacks: []string{"mid"}, Tiers: map[string]Chain{
		TierSimple: {Model: "small", Fallbacks: []string{"mid"}},
	}}
	tb.Default.Tiers = map[string]Chain{TierComplex: {Model: "big"}}
	r, err := New(tb)
	if err != nil {
		t.Fatal(err)
	}
	simple := req("code", "", "translate 'hello' to French", 0) // rule:short_simple_task
	standard := req("code", "", "Design and implement a lock-free queue, prove its linearizability step by step, then refactor the "+
		"algorithm and analyze the trade-off between memory ordering strategies in depth.\n```go\nfunc f() {}\n```\n", 0)
	for _, tt := range []struct {
		name  string
		q     *schemas.Request
		tier  string
		alias string
		rule  string
	}{
		{"task rule, simple tier chain", simple, TierSimple, "small", "task:code/tier:simple"},
		{"task rule, no chain for the tier", standard, TierStandard, "big", "task:code"},
		{"default rule, simple: its own chain", req("chat", "", "translate 'hello' to French", 0), TierSimple, "small", "default"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := r.Decide(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if tt.tier != "" && d.Tier != tt.tier {
				t.Fatalf("tier %s, want %s (%+v)", d.Tier, tt.tier, d.Classification)
			}
			if d.Alias != tt.alias || d.Rule != tt.rule {
				t.Fatalf("got %s rule %s, want %s rule %s (tier %s)", d.Alias, d.Rule, tt.alias, tt.rule, d.Tier)
			}
		})
	}
	// An agent loop in progress (tools and four tool results) is complex by rule: a chat takes
	// the default rule's complex chain.
	loop := req("chat", "", "what is the weather in Lyon?", 0)
	loop.Tools = []schemas.Tool{{Name: "weather"}}
	for range 4 {
		loop.Messages = append(loop.Messages, schemas.Message{Role: "tool", ToolCallID: "c", Content: "sunny"})
	}
	d, err := r.Decide(loop)
	if err != nil {
		t.Fatal(err)
	}
	if d.Tier != TierComplex || d.Alias != "big" || d.Rule != "default/tier:complex" || len(d.Fallbacks) != 0 {
		t.Fatalf("agent loop: tier %s (%s) %s %s %v", d.Tier, d.Classification.Source, d.Alias, d.Rule, d.Fallbacks)
	}
}

func TestLongContextPrefersModelsThatFit(t *testing.T) {
	tb := testTable()
	tb.Models = append(tb.Models, Model{Name: "huge", Provider: "p4", Version: "huge-2025-01-01", ContextWindow: 1_000_000, MaxOutputTokens: 8000,
		Price: Price{InputPerMTok: 0.5, OutputPerMTok: 1}})
	r, err := New(tb)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("the quick brown fox jumps over the lazy dog. ", 5000) // ~50k tokens
	d, err := r.Decide(req("chat", "", long, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if d.Tier != TierLongContext {
		t.Fatalf("tier %s", d.Tier)
	}
	// small and mid are too small; big (from the rule) fits; huge fits too and is added.
	if d.Alias != "big" || skipsOf(d) != "small:context_too_long,mid:context_too_long" {
		t.Fatalf("first hop %s skips %s", d.Alias, skipsOf(d))
	}
	last := d.Candidates[len(d.Candidates)-1]
	if last.Alias != "huge" || last.Source != SourceLongContext || last.Role != RoleFallback {
		t.Fatalf("long-context extension: %+v", last)
	}
	// A rule with its own long-context chain is not extended.
	tb.Default.Tiers = map[string]Chain{TierLongContext: {Model: "huge"}}
	r, _ = New(tb)
	d, err = r.Decide(req("chat", "", long, 1000))
	if err != nil || chainOf(d) != "huge" || len(d.Candidates) != 1 {
		t.Fatalf("%v %s %+v", err, chainOf(d), d.Candidates)
	}
}

func TestIsFloating(t *testing.T) {
	for v, floating := range map[string]bool{
		"gpt-4o-2024-08-06":          false,
		"claude-3-5-haiku-20241022":  false,
		"gpt-4-0613":                 false,
		"mistral-large-2411":         false,
		"gemini-2.0-flash-001":       false,
		"mid-v3":                     false,
		"claude-3-5-sonnet@20240620": false,
		"gemini-2.5-flash":           false, // dotted version
		"llama-3.1-8b-instant":       false,
		"sim-503":                    false, // three digits
		"gpt-4o":                     true,
		"gpt-4o-latest":              true,
		"chatgpt-4o-latest":          true,
		"claude-3-5-sonnet-latest":   true,
		"llama3:latest":              true,
		"gemini-2.5-flash-latest":    true, // latest wins over a dotted version
		"claude-sonnet-4-5":          true,
		"grok-3-mini":                true,
		"deepseek-chat":              true,
		"m-1":                        true,
	} {
		if got := IsFloating(v); got != floating {
			t.Errorf("IsFloating(%q) = %v, want %v", v, got, floating)
		}
	}
}

func TestFloatingVersionRefused(t *testing.T) {
	tb := testTable()
	tb.Models[0].Version = "small-latest"
	tb.Models[1].Version = "big"
	tb.Models[1].AllowFloating = true
	err := tb.Validate(nil)
	if err == nil || !strings.Contains(err.Error(), `routing.models[0].version: "small-latest" is a floating alias`) {
		t.Fatalf("want the floating alias refused, got %v", err)
	}
	if strings.Contains(err.Error(), "routing.models[1]") {
		t.Fatalf("allow_floating must accept the model: %v", err)
	}
	// The pinned version is what the decision records.
	tb.Models[0].AllowFloating = true
	r, err := New(tb)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Decide(req("chat", "small", "hi", 0))
	if err != nil || d.Model != "small-latest" || d.Alias != "small" {
		t.Fatalf("%v %+v", err, d)
	}
}

func TestTierValidation(t *testing.T) {
	tb := testTable()
	tb.Tasks["code"] = Rule{Model: "big", Tiers: map[string]Chain{
		"tiny":          {Model: "small"},
		TierComplex:     {Model: "ghost", Fallbacks: []string{"big", "big"}},
		TierLongContext: {},
	}}
	err := tb.Validate(nil)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`routing.tasks.code.tiers: unknown tier "tiny"`,
		`routing.tasks.code.tiers.complex.model: unknown model "ghost"`,
		`routing.tasks.code.tiers.complex.fallbacks[1]: model "big" appears twice`,
		"routing.tasks.code.tiers.long-context.model: required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestDecisionExplained(t *testing.T) {
	r, err := New(testTable())
	if err != nil {
		t.Fatal(err)
	}
	r.SetHealth(fakeHealth{"p1": "breaker_open"})
	d, err := r.Decide(req("chat", "", "Could you tell me a bit about the history of the city of Lyon and its food?", 300))
	if err != nil {
		t.Fatal(err)
	}
	c := d.Classification
	if c.Tier == "" || c.Tier != d.Tier || c.Source == "" || c.Confidence <= 0 || c.Features.InputTokens != d.EstInputTokens {
		t.Fatalf("classification %+v", c)
	}
	if d.Rule != "default" || len(d.Candidates) != 3 {
		t.Fatalf("rule %s candidates %+v", d.Rule, d.Candidates)
	}
	roles := []string{RoleSkipped, RolePrimary, RoleFallback}
	for i, cand := range d.Candidates {
		if cand.Role != roles[i] || cand.EstInputTokens != d.EstInputTokens || cand.EstOutputTokens != 300 || cand.EstCostUSD <= 0 ||
			cand.Provider == "" || cand.Version == "" {
			t.Errorf("candidate %d: %+v", i, cand)
		}
	}
	if s := d.Candidates[0]; s.Alias != "small" || s.Reason != SkipUnhealthy || !strings.Contains(s.Detail, "breaker_open") {
		t.Errorf("skipped: %+v", s)
	}
	if d.EstCostUSD != d.Candidates[1].EstCostUSD || d.EstOutputTokens != 300 || !d.Degraded {
		t.Errorf("decision %+v", d)
	}
	if len(d.Skipped()) != 1 {
		t.Errorf("Skipped() = %+v", d.Skipped())
	}
	sum := c.Features.Summary()
	for _, want := range []string{"tokens=", "turns=1", "questions=1", "task_type=chat", "json_schema=false"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	if strings.Contains(sum, "Lyon") {
		t.Errorf("summary leaks prompt text: %q", sum)
	}
	// Without max_tokens, the output is costed at the tier's typical size, capped by the model.
	r.SetHealth(nil)
	d, _ = r.Decide(req("chat", "", "hi there, how are you doing today my friend?", 0))
	if want := min(TypicalOutputTokens(d.Tier), 1000); d.EstOutputTokens != want {
		t.Errorf("typical output %d, want %d (tier %s)", d.EstOutputTokens, want, d.Tier)
	}
}

func TestRouteReasonConvention(t *testing.T) {
	d := Decision{Rule: "task:code"}
	if d.RouteReason() != "task:code" {
		t.Fatal(d.RouteReason())
	}
	d.Degraded, d.DegradedReason = true, DegradedOverBudget
	if d.RouteReason() != "degraded:over_budget" {
		t.Fatal(d.RouteReason())
	}
	if why, ok := DegradedReason(d.RouteReason()); !ok || why != DegradedOverBudget {
		t.Fatal(why, ok)
	}
	if _, ok := DegradedReason("task:code"); ok {
		t.Fatal("not degraded")
	}
}

func ExampleIsFloating() {
	for _, v := range []string{"gpt-4o-2024-08-06", "gemini-2.0-flash-001", "gemini-2.5-flash", "gpt-4o", "claude-3-5-sonnet-latest"} {
		fmt.Println(v, IsFloating(v))
	}
	// Output:
	// gpt-4o-2024-08-06 false
	// gemini-2.0-flash-001 false
	// gemini-2.5-flash false
	// gpt-4o true
	// claude-3-5-sonnet-latest true
}

// A tenant limited to EU models names a US model and reroutes: the decision says what was
// refused, which rule routed instead and what every candidate would have cost.
func ExampleRouter_Decide() {
	r, err := New(Table{
		Models: []Model{
			{Name: "eu-small", Provider: "mistral", Version: "mistral-small-2503", Region: "eu", ContextWindow: 128000, MaxOutputTokens: 4096, Price: Price{InputPerMTok: 0.1, OutputPerMTok: 0.3}},
			{Name: "us-large", Provider: "openai", Version: "gpt-4o-2024-08-06", Region: "us", ContextWindow: 128000, MaxOutputTokens: 16384, Price: Price{InputPerMTok: 2.5, OutputPerMTok: 10}},
		},
		Default: Rule{Model: "eu-small", Fallbacks: []string{"us-large"}},
		Tenants: map[string]TenantPolicy{"acme": {Regions: []string{"eu"}, OnViolation: OnViolationReroute}},
	})
	if err != nil {
		panic(err)
	}
	d, err := r.Decide(&schemas.Request{RequestID: "r1", TenantID: "acme", TaskType: "chat", Model: "us-large", MaxTokens: 1000,
		Messages: []schemas.Message{{Role: "user", Content: "Write a short poem about the sea."}}})
	if err != nil {
		panic(err)
	}
	fmt.Println("rerouted:", d.Rerouted, "rule:", d.Rule, "first hop:", d.Provider, d.Model)
	for _, c := range d.Candidates {
		fmt.Printf("%s %s %s $%.6f\n", c.Alias, c.Role, c.Reason, c.EstCostUSD)
	}
	// Output:
	// rerouted: region_not_allowed rule: default first hop: mistral mistral-small-2503
	// eu-small primary  $0.000302
	// us-large skipped region_not_allowed $0.010042
}
