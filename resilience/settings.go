package resilience

import (
	"fmt"
	"slices"
	"time"
)

// Settings are one provider's resilience settings (providers[].resilience in the config file).
// Zero values mean the documented defaults; WithDefaults fills them in.
type Settings struct {
	Breaker     BreakerSettings     `yaml:"breaker"`
	Retry       RetrySettings       `yaml:"retry"`
	Limits      LimitSettings       `yaml:"limits"`
	Timeouts    Timeouts            `yaml:"timeouts"`
	Hedge       HedgeSettings       `yaml:"hedge"`
	HealthCheck HealthCheckSettings `yaml:"health_check"`
	// Models override timeouts and hedging for single pinned models of the provider (a
	// reasoning model's first token comes later than a small model's). Default none.
	Models map[string]ModelSettings `yaml:"models"`
}

// ModelSettings override a provider's settings for one model; zero fields inherit.
type ModelSettings struct {
	Timeouts Timeouts      `yaml:"timeouts"`
	Hedge    HedgeSettings `yaml:"hedge"`
}

// BreakerSettings configure the circuit breaker of each of the provider's models.
type BreakerSettings struct {
	// FailureRatio trips the breaker when at least MinRequests calls were counted in the
	// rolling Window and this share of them failed. Default 0.5.
	FailureRatio float64 `yaml:"failure_ratio"`
	// MinRequests is the least number of counted calls in the Window before FailureRatio
	// applies. Default 10.
	MinRequests uint32 `yaml:"min_requests"`
	// ConsecutiveFailures trips the breaker on this many failures in a row, whatever the
	// ratio (a hard outage trips it in one burst). Default 5.
	ConsecutiveFailures uint32 `yaml:"consecutive_failures"`
	// Window is the rolling window of the counts (ten buckets). Default 30s.
	Window time.Duration `yaml:"window"`
	// OpenTimeout is how long an open breaker refuses calls before it lets probes through
	// (half-open). Default 15s.
	OpenTimeout time.Duration `yaml:"open_timeout"`
	// HalfOpenRequests is the number of probe calls let through while half-open; that many
	// successes close the breaker, one failure opens it again. Default 3.
	HalfOpenRequests uint32 `yaml:"half_open_requests"`
}

// RetrySettings configure retries of one provider within one hop of the chain.
type RetrySettings struct {
	// MaxAttempts is the number of calls to this provider per hop, the first included; only
	// retryable failures (unavailable, timeout, internal, malformed, rate_limited) are retried.
	// Default 2.
	MaxAttempts int `yaml:"max_attempts"`
	// BackoffBase is the first retry's wait bound; the n-th waits a random time in
	// [d/2, d] with d = min(BackoffBase·2^(n-1), BackoffMax). Default 100ms.
	BackoffBase time.Duration `yaml:"backoff_base"`
	// BackoffMax caps the wait. Default 2s.
	BackoffMax time.Duration `yaml:"backoff_max"`
	// MaxRetryAfter is the longest Retry-After the worker waits out in line for a retry on
	// the same provider; a longer one sends the request down the chain instead. Either way no
	// call goes to the provider before the time it named. Default 2s.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// RateLimitCooldown is how long the provider gets no calls after a 429 that named no
	// wait. Default 1s.
	RateLimitCooldown time.Duration `yaml:"rate_limit_cooldown"`
	// AuthCooldown is how long the provider gets no calls after it refused the key (401,
	// 403): no retry storm against a revoked key; an operator must look. Default 60s.
	AuthCooldown time.Duration `yaml:"auth_cooldown"`
}

// LimitSettings are our own limits for the provider's key, shared by all its models in this
// process (with several worker processes, divide the provider's quota among them).
type LimitSettings struct {
	// RPM caps requests per minute; 0 means none. Default 0.
	RPM int `yaml:"rpm"`
	// TPM caps tokens per minute by the router's input estimate plus max_tokens; 0 means none.
	// Default 0.
	TPM int `yaml:"tpm"`
	// Concurrency caps calls in flight to the provider; replaces providers[].max_concurrency
	// when set. Default: max_concurrency (256).
	Concurrency int `yaml:"concurrency"`
	// MaxWait is the longest a call waits for the limits before it is refused locally and the
	// request moves down the chain. Default 1s.
	MaxWait time.Duration `yaml:"max_wait"`
	// PartitionInFlight caps the records of one work-topic partition in flight at once;
	// replaces worker.concurrency for this provider when set. Default worker.concurrency.
	PartitionInFlight int `yaml:"partition_in_flight"`
}

// HedgeSettings configure hedged calls: when no first token has come within the hedge delay,
// the worker sends the same request to the next provider of the chain; the first to answer
// wins and the other is cancelled.
type HedgeSettings struct {
	// Enabled turns hedging on. Default true.
	Enabled *bool `yaml:"enabled"`
	// Delay is a fixed hedge delay; 0 derives it from the observed time to first token.
	// Default 0.
	Delay time.Duration `yaml:"delay"`
	// Quantile of the observed time to first token used as the delay. Default 0.95.
	Quantile float64 `yaml:"quantile"`
	// MinSamples is the number of observed first tokens before a derived delay is trusted;
	// until then MaxDelay applies. Default 20.
	MinSamples int `yaml:"min_samples"`
	// MinDelay and MaxDelay clamp the derived delay. Defaults 100ms and 10s.
	MinDelay time.Duration `yaml:"min_delay"`
	MaxDelay time.Duration `yaml:"max_delay"`
	// MaxRate caps hedges as a share of the provider's calls (the extra spend). Default 0.05.
	MaxRate float64 `yaml:"max_rate"`
	// Priorities are the request priorities that may be hedged. Default [interactive].
	Priorities []string `yaml:"priorities"`
}

// On reports whether hedging is enabled.
func (h HedgeSettings) On() bool { return h.Enabled == nil || *h.Enabled }

// HealthCheckSettings configure the probe loop that takes a provider out of the pool before
// user requests fail. Probes cost a few tokens each; the loop runs only when Model is set.
type HealthCheckSettings struct {
	// Model is the pinned model probed (a cheap one). Default "" (no probes).
	Model string `yaml:"model"`
	// Interval between probes. Default 10s.
	Interval time.Duration `yaml:"interval"`
	// Timeout of one probe. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// Window is the number of recent probes judged. Default 5.
	Window int `yaml:"window"`
	// MaxErrorRate marks the provider unhealthy when more than this share of the window
	// failed. Default 0.5.
	MaxErrorRate float64 `yaml:"max_error_rate"`
	// MaxLatency marks it unhealthy when the window's median probe latency is above it; 0
	// means latency is not judged. Default 0.
	MaxLatency time.Duration `yaml:"max_latency"`
}

// Defaults of the settings.
var (
	DefaultBreaker = BreakerSettings{FailureRatio: 0.5, MinRequests: 10, ConsecutiveFailures: 5,
		Window: 30 * time.Second, OpenTimeout: 15 * time.Second, HalfOpenRequests: 3}
	DefaultRetry = RetrySettings{MaxAttempts: 2, BackoffBase: 100 * time.Millisecond, BackoffMax: 2 * time.Second,
		MaxRetryAfter: 2 * time.Second, RateLimitCooldown: time.Second, AuthCooldown: time.Minute}
	DefaultHedge = HedgeSettings{Quantile: 0.95, MinSamples: 20, MinDelay: 100 * time.Millisecond,
		MaxDelay: 10 * time.Second, MaxRate: 0.05, Priorities: []string{"interactive"}}
	DefaultHealthCheck = HealthCheckSettings{Interval: 10 * time.Second, Timeout: 5 * time.Second, Window: 5, MaxErrorRate: 0.5}
)

// WithDefaults returns s with every zero field set to its default. total is the provider's
// whole-call timeout (providers[].timeout), used when Timeouts.Total is zero; concurrency is
// its max_concurrency, used when Limits.Concurrency is zero.
func (s Settings) WithDefaults(total time.Duration, concurrency int) Settings {
	b := &s.Breaker
	def(&b.FailureRatio, DefaultBreaker.FailureRatio)
	def(&b.MinRequests, DefaultBreaker.MinRequests)
	def(&b.ConsecutiveFailures, DefaultBreaker.ConsecutiveFailures)
	def(&b.Window, DefaultBreaker.Window)
	def(&b.OpenTimeout, DefaultBreaker.OpenTimeout)
	def(&b.HalfOpenRequests, DefaultBreaker.HalfOpenRequests)
	r := &s.Retry
	def(&r.MaxAttempts, DefaultRetry.MaxAttempts)
	def(&r.BackoffBase, DefaultRetry.BackoffBase)
	def(&r.BackoffMax, DefaultRetry.BackoffMax)
	def(&r.MaxRetryAfter, DefaultRetry.MaxRetryAfter)
	def(&r.RateLimitCooldown, DefaultRetry.RateLimitCooldown)
	def(&r.AuthCooldown, DefaultRetry.AuthCooldown)
	def(&s.Limits.Concurrency, concurrency)
	def(&s.Limits.MaxWait, time.Second)
	def(&s.Timeouts.Total, total)
	s.Hedge = s.Hedge.withDefaults(DefaultHedge)
	h := &s.HealthCheck
	def(&h.Interval, DefaultHealthCheck.Interval)
	def(&h.Timeout, DefaultHealthCheck.Timeout)
	def(&h.Window, DefaultHealthCheck.Window)
	def(&h.MaxErrorRate, DefaultHealthCheck.MaxErrorRate)
	if len(s.Models) > 0 {
		models := make(map[string]ModelSettings, len(s.Models))
		for name, m := range s.Models {
			m.Timeouts = m.Timeouts.Merge(s.Timeouts)
			m.Hedge = m.Hedge.withDefaults(s.Hedge)
			models[name] = m
		}
		s.Models = models
	}
	return s
}

// withDefaults fills h's zero fields from base.
func (h HedgeSettings) withDefaults(base HedgeSettings) HedgeSettings {
	if h.Enabled == nil {
		h.Enabled = base.Enabled
	}
	def(&h.Delay, base.Delay)
	def(&h.Quantile, base.Quantile)
	def(&h.MinSamples, base.MinSamples)
	def(&h.MinDelay, base.MinDelay)
	def(&h.MaxDelay, base.MaxDelay)
	def(&h.MaxRate, base.MaxRate)
	if len(h.Priorities) == 0 {
		h.Priorities = base.Priorities
	}
	return h
}

// ForModel returns the timeouts and hedge settings that apply to one model.
func (s *Settings) ForModel(model string) (Timeouts, HedgeSettings) {
	if m, ok := s.Models[model]; ok {
		return m.Timeouts, m.Hedge
	}
	return s.Timeouts, s.Hedge
}

// Validate lists every problem of settings that WithDefaults filled in, each prefixed with
// field (e.g. "providers[0].resilience").
func (s Settings) Validate(field string) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s", field, fmt.Sprintf(format, args...)))
	}
	b := s.Breaker
	if b.FailureRatio <= 0 || b.FailureRatio > 1 {
		add("breaker.failure_ratio: %g is not within (0, 1]", b.FailureRatio)
	}
	if b.Window < 100*time.Millisecond {
		add("breaker.window: %s is under 100ms", b.Window)
	}
	if b.OpenTimeout < 10*time.Millisecond {
		add("breaker.open_timeout: %s is under 10ms", b.OpenTimeout)
	}
	r := s.Retry
	if r.MaxAttempts < 1 || r.MaxAttempts > 10 {
		add("retry.max_attempts: %d is not within 1..10", r.MaxAttempts)
	}
	if r.BackoffMax < r.BackoffBase {
		add("retry.backoff_max: %s is below retry.backoff_base %s", r.BackoffMax, r.BackoffBase)
	}
	for name, d := range map[string]time.Duration{"retry.backoff_base": r.BackoffBase, "retry.max_retry_after": r.MaxRetryAfter,
		"retry.rate_limit_cooldown": r.RateLimitCooldown, "retry.auth_cooldown": r.AuthCooldown, "limits.max_wait": s.Limits.MaxWait} {
		if d < 0 {
			add("%s: must not be negative", name)
		}
	}
	l := s.Limits
	if l.RPM < 0 || l.TPM < 0 || l.Concurrency < 1 || l.PartitionInFlight < 0 {
		add("limits: rpm, tpm and partition_in_flight must not be negative, concurrency must be >= 1")
	}
	errs = append(errs, s.Timeouts.Validate(field+".timeouts")...)
	errs = append(errs, s.Hedge.validate(field+".hedge")...)
	hc := s.HealthCheck
	if hc.Interval < 10*time.Millisecond || hc.Timeout <= 0 || hc.Window < 1 || hc.MaxErrorRate < 0 || hc.MaxErrorRate > 1 || hc.MaxLatency < 0 {
		add("health_check: interval must be >= 10ms, timeout > 0, window >= 1, max_error_rate within [0, 1], max_latency >= 0")
	}
	for name, m := range s.Models {
		errs = append(errs, m.Timeouts.Validate(fmt.Sprintf("%s.models[%q].timeouts", field, name))...)
		errs = append(errs, m.Hedge.validate(fmt.Sprintf("%s.models[%q].hedge", field, name))...)
	}
	return errs
}

var priorities = []string{"interactive", "batch", "background"}

func (h HedgeSettings) validate(field string) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s", field, fmt.Sprintf(format, args...)))
	}
	if h.Quantile <= 0 || h.Quantile >= 1 {
		add("quantile: %g is not within (0, 1)", h.Quantile)
	}
	if h.Delay < 0 || h.MinDelay < 0 || h.MaxDelay < h.MinDelay {
		add("delay, min_delay, max_delay: must not be negative, and max_delay >= min_delay")
	}
	if h.MaxRate < 0 || h.MaxRate > 1 {
		add("max_rate: %g is not within [0, 1]", h.MaxRate)
	}
	if h.MinSamples < 1 {
		add("min_samples: must be >= 1")
	}
	for _, p := range h.Priorities {
		if !slices.Contains(priorities, p) {
			add("priorities: %q is not one of interactive, batch, background", p)
		}
	}
	return errs
}

// def sets *p to v when *p is its zero value.
func def[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
