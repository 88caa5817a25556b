package roles

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-llm/switchyard/resilience"
)

// Guard is one process's resilience state for every provider it calls, shared by all its
// workers (a hedge to another provider goes through that provider's breaker and limits too):
// breakers per provider and model, cool-downs, limiters and hedge statistics. It owns the
// breaker metrics and hands state changes to the HealthReporter.
type Guard struct {
	settings  map[string]*resilience.Settings
	Breakers  *resilience.Breakers
	Cooldowns *resilience.Cooldowns
	Hedger    *resilience.Hedger
	limiters  map[string]*resilience.Limiter
	changes   chan resilience.StateChange
	m         *guardMetrics
	// calls are the pre-resolved call metrics of the configured providers.
	calls map[string]callMetrics
}

// callMetrics are one provider's in-flight gauge and attempt-duration histogram.
type callMetrics struct {
	inFlight prometheus.Gauge
	duration prometheus.Observer
}

// GuardConfig configures a Guard.
type GuardConfig struct {
	// Settings are each provider's resilience settings, defaults filled in (config.Load does).
	// A provider not listed gets the defaults.
	Settings map[string]resilience.Settings
	// Registerer receives the breaker and provider-call metrics. Default none.
	Registerer prometheus.Registerer
}

// changeBuffer is how many breaker state changes wait for the HealthReporter; more are
// dropped from the health topic (metrics still see them, and the next restatement corrects
// the topic).
const changeBuffer = 1024

// NewGuard builds a Guard.
func NewGuard(cfg GuardConfig) *Guard {
	g := &Guard{
		settings:  make(map[string]*resilience.Settings, len(cfg.Settings)),
		Cooldowns: resilience.NewCooldowns(nil),
		limiters:  make(map[string]*resilience.Limiter, len(cfg.Settings)),
		changes:   make(chan resilience.StateChange, changeBuffer),
		m:         newGuardMetrics(cfg.Registerer),
		calls:     make(map[string]callMetrics, len(cfg.Settings)),
	}
	for name, s := range cfg.Settings {
		s := s
		g.calls[name] = g.m.callMetrics(name)
		g.settings[name] = &s
		g.limiters[name] = resilience.NewLimiter(name, s.Limits)
	}
	g.Breakers = resilience.NewBreakers(func(p string) resilience.BreakerSettings { return g.Settings(p).Breaker }, g.onChange)
	g.Hedger = resilience.NewHedger(func(p, model string) resilience.HedgeSettings {
		s := g.Settings(p)
		_, h := s.ForModel(model)
		return h
	})
	return g
}

var defaultSettings = resilience.Settings{}.WithDefaults(60*time.Second, 256)

// Settings returns a provider's settings (the defaults for one the Guard was not given).
func (g *Guard) Settings(provider string) *resilience.Settings {
	if s, ok := g.settings[provider]; ok {
		return s
	}
	return &defaultSettings
}

// Limiter returns a provider's limiter; nil for a provider the Guard was not given (no limits).
func (g *Guard) Limiter(provider string) *resilience.Limiter { return g.limiters[provider] }

// callMetrics returns a provider's call metrics, pre-resolved for the configured providers.
func (g *Guard) callMetrics(provider string) callMetrics {
	if c, ok := g.calls[provider]; ok {
		return c
	}
	return g.m.callMetrics(provider)
}

// Changes delivers the breakers' state changes, for the HealthReporter.
func (g *Guard) Changes() <-chan resilience.StateChange { return g.changes }

func (g *Guard) onChange(ch resilience.StateChange) {
	g.m.breakerState.WithLabelValues(ch.Provider, ch.Model).Set(stateValue(ch.To))
	g.m.transitions.WithLabelValues(ch.Provider, ch.Model, ch.To.String()).Inc()
	select {
	case g.changes <- ch:
	default:
	}
}

func stateValue(s resilience.State) float64 {
	switch s {
	case resilience.StateHalfOpen:
		return 1
	case resilience.StateOpen:
		return 2
	}
	return 0
}

// guardMetrics are the provider-call metrics. Labels are bounded by the configuration:
// provider and model names come from it, outcome, kind and reason from fixed sets.
type guardMetrics struct {
	breakerState *prometheus.GaugeVec
	transitions  *prometheus.CounterVec
	attempts     *prometheus.CounterVec
	rejections   *prometheus.CounterVec
	retries      *prometheus.CounterVec
	hedges       *prometheus.CounterVec
	fallbacks    *prometheus.CounterVec
	ttft         *prometheus.HistogramVec
	health       *prometheus.GaugeVec
	inFlight     *prometheus.GaugeVec
	duration     *prometheus.HistogramVec
}

func (m *guardMetrics) callMetrics(provider string) callMetrics {
	return callMetrics{inFlight: m.inFlight.WithLabelValues(provider), duration: m.duration.WithLabelValues(provider)}
}

func newGuardMetrics(reg prometheus.Registerer) *guardMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return registerOrExisting(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "switchyard", Name: name, Help: help}, labels))
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return registerOrExisting(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "switchyard", Name: name, Help: help}, labels))
	}
	return &guardMetrics{
		breakerState: gauge("breaker_state", "Circuit breaker state per provider model: 0 closed, 1 half-open, 2 open.", "provider", "model"),
		transitions:  counter("breaker_transitions_total", "Circuit breaker state changes, by the state entered.", "provider", "model", "to"),
		attempts:     counter("provider_attempts_total", "Provider calls by outcome (ok, error, timeout, rejected, cancelled) and error kind.", "provider", "outcome", "kind"),
		rejections:   counter("provider_rejections_total", "Calls refused locally before reaching the provider, by reason (breaker, cool-down, limits).", "provider", "reason"),
		retries:      counter("provider_retries_total", "Calls repeated on the same provider after a retryable failure.", "provider"),
		hedges:       counter("hedges_total", "Hedged calls by result: started, won (the hedge answered first), lost (the primary did).", "provider", "result"),
		fallbacks:    counter("fallbacks_total", "Requests sent down the chain to the next provider, by the failure that sent them.", "provider", "reason"),
		ttft: registerOrExisting(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "switchyard",
			Name: "provider_ttft_seconds", Help: "Time to first token of successful provider calls.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"provider"})),
		health:   gauge("provider_healthy", "The health-check verdict per provider: 1 healthy, 0 unhealthy.", "provider"),
		inFlight: gauge("provider_calls_in_flight", "Provider calls sent and not yet answered (hedges included).", "provider"),
		duration: registerOrExisting(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "switchyard",
			Name: "provider_attempt_duration_seconds", Help: "Duration of provider calls that went out (whatever their outcome; refusals before the call are not observed).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}, []string{"provider"})),
	}
}

// registerOrExisting registers c, or returns the collector already registered under its name
// (several workers and roles of a process share one registry).
func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a metric of ours defined twice differently: a bug
	}
	return c
}
