package resilience

import (
	"sync"
	"testing"
	"time"
)

// testHedge is DefaultHedge with a 1ms MinDelay, so derived delays show unclamped.
func testHedge() HedgeSettings {
	h := DefaultHedge
	h.MinDelay = time.Millisecond
	return h
}

func newTestHedger(h HedgeSettings) *Hedger {
	return NewHedger(func(string, string) HedgeSettings { return h })
}

func wantDelay(t *testing.T, h *Hedger, model, priority string, want time.Duration) {
	t.Helper()
	d, ok := h.Delay("p", model, priority)
	if !ok || d != want {
		t.Fatalf("Delay(p, %s, %s) = %v, %v; want %v, true", model, priority, d, ok, want)
	}
}

func TestHedgerFixedDelay(t *testing.T) {
	s := testHedge()
	s.Delay = 250 * time.Millisecond
	h := newTestHedger(s)
	wantDelay(t, h, "m", "interactive", 250*time.Millisecond)
	for range 100 {
		h.Observe("p", "m", 5*time.Millisecond)
	}
	wantDelay(t, h, "m", "interactive", 250*time.Millisecond)
}

func TestHedgerPriorities(t *testing.T) {
	s := testHedge()
	s.Priorities = []string{"interactive", "batch"}
	h := newTestHedger(s)
	wantDelay(t, h, "m", "interactive", s.MaxDelay)
	wantDelay(t, h, "m", "batch", s.MaxDelay)
	if d, ok := h.Delay("p", "m", "background"); ok || d != 0 {
		t.Fatalf("Delay for background = %v, %v; want 0, false", d, ok)
	}

	off := false
	s.Enabled = &off
	h = newTestHedger(s)
	if d, ok := h.Delay("p", "m", "interactive"); ok || d != 0 {
		t.Fatalf("Delay with hedging off = %v, %v; want 0, false", d, ok)
	}
}

func TestHedgerMinSamples(t *testing.T) {
	s := testHedge()
	h := newTestHedger(s)
	for range s.MinSamples - 1 {
		h.Observe("p", "m", 10*time.Millisecond)
	}
	wantDelay(t, h, "m", "interactive", s.MaxDelay)
	h.Observe("p", "m", 10*time.Millisecond)
	wantDelay(t, h, "m", "interactive", 10*time.Millisecond)
	// Per model: another model of the provider has no samples yet.
	wantDelay(t, h, "other", "interactive", s.MaxDelay)
}

func TestHedgerQuantile(t *testing.T) {
	t.Run("p95 of 95 fast and 5 slow", func(t *testing.T) {
		h := newTestHedger(testHedge())
		for i := range 100 {
			d := 10 * time.Millisecond
			if i%20 == 7 { // the slow five, spread through the ring
				d = time.Second
			}
			h.Observe("p", "m", d)
		}
		wantDelay(t, h, "m", "interactive", 10*time.Millisecond)
	})
	t.Run("p95 of 94 fast and 6 slow", func(t *testing.T) {
		h := newTestHedger(testHedge())
		for i := range 100 {
			d := 10 * time.Millisecond
			if i < 6 {
				d = time.Second
			}
			h.Observe("p", "m", d)
		}
		wantDelay(t, h, "m", "interactive", time.Second)
	})
	t.Run("median of 1..100ms", func(t *testing.T) {
		s := testHedge()
		s.Quantile = 0.5
		h := newTestHedger(s)
		for i := 100; i >= 1; i-- {
			h.Observe("p", "m", time.Duration(i)*time.Millisecond)
		}
		wantDelay(t, h, "m", "interactive", 50*time.Millisecond)
	})
	t.Run("clamped by MinDelay", func(t *testing.T) {
		h := newTestHedger(DefaultHedge) // MinDelay 100ms
		for range 100 {
			h.Observe("p", "m", 10*time.Millisecond)
		}
		wantDelay(t, h, "m", "interactive", DefaultHedge.MinDelay)
	})
	t.Run("clamped by MaxDelay", func(t *testing.T) {
		h := newTestHedger(DefaultHedge) // MaxDelay 10s
		for range 100 {
			h.Observe("p", "m", time.Minute)
		}
		wantDelay(t, h, "m", "interactive", DefaultHedge.MaxDelay)
	})
	t.Run("recent samples only", func(t *testing.T) {
		h := newTestHedger(testHedge())
		for range 100 {
			h.Observe("p", "m", 10*time.Millisecond)
		}
		wantDelay(t, h, "m", "interactive", 10*time.Millisecond)
		for range ttftSamples {
			h.Observe("p", "m", 2*time.Second)
		}
		wantDelay(t, h, "m", "interactive", 2*time.Second)
		for range ttftSamples {
			h.Observe("p", "m", 30*time.Millisecond)
		}
		wantDelay(t, h, "m", "interactive", 30*time.Millisecond)
	})
}

func TestHedgerBudget(t *testing.T) {
	admitAll := func(h *Hedger, provider string) int {
		n := 0
		for h.Admit(provider) {
			n++
			if n > 1000 {
				break
			}
		}
		return n
	}
	s := testHedge()
	s.MaxRate = 0.1

	t.Run("rate", func(t *testing.T) {
		h := newTestHedger(s)
		if h.Admit("p") {
			t.Fatal("a hedge admitted before any call")
		}
		for range 100 {
			h.NoteCall("p", "m")
		}
		// 100 calls at 0.1 earn 10 hedges (9 when the float sum lands a hair under 10).
		if n := admitAll(h, "p"); n < 9 || n > 10 {
			t.Fatalf("after 100 calls at MaxRate 0.1: %d hedges admitted, want 9 or 10", n)
		}
		if h.Admit("q") {
			t.Fatal("p's calls paid for a hedge on q")
		}
	})
	t.Run("interleaved", func(t *testing.T) {
		h := newTestHedger(s)
		n := 0
		for range 1000 {
			h.NoteCall("p", "m")
			if h.Admit("p") {
				n++
			}
		}
		if n > 100 || n < 95 {
			t.Fatalf("1000 calls at MaxRate 0.1, each trying a hedge: %d admitted, want about 100 and at most 100", n)
		}
	})
	t.Run("burst cap", func(t *testing.T) {
		h := newTestHedger(s)
		for range 10_000 {
			h.NoteCall("p", "m")
		}
		if n := admitAll(h, "p"); n != hedgeBurst {
			t.Fatalf("after 10000 quiet calls: %d hedges admitted, want the burst %d", n, hedgeBurst)
		}
	})
	t.Run("zero rate", func(t *testing.T) {
		z := s
		z.MaxRate = 0
		h := newTestHedger(z)
		for range 1000 {
			h.NoteCall("p", "m")
		}
		if h.Admit("p") {
			t.Fatal("a hedge admitted at MaxRate 0")
		}
	})
}

func TestHedgerConcurrent(t *testing.T) {
	h := newTestHedger(testHedge())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				h.Observe("p", "m", time.Duration(10+g)*time.Millisecond)
				h.NoteCall("p", "m")
				h.Admit("p")
				if d, ok := h.Delay("p", "m", "interactive"); !ok || d <= 0 {
					t.Errorf("Delay = %v, %v at i=%d", d, ok, i)
					return
				}
			}
		})
	}
	wg.Wait()
	d, _ := h.Delay("p", "m", "interactive")
	if d < 10*time.Millisecond || d > 17*time.Millisecond {
		t.Fatalf("Delay = %v, want within the observed 10..17ms", d)
	}
}

func TestProbeWindowErrors(t *testing.T) {
	p := NewProbeWindow(HealthCheckSettings{Window: 5, MaxErrorRate: 0.5})
	steps := []struct {
		ok      bool
		healthy bool
		reason  string
	}{
		{true, true, ""},
		{true, true, ""},
		{true, true, ""},
		{false, true, ""}, // 1/4
		{false, true, ""}, // 2/5
		{false, false, "probe_errors: 3/5 failed"},
		// Recovery: successes replace the oldest probes (ok, ok, ok, fail, fail in turn).
		{true, false, "probe_errors: 3/5 failed"},
		{true, false, "probe_errors: 3/5 failed"},
		{true, true, ""}, // 2/5
		{true, true, ""},
		{true, true, ""},
	}
	for i, s := range steps {
		healthy, reason := p.Record(s.ok, 100*time.Millisecond)
		if healthy != s.healthy || reason != s.reason {
			t.Fatalf("probe %d (ok=%v): %v %q, want %v %q", i+1, s.ok, healthy, reason, s.healthy, s.reason)
		}
	}
}

func TestProbeWindowFirstFailure(t *testing.T) {
	p := NewProbeWindow(HealthCheckSettings{Window: 5, MaxErrorRate: 0.5})
	if healthy, reason := p.Record(false, time.Second); healthy || reason != "probe_errors: 1/1 failed" {
		t.Fatalf("a first failed probe: %v %q, want unhealthy 1/1", healthy, reason)
	}
}

func TestProbeWindowLatency(t *testing.T) {
	p := NewProbeWindow(HealthCheckSettings{Window: 5, MaxErrorRate: 0.5, MaxLatency: time.Second})
	slow := "probe_latency: median 2s over 1s"
	steps := []struct {
		lat     time.Duration
		healthy bool
		reason  string
	}{
		{2 * time.Second, false, slow},
		{2 * time.Second, false, slow},
		{2 * time.Second, false, slow},
		{100 * time.Millisecond, false, slow}, // .1 2 2 2
		{100 * time.Millisecond, false, slow}, // .1 .1 2 2 2
		{100 * time.Millisecond, true, ""},    // .1 .1 .1 2 2
		{100 * time.Millisecond, true, ""},
	}
	for i, s := range steps {
		healthy, reason := p.Record(true, s.lat)
		if healthy != s.healthy || reason != s.reason {
			t.Fatalf("probe %d (%v): %v %q, want %v %q", i+1, s.lat, healthy, reason, s.healthy, s.reason)
		}
	}
	// A failed probe's latency (often its timeout) is not judged as latency.
	p = NewProbeWindow(HealthCheckSettings{Window: 5, MaxErrorRate: 0.5, MaxLatency: time.Second})
	for range 3 {
		p.Record(true, 100*time.Millisecond)
	}
	if healthy, reason := p.Record(false, 5*time.Second); !healthy {
		t.Fatalf("one failed probe of 4: unhealthy %q", reason)
	}
	// No MaxLatency: latency is not judged.
	p = NewProbeWindow(HealthCheckSettings{Window: 5, MaxErrorRate: 0.5})
	if healthy, reason := p.Record(true, time.Hour); !healthy {
		t.Fatalf("without MaxLatency: unhealthy %q", reason)
	}
}
