package roles

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

const (
	spendTopic  = "llm.spend"
	healthTopic = "llm.provider.health"
)

type stateEnv struct {
	t                      *testing.T
	brokers                []string
	codec                  *schemas.Codec
	cl                     *kgo.Client
	spend, responses, heal string
}

func newStateEnv(t *testing.T) *stateEnv {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, spendTopic, healthTopic),
		kfake.SeedTopics(3, topics.Responses))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	codec, err := schemas.NewCodec(schemas.CodecOptions{OutputFormat: schemas.FormatSingleObject})
	if err != nil {
		t.Fatal(err)
	}
	return &stateEnv{t: t, brokers: cluster.ListenAddrs(), codec: codec, cl: cl,
		spend: spendTopic, responses: topics.Responses, heal: healthTopic}
}

// newRealStateEnv is a stateEnv on the real broker of SWITCHYARD_TEST_KAFKA (as `make test`
// sets it), with topics of their own, deleted afterwards; skipped without one.
func newRealStateEnv(t *testing.T) *stateEnv {
	t.Helper()
	addr := os.Getenv("SWITCHYARD_TEST_KAFKA")
	if addr == "" {
		t.Skip("SWITCHYARD_TEST_KAFKA not set: no real broker")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	prefix := fmt.Sprintf("test-state-%d.", time.Now().UnixNano())
	e := &stateEnv{t: t, brokers: []string{addr}, cl: cl,
		spend: prefix + "llm.spend", responses: prefix + "llm.responses", heal: prefix + "llm.provider.health"}
	if e.codec, err = schemas.NewCodec(schemas.CodecOptions{OutputFormat: schemas.FormatSingleObject}); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	for _, tp := range []struct {
		name  string
		parts int32
		cfg   map[string]*string
	}{{e.spend, 1, compact}, {e.heal, 1, compact}, {e.responses, 3, nil}} {
		if _, err := adm.CreateTopic(ctx, tp.parts, 1, tp.cfg, tp.name); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, e.spend, e.heal, e.responses)
	})
	return e
}

// replica is one router replica's ledger and its running SpendSync.
type replica struct {
	ledger *router.Ledger
	sync   *SpendSync
	stop   func()
}

func (e *stateEnv) startReplica(id string, budgets map[string]router.Budget) *replica {
	e.t.Helper()
	return e.startReplicaEvery(id, budgets, 20*time.Millisecond)
}

func (e *stateEnv) startReplicaEvery(id string, budgets map[string]router.Budget, flush time.Duration) *replica {
	e.t.Helper()
	l, err := router.NewLedger(router.LedgerConfig{ReplicaID: id,
		Limits: func(t string) (router.Budget, bool) { b, ok := budgets[t]; return b, ok }})
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := NewSpendSync(SpendSyncConfig{Brokers: e.brokers, SpendTopic: e.spend, ResponsesTopic: e.responses,
		Codec: e.codec, Ledger: l, FlushInterval: flush})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		e.t.Fatalf("replica %s stopped before ready: %v", id, err)
	case <-time.After(10 * time.Second):
		e.t.Fatalf("replica %s not ready", id)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("replica %s: %v", id, err)
			}
			s.Close()
		})
	}
	e.t.Cleanup(stop)
	return &replica{ledger: l, sync: s, stop: stop}
}

func (e *stateEnv) respond(requestID, tenant string, cost float64) {
	e.t.Helper()
	r := &schemas.Response{RequestID: requestID, TenantID: tenant, Status: schemas.StatusOK, CostUSD: cost,
		ToolCalls: []schemas.ResponseToolCall{}, Attempts: []schemas.Attempt{}, CompletedAt: time.Now().UnixMilli()}
	v, err := e.codec.Encode(schemas.TypeResponse, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.cl.ProduceSync(context.Background(), &kgo.Record{Topic: e.responses, Key: []byte(requestID), Value: v}).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// waitUsed waits until the ledger sees the tenant's daily use at want.
func waitUsed(t *testing.T, l *router.Ledger, tenant string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		day, _ := l.Used(tenant, time.Now())
		if math.Abs(day-want) < 1e-9 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: used %v, want %v", l.ReplicaID(), day, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSpendSharedByTwoReplicas: replicas a and b share tenant spend through llm.spend; a
// settles its own reservation from llm.responses (b, which reads the same response, does not
// count it again); a restarted a takes its totals and open reservation back and settles the
// response that arrived while it was down.
func TestSpendSharedByTwoReplicas(t *testing.T) { testSpendShared(t, newStateEnv(t)) }

func testSpendShared(t *testing.T, e *stateEnv) {
	budgets := map[string]router.Budget{"acme": {DailyUSD: 10, MonthlyUSD: 100}}
	a := e.startReplica("a", budgets)
	b := e.startReplica("b", budgets)

	now := time.Now()
	if !a.ledger.TryReserve("acme", "r1", 2, now) || !b.ledger.TryReserve("acme", "r2", 3, now) {
		t.Fatal("reservations refused")
	}
	waitUsed(t, a.ledger, "acme", 5)
	waitUsed(t, b.ledger, "acme", 5)

	e.respond("r1", "acme", 0.5) // a's request: 2 → 0.5
	waitUsed(t, b.ledger, "acme", 3.5)
	waitUsed(t, a.ledger, "acme", 3.5)
	if rem, limited := b.ledger.Remaining("acme", time.Now()); !limited || math.Abs(rem-6.5) > 1e-9 {
		t.Fatalf("b: remaining %v %v, want 6.5", rem, limited)
	}
	// Both read r1's response; only a, which reserved it, settled it.
	if sa, sb := counterValue(t, a.sync.m.settled), counterValue(t, b.sync.m.settled); sa != 1 || sb != 0 {
		t.Fatalf("settled by a %v, by b %v; want 1 and 0", sa, sb)
	}
	if ok := counterValue(t, a.sync.m.flushes.WithLabelValues("ok")); ok < 1 {
		t.Fatalf("flushes ok %v", ok)
	}

	// a reserves r3 and goes down; r3's response arrives while it is down.
	a.ledger.TryReserve("acme", "r3", 1, time.Now())
	waitUsed(t, b.ledger, "acme", 4.5)
	a.stop()
	e.respond("r3", "acme", 0.25)
	e.respond("r1", "acme", 0.5) // a re-delivered response: settled already
	// b holds neither reservation: its view is unchanged.
	time.Sleep(100 * time.Millisecond)
	waitUsed(t, b.ledger, "acme", 4.5)

	a2 := e.startReplica("a", budgets)
	waitUsed(t, a2.ledger, "acme", 0.5+3+0.25)
	waitUsed(t, b.ledger, "acme", 0.5+3+0.25)
	if a2.ledger.Open() != 0 {
		t.Fatalf("a2 holds %d open reservations, want 0", a2.ledger.Open())
	}
	// b's own reservation is still open and settles normally.
	e.respond("r2", "acme", 1)
	waitUsed(t, a2.ledger, "acme", 0.5+1+0.25)
}

// TestSpendPropagationDelay measures, on kfake, how long a reservation on one replica takes to
// show in another's ledger: the Δ of the overshoot bound (docs/budgets.md). It logs the
// figures; it asserts only that every reservation arrives.
func TestSpendPropagationDelay(t *testing.T) { testSpendPropagationDelay(t, newStateEnv) }

// TestSpendPropagationDelayRealKafka is the same measurement on the real broker.
func TestSpendPropagationDelayRealKafka(t *testing.T) { testSpendPropagationDelay(t, newRealStateEnv) }

// TestSpendSharedByTwoReplicasRealKafka is TestSpendSharedByTwoReplicas on the real broker.
func TestSpendSharedByTwoReplicasRealKafka(t *testing.T) { testSpendShared(t, newRealStateEnv(t)) }

func testSpendPropagationDelay(t *testing.T, env func(*testing.T) *stateEnv) {
	for _, flush := range []time.Duration{20 * time.Millisecond, DefaultSpendFlushInterval} {
		t.Run(flush.String(), func(t *testing.T) {
			e := env(t)
			budgets := map[string]router.Budget{"acme": {DailyUSD: 1e6}}
			a := e.startReplicaEvery("a", budgets, flush)
			b := e.startReplicaEvery("b", budgets, flush)
			d := measurePropagationTenant(t, a.ledger, b.ledger, "acme", 30)
			t.Logf("propagation a→b over %d reservations (flush interval %v): min %v, p50 %v, p90 %v, max %v",
				len(d), flush, d[0], d[len(d)/2], d[len(d)*9/10], d[len(d)-1])
		})
	}
	// A burst of FlushAfter reservations is written at once, without waiting for the tick.
	t.Run("burst", func(t *testing.T) {
		e := env(t)
		budgets := map[string]router.Budget{"acme": {DailyUSD: 1e6}}
		a := e.startReplicaEvery("a", budgets, time.Hour)
		b := e.startReplicaEvery("b", budgets, time.Hour)
		var d []time.Duration
		for i := range 10 {
			before, _ := b.ledger.Used("acme", time.Now())
			start := time.Now()
			for j := range router.DefaultFlushAfter {
				a.ledger.Reserve("acme", fmt.Sprintf("b%d-%d", i, j), 1, start)
			}
			waitUsed(t, b.ledger, "acme", before+router.DefaultFlushAfter)
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		t.Logf("propagation a→b of a burst of %d reservations (flush interval 1h): min %v, p50 %v, max %v",
			router.DefaultFlushAfter, d[0], d[len(d)/2], d[len(d)-1])
	})
}

// TestSpendOvershootOnKfake runs a burst of concurrent requests on two replicas against one
// budget and checks the overshoot against × n_Δ × c_max with the Δ of the burst itself:
// before each admission a replica notes how much of the other's spend it sees, which gives how
// old the oldest reservation it does not see yet is (its lag); Δ is the largest lag, n_Δ the
// most admissions of one replica within any window of length Δ. (Timestamps are taken before
// each TryReserve and views before each admission, so both err towards a larger bound.)
func TestSpendOvershootOnKfake(t *testing.T) {
	const (
		budget = 5.0
		cmax   = 0.05
		pace   = 2 * time.Millisecond // one request per replica per pace
	)
	e := newStateEnv(t)
	budgets := map[string]router.Budget{"acme": {DailyUSD: budget}}
	reps := []*replica{e.startReplica("a", budgets), e.startReplica("b", budgets)}

	type admission struct {
		at   time.Time
		cost float64
	}
	var (
		mu     sync.Mutex
		logs   = make([][]admission, len(reps))
		maxLag time.Duration
	)
	var wg sync.WaitGroup
	for i, r := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(pace)
			defer tick.Stop()
			own, refusals := 0.0, 0
			for n := 0; refusals < 50; n++ {
				<-tick.C
				cost := cmax * float64(1+n%5) / 5
				start := time.Now()
				seen, _ := r.ledger.Used("acme", start)
				seenOthers := seen - own
				if !r.ledger.TryReserve("acme", fmt.Sprintf("q%d-%d", i, n), cost, start) {
					refusals++
					continue
				}
				own += cost
				mu.Lock()
				logs[i] = append(logs[i], admission{start, cost})
				other := logs[1-i]
				var cum float64
				for _, a := range other {
					if cum += a.cost; cum > seenOthers+1e-9 { // the oldest one not seen
						maxLag = max(maxLag, start.Sub(a.at))
						break
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var final float64
	deadline := time.Now().Add(10 * time.Second)
	for { // both replicas agree once the last reservations are written
		a, _ := reps[0].ledger.Used("acme", time.Now())
		b, _ := reps[1].ledger.Used("acme", time.Now())
		if math.Abs(a-b) < 1e-9 {
			final = a
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas disagree: %v and %v", a, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	delta := maxLag + pace // an admission not logged yet when another replica looked
	nDelta := 0
	for _, l := range logs {
		for k := range l {
			n := 0
			for _, a := range l[k:] {
				if a.at.Sub(l[k].at) <= delta {
					n++
				}
			}
			nDelta = max(nDelta, n)
		}
	}
	admitted := len(logs[0]) + len(logs[1])
	over := final - budget
	bound := float64(len(reps)-1) * float64(nDelta) * cmax
	t.Logf("R=%d, pace %v/replica, Δ in the burst %v ⇒ n_Δ %d, c_max $%.2f: admitted %d (%d + %d), used $%.4f of $%.2f, overshoot $%.4f, bound $%.4f",
		len(reps), pace, delta.Round(time.Millisecond), nDelta, cmax, admitted, len(logs[0]), len(logs[1]), final, budget, over, bound)
	if over > bound+1e-9 {
		t.Fatalf("overshoot %v above the bound %v", over, bound)
	}
}

func measurePropagationTenant(t *testing.T, from, to *router.Ledger, tenant string, n int) []time.Duration {
	t.Helper()
	var out []time.Duration
	for i := range n {
		before, _ := to.Used(tenant, time.Now())
		start := time.Now()
		from.Reserve(tenant, fmt.Sprintf("m%d-%d", i, start.UnixNano()), 1, start)
		waitUsed(t, to, tenant, before+1)
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out
}

// TestHealthFlips publishes a provider unhealthy on llm.provider.health and sees the router's
// view flip, then healthy again; records written before the tail started are applied before
// it is ready.
func TestHealthFlips(t *testing.T) {
	e := newStateEnv(t)
	ctx := context.Background()
	// Before the tail starts: anthropic is out.
	if err := PublishHealth(ctx, e.cl, e.heal, e.codec, schemas.ProviderHealth{Provider: "anthropic",
		Status: schemas.HealthUnhealthy, Reason: "probe_failed", Source: "probe"}); err != nil {
		t.Fatal(err)
	}
	table := router.NewHealthTable(0, nil)
	h, err := NewHealthTail(HealthTailConfig{Brokers: e.brokers, Topic: e.heal, Codec: e.codec, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done; h.Close() })
	select {
	case <-h.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("health tail not ready")
	}
	if reason, out := table.Unhealthy("anthropic", "claude"); !out || reason != "probe_failed" {
		t.Fatalf("anthropic: %q %v; the record before start was not applied by Ready", reason, out)
	}
	if _, out := table.Unhealthy("openai", "gpt-4o"); out {
		t.Fatal("openai unhealthy before anything said so")
	}

	flip := func(status string, wantOut bool) {
		t.Helper()
		if err := PublishHealth(ctx, e.cl, e.heal, e.codec, schemas.ProviderHealth{Provider: "openai", Model: "gpt-4o",
			Status: status, Reason: "breaker_open", TS: time.Now().UnixMilli(), Source: "breaker/worker-1"}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, out := table.Unhealthy("openai", "gpt-4o"); out == wantOut {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("openai/gpt-4o did not become %s", status)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	flip(schemas.HealthUnhealthy, true)
	if _, out := table.Unhealthy("openai", "gpt-4o-mini"); out {
		t.Error("a sibling model was taken out")
	}
	time.Sleep(2 * time.Millisecond) // a strictly newer timestamp
	flip(schemas.HealthHealthy, false)

	if err := PublishHealth(ctx, e.cl, e.heal, e.codec, schemas.ProviderHealth{Provider: "openai", Status: "sick"}); err == nil {
		t.Error("an invalid status was published")
	}
}

func TestSpendSyncConfigIsChecked(t *testing.T) {
	if _, err := NewSpendSync(SpendSyncConfig{FlushInterval: -1}); err == nil {
		t.Fatal("empty config accepted")
	}
	if _, err := NewHealthTail(HealthTailConfig{}); err == nil {
		t.Fatal("empty config accepted")
	}
}

type refuseAll struct{ asked []string }

func (r *refuseAll) TryReserve(_, requestID string, _ float64, _ time.Time) bool {
	r.asked = append(r.asked, requestID)
	return false
}

// TestRouterRoleReserves: a routed request reserves its estimate; one whose reservation is
// refused ends in a retryable budget_exceeded error response instead of a work item.
func TestRouterRoleReserves(t *testing.T) {
	h := newHarness(t)
	rt, err := router.New(router.Table{
		Models:  []router.Model{{Name: "m", Provider: "p1", Version: "m-1", ContextWindow: 8000, MaxOutputTokens: 1000, Price: router.Price{InputPerMTok: 1, OutputPerMTok: 1}}},
		Default: router.Rule{Model: "m"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := router.NewLedger(router.LedgerConfig{ReplicaID: "r", Limits: func(string) (router.Budget, bool) { return router.Budget{DailyUSD: 1}, true }})
	if err != nil {
		t.Fatal(err)
	}
	ledger.MarkLive()
	rec := func(id string) *kgo.Record {
		return &kgo.Record{Topic: topics.Requests, Value: []byte(`{"request_id":"` + id + `","tenant_id":"acme","created_at":1,"messages":[{"role":"user","content":"hi"}]}`),
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}}
	}
	r := &RouterRole{Client: h.cl, Codec: h.codec, Router: rt, Topics: topics, Budgets: ledger}
	if err := r.Handle(context.Background(), rec("ok-1")); err != nil {
		t.Fatal(err)
	}
	if day, _ := ledger.Used("acme", time.Now()); day <= 0 || ledger.Open() != 1 {
		t.Fatalf("no reservation: used %v, open %d", day, ledger.Open())
	}
	refuse := &refuseAll{}
	r.Budgets = refuse
	if err := r.Handle(context.Background(), rec("no-1")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(refuse.asked, []string{"no-1"}) {
		t.Fatalf("TryReserve asked for %v", refuse.asked)
	}
	work := read[schemas.WorkItem](h, topics.Work("p1"), schemas.TypeWorkItem)
	if len(work) != 1 || work[0].Request.RequestID != "ok-1" {
		t.Fatalf("work %+v", work)
	}
	resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse)
	if len(resps) != 1 || resps[0].RequestID != "no-1" || resps[0].Error == nil ||
		resps[0].Error.Code != router.ReasonBudgetExceeded || !resps[0].Error.Retryable {
		t.Fatalf("responses %+v", resps)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestHealthTailReadyWhenTheEndIsUnreachable: a partition whose last offset holds no record a
// reader sees (here a transaction's commit marker) cannot be read "to its end"; the tail still
// becomes ready, after its ReadyTimeout, with the records before it applied.
func TestHealthTailReadyWhenTheEndIsUnreachable(t *testing.T) {
	e := newStateEnv(t)
	txn, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.TransactionalID("health-writer"))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	ctx := context.Background()
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	v, err := e.codec.Encode(schemas.TypeHealth, &schemas.ProviderHealth{Provider: "groq", Status: schemas.HealthUnhealthy,
		Reason: "probe_failed", TS: time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, &kgo.Record{Topic: e.heal, Key: []byte("groq|"), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	table := router.NewHealthTable(0, nil)
	h, err := NewHealthTail(HealthTailConfig{Brokers: e.brokers, Topic: e.heal, Codec: e.codec, Table: table,
		ReadyTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done; h.Close() })
	select {
	case <-h.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("never ready: the unreachable end blocked it")
	}
	if reason, out := table.Unhealthy("groq", "llama"); !out || reason != "probe_failed" {
		t.Fatalf("groq: %q %v", reason, out)
	}
}
