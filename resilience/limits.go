package resilience

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// Limiter applies one provider key's own limits: requests per minute, tokens per minute and
// calls in flight. A call waits for them at most MaxWait; one that would wait longer is
// refused locally (a Rejection) so that its request moves down the chain instead of queueing
// behind a limit.
type Limiter struct {
	provider string
	rpm, tpm *rate.Limiter
	slots    chan struct{}
	maxWait  time.Duration
}

// NewLimiter returns the limiter of one provider from its (defaulted) settings.
func NewLimiter(provider string, s LimitSettings) *Limiter {
	l := &Limiter{provider: provider, maxWait: s.MaxWait}
	if s.RPM > 0 {
		// A minute's budget spent evenly, with a burst of a tenth of it (at least 1).
		l.rpm = rate.NewLimiter(rate.Limit(float64(s.RPM)/60), max(1, s.RPM/10))
	}
	if s.TPM > 0 {
		l.tpm = rate.NewLimiter(rate.Limit(float64(s.TPM)/60), max(1, s.TPM/10))
	}
	if s.Concurrency > 0 {
		l.slots = make(chan struct{}, s.Concurrency)
	}
	return l
}

// Acquire waits for a slot and for the rate budgets of one call of about tokens tokens, all
// within MaxWait of the call. On success release must be called when the call ends. A
// refusal is a *Rejection; ctx's end is ctx's error. A refused call keeps nothing: its slot
// and its share of the rate budgets are given back.
//
// The slot is taken first, so that a refusal by the rate budgets can give it back; a call
// therefore holds its slot while it waits (at most MaxWait) for the budgets.
func (l *Limiter) Acquire(ctx context.Context, tokens int) (release func(), err error) {
	deadline := time.Now().Add(l.maxWait)
	release = func() {}
	if l.slots != nil {
		if err := l.slot(ctx, deadline); err != nil {
			return nil, err
		}
		release = l.release
	}
	if err := l.rates(ctx, tokens, deadline); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

func (l *Limiter) release() { <-l.slots }

// slot takes a concurrency slot, waiting until deadline at most.
func (l *Limiter) slot(ctx context.Context, deadline time.Time) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-t.C:
		return &Rejection{Provider: l.provider, Reason: ReasonConcurrency}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rates reserves one request and tokens tokens at the same instant and waits for both, until
// deadline at most. A call that would wait longer gives both reservations back: cancelling at
// the instant they were made restores them even when one was free (a later cancel would not).
func (l *Limiter) rates(ctx context.Context, tokens int, deadline time.Time) error {
	if l.rpm == nil && l.tpm == nil {
		return nil
	}
	now := time.Now()
	rr, rd := reserve(l.rpm, now, 1)
	tr, td := reserve(l.tpm, now, tokens)
	d, reason := rd, ReasonRPM
	if td > d {
		d, reason = td, ReasonTPM
	}
	if d > deadline.Sub(now) {
		cancelAt(rr, now)
		cancelAt(tr, now)
		return &Rejection{Provider: l.provider, Reason: reason, Until: now.Add(d)}
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		now := time.Now()
		cancelAt(rr, now)
		cancelAt(tr, now)
		return ctx.Err()
	}
}

// reserve takes n (at most the burst) from lim at now and returns the reservation and its
// delay; nil and 0 when there is nothing to take.
func reserve(lim *rate.Limiter, now time.Time, n int) (*rate.Reservation, time.Duration) {
	if lim == nil || n <= 0 {
		return nil, 0
	}
	n = min(n, lim.Burst())
	r := lim.ReserveN(now, n)
	if !r.OK() {
		return nil, rate.InfDuration
	}
	return r, r.DelayFrom(now)
}

func cancelAt(r *rate.Reservation, t time.Time) {
	if r != nil {
		r.CancelAt(t)
	}
}

// InFlight is the number of calls holding a slot now.
func (l *Limiter) InFlight() int { return len(l.slots) }
