package roles

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/resilience"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Probe is one provider's health check: its adapter and settings (Model set).
type Probe struct {
	Provider string
	Adapter  adapters.Adapter
	Settings resilience.HealthCheckSettings
}

// HealthReporterConfig configures a HealthReporter.
type HealthReporterConfig struct {
	Client *kgo.Client
	Codec  *schemas.Codec
	// HealthTopic is llm.provider.health; AuditTopic is llm.audit.
	HealthTopic, AuditTopic string
	Guard                   *Guard
	// Source names this process in health records and events (e.g. its replica id).
	Source string
	// Interval is how often open and half-open breakers are restated (and open breakers whose
	// timeout passed move to half-open). Default 5s.
	Interval time.Duration
	Probes   []Probe
	Logger   *slog.Logger
}

// HealthReporter publishes what this process knows of provider health to
// llm.provider.health, where the routers read it:
//
//   - breaker changes at once, from Guard.Changes: open → the model unhealthy (reason
//     breaker_open), half-open and closed → healthy again (half-open lets the router send the
//     probes that close it); every Interval the breakers that are not closed are restated
//     (the routers forget a record after 60 s);
//   - a probe loop per configured provider: a one-token call to its health_check model every
//     interval, through the same guard as user traffic (so a probe can be the half-open call
//     that closes a breaker); the verdict over the last probes (error rate, median latency)
//     marks the whole provider unhealthy before user requests fail, and healthy when it
//     recovers; it is restated with every probe.
//
// Each change is also an audit event. Records carry Source "<source>/breaker" or
// "<source>/probe", so sources do not overwrite one another.
type HealthReporter struct {
	cfg HealthReporterConfig
	log *slog.Logger
}

// NewHealthReporter returns a reporter; Run starts it.
func NewHealthReporter(cfg HealthReporterConfig) *HealthReporter {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &HealthReporter{cfg: cfg, log: cfg.Logger}
}

// Run reports until ctx ends.
func (r *HealthReporter) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, p := range r.cfg.Probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.probeLoop(ctx, p)
		}()
	}
	defer wg.Wait()
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ch := <-r.cfg.Guard.Changes():
			r.breakerChanged(ctx, ch)
		case <-tick.C:
			// Snapshot moves open breakers past their timeout to half-open (a change that
			// arrives on Changes); the ones still open are restated.
			for _, b := range r.cfg.Guard.Breakers.Snapshot() {
				if b.State == resilience.StateOpen {
					r.publish(ctx, schemas.ProviderHealth{Provider: b.Provider, Model: b.Model, Status: schemas.HealthUnhealthy,
						Reason: resilience.ReasonBreakerOpen, Source: r.cfg.Source + "/breaker"})
				}
			}
		}
	}
}

func (r *HealthReporter) breakerChanged(ctx context.Context, ch resilience.StateChange) {
	st, reason, typ := schemas.HealthHealthy, "breaker_closed", schemas.EventBreakerClosed
	attrs := []string{"source", r.cfg.Source}
	switch ch.To {
	case resilience.StateOpen:
		st, reason, typ = schemas.HealthUnhealthy, resilience.ReasonBreakerOpen, schemas.EventBreakerOpened
		attrs = append(attrs, "requests", itoa(int64(ch.Requests)), "failures", itoa(int64(ch.Failures)),
			"consecutive_failures", itoa(int64(ch.ConsecutiveFailures)))
	case resilience.StateHalfOpen:
		reason, typ = "breaker_half_open", schemas.EventBreakerHalfOpened
	}
	r.log.Info("circuit breaker "+ch.To.String(), "provider", ch.Provider, "model", ch.Model, "from", ch.From.String())
	r.publish(ctx, schemas.ProviderHealth{Provider: ch.Provider, Model: ch.Model, Status: st, Reason: reason,
		TS: ch.At.UnixMilli(), Source: r.cfg.Source + "/breaker"})
	r.audit(ctx, typ, ch.Provider, ch.Model, ch.At, 0, attrs...)
}

func (r *HealthReporter) probeLoop(ctx context.Context, p Probe) {
	win := resilience.NewProbeWindow(p.Settings)
	healthy, why := true, ""
	t := time.NewTicker(p.Settings.Interval)
	defer t.Stop()
	for {
		ok, lat, kind, judged := r.probe(ctx, p)
		if ctx.Err() != nil {
			return
		}
		// A probe refused locally (an open breaker, a cool-down) is no news of the provider:
		// the window is left as it is and the verdict restated.
		if judged {
			if !ok {
				r.audit(ctx, schemas.EventProbeFailed, p.Provider, p.Settings.Model, time.Now(), lat,
					"error_kind", kind, "latency_ms", ftoa(float64(lat.Microseconds())/1000), "source", r.cfg.Source)
			}
			now, reason := win.Record(ok, lat)
			if now != healthy {
				st := statusOf(now)
				r.log.Warn("provider health changed", "provider", p.Provider, "status", st, "reason", reason)
				r.audit(ctx, schemas.EventHealthChanged, p.Provider, "", time.Now(), 0, "status", st, "reason", reason, "source", r.cfg.Source)
			}
			healthy, why = now, reason
		}
		r.cfg.Guard.m.health.WithLabelValues(p.Provider).Set(boolGauge(healthy))
		r.publish(ctx, schemas.ProviderHealth{Provider: p.Provider, Status: statusOf(healthy), Reason: why, Source: r.cfg.Source + "/probe"})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func statusOf(healthy bool) string {
	if healthy {
		return schemas.HealthHealthy
	}
	return schemas.HealthUnhealthy
}

// probe makes one health-check call through the guard. A local refusal (breaker open,
// cooling down) is no verdict on the provider's health: judged is false (the breaker already
// keeps the traffic away, and its half-open probe, which may be this call, brings the
// provider back).
func (r *HealthReporter) probe(ctx context.Context, p Probe) (ok bool, latency time.Duration, kind string, judged bool) {
	g := r.cfg.Guard
	if rej := g.Cooldowns.Check(p.Provider); rej != nil {
		return false, 0, "", false
	}
	done, err := g.Breakers.Allow(p.Provider, p.Settings.Model)
	if err != nil {
		return false, 0, "", false
	}
	cctx, cancel := context.WithTimeout(ctx, p.Settings.Timeout)
	defer cancel()
	start := time.Now()
	_, err = p.Adapter.Complete(cctx, &adapters.Call{RequestID: "probe/" + p.Provider + "/" + strconv.FormatInt(start.UnixNano(), 36),
		Model: p.Settings.Model, MaxTokens: 1, Messages: []schemas.Message{{Role: "user", Content: "ping"}}})
	latency = time.Since(start)
	if ctx.Err() != nil {
		done(ctx.Err())
		return false, 0, "", false
	}
	done(err)
	if err != nil {
		return false, latency, adapters.KindOf(err).String(), true
	}
	return true, latency, "", true
}

func (r *HealthReporter) publish(ctx context.Context, rec schemas.ProviderHealth) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := PublishHealth(pctx, r.cfg.Client, r.cfg.HealthTopic, r.cfg.Codec, rec); err != nil && ctx.Err() == nil {
		r.log.Warn("health record not published", "provider", rec.Provider, "model", rec.Model, "err", err)
	}
}

// audit publishes an event that belongs to no request (request_id empty); its id names the
// source, type, provider, model and time, so a restatement never collides with another.
func (r *HealthReporter) audit(ctx context.Context, typ, provider, model string, at time.Time, dur time.Duration, attrs ...string) {
	ev := schemas.AuditEvent{
		EventID:    typ + "/" + provider + "/" + model + "/" + r.cfg.Source + "/" + strconv.FormatInt(at.UnixNano(), 36),
		TS:         at.UnixMicro(),
		Type:       typ,
		Stage:      schemas.StageHealth,
		Provider:   provider,
		Model:      model,
		DurationUS: dur.Microseconds(),
		Attrs:      map[string]string{},
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		ev.Attrs[attrs[i]] = attrs[i+1]
	}
	v, err := r.cfg.Codec.Encode(schemas.TypeAuditEvent, &ev)
	if err != nil {
		r.log.Error("encode health audit event", "type", typ, "err", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := producers.ProduceAll(pctx, r.cfg.Client, &kgo.Record{Topic: r.cfg.AuditTopic, Key: []byte(provider), Value: v,
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(r.cfg.Codec.ContentType())}}}); err != nil && ctx.Err() == nil {
		r.log.Warn("health audit event not published", "type", typ, "err", err)
	}
}
