package router

import (
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
