package resilience

import (
	"errors"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
)

// Reasons a call is refused locally, before it reaches the provider (Rejection.Reason).
const (
	ReasonBreakerOpen     = "breaker_open"      // the breaker is open
	ReasonHalfOpenFull    = "breaker_half_open" // the breaker is half-open and its probes are out
	ReasonRetryAfter      = "retry_after"       // the provider asked us to wait (429 Retry-After)
	ReasonRateLimited     = "rate_limited"      // the provider said 429 without a wait: a short default cool-down
	ReasonAuth            = "auth"              // the provider refused our key: cool-down of the whole provider
	ReasonRPM             = "rpm_limit"         // our own requests-per-minute budget for the key
	ReasonTPM             = "tpm_limit"         // our own tokens-per-minute budget for the key
	ReasonConcurrency     = "concurrency_limit" // our own cap on calls in flight to the provider
	ReasonPartitionBudget = "partition_budget"  // reserved for the worker's per-partition cap
)

// Rejection is a call refused locally: nothing was sent to the provider. The worker records it
// as an attempt with outcome "rejected" and moves to the next provider of the chain; it never
// counts against the provider's breaker.
type Rejection struct {
	Provider, Model string
	Reason          string    // one of the Reason constants
	Until           time.Time // when the refusal lifts, zero if unknown
}

func (r *Rejection) Error() string {
	s := "resilience: call to " + r.Provider
	if r.Model != "" {
		s += " " + r.Model
	}
	s += " refused locally: " + r.Reason
	if !r.Until.IsZero() {
		s += " until " + r.Until.UTC().Format(time.RFC3339Nano)
	}
	return s
}

// RejectionOf returns the Rejection in err's chain, or nil.
func RejectionOf(err error) *Rejection {
	r, _ := errors.AsType[*Rejection](err)
	return r
}

// Excluded reports whether an outcome is left out of the breaker's counts: the provider is
// not at fault (client errors, cancellations) or the failure is handled by a cool-down (rate
// limits, a refused key). See the package documentation.
func Excluded(err error) bool {
	if err == nil {
		return false
	}
	switch adapters.KindOf(err) {
	case adapters.Canceled, adapters.InvalidRequest, adapters.ContextTooLong, adapters.ContentFiltered,
		adapters.RateLimited, adapters.Auth:
		return true
	}
	return false
}
