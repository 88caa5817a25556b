package roles

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Stage label values of switchyard_stage_duration_seconds.
const (
	stageQueue   = "queue"   // request created → router picked it up; routed → worker picked it up
	stageDecode  = "decode"  // decode and validate the input record
	stageRoute   = "route"   // the routing decision and the budget reservation
	stageProduce = "produce" // produce every output of the record and await the acks
)

// Token kinds of switchyard_tokens_total.
const (
	tokensInput      = "input"
	tokensOutput     = "output"
	tokensCached     = "cached"
	tokensCacheWrite = "cache_write"
	tokensReasoning  = "reasoning"
)

// noProvider is the provider label of a response no provider answered (a router rejection).
const noProvider = "none"

// Metrics are the request-path metrics of the router and worker roles: stage latencies,
// end-to-end latency, responses, tokens, cost and dead letters. One value serves every role of
// a process (NewMetrics returns the registered collectors when called again on a registry). A
// nil *Metrics records nothing.
//
// Labels are bounded: role and stage are fixed sets, provider and model come from the
// configuration (model is the pinned version an attempt called), status is ok, degraded or
// error, kind is a token kind, and a DLQ reason is one of the schemas.Reason* codes (a
// validation failure counts as "validation", whatever field failed) or "panic".
type Metrics struct {
	stage     *prometheus.HistogramVec
	request   *prometheus.HistogramVec
	responses *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	cost      *prometheus.CounterVec
	dlq       *prometheus.CounterVec

	// Pre-resolved: the hot paths observe without a label lookup.
	router struct{ queue, decode, route, produce prometheus.Observer }
	worker struct{ queue, decode, produce prometheus.Observer }

	models    sync.Map // provider + "\x00" + model → *modelCounters
	providers sync.Map // provider → *providerSeries
}

type modelCounters struct {
	input, output, cached, cacheWrite, reasoning, cost prometheus.Counter
}

type providerSeries struct {
	request prometheus.Observer
	status  map[string]prometheus.Counter
}

// NewMetrics creates the role metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return registerOrExisting(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "switchyard", Name: name, Help: help}, labels))
	}
	m := &Metrics{
		stage: registerOrExisting(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "switchyard",
			Name: "stage_duration_seconds", Help: "Duration of one stage of a record in a role: queue (waiting in the topic), decode, route, produce (outputs produced and acknowledged).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 16)}, []string{"role", "stage"})),
		request: registerOrExisting(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "switchyard",
			Name: "request_duration_seconds", Help: "End-to-end latency of a request, from its creation to its terminal response, by the provider that answered (none for router rejections).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}, []string{"provider"})),
		responses: counter("responses_total", "Terminal responses published, by the provider that answered (none for router rejections) and status (ok, degraded, error).", "provider", "status"),
		tokens:    counter("tokens_total", "Tokens of every attempt of the requests that got a terminal response, by provider, model and kind (input, output, cached, cache_write, reasoning).", "provider", "model", "kind"),
		cost:      counter("cost_usd_total", "Cost in USD of every attempt of the requests that got a terminal response, by provider and model.", "provider", "model"),
		dlq:       counter("dlq_total", "Records dead-lettered to the DLQ topic (counted once acknowledged), by stage and reason.", "stage", "reason"),
	}
	m.router.queue = m.stage.WithLabelValues("router", stageQueue)
	m.router.decode = m.stage.WithLabelValues("router", stageDecode)
	m.router.route = m.stage.WithLabelValues("router", stageRoute)
	m.router.produce = m.stage.WithLabelValues("router", stageProduce)
	m.worker.queue = m.stage.WithLabelValues("worker", stageQueue)
	m.worker.decode = m.stage.WithLabelValues("worker", stageDecode)
	m.worker.produce = m.stage.WithLabelValues("worker", stageProduce)
	return m
}

func observe(o prometheus.Observer, d time.Duration) {
	if o != nil {
		o.Observe(max(d, 0).Seconds())
	}
}

func (m *Metrics) routerStage() (queue, decode, route, produce prometheus.Observer) {
	if m == nil {
		return nil, nil, nil, nil
	}
	return m.router.queue, m.router.decode, m.router.route, m.router.produce
}

func (m *Metrics) workerStage() (queue, decode, produce prometheus.Observer) {
	if m == nil {
		return nil, nil, nil
	}
	return m.worker.queue, m.worker.decode, m.worker.produce
}

func (m *Metrics) model(provider, model string) *modelCounters {
	key := provider + "\x00" + model
	if v, ok := m.models.Load(key); ok {
		return v.(*modelCounters)
	}
	c := &modelCounters{
		input:      m.tokens.WithLabelValues(provider, model, tokensInput),
		output:     m.tokens.WithLabelValues(provider, model, tokensOutput),
		cached:     m.tokens.WithLabelValues(provider, model, tokensCached),
		cacheWrite: m.tokens.WithLabelValues(provider, model, tokensCacheWrite),
		reasoning:  m.tokens.WithLabelValues(provider, model, tokensReasoning),
		cost:       m.cost.WithLabelValues(provider, model),
	}
	v, _ := m.models.LoadOrStore(key, c)
	return v.(*modelCounters)
}

func (m *Metrics) provider(name string) *providerSeries {
	if v, ok := m.providers.Load(name); ok {
		return v.(*providerSeries)
	}
	s := &providerSeries{request: m.request.WithLabelValues(name), status: map[string]prometheus.Counter{
		schemas.StatusOK: m.responses.WithLabelValues(name, schemas.StatusOK),
		// Created on first use: a provider that never degraded has no degraded series.
	}}
	v, _ := m.providers.LoadOrStore(name, s)
	return v.(*providerSeries)
}

// responded counts a terminal response once Kafka acknowledged it: its status, its end-to-end
// latency, and the tokens and cost of every attempt it lists (every hop's attempts are in the
// terminal response; earlier hops publish none). Attempts carry input, output and cached
// tokens; reasoning and cache-write tokens are known only from the answering attempt's usage.
func (m *Metrics) responded(resp *schemas.Response) {
	if m == nil {
		return
	}
	provider := resp.Provider
	if provider == "" {
		provider = noProvider
	}
	ps := m.provider(provider)
	if c := ps.status[resp.Status]; c != nil {
		c.Inc()
	} else {
		m.responses.WithLabelValues(provider, resp.Status).Inc()
	}
	ps.request.Observe(max(resp.Latency.TotalMS, 0) / 1000)
	for i := range resp.Attempts {
		a := &resp.Attempts[i]
		if a.InputTokens == 0 && a.OutputTokens == 0 && a.CachedTokens == 0 && a.CostUSD == 0 {
			continue // refused locally or failed before any usage: nothing billed
		}
		c := m.model(a.Provider, a.Model)
		c.input.Add(float64(a.InputTokens))
		c.output.Add(float64(a.OutputTokens))
		c.cached.Add(float64(a.CachedTokens))
		c.cost.Add(max(a.CostUSD, 0))
	}
	if u := resp.Usage; resp.Provider != "" && (u.ReasoningTokens > 0 || u.CacheWriteTokens > 0) {
		c := m.model(resp.Provider, resp.Model)
		c.reasoning.Add(float64(u.ReasoningTokens))
		c.cacheWrite.Add(float64(u.CacheWriteTokens))
	}
}

// dlqKey is one dead letter among a record's outputs.
type dlqKey struct{ stage, reason string }

func (m *Metrics) deadLettered(keys []dlqKey) {
	if m == nil {
		return
	}
	for _, k := range keys {
		reason := k.reason
		if strings.HasPrefix(reason, schemas.ReasonValidationPrefix) {
			reason = "validation" // one series, whatever field failed
		}
		m.dlq.WithLabelValues(k.stage, reason).Inc()
	}
}

// produce produces every output of the record and awaits the acks, timing it as the produce
// stage; once acknowledged, the dead letters among the outputs are counted.
func (o *outputs) produce(ctx context.Context, cl *kgo.Client, m *Metrics, stage prometheus.Observer) error {
	start := time.Now()
	err := producers.ProduceAll(ctx, cl, o.recs...)
	if err != nil {
		return err
	}
	observe(stage, time.Since(start))
	m.deadLettered(o.dlq)
	return nil
}
