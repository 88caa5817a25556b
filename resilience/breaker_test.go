package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
)

// testBreaker is a breaker quick enough for tests: 50ms open, two probes.
var testBreaker = BreakerSettings{FailureRatio: 0.5, MinRequests: 10, ConsecutiveFailures: 3,
	Window: 10 * time.Second, OpenTimeout: 50 * time.Millisecond, HalfOpenRequests: 2}

func kindErr(k adapters.Kind) error { return &adapters.Error{Provider: "p", Kind: k} }

// changeLog records onChange calls; onChange runs under the breaker's lock, possibly from
// several goroutines at once.
type changeLog struct {
	mu sync.Mutex
	ch []StateChange
}

func (l *changeLog) add(c StateChange) {
	l.mu.Lock()
	l.ch = append(l.ch, c)
	l.mu.Unlock()
}

func (l *changeLog) get() []StateChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]StateChange(nil), l.ch...)
}

func newTestBreakers(s BreakerSettings) (*Breakers, *changeLog) {
	log := &changeLog{}
	return NewBreakers(func(string) BreakerSettings { return s }, log.add), log
}

// call makes one call through the breaker that ends with err, failing the test if it was refused.
func call(t *testing.T, b *Breakers, provider, model string, err error) {
	t.Helper()
	done, rerr := b.Allow(provider, model)
	if rerr != nil {
		t.Fatalf("Allow(%s, %s) refused: %v", provider, model, rerr)
	}
	done(err)
}

func wantState(t *testing.T, b *Breakers, provider, model string, want State) {
	t.Helper()
	if got := b.State(provider, model); got != want {
		t.Fatalf("State(%s, %s) = %s, want %s", provider, model, got, want)
	}
}

func wantRejection(t *testing.T, b *Breakers, provider, model, reason string) {
	t.Helper()
	done, err := b.Allow(provider, model)
	if done != nil {
		t.Errorf("Allow(%s, %s) returned a done func with a refusal", provider, model)
	}
	r := RejectionOf(err)
	if r == nil {
		t.Fatalf("Allow(%s, %s) error = %v, want a *Rejection", provider, model, err)
	}
	if r.Reason != reason || r.Provider != provider || r.Model != model {
		t.Fatalf("Rejection = %+v, want provider %s model %s reason %s", r, provider, model, reason)
	}
}

// waitHalfOpen polls State (which moves an open breaker on) until the breaker is half-open.
func waitHalfOpen(t *testing.T, b *Breakers, provider, model string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.State(provider, model) != StateHalfOpen {
		if time.Now().After(deadline) {
			t.Fatalf("breaker %s/%s not half-open within 5s (state %s)", provider, model, b.State(provider, model))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// trip opens the breaker with ConsecutiveFailures unavailable errors.
func trip(t *testing.T, b *Breakers, provider, model string) {
	t.Helper()
	for range testBreaker.ConsecutiveFailures {
		call(t, b, provider, model, kindErr(adapters.Unavailable))
	}
	wantState(t, b, provider, model, StateOpen)
}

func TestBreakerTripsOnConsecutiveFailures(t *testing.T) {
	for _, err := range []error{
		kindErr(adapters.Unavailable), kindErr(adapters.Timeout), kindErr(adapters.Internal), kindErr(adapters.Malformed),
		fmt.Errorf("attempt: %w", context.DeadlineExceeded), errors.New("unclassified"),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			b, _ := newTestBreakers(testBreaker)
			for i := range testBreaker.ConsecutiveFailures - 1 {
				call(t, b, "p", "m", err)
				if s := b.State("p", "m"); s != StateClosed {
					t.Fatalf("after %d failures: state %s, want closed", i+1, s)
				}
			}
			call(t, b, "p", "m", err)
			wantState(t, b, "p", "m", StateOpen)
			wantRejection(t, b, "p", "m", ReasonBreakerOpen)
		})
	}
}

func TestBreakerSuccessResetsConsecutiveFailures(t *testing.T) {
	b, _ := newTestBreakers(testBreaker)
	fail := kindErr(adapters.Unavailable)
	for _, err := range []error{fail, fail, nil, fail, fail, nil, fail, fail} {
		call(t, b, "p", "m", err)
	}
	// 6 failures of 8 calls, never 3 in a row, and under MinRequests: closed.
	wantState(t, b, "p", "m", StateClosed)
}

func TestBreakerTripsOnFailureRatio(t *testing.T) {
	s := testBreaker
	s.ConsecutiveFailures = 100 // only the ratio can trip it
	fail := kindErr(adapters.Timeout)

	t.Run("not before MinRequests", func(t *testing.T) {
		b, _ := newTestBreakers(s)
		for i := range s.MinRequests - 1 {
			call(t, b, "p", "m", fail)
			if st := b.State("p", "m"); st != StateClosed {
				t.Fatalf("after %d failures of %d calls: %s, want closed (MinRequests %d)", i+1, i+1, st, s.MinRequests)
			}
		}
		call(t, b, "p", "m", fail)
		wantState(t, b, "p", "m", StateOpen)
	})

	t.Run("half of the calls", func(t *testing.T) {
		b, log := newTestBreakers(s)
		// success, failure, success, failure...: the 10th call makes 5 of 10.
		for i := range s.MinRequests - 1 {
			var err error
			if i%2 == 1 {
				err = fail
			}
			call(t, b, "p", "m", err)
			wantState(t, b, "p", "m", StateClosed)
		}
		call(t, b, "p", "m", fail)
		wantState(t, b, "p", "m", StateOpen)
		ch := log.get()
		if len(ch) != 1 || ch[0].Requests != 10 || ch[0].Failures != 5 || ch[0].ConsecutiveFailures != 1 {
			t.Fatalf("changes = %+v, want one closed->open with 10 requests, 5 failures, 1 consecutive", ch)
		}
	})

	t.Run("under the ratio", func(t *testing.T) {
		b, _ := newTestBreakers(s)
		// 2 failures in every 5 calls, spread out (f s f s s), for 50 calls.
		for i := range 50 {
			var err error
			if i%5 == 0 || i%5 == 2 {
				err = fail
			}
			call(t, b, "p", "m", err)
		}
		wantState(t, b, "p", "m", StateClosed)
	})

	t.Run("excluded calls do not dilute the ratio", func(t *testing.T) {
		b, _ := newTestBreakers(s)
		for range 30 {
			call(t, b, "p", "m", kindErr(adapters.RateLimited))
		}
		for i := range s.MinRequests {
			var err error
			if i%2 == 1 {
				err = fail
			}
			call(t, b, "p", "m", err)
		}
		// 5 failures of 10 counted calls; the 30 rate limits are neither.
		wantState(t, b, "p", "m", StateOpen)
	})

	t.Run("calls in flight do not dilute the ratio", func(t *testing.T) {
		b, _ := newTestBreakers(s)
		var pending []func(error)
		for range 20 {
			done, err := b.Allow("p", "m")
			if err != nil {
				t.Fatal(err)
			}
			pending = append(pending, done)
		}
		for i := range s.MinRequests {
			var err error
			if i%2 == 1 {
				err = fail
			}
			call(t, b, "p", "m", err)
		}
		wantState(t, b, "p", "m", StateOpen)
		for _, done := range pending {
			done(context.Canceled) // an earlier generation: ignored
		}
		wantState(t, b, "p", "m", StateOpen)
	})
}

func TestBreakerExcludedNeverTrips(t *testing.T) {
	for _, err := range []error{
		kindErr(adapters.InvalidRequest), kindErr(adapters.ContextTooLong), kindErr(adapters.ContentFiltered),
		kindErr(adapters.Canceled), kindErr(adapters.RateLimited), kindErr(adapters.Auth),
		fmt.Errorf("hedge lost: %w", context.Canceled),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			b, _ := newTestBreakers(testBreaker)
			for range 200 {
				call(t, b, "p", "m", err)
			}
			wantState(t, b, "p", "m", StateClosed)
			// Nor do they break a run of failures: excluded calls are neither successes nor failures.
			call(t, b, "p", "m", kindErr(adapters.Unavailable))
			call(t, b, "p", "m", kindErr(adapters.Unavailable))
			call(t, b, "p", "m", err)
			call(t, b, "p", "m", kindErr(adapters.Unavailable))
			wantState(t, b, "p", "m", StateOpen)
		})
	}
}

func TestBreakerHalfOpen(t *testing.T) {
	t.Run("probes and close", func(t *testing.T) {
		b, _ := newTestBreakers(testBreaker)
		trip(t, b, "p", "m")
		wantRejection(t, b, "p", "m", ReasonBreakerOpen)
		waitHalfOpen(t, b, "p", "m")

		var probes []func(error)
		for range testBreaker.HalfOpenRequests {
			done, err := b.Allow("p", "m")
			if err != nil {
				t.Fatalf("probe refused: %v", err)
			}
			probes = append(probes, done)
		}
		wantRejection(t, b, "p", "m", ReasonHalfOpenFull)

		probes[0](nil)
		wantState(t, b, "p", "m", StateHalfOpen) // one success of two
		probes[1](nil)
		wantState(t, b, "p", "m", StateClosed)
		call(t, b, "p", "m", nil)
	})

	t.Run("excluded probe frees its slot", func(t *testing.T) {
		b, _ := newTestBreakers(testBreaker)
		trip(t, b, "p", "m")
		waitHalfOpen(t, b, "p", "m")
		p1, err1 := b.Allow("p", "m")
		p2, err2 := b.Allow("p", "m")
		if err1 != nil || err2 != nil {
			t.Fatalf("probes refused: %v, %v", err1, err2)
		}
		wantRejection(t, b, "p", "m", ReasonHalfOpenFull)

		p1(kindErr(adapters.Canceled)) // e.g. the hedge winner was the other provider
		wantState(t, b, "p", "m", StateHalfOpen)
		p3, err := b.Allow("p", "m")
		if err != nil {
			t.Fatalf("probe after an excluded probe refused: %v (the breaker is wedged)", err)
		}
		wantRejection(t, b, "p", "m", ReasonHalfOpenFull)

		p2(nil)
		p3(nil)
		wantState(t, b, "p", "m", StateClosed)
	})

	t.Run("failure reopens", func(t *testing.T) {
		b, _ := newTestBreakers(testBreaker)
		trip(t, b, "p", "m")
		waitHalfOpen(t, b, "p", "m")
		p1, _ := b.Allow("p", "m")
		p2, _ := b.Allow("p", "m")
		p1(nil)
		p2(kindErr(adapters.Timeout))
		wantState(t, b, "p", "m", StateOpen)
		wantRejection(t, b, "p", "m", ReasonBreakerOpen)
		// and it half-opens again after another OpenTimeout
		waitHalfOpen(t, b, "p", "m")
	})
}

func TestBreakerOnChange(t *testing.T) {
	b, log := newTestBreakers(testBreaker)
	start := time.Now()
	call(t, b, "p", "m", nil)
	trip(t, b, "p", "m")

	// No traffic: Snapshot alone moves the breaker to half-open once the timeout passed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		snap := b.Snapshot()
		if len(snap) != 1 {
			t.Fatalf("Snapshot = %+v, want one breaker", snap)
		}
		if snap[0].State == StateHalfOpen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Snapshot did not report half-open within 5s: %+v", snap)
		}
		time.Sleep(2 * time.Millisecond)
	}
	for range testBreaker.HalfOpenRequests {
		call(t, b, "p", "m", nil)
	}

	ch := log.get()
	want := []StateChange{
		{Provider: "p", Model: "m", From: StateClosed, To: StateOpen, Requests: 4, Failures: 3, ConsecutiveFailures: 3},
		{Provider: "p", Model: "m", From: StateOpen, To: StateHalfOpen},
		{Provider: "p", Model: "m", From: StateHalfOpen, To: StateClosed},
	}
	if len(ch) != len(want) {
		t.Fatalf("changes = %+v, want %+v", ch, want)
	}
	for i := range want {
		got := ch[i]
		if got.At.Before(start) || got.At.After(time.Now()) {
			t.Errorf("change %d At = %v, not within the test", i, got.At)
		}
		got.At = time.Time{}
		if got != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, got, want[i])
		}
	}
	if ch[1].At.Sub(ch[0].At) < testBreaker.OpenTimeout {
		t.Errorf("half-open %v after opening, before OpenTimeout %v", ch[1].At.Sub(ch[0].At), testBreaker.OpenTimeout)
	}
}

func TestBreakerPerModel(t *testing.T) {
	b, _ := newTestBreakers(testBreaker)
	wantState(t, b, "p", "a", StateClosed) // no breaker yet
	trip(t, b, "p", "a")
	wantRejection(t, b, "p", "a", ReasonBreakerOpen)
	wantState(t, b, "p", "b", StateClosed)
	call(t, b, "p", "b", nil)
	call(t, b, "q", "a", nil)
	wantState(t, b, "p", "b", StateClosed)
	wantState(t, b, "q", "a", StateClosed)

	snap := b.Snapshot()
	want := []BreakerStatus{{"p", "a", StateOpen}, {"p", "b", StateClosed}, {"q", "a", StateClosed}}
	if fmt.Sprint(snap) != fmt.Sprint(want) {
		t.Fatalf("Snapshot = %v, want %v", snap, want)
	}
}

func TestBreakerSettingsPerProvider(t *testing.T) {
	b := NewBreakers(func(provider string) BreakerSettings {
		s := testBreaker
		if provider == "strict" {
			s.ConsecutiveFailures = 1
		}
		return s
	}, nil)
	call(t, b, "strict", "m", kindErr(adapters.Unavailable))
	call(t, b, "lenient", "m", kindErr(adapters.Unavailable))
	wantState(t, b, "strict", "m", StateOpen)
	wantState(t, b, "lenient", "m", StateClosed)
}

func TestBreakerDoneTwice(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		b, _ := newTestBreakers(testBreaker)
		done, err := b.Allow("p", "m")
		if err != nil {
			t.Fatal(err)
		}
		for range testBreaker.ConsecutiveFailures + 2 {
			done(kindErr(adapters.Unavailable))
		}
		wantState(t, b, "p", "m", StateClosed) // one failure, not five
	})
	t.Run("half-open", func(t *testing.T) {
		b, _ := newTestBreakers(testBreaker)
		trip(t, b, "p", "m")
		waitHalfOpen(t, b, "p", "m")
		done, err := b.Allow("p", "m")
		if err != nil {
			t.Fatal(err)
		}
		done(nil)
		done(nil)
		wantState(t, b, "p", "m", StateHalfOpen) // one success of two, not two
	})
}

func TestBreakerConcurrent(t *testing.T) {
	b, _ := newTestBreakers(testBreaker)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			model := fmt.Sprintf("m%d", g%3)
			for i := range 500 {
				done, err := b.Allow("p", model)
				if err != nil {
					t.Errorf("Allow refused on a healthy breaker: %v", err)
					return
				}
				if i%7 == 0 {
					done(kindErr(adapters.RateLimited))
				} else {
					done(nil)
				}
				if i%50 == 0 {
					b.Snapshot()
				}
			}
		})
	}
	wg.Wait()
	for _, s := range b.Snapshot() {
		if s.State != StateClosed {
			t.Errorf("%s/%s is %s after only successes and exclusions", s.Provider, s.Model, s.State)
		}
	}
}
