package resilience

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// State is a breaker's state: closed, half-open or open.
type State = gobreaker.State

// Breaker states.
const (
	StateClosed   = gobreaker.StateClosed
	StateHalfOpen = gobreaker.StateHalfOpen
	StateOpen     = gobreaker.StateOpen
)

// StateChange is one transition of one model's breaker.
type StateChange struct {
	Provider, Model string
	From, To        State
	At              time.Time
	// Counts are the breaker's counts when it changed (those that tripped it, on opening).
	Requests, Failures, ConsecutiveFailures uint32
}

// BreakerStatus is one breaker's state now, for views and metrics.
type BreakerStatus struct {
	Provider, Model string
	State           State
}

// Breakers holds a two-step gobreaker circuit breaker per provider and model, made on first
// use with the provider's settings. Two-step, because a streamed answer ends long after the
// call returned its first bytes: the caller reports the outcome when the stream ends.
type Breakers struct {
	settings func(provider string) BreakerSettings
	onChange func(StateChange)

	mu sync.RWMutex
	m  map[breakerKey]*gobreaker.TwoStepCircuitBreaker[struct{}]
}

type breakerKey struct{ provider, model string }

// NewBreakers returns an empty set. settings gives a provider's breaker settings (with
// defaults filled in); onChange, if not nil, is told of every transition. onChange runs
// while the breaker's lock is held: it must be quick and must not call back into Breakers.
func NewBreakers(settings func(provider string) BreakerSettings, onChange func(StateChange)) *Breakers {
	return &Breakers{settings: settings, onChange: onChange, m: map[breakerKey]*gobreaker.TwoStepCircuitBreaker[struct{}]{}}
}

// Allow asks whether a call to the provider's model may go out now. If so, done must be
// called exactly once with the call's outcome (nil for success); see Excluded for what counts.
// If not, err is a *Rejection (ReasonBreakerOpen or ReasonHalfOpenFull).
func (b *Breakers) Allow(provider, model string) (done func(error), err error) {
	cb := b.get(provider, model)
	d, err := cb.Allow()
	if err != nil {
		reason := ReasonBreakerOpen
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			reason = ReasonHalfOpenFull
		}
		return nil, &Rejection{Provider: provider, Model: model, Reason: reason}
	}
	var once sync.Once
	return func(err error) { once.Do(func() { d(err) }) }, nil
}

// State returns the state of the provider's model's breaker (closed if it has none yet). It
// also moves an open breaker whose timeout passed to half-open (gobreaker changes state
// lazily, when asked).
func (b *Breakers) State(provider, model string) State {
	b.mu.RLock()
	cb, ok := b.m[breakerKey{provider, model}]
	b.mu.RUnlock()
	if !ok {
		return StateClosed
	}
	return cb.State()
}

// Snapshot returns every breaker's state, sorted by provider and model. Like State, it moves
// open breakers whose timeout passed to half-open, so calling it on a ticker makes those
// transitions (and their onChange) happen on time even without traffic.
func (b *Breakers) Snapshot() []BreakerStatus {
	b.mu.RLock()
	out := make([]BreakerStatus, 0, len(b.m))
	cbs := make([]*gobreaker.TwoStepCircuitBreaker[struct{}], 0, len(b.m))
	for k, cb := range b.m {
		out = append(out, BreakerStatus{Provider: k.provider, Model: k.model})
		cbs = append(cbs, cb)
	}
	b.mu.RUnlock()
	for i, cb := range cbs {
		out[i].State = cb.State()
	}
	slices.SortFunc(out, func(x, y BreakerStatus) int {
		if c := strings.Compare(x.Provider, y.Provider); c != 0 {
			return c
		}
		return strings.Compare(x.Model, y.Model)
	})
	return out
}

func (b *Breakers) get(provider, model string) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	k := breakerKey{provider, model}
	b.mu.RLock()
	cb, ok := b.m[k]
	b.mu.RUnlock()
	if ok {
		return cb
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if cb, ok := b.m[k]; ok {
		return cb
	}
	cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](b.gobreakerSettings(provider, model))
	b.m[k] = cb
	return cb
}

func (b *Breakers) gobreakerSettings(provider, model string) gobreaker.Settings {
	s := b.settings(provider)
	// trip holds the counts that made ReadyToTrip say yes, for the state change that follows
	// at once (gobreaker clears its counts before calling OnStateChange). Both run under the
	// breaker's lock.
	var trip gobreaker.Counts
	st := gobreaker.Settings{
		Name:         provider + "/" + model,
		MaxRequests:  s.HalfOpenRequests,
		Interval:     s.Window,
		BucketPeriod: s.Window / 10,
		Timeout:      s.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			// The ratio is over the calls that ended as a success or a failure: c.Requests also
			// holds the excluded calls and those still in flight, which would dilute it (a
			// burst of 429s would keep an outage from tripping on the ratio).
			counted := c.TotalSuccesses + c.TotalFailures
			if (s.ConsecutiveFailures > 0 && c.ConsecutiveFailures >= s.ConsecutiveFailures) ||
				(counted >= s.MinRequests && float64(c.TotalFailures) >= s.FailureRatio*float64(counted)) {
				trip = c
				return true
			}
			return false
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   Excluded,
	}
	if b.onChange != nil {
		st.OnStateChange = func(_ string, from, to gobreaker.State) {
			ch := StateChange{Provider: provider, Model: model, From: from, To: to, At: time.Now()}
			if to == StateOpen && from == StateClosed {
				ch.Requests, ch.Failures, ch.ConsecutiveFailures = trip.Requests, trip.TotalFailures, trip.ConsecutiveFailures
			}
			b.onChange(ch)
		}
	}
	return st
}
