package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Ledger tracks every request a load generator sent and the terminal outcome it reached, in the
// manner of a Jepsen checker: a request whose produce was acknowledged and that never reaches a
// response or the DLQ is lost.
type Ledger struct {
	mu         sync.Mutex
	start      time.Time
	sent       map[string]time.Time // request id -> intended send time
	sendFail   int
	poisonOK   int // poison records acknowledged by Kafka (each must reach the DLQ)
	poisonSeen int
	outcomes   map[string]struct{}
	dups       int
	ok         int
	errs       int
	degraded   int
	toolCalls  int
	badTools   int
	fallbacks  int // answered after at least one cascading fallback
	hedged     int // answered by or beside a hedged call
	// failedAttempts counts provider attempts that did not answer.
	failedAttempts int
	dlq            int
	dlqReason      map[string]int
	latencies      []float64 // ms, intended send to outcome seen
	queueMS        []float64 // ms, request created to first provider call (two Kafka hops and routing)
	cost           float64
	byProv         map[string]*provStats
	errCodes       map[string]int
	done           chan struct{}
	target         int
}

type provStats struct {
	OK        int     `json:"ok"`
	Errors    int     `json:"errors"`
	ToolCalls int     `json:"tool_calls"`
	CostUSD   float64 `json:"cost_usd"`
	lat       []float64
}

// NewLedger makes a ledger that closes Done once target outcomes were seen (0: never).
func NewLedger(target int) *Ledger {
	return &Ledger{start: time.Now(), sent: map[string]time.Time{}, outcomes: map[string]struct{}{},
		dlqReason: map[string]int{}, byProv: map[string]*provStats{}, errCodes: map[string]int{},
		done: make(chan struct{}), target: target}
}

// Done is closed when the target number of terminal outcomes was reached.
func (l *Ledger) Done() <-chan struct{} { return l.done }

// Sent records a request about to be produced; SendFailed takes it back if Kafka refuses it.
func (l *Ledger) Sent(id string, intended time.Time) {
	l.mu.Lock()
	l.sent[id] = intended
	l.mu.Unlock()
}

// SendFailed records a produce that failed: the request is not owed an outcome. id is empty
// for poison records.
func (l *Ledger) SendFailed(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sendFail++
	if _, answered := l.outcomes[id]; id != "" && !answered {
		delete(l.sent, id)
	}
}

// PoisonSent records a poison record acknowledged by Kafka.
func (l *Ledger) PoisonSent() { l.mu.Lock(); l.poisonOK++; l.mu.Unlock() }

// Response records a response seen on the response topic.
func (l *Ledger) Response(r *schemas.Response, seen time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.outcomes[r.RequestID]; dup {
		l.dups++
		return
	}
	sentAt, ours := l.sent[r.RequestID]
	if !ours {
		return // another run's response
	}
	l.outcomes[r.RequestID] = struct{}{}
	ms := float64(seen.Sub(sentAt).Microseconds()) / 1000
	l.latencies = append(l.latencies, ms)
	if r.Latency.QueueMS > 0 {
		l.queueMS = append(l.queueMS, r.Latency.QueueMS)
	}
	p := l.byProv[r.Provider]
	if p == nil {
		p = &provStats{}
		l.byProv[r.Provider] = p
	}
	switch r.Status {
	case schemas.StatusOK, schemas.StatusDegraded:
		l.ok++
		if r.Status == schemas.StatusDegraded {
			l.degraded++
		}
		p.OK++
		p.lat = append(p.lat, ms)
	default:
		l.errs++
		p.Errors++
		if r.Error != nil {
			l.errCodes[r.Error.Code]++
		}
	}
	if r.FallbackDepth > 0 {
		l.fallbacks++
	}
	if r.Hedged {
		l.hedged++
	}
	for _, a := range r.Attempts {
		if a.Outcome != "ok" {
			l.failedAttempts++
		}
	}
	l.toolCalls += len(r.ToolCalls)
	p.ToolCalls += len(r.ToolCalls)
	for _, tc := range r.ToolCalls {
		if !tc.Valid {
			l.badTools++
		}
	}
	l.cost += r.CostUSD
	p.CostUSD += r.CostUSD
	l.checkDone()
}

// DeadLetter records a DLQ record.
func (l *Ledger) DeadLetter(d *schemas.DeadLetter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d.RequestID != "" {
		if _, dup := l.outcomes[d.RequestID]; dup {
			l.dups++
			return
		}
		if _, ours := l.sent[d.RequestID]; ours {
			l.outcomes[d.RequestID] = struct{}{}
		} else {
			l.poisonSeen++
		}
	} else {
		l.poisonSeen++
	}
	l.dlq++
	l.dlqReason[d.Reason]++
	l.checkDone()
}

func (l *Ledger) checkDone() {
	if l.target > 0 && l.ok+l.errs+l.dlq >= l.target {
		select {
		case <-l.done:
		default:
			close(l.done)
		}
	}
}

// Summary is the JSON the demo writes with --summary-json.
type Summary struct {
	Requests     int `json:"requests"`
	Sent         int `json:"sent"`
	SendFailed   int `json:"send_failed"`
	PoisonSent   int `json:"poison_sent"`
	OK           int `json:"ok"`
	Errors       int `json:"errors"`
	Degraded     int `json:"degraded"`
	ToolCalls    int `json:"tool_calls"`
	InvalidTools int `json:"invalid_tool_calls"`
	Fallbacks    int `json:"fallbacks"`
	Hedged       int `json:"hedged"`
	// FailedAttempts counts provider attempts that did not answer (errors, timeouts, local
	// refusals, cancelled hedge losers) behind the outcomes.
	FailedAttempts int `json:"failed_attempts"`
	// Breakers are the circuit breakers that are not closed, "provider/model" → state, when
	// the summary was taken (set by the demo).
	Breakers      map[string]string     `json:"breakers"`
	DLQ           int                   `json:"dlq"`
	Lost          int                   `json:"lost"`
	Duplicates    int                   `json:"duplicates"`
	P50MS         float64               `json:"p50_ms"`
	P90MS         float64               `json:"p90_ms"`
	P99MS         float64               `json:"p99_ms"`
	MaxMS         float64               `json:"max_ms"`
	QueueP50MS    float64               `json:"queue_p50_ms"`
	QueueP99MS    float64               `json:"queue_p99_ms"`
	CostUSD       float64               `json:"cost_usd"`
	ElapsedS      float64               `json:"elapsed_s"`
	ThroughputRPS float64               `json:"throughput_rps"`
	ByProvider    map[string]*provStats `json:"by_provider"`
	DLQReasons    map[string]int        `json:"dlq_reasons"`
	ErrorCodes    map[string]int        `json:"error_codes"`
}

// Summary computes the figures so far. Lost counts acknowledged requests without an outcome and
// acknowledged poison records missing from the DLQ.
func (l *Ledger) Summary() Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	lat := slices.Clone(l.latencies)
	sort.Float64s(lat)
	queue := slices.Clone(l.queueMS)
	sort.Float64s(queue)
	el := time.Since(l.start).Seconds()
	s := Summary{
		Sent: len(l.sent), SendFailed: l.sendFail, PoisonSent: l.poisonOK,
		OK: l.ok, Errors: l.errs, Degraded: l.degraded, ToolCalls: l.toolCalls, InvalidTools: l.badTools, Fallbacks: l.fallbacks, Hedged: l.hedged, FailedAttempts: l.failedAttempts, DLQ: l.dlq, Duplicates: l.dups,
		QueueP50MS: quantile(queue, 0.5), QueueP99MS: quantile(queue, 0.99),
		P50MS: quantile(lat, 0.5), P90MS: quantile(lat, 0.9), P99MS: quantile(lat, 0.99), MaxMS: quantile(lat, 1),
		CostUSD: math.Round(l.cost*1e6) / 1e6, ElapsedS: math.Round(el*100) / 100,
		ByProvider: map[string]*provStats{}, DLQReasons: map[string]int{}, ErrorCodes: map[string]int{},
	}
	s.Requests = s.Sent + s.PoisonSent
	for id := range l.sent {
		if _, ok := l.outcomes[id]; !ok {
			s.Lost++
		}
	}
	if missing := l.poisonOK - l.poisonSeen; missing > 0 {
		s.Lost += missing
	}
	if el > 0 {
		s.ThroughputRPS = math.Round(float64(l.ok+l.errs+l.dlq)/el*10) / 10
	}
	for k, v := range l.byProv {
		c := *v
		c.CostUSD = math.Round(c.CostUSD*1e6) / 1e6
		s.ByProvider[k] = &c
	}
	for k, v := range l.dlqReason {
		s.DLQReasons[k] = v
	}
	for k, v := range l.errCodes {
		s.ErrorCodes[k] = v
	}
	return s
}

// quantile of sorted values by the nearest-rank method.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return math.Round(sorted[i]*100) / 100
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
