package resilience

import (
	"context"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

// BenchmarkBreakersAllow is one call through a closed breaker: Allow, then done. gobreaker
// publishes about 140ns for CircuitBreaker.Execute; the difference is the map look-up and the
// once-only done.
func BenchmarkBreakersAllow(b *testing.B) {
	br := NewBreakers(func(string) BreakerSettings { return DefaultBreaker }, nil)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			done, err := br.Allow("p", "m")
			if err != nil {
				b.Fatal(err)
			}
			done(nil)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				done, err := br.Allow("p", "m")
				if err != nil {
					b.Error(err)
					return
				}
				done(nil)
			}
		})
	})
}

// BenchmarkGobreaker is the baseline on this machine: gobreaker's own Execute and two-step
// Allow+done, without Breakers around them.
func BenchmarkGobreaker(b *testing.B) {
	st := gobreaker.Settings{Name: "p/m", Interval: DefaultBreaker.Window, BucketPeriod: DefaultBreaker.Window / 10}
	b.Run("execute", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[struct{}](st)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cb.Execute(func() (struct{}, error) { return struct{}{}, nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("two-step", func(b *testing.B) {
		cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
		b.ReportAllocs()
		for b.Loop() {
			done, err := cb.Allow()
			if err != nil {
				b.Fatal(err)
			}
			done(nil)
		}
	})
}

func BenchmarkHedgerDelay(b *testing.B) {
	s := DefaultHedge
	h := NewHedger(func(string, string) HedgeSettings { return s })
	for i := range ttftSamples {
		h.Observe("p", "m", time.Duration(i)*time.Millisecond)
	}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := h.Delay("p", "m", "interactive"); !ok {
				b.Fatal("not hedged")
			}
		}
	})
	// One observation per call: the quantile is re-sorted every 16th.
	b.Run("observe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.Observe("p", "m", 300*time.Millisecond)
			if _, ok := h.Delay("p", "m", "interactive"); !ok {
				b.Fatal("not hedged")
			}
		}
	})
}

func BenchmarkLimiterAcquire(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		s    LimitSettings
	}{
		{"none", LimitSettings{MaxWait: time.Second}},
		{"slot", LimitSettings{Concurrency: 256, MaxWait: time.Second}},
		{"slot+rpm+tpm", LimitSettings{Concurrency: 256, RPM: 1 << 30, TPM: 1 << 30, MaxWait: time.Second}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := NewLimiter("p", bc.s)
			b.ReportAllocs()
			for b.Loop() {
				release, err := l.Acquire(ctx, 100)
				if err != nil {
					b.Fatal(err)
				}
				release()
			}
		})
	}
}

func BenchmarkCooldownsCheck(b *testing.B) {
	c := NewCooldowns(nil)
	c.Set("cooling", time.Now().Add(time.Hour), ReasonRetryAfter)
	b.Run("none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c.Check("p") != nil {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("cooling", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c.Check("cooling") == nil {
				b.Fatal("not rejected")
			}
		}
	})
}
