package resilience

import (
	"math"
	"slices"
	"sync"
	"time"
)

// ttftSamples is the number of recent first-token times kept per provider model.
const ttftSamples = 256

// Hedger decides hedge delays and admits hedges within each provider's budget.
//
// The delay of a provider model is its fixed HedgeSettings.Delay, or else a quantile
// (default p95) of its recent times to first token, clamped to [MinDelay, MaxDelay]; with
// fewer than MinSamples observations it is MaxDelay. The budget is a token bucket per
// provider: every primary call adds MaxRate of a token (up to a burst of 10), every hedge
// takes one, so over time hedges stay under MaxRate of the calls whatever the tail does.
type Hedger struct {
	settings func(provider, model string) HedgeSettings

	mu      sync.Mutex
	ttft    map[breakerKey]*ttftRing
	budgets map[string]float64
}

// NewHedger returns a Hedger reading each provider model's (defaulted) settings from settings.
func NewHedger(settings func(provider, model string) HedgeSettings) *Hedger {
	return &Hedger{settings: settings, ttft: map[breakerKey]*ttftRing{}, budgets: map[string]float64{}}
}

// hedgeBurst is the most hedges a provider can bank.
const hedgeBurst = 10

type ttftRing struct {
	v       [ttftSamples]time.Duration
	n       int // observations so far (may exceed ttftSamples)
	q       time.Duration
	stale   int // observations since q was computed
	quant   float64
	scratch []time.Duration
}

// Observe records a time to first token of the provider's model (successful calls only).
func (h *Hedger) Observe(provider, model string, ttft time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := breakerKey{provider, model}
	r := h.ttft[k]
	if r == nil {
		r = &ttftRing{}
		h.ttft[k] = r
	}
	r.v[r.n%ttftSamples] = ttft
	r.n++
	r.stale++
}

// Delay returns the hedge delay of a call to the provider's model of the given priority, and
// false when such calls are not hedged.
func (h *Hedger) Delay(provider, model, priority string) (time.Duration, bool) {
	s := h.settings(provider, model)
	if !s.On() || !slices.Contains(s.Priorities, priority) {
		return 0, false
	}
	if s.Delay > 0 {
		return s.Delay, true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.ttft[breakerKey{provider, model}]
	if r == nil || r.n < s.MinSamples {
		return s.MaxDelay, true
	}
	// Recompute the quantile every 16 observations: sorting 256 samples costs a few µs, and
	// a delay a few calls old is as good.
	if r.q == 0 || r.stale >= 16 || r.quant != s.Quantile {
		n := min(r.n, ttftSamples)
		r.scratch = append(r.scratch[:0], r.v[:n]...)
		slices.Sort(r.scratch)
		// Nearest rank: the smallest sample with at least Quantile of the samples at or below
		// it (p95 of 100 samples is the 95th, index 94). The epsilon keeps a product such as
		// 0.95·100 that floats a hair above its integer from moving up a rank.
		i := int(math.Ceil(s.Quantile*float64(n)-1e-9)) - 1
		r.q = r.scratch[min(max(i, 0), n-1)]
		r.stale, r.quant = 0, s.Quantile
	}
	return min(max(r.q, s.MinDelay), s.MaxDelay), true
}

// NoteCall adds a primary call to the provider's hedge budget.
func (h *Hedger) NoteCall(provider, model string) {
	rate := h.settings(provider, model).MaxRate
	h.mu.Lock()
	h.budgets[provider] = min(h.budgets[provider]+rate, hedgeBurst)
	h.mu.Unlock()
}

// Admit takes one hedge from the provider's budget and reports whether there was one.
func (h *Hedger) Admit(provider string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.budgets[provider] < 1 {
		return false
	}
	h.budgets[provider]--
	return true
}
