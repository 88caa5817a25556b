package resilience

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
)

// zeroByDefault are the fields whose documented default is their zero value.
var zeroByDefault = []string{
	"Limits.RPM", "Limits.TPM", "Limits.PartitionInFlight", // none; worker.concurrency (applied by the worker)
	"Timeouts.Connect", "Timeouts.FirstByte", "Timeouts.FirstToken", "Timeouts.Stall", // no bound
	"Hedge.Enabled", // nil means on
	"Hedge.Delay",   // derived
	"HealthCheck.Model", "HealthCheck.MaxLatency",
	"Models",
}

// zeroFields lists the zero fields of v (a struct), by dotted path.
func zeroFields(v reflect.Value, prefix string) []string {
	var out []string
	for i := range v.NumField() {
		f, name := v.Field(i), prefix+v.Type().Field(i).Name
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeFor[time.Time]() {
			out = append(out, zeroFields(f, name+".")...)
			continue
		}
		if f.IsZero() || (f.Kind() == reflect.Slice && f.Len() == 0) {
			out = append(out, name)
		}
	}
	return out
}

func TestWithDefaultsFillsEveryField(t *testing.T) {
	s := Settings{}.WithDefaults(30*time.Second, 64)
	for _, name := range zeroFields(reflect.ValueOf(s), "") {
		if !slices.Contains(zeroByDefault, name) {
			t.Errorf("WithDefaults left %s zero", name)
		}
	}
	if s.Breaker != DefaultBreaker || s.Retry != DefaultRetry || s.HealthCheck != DefaultHealthCheck {
		t.Errorf("defaults: breaker %+v retry %+v health check %+v", s.Breaker, s.Retry, s.HealthCheck)
	}
	if !reflect.DeepEqual(s.Hedge, DefaultHedge) || !s.Hedge.On() {
		t.Errorf("hedge = %+v, want %+v (on)", s.Hedge, DefaultHedge)
	}
	if s.Limits != (LimitSettings{Concurrency: 64, MaxWait: time.Second}) {
		t.Errorf("limits = %+v, want concurrency 64 (max_concurrency), max wait 1s", s.Limits)
	}
	if s.Timeouts != (Timeouts{Total: 30 * time.Second}) {
		t.Errorf("timeouts = %+v, want total 30s (the provider's timeout) and no other bound", s.Timeouts)
	}
}

func TestWithDefaultsKeepsSetFields(t *testing.T) {
	in := Settings{
		Breaker:  BreakerSettings{FailureRatio: 0.25, OpenTimeout: time.Second},
		Retry:    RetrySettings{MaxAttempts: 4},
		Limits:   LimitSettings{RPM: 100, Concurrency: 8, MaxWait: 50 * time.Millisecond},
		Timeouts: Timeouts{Total: time.Minute, Stall: 5 * time.Second},
		Hedge:    HedgeSettings{Quantile: 0.9, Priorities: []string{"batch"}},
	}
	s := in.WithDefaults(30*time.Second, 64)
	if s.Breaker.FailureRatio != 0.25 || s.Breaker.OpenTimeout != time.Second || s.Breaker.MinRequests != DefaultBreaker.MinRequests {
		t.Errorf("breaker = %+v", s.Breaker)
	}
	if s.Retry.MaxAttempts != 4 || s.Retry.BackoffBase != DefaultRetry.BackoffBase {
		t.Errorf("retry = %+v", s.Retry)
	}
	if s.Limits != (LimitSettings{RPM: 100, Concurrency: 8, MaxWait: 50 * time.Millisecond}) {
		t.Errorf("limits = %+v", s.Limits)
	}
	if s.Timeouts != (Timeouts{Total: time.Minute, Stall: 5 * time.Second}) {
		t.Errorf("timeouts = %+v", s.Timeouts)
	}
	if s.Hedge.Quantile != 0.9 || !slices.Equal(s.Hedge.Priorities, []string{"batch"}) || s.Hedge.MaxRate != DefaultHedge.MaxRate {
		t.Errorf("hedge = %+v", s.Hedge)
	}
}

func TestWithDefaultsModels(t *testing.T) {
	off := false
	in := Settings{
		Timeouts: Timeouts{Stall: 5 * time.Second, FirstToken: 10 * time.Second},
		Hedge:    HedgeSettings{Enabled: &off, MaxRate: 0.2, Priorities: []string{"interactive", "batch"}},
		Models: map[string]ModelSettings{
			"reasoner": {Timeouts: Timeouts{FirstToken: time.Minute}, Hedge: HedgeSettings{MinDelay: 2 * time.Second}},
			"plain":    {},
		},
	}
	s := in.WithDefaults(30*time.Second, 64)

	wantProvider := Timeouts{Stall: 5 * time.Second, FirstToken: 10 * time.Second, Total: 30 * time.Second}
	to, h := s.ForModel("unlisted")
	if to != wantProvider || h.MaxRate != 0.2 || h.On() {
		t.Errorf("ForModel(unlisted) = %+v, %+v; want the provider's", to, h)
	}

	to, h = s.ForModel("reasoner")
	if want := (Timeouts{Stall: 5 * time.Second, FirstToken: time.Minute, Total: 30 * time.Second}); to != want {
		t.Errorf("reasoner timeouts = %+v, want %+v (first token overridden, the rest inherited)", to, want)
	}
	if h.MinDelay != 2*time.Second || h.MaxRate != 0.2 || h.Quantile != DefaultHedge.Quantile || h.MaxDelay != DefaultHedge.MaxDelay ||
		h.On() || !slices.Equal(h.Priorities, []string{"interactive", "batch"}) {
		t.Errorf("reasoner hedge = %+v, want MinDelay 2s and the rest from the provider (off, rate 0.2)", h)
	}

	to, h = s.ForModel("plain")
	if to != wantProvider || !reflect.DeepEqual(h, s.Hedge) {
		t.Errorf("ForModel(plain) = %+v, %+v; want the provider's %+v, %+v", to, h, wantProvider, s.Hedge)
	}

	// The input's map is not written to.
	if in.Models["reasoner"].Timeouts.Total != 0 || in.Models["reasoner"].Hedge.MaxRate != 0 {
		t.Errorf("WithDefaults changed its receiver's models: %+v", in.Models["reasoner"])
	}
	if errs := s.Validate("p"); len(errs) != 0 {
		t.Errorf("Validate: %v", errs)
	}
}

func TestValidate(t *testing.T) {
	base := func() Settings {
		return Settings{Models: map[string]ModelSettings{"m": {}}}.WithDefaults(30*time.Second, 64)
	}
	if errs := base().Validate("p"); len(errs) != 0 {
		t.Fatalf("defaulted settings: %v", errs)
	}
	for _, tc := range []struct {
		name   string
		change func(*Settings)
		want   string
	}{
		{"failure ratio over 1", func(s *Settings) { s.Breaker.FailureRatio = 1.5 }, "p.breaker.failure_ratio: 1.5 is not within (0, 1]"},
		{"failure ratio negative", func(s *Settings) { s.Breaker.FailureRatio = -0.1 }, "p.breaker.failure_ratio: -0.1"},
		{"short window", func(s *Settings) { s.Breaker.Window = time.Millisecond }, "p.breaker.window: 1ms is under 100ms"},
		{"short open timeout", func(s *Settings) { s.Breaker.OpenTimeout = time.Millisecond }, "p.breaker.open_timeout"},
		{"max attempts 0", func(s *Settings) { s.Retry.MaxAttempts = 0 }, "p.retry.max_attempts: 0 is not within 1..10"},
		{"max attempts 11", func(s *Settings) { s.Retry.MaxAttempts = 11 }, "p.retry.max_attempts: 11"},
		{"backoff max under base", func(s *Settings) { s.Retry.BackoffMax = 50 * time.Millisecond }, "p.retry.backoff_max: 50ms is below retry.backoff_base 100ms"},
		{"negative backoff base", func(s *Settings) { s.Retry.BackoffBase = -time.Second }, "p.retry.backoff_base: must not be negative"},
		{"negative retry after", func(s *Settings) { s.Retry.MaxRetryAfter = -time.Second }, "p.retry.max_retry_after: must not be negative"},
		{"negative auth cooldown", func(s *Settings) { s.Retry.AuthCooldown = -time.Second }, "p.retry.auth_cooldown: must not be negative"},
		{"negative max wait", func(s *Settings) { s.Limits.MaxWait = -time.Second }, "p.limits.max_wait: must not be negative"},
		{"negative rpm", func(s *Settings) { s.Limits.RPM = -1 }, "p.limits: rpm, tpm"},
		{"negative tpm", func(s *Settings) { s.Limits.TPM = -1 }, "p.limits: rpm, tpm"},
		{"concurrency 0", func(s *Settings) { s.Limits.Concurrency = 0 }, "p.limits: rpm, tpm"},
		{"negative timeout", func(s *Settings) { s.Timeouts.Stall = -time.Second }, "p.timeouts.stall: must not be negative"},
		{"quantile 1", func(s *Settings) { s.Hedge.Quantile = 1 }, "p.hedge.quantile: 1 is not within (0, 1)"},
		{"negative hedge delay", func(s *Settings) { s.Hedge.Delay = -time.Second }, "p.hedge.delay, min_delay, max_delay"},
		{"max delay under min", func(s *Settings) { s.Hedge.MaxDelay = time.Millisecond }, "p.hedge.delay, min_delay, max_delay"},
		{"max rate over 1", func(s *Settings) { s.Hedge.MaxRate = 2 }, "p.hedge.max_rate: 2 is not within [0, 1]"},
		{"min samples 0", func(s *Settings) { s.Hedge.MinSamples = 0 }, "p.hedge.min_samples: must be >= 1"},
		{"bad priority", func(s *Settings) { s.Hedge.Priorities = []string{"interactive", "urgent"} },
			`p.hedge.priorities: "urgent" is not one of interactive, batch, background`},
		{"health check window 0", func(s *Settings) { s.HealthCheck.Window = 0 }, "p.health_check: "},
		{"health check error rate", func(s *Settings) { s.HealthCheck.MaxErrorRate = 1.5 }, "p.health_check: "},
		{"model bad priority", func(s *Settings) {
			s.Models["m"] = ModelSettings{Hedge: HedgeSettings{Quantile: 0.9, MinSamples: 1, Priorities: []string{"now"}}}
		},
			`p.models["m"].hedge.priorities: "now" is not one of`},
		{"model negative timeout", func(s *Settings) {
			m := s.Models["m"]
			m.Timeouts.FirstToken = -1
			s.Models["m"] = m
		}, `p.models["m"].timeouts.first_token: must not be negative`},
		{"model name with a verb", func(s *Settings) {
			s.Models = map[string]ModelSettings{"a%d": {Hedge: HedgeSettings{Quantile: 0.9, MinSamples: 1, Priorities: []string{"now"}}}}
		}, `p.models["a%d"].hedge.priorities: "now" is not one of interactive, batch, background`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.change(&s)
			errs := s.Validate("p")
			if len(errs) != 1 {
				t.Fatalf("Validate = %v, want exactly one problem (%q)", errs, tc.want)
			}
			if !strings.HasPrefix(errs[0].Error(), tc.want) {
				t.Fatalf("Validate = %q, want it to start with %q", errs[0], tc.want)
			}
		})
	}

	t.Run("every problem listed", func(t *testing.T) {
		s := base()
		s.Breaker.FailureRatio = 2
		s.Retry.MaxAttempts = 0
		s.Limits.RPM = -5
		s.Hedge.Priorities = []string{"x", "y"}
		errs := s.Validate("providers[1].resilience")
		if len(errs) != 5 {
			t.Fatalf("Validate = %v, want 5 problems", errs)
		}
		for _, e := range errs {
			if !strings.HasPrefix(e.Error(), "providers[1].resilience.") {
				t.Errorf("%q lacks the field prefix", e)
			}
		}
	})
}

func TestExcluded(t *testing.T) {
	excluded := []adapters.Kind{adapters.Canceled, adapters.InvalidRequest, adapters.ContextTooLong,
		adapters.ContentFiltered, adapters.RateLimited, adapters.Auth}
	kinds := adapters.Kinds()
	if len(kinds) < 10 {
		t.Fatalf("adapters.Kinds() = %v", kinds)
	}
	for _, k := range kinds {
		err := fmt.Errorf("call: %w", &adapters.Error{Provider: "p", Kind: k})
		if got, want := Excluded(err), slices.Contains(excluded, k); got != want {
			t.Errorf("Excluded(%s) = %v, want %v", k, got, want)
		}
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, true},
		{context.DeadlineExceeded, false},
		{ErrStallTimeout, false}, // a phase timeout is a timeout, not a cancellation
		{errors.New("connection reset"), false},
	} {
		if got := Excluded(tc.err); got != tc.want {
			t.Errorf("Excluded(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestRejection(t *testing.T) {
	until := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	r := &Rejection{Provider: "openai", Model: "gpt-x", Reason: ReasonRetryAfter, Until: until}
	if got, want := r.Error(), "resilience: call to openai gpt-x refused locally: retry_after until 2026-01-02T02:04:05.0000006Z"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&Rejection{Provider: "openai", Reason: ReasonAuth}).Error(), "resilience: call to openai refused locally: auth"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}

	wrapped := fmt.Errorf("hop 2: %w", r)
	if got := RejectionOf(wrapped); got != r {
		t.Errorf("RejectionOf(wrapped) = %v, want the same *Rejection", got)
	}
	if RejectionOf(nil) != nil || RejectionOf(errors.New("x")) != nil || RejectionOf(&adapters.Error{Kind: adapters.RateLimited}) != nil {
		t.Error("RejectionOf found a Rejection where there is none")
	}
	// A Rejection is not a provider failure: it is not an adapters.Error.
	if _, ok := errors.AsType[*adapters.Error](wrapped); ok {
		t.Error("a Rejection unwraps to an adapters.Error")
	}
}
