package resilience

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func wantLimitRejection(t *testing.T, err error, reason string) *Rejection {
	t.Helper()
	r := RejectionOf(err)
	if r == nil {
		t.Fatalf("error = %v, want a *Rejection %s", err, reason)
	}
	if r.Reason != reason || r.Provider != "p" {
		t.Fatalf("Rejection = %+v, want provider p reason %s", r, reason)
	}
	return r
}

func acquire(t *testing.T, l *Limiter, tokens int) func() {
	t.Helper()
	release, err := l.Acquire(context.Background(), tokens)
	if err != nil {
		t.Fatalf("Acquire(%d): %v", tokens, err)
	}
	return release
}

func TestLimiterNoLimits(t *testing.T) {
	l := NewLimiter("p", LimitSettings{MaxWait: time.Second})
	for range 1000 {
		acquire(t, l, 1_000_000)()
	}
	if n := l.InFlight(); n != 0 {
		t.Fatalf("InFlight = %d, want 0", n)
	}
}

func TestLimiterRPM(t *testing.T) {
	t.Run("refuses beyond MaxWait", func(t *testing.T) {
		// 60 a minute: 1/s, burst 6.
		l := NewLimiter("p", LimitSettings{RPM: 60, MaxWait: 50 * time.Millisecond})
		for range 6 {
			acquire(t, l, 0)
		}
		before := time.Now()
		_, err := l.Acquire(context.Background(), 0)
		r := wantLimitRejection(t, err, ReasonRPM)
		if wait := r.Until.Sub(before); wait < 800*time.Millisecond || wait > 1100*time.Millisecond {
			t.Errorf("Until is %v after the call, want about 1s (the next request's turn)", wait)
		}
	})
	t.Run("waits under MaxWait", func(t *testing.T) {
		// 600 a minute: 10/s (100ms each), burst 60.
		l := NewLimiter("p", LimitSettings{RPM: 600, MaxWait: time.Second})
		for range 60 {
			acquire(t, l, 0)
		}
		start := time.Now()
		acquire(t, l, 0)
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("the 61st call went out after %v, want a wait of about 100ms", d)
		}
	})
}

func TestLimiterTPM(t *testing.T) {
	t.Run("refuses beyond MaxWait", func(t *testing.T) {
		// 600 tokens a minute: 10/s, burst 60.
		l := NewLimiter("p", LimitSettings{TPM: 600, MaxWait: 50 * time.Millisecond})
		acquire(t, l, 50)
		acquire(t, l, 10)
		_, err := l.Acquire(context.Background(), 5)
		wantLimitRejection(t, err, ReasonTPM)
	})
	t.Run("more than the burst", func(t *testing.T) {
		l := NewLimiter("p", LimitSettings{TPM: 600, MaxWait: 50 * time.Millisecond})
		// A call larger than the whole burst is let through once the bucket is full, not refused forever...
		acquire(t, l, 10_000)
		// ...and it empties the bucket.
		_, err := l.Acquire(context.Background(), 5)
		wantLimitRejection(t, err, ReasonTPM)
	})
	t.Run("waits under MaxWait", func(t *testing.T) {
		// 6000 a minute: 100/s, burst 600.
		l := NewLimiter("p", LimitSettings{TPM: 6000, MaxWait: time.Second})
		acquire(t, l, 600)
		start := time.Now()
		acquire(t, l, 10) // 100ms of budget
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("went out after %v, want a wait of about 100ms", d)
		}
	})
	t.Run("one MaxWait for both budgets", func(t *testing.T) {
		// RPM 300: 5/s, burst 30; TPM 600: 10/s, burst 60. Once both are spent, the next
		// request's turn is 200ms away and 4 tokens 400ms: the call would wait 400ms in all,
		// over the 300ms MaxWait, though each wait alone is under it once the other is over.
		l := NewLimiter("p", LimitSettings{RPM: 300, TPM: 600, MaxWait: 300 * time.Millisecond})
		acquire(t, l, 60)
		for range 29 {
			acquire(t, l, 0)
		}
		_, err := l.Acquire(context.Background(), 4)
		r := wantLimitRejection(t, err, ReasonTPM)
		if wait := time.Until(r.Until); wait < 250*time.Millisecond {
			t.Errorf("Until is %v away, want about 400ms (the later of the two budgets)", wait)
		}
	})
	t.Run("refusal gives the RPM budget back", func(t *testing.T) {
		// RPM burst 6, TPM burst 60.
		l := NewLimiter("p", LimitSettings{RPM: 60, TPM: 600, MaxWait: 50 * time.Millisecond})
		acquire(t, l, 60)
		for range 20 {
			_, err := l.Acquire(context.Background(), 30)
			wantLimitRejection(t, err, ReasonTPM)
		}
		// The 20 refusals took no requests: 5 of the burst of 6 are left.
		for range 5 {
			acquire(t, l, 0)
		}
		_, err := l.Acquire(context.Background(), 0)
		wantLimitRejection(t, err, ReasonRPM)
	})
}

func TestLimiterConcurrency(t *testing.T) {
	t.Run("refuses after MaxWait", func(t *testing.T) {
		l := NewLimiter("p", LimitSettings{Concurrency: 2, MaxWait: 30 * time.Millisecond})
		r1 := acquire(t, l, 0)
		r2 := acquire(t, l, 0)
		if n := l.InFlight(); n != 2 {
			t.Fatalf("InFlight = %d, want 2", n)
		}
		start := time.Now()
		_, err := l.Acquire(context.Background(), 0)
		wantLimitRejection(t, err, ReasonConcurrency)
		if d := time.Since(start); d < 25*time.Millisecond {
			t.Errorf("refused after %v, before MaxWait", d)
		}
		r1()
		r3 := acquire(t, l, 0)
		r2()
		r3()
		if n := l.InFlight(); n != 0 {
			t.Fatalf("InFlight = %d after every release, want 0", n)
		}
	})
	t.Run("admits once released", func(t *testing.T) {
		l := NewLimiter("p", LimitSettings{Concurrency: 1, MaxWait: 5 * time.Second})
		r1 := acquire(t, l, 0)
		var wg sync.WaitGroup
		wg.Go(func() {
			time.Sleep(20 * time.Millisecond)
			r1()
		})
		start := time.Now()
		r2 := acquire(t, l, 0)
		if d := time.Since(start); d < 15*time.Millisecond {
			t.Errorf("admitted after %v, before the slot was released", d)
		}
		wg.Wait()
		if n := l.InFlight(); n != 1 {
			t.Fatalf("InFlight = %d, want 1", n)
		}
		r2()
	})
	t.Run("rate refusal gives the slot back", func(t *testing.T) {
		l := NewLimiter("p", LimitSettings{Concurrency: 1, RPM: 60, MaxWait: 20 * time.Millisecond})
		for range 6 {
			acquire(t, l, 0)()
		}
		_, err := l.Acquire(context.Background(), 0)
		wantLimitRejection(t, err, ReasonRPM)
		if n := l.InFlight(); n != 0 {
			t.Fatalf("InFlight = %d after a refusal, want 0", n)
		}
	})
	t.Run("one MaxWait for slot and rates", func(t *testing.T) {
		// The slot comes after 300ms of a 900ms MaxWait; the next request's turn is about
		// 700ms later still (RPM 60, burst spent), past the 600ms left.
		l := NewLimiter("p", LimitSettings{Concurrency: 1, RPM: 60, MaxWait: 900 * time.Millisecond})
		for range 5 {
			acquire(t, l, 0)()
		}
		r1 := acquire(t, l, 0)
		var wg sync.WaitGroup
		wg.Go(func() {
			time.Sleep(300 * time.Millisecond)
			r1()
		})
		_, err := l.Acquire(context.Background(), 0)
		wantLimitRejection(t, err, ReasonRPM)
		wg.Wait()
		if n := l.InFlight(); n != 0 {
			t.Fatalf("InFlight = %d, want 0", n)
		}
	})
}

func TestLimiterContext(t *testing.T) {
	t.Run("waiting for a slot", func(t *testing.T) {
		l := NewLimiter("p", LimitSettings{Concurrency: 1, MaxWait: 10 * time.Second})
		release := acquire(t, l, 0)
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := l.Acquire(ctx, 0)
		if !errors.Is(err, context.DeadlineExceeded) || RejectionOf(err) != nil {
			t.Fatalf("error = %v, want ctx's context.DeadlineExceeded", err)
		}
	})
	t.Run("waiting for the rate", func(t *testing.T) {
		l := NewLimiter("p", LimitSettings{Concurrency: 4, RPM: 60, MaxWait: 10 * time.Second})
		for range 6 {
			acquire(t, l, 0)()
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := l.Acquire(ctx, 0)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		if n := l.InFlight(); n != 0 {
			t.Fatalf("InFlight = %d after a cancelled wait, want 0", n)
		}
	})
}

// fakeClock is a settable clock for Cooldowns.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestCooldowns(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := NewCooldowns(clock.now)
	t0 := clock.now()

	if r := c.Check("p"); r != nil {
		t.Fatalf("Check on a fresh set = %v, want nil", r)
	}
	if u, reason := c.Until("p"); !u.IsZero() || reason != "" {
		t.Fatalf("Until on a fresh set = %v %q", u, reason)
	}

	c.Set("p", t0.Add(2*time.Second), ReasonRetryAfter)
	r := c.Check("p")
	if r == nil || r.Provider != "p" || r.Model != "" || r.Reason != ReasonRetryAfter || !r.Until.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("Check = %+v, want retry_after until t0+2s", r)
	}
	if c.Check("q") != nil {
		t.Fatal("a cool-down of p holds back q")
	}

	// Shorter: ignored, reason kept.
	c.Set("p", t0.Add(time.Second), ReasonRateLimited)
	if u, reason := c.Until("p"); !u.Equal(t0.Add(2*time.Second)) || reason != ReasonRetryAfter {
		t.Fatalf("after a shorter Set: Until = %v %q, want t0+2s retry_after", u, reason)
	}
	// Longer: extends, with its reason.
	c.Set("p", t0.Add(time.Minute), ReasonAuth)
	if u, reason := c.Until("p"); !u.Equal(t0.Add(time.Minute)) || reason != ReasonAuth {
		t.Fatalf("after a longer Set: Until = %v %q, want t0+1m auth", u, reason)
	}

	clock.add(time.Minute - time.Nanosecond)
	if r := c.Check("p"); r == nil || r.Reason != ReasonAuth {
		t.Fatalf("a nanosecond before the end: Check = %v, want auth", r)
	}
	clock.add(time.Nanosecond)
	if r := c.Check("p"); r != nil {
		t.Fatalf("at the end: Check = %v, want nil", r)
	}
	if u, reason := c.Until("p"); !u.IsZero() || reason != "" {
		t.Fatalf("at the end: Until = %v %q, want zero", u, reason)
	}

	// After expiry a new, later cool-down applies.
	c.Set("p", clock.now().Add(time.Second), ReasonRateLimited)
	if r := c.Check("p"); r == nil || r.Reason != ReasonRateLimited {
		t.Fatalf("new cool-down: Check = %v, want rate_limited", r)
	}
}

func TestCooldownsDefaultClock(t *testing.T) {
	c := NewCooldowns(nil)
	c.Set("p", time.Now().Add(time.Hour), ReasonAuth)
	if r := c.Check("p"); r == nil || r.Reason != ReasonAuth {
		t.Fatalf("Check = %v, want auth", r)
	}
	c.Set("q", time.Now().Add(-time.Second), ReasonRateLimited)
	if r := c.Check("q"); r != nil {
		t.Fatalf("a cool-down in the past: Check = %v, want nil", r)
	}
}

func TestBackoff(t *testing.T) {
	const base, maxWait = 100 * time.Millisecond, time.Second
	for _, tc := range []struct {
		n    int
		want time.Duration // the bound d; the wait is within [d/2, d]
	}{
		{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond}, {5, time.Second}, {6, time.Second}, {1000, time.Second},
	} {
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for range 500 {
			d := Backoff(tc.n, base, maxWait)
			if d < tc.want/2 || d > tc.want {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", tc.n, d, tc.want/2, tc.want)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Jitter: 500 draws spread over most of the range.
		if hi-lo < tc.want/4 {
			t.Errorf("Backoff(%d): 500 draws within [%v, %v], want jitter over [%v, %v]", tc.n, lo, hi, tc.want/2, tc.want)
		}
	}
	for _, n := range []int{0, -1} {
		if d := Backoff(n, base, maxWait); d != 0 {
			t.Errorf("Backoff(%d) = %v, want 0", n, d)
		}
	}
	if d := Backoff(1, 0, maxWait); d != 0 {
		t.Errorf("Backoff with base 0 = %v, want 0", d)
	}
	if d := Backoff(1, 5*time.Second, maxWait); d < maxWait/2 || d > maxWait {
		t.Errorf("Backoff with base over max = %v, want within [%v, %v]", d, maxWait/2, maxWait)
	}
}
