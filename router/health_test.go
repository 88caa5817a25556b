package router

import (
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

var _ HealthView = (*HealthTable)(nil)
var _ BudgetView = (*Ledger)(nil)

func TestHealthTable(t *testing.T) {
	now := t0
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	rec := func(provider, model, status, reason string, ts int64) schemas.ProviderHealth {
		return schemas.ProviderHealth{Provider: provider, Model: model, Status: status, Reason: reason, TS: ts, Source: "test"}
	}
	for _, tc := range []struct {
		name            string
		recs            []schemas.ProviderHealth
		provider, model string
		wantReason      string
		wantOut         bool
	}{
		{name: "unknown is healthy", provider: "openai", model: "gpt"},
		{name: "provider unhealthy", provider: "openai", model: "gpt", wantReason: "breaker_open", wantOut: true,
			recs: []schemas.ProviderHealth{rec("openai", "", "unhealthy", "breaker_open", ms(-time.Second))}},
		{name: "provider unhealthy, whole provider asked", provider: "openai", wantReason: "breaker_open", wantOut: true,
			recs: []schemas.ProviderHealth{rec("openai", "", "unhealthy", "breaker_open", ms(-time.Second))}},
		{name: "other provider", provider: "anthropic", model: "claude",
			recs: []schemas.ProviderHealth{rec("openai", "", "unhealthy", "breaker_open", ms(-time.Second))}},
		{name: "one model unhealthy", provider: "openai", model: "gpt", wantReason: "probe_failed", wantOut: true,
			recs: []schemas.ProviderHealth{rec("openai", "gpt", "unhealthy", "probe_failed", ms(-time.Second))}},
		{name: "one model unhealthy, sibling fine", provider: "openai", model: "gpt-mini",
			recs: []schemas.ProviderHealth{rec("openai", "gpt", "unhealthy", "probe_failed", ms(-time.Second))}},
		{name: "one model unhealthy, provider asked", provider: "openai",
			recs: []schemas.ProviderHealth{rec("openai", "gpt", "unhealthy", "probe_failed", ms(-time.Second))}},
		{name: "newer healthy wins", provider: "openai", model: "gpt",
			recs: []schemas.ProviderHealth{rec("openai", "", "unhealthy", "x", ms(-2*time.Second)), rec("openai", "", "healthy", "", ms(-time.Second))}},
		{name: "older record delivered late loses", provider: "openai", model: "gpt", wantReason: "x", wantOut: true,
			recs: []schemas.ProviderHealth{rec("openai", "", "unhealthy", "x", ms(-time.Second)), rec("openai", "", "healthy", "", ms(-2*time.Second))}},
		{name: "stale unhealthy is ignored", provider: "openai", model: "gpt",
			recs: []schemas.ProviderHealth{rec("openai", "", "unhealthy", "x", ms(-61*time.Second))}},
		{name: "just within the TTL", provider: "openai", model: "gpt", wantReason: "x", wantOut: true,
			recs: []schemas.ProviderHealth{rec("openai", "", "unhealthy", "x", ms(-60*time.Second))}},
		{name: "far future is ignored", provider: "openai", model: "gpt",
			recs: []schemas.ProviderHealth{rec("openai", "", "unhealthy", "x", ms(time.Hour))}},
		{name: "empty reason named", provider: "openai", model: "gpt", wantReason: "unhealthy", wantOut: true,
			recs: []schemas.ProviderHealth{rec("openai", "gpt", "unhealthy", "", ms(0))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHealthTable(0, func() time.Time { return now })
			for _, r := range tc.recs {
				h.Apply(r)
			}
			reason, out := h.Unhealthy(tc.provider, tc.model)
			if reason != tc.wantReason || out != tc.wantOut {
				t.Errorf("Unhealthy(%q, %q) = %q, %v; want %q, %v", tc.provider, tc.model, reason, out, tc.wantReason, tc.wantOut)
			}
		})
	}
}

func TestHealthTableForgetAndClock(t *testing.T) {
	now := t0
	h := NewHealthTable(10*time.Second, func() time.Time { return now })
	if h.Apply(schemas.ProviderHealth{Status: "unhealthy"}) {
		t.Error("a record without a provider was applied")
	}
	h.Apply(schemas.ProviderHealth{Provider: "p", Status: "unhealthy", Reason: "r", TS: now.UnixMilli()})
	if _, out := h.Unhealthy("p", "m"); !out {
		t.Fatal("not unhealthy")
	}
	now = now.Add(11 * time.Second) // the publisher went quiet: the record ages out
	if _, out := h.Unhealthy("p", "m"); out {
		t.Fatal("a stale record kept the provider out")
	}
	now = t0
	h.Forget("p", "", "")
	if _, out := h.Unhealthy("p", "m"); out {
		t.Fatal("forgotten record still counts")
	}
	if HealthKey("p", "", "") != "p||" || HealthKey("p", "m", "w1/breaker") != "p|m|w1/breaker" {
		t.Error("HealthKey")
	}
	for k, want := range map[string][3]string{"p|m|s": {"p", "m", "s"}, "p|m": {"p", "m", ""}, "p||": {"p", "", ""}} {
		p, m, src, ok := SplitHealthKey(k)
		if !ok || [3]string{p, m, src} != want {
			t.Errorf("SplitHealthKey(%q) = %q %q %q %v", k, p, m, src, ok)
		}
	}
	if _, _, _, ok := SplitHealthKey("nokey"); ok {
		t.Error("SplitHealthKey accepted a key without a separator")
	}
}

// One source's unhealthy record keeps a model out whatever another source says, until it is
// restated healthy or ages out.
func TestHealthTableSources(t *testing.T) {
	now := t0
	h := NewHealthTable(10*time.Second, func() time.Time { return now })
	h.Apply(schemas.ProviderHealth{Provider: "p", Model: "m", Status: "unhealthy", Reason: "breaker_open", TS: now.UnixMilli(), Source: "w1/breaker"})
	h.Apply(schemas.ProviderHealth{Provider: "p", Model: "m", Status: "healthy", TS: now.UnixMilli() + 1, Source: "w2/breaker"})
	if why, out := h.Unhealthy("p", "m"); !out || why != "breaker_open" {
		t.Fatalf("Unhealthy = %q %v: one source's open breaker must keep the model out", why, out)
	}
	if _, out := h.Unhealthy("p", "other"); out {
		t.Fatal("a model's record took another model out")
	}
	h.Apply(schemas.ProviderHealth{Provider: "p", Model: "m", Status: "healthy", TS: now.UnixMilli() + 2, Source: "w1/breaker"})
	if _, out := h.Unhealthy("p", "m"); out {
		t.Fatal("still unhealthy after its source restated healthy")
	}
}
