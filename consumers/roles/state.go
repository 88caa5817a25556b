package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// The router's shared state, kept current from Kafka: tenant spend (SpendSync, on the
// compacted topic llm.spend, fed by llm.responses) and provider health (HealthTail, on the
// compacted topic llm.provider.health). Each owns its Kafka clients and reads its topics
// directly, without a consumer group: every router replica needs every record. See
// docs/budgets.md.

// DefaultSpendFlushInterval is how often a replica writes its changed spend totals (sooner
// when its ledger counts router.DefaultFlushAfter changes).
const DefaultSpendFlushInterval = 100 * time.Millisecond

// SpendSyncConfig configures NewSpendSync.
type SpendSyncConfig struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// ExtraOpts are added to both Kafka clients (dialers, SASL, kfake seeds in tests).
	ExtraOpts []kgo.Opt
	// SpendTopic is the compacted spend topic (llm.spend). Required.
	SpendTopic string
	// ResponsesTopic is read to settle reservations with the actual cost (llm.responses). Required.
	ResponsesTopic string
	// Codec encodes and decodes the records. Required.
	Codec *schemas.Codec
	// AuditTopic receives a budget.settled event for each response that settles a reservation
	// of this replica (llm.audit). Default "": no events.
	AuditTopic string
	// Ledger is this replica's ledger. Required.
	Ledger *router.Ledger
	// FlushInterval is how often changed totals are written. Default DefaultSpendFlushInterval.
	FlushInterval time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Registerer receives the switchyard_spend_* metrics. Default none.
	Registerer prometheus.Registerer
}

type spendMetrics struct {
	flushes          *prometheus.CounterVec
	settled, expired prometheus.Counter
}

func newSpendMetrics(reg prometheus.Registerer, l *router.Ledger) *spendMetrics {
	m := &spendMetrics{
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "switchyard", Subsystem: "spend",
			Name: "flushes_total", Help: "Writes of this replica's changed spend totals to the spend topic, by result."}, []string{"result"}),
		settled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "switchyard", Subsystem: "spend",
			Name: "settled_total", Help: "Responses that settled a reservation of this replica."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "switchyard", Subsystem: "spend",
			Name: "expired_total", Help: "Reservations that were not settled within the TTL and count at their estimate."}),
	}
	if reg != nil {
		open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "switchyard", Subsystem: "spend",
			Name: "open_reservations", Help: "Reservations of this replica waiting for their response."},
			func() float64 { return float64(l.Open()) })
		for _, c := range []prometheus.Collector{m.flushes, m.settled, m.expired, open} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err) // a metric of ours defined twice differently: a bug
				}
			}
		}
	}
	return m
}

// SpendSync shares one replica's Ledger through llm.spend: at start it reads the topic from
// the beginning (taking back this replica's own totals and open reservations after a
// restart), then keeps tailing it for the other replicas' totals, writes its own changed
// totals every FlushInterval, and settles its reservations from llm.responses.
//
// Settlement: every replica reads every response (partitions assigned directly, no group) and
// settles only the requests it reserved (Ledger.SettleReserved), so a response is counted
// once however many replicas read it. Its position on llm.responses is written to llm.spend
// with its totals (a checkpoint record after them, in the same single-partition write), so a
// restarted replica resumes reading where its written state ends: responses it settled before
// the crash find no reservation (ignored), those it had not find the reservation taken back.
type SpendSync struct {
	cfg   SpendSyncConfig
	log   *slog.Logger
	m     *spendMetrics
	cl    *kgo.Client // reads and writes llm.spend
	ready chan struct{}

	mu      sync.Mutex
	respPos map[int32]int64 // next offset to read per llm.responses partition
	lastCP  map[int32]int64 // the positions last written
	cp      map[string]int64
	resp    *kgo.Client

	flushMu    sync.Mutex // one Flush at a time: two would race to write older totals last
	lastExpire time.Time  // under flushMu
	closeOnce  sync.Once
}

// NewSpendSync validates cfg and builds the spend topic's client; Run starts the work.
func NewSpendSync(cfg SpendSyncConfig) (*SpendSync, error) {
	var errs []error
	if len(cfg.Brokers) == 0 {
		errs = append(errs, errors.New("spend sync: Brokers is required"))
	}
	if cfg.SpendTopic == "" || cfg.ResponsesTopic == "" {
		errs = append(errs, errors.New("spend sync: SpendTopic and ResponsesTopic are required"))
	}
	if cfg.Codec == nil || cfg.Ledger == nil {
		errs = append(errs, errors.New("spend sync: Codec and Ledger are required"))
	}
	if cfg.FlushInterval < 0 {
		errs = append(errs, errors.New("spend sync: FlushInterval is negative"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = DefaultSpendFlushInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("switchyard-spend-" + cfg.Ledger.ReplicaID()),
		kgo.ConsumeTopics(cfg.SpendTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50 * time.Millisecond)}, producers.ProducerOpts()...)
	cl, err := kgo.NewClient(append(opts, cfg.ExtraOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("spend sync: %w", err)
	}
	return &SpendSync{cfg: cfg, log: cfg.Logger, m: newSpendMetrics(cfg.Registerer, cfg.Ledger), cl: cl,
		ready: make(chan struct{}), respPos: map[int32]int64{}}, nil
}

// Ready is closed once the spend topic has been read to its end as of start and settlement
// has begun: from then on the Ledger holds every replica's totals, and the router may route.
func (s *SpendSync) Ready() <-chan struct{} { return s.ready }

// Run reads, writes and settles until ctx ends; then it writes what is pending one last time.
func (s *SpendSync) Run(ctx context.Context) error {
	// A start marker (a tombstone of a key nothing else uses) first: the end offsets listed
	// after it point just past records that exist. Without it, a compacted partition whose
	// last record was a tombstone since cleaned away would end past its last record, and the
	// restore would wait for a record that never comes.
	marker := &kgo.Record{Topic: s.cfg.SpendTopic, Key: []byte(router.SpendKey("", "start", s.cfg.Ledger.ReplicaID()))}
	if err := producers.ProduceAll(ctx, s.cl, marker); err != nil {
		return fmt.Errorf("spend sync: start marker: %w", err)
	}
	ends, err := endOffsets(ctx, s.cl, s.cfg.SpendTopic)
	if err != nil {
		return fmt.Errorf("spend sync: %w", err)
	}
	restored := false
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	goLive := func() error {
		s.cfg.Ledger.MarkLive()
		if err := s.startResponses(ctx); err != nil {
			return err
		}
		wg.Add(2)
		go func() { defer wg.Done(); errc <- s.settleLoop(ctx) }()
		go func() { defer wg.Done(); errc <- s.flushLoop(ctx) }()
		close(s.ready)
		return nil
	}
	if caughtUp(ends) {
		restored = true
		if err := goLive(); err != nil {
			return err
		}
	}
	for {
		fs := s.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			cancel()
			wg.Wait()
			s.lastFlush()
			return nil
		}
		if err := fatalFetchErr(fs); err != nil {
			return fmt.Errorf("spend sync: read %s: %w", s.cfg.SpendTopic, err)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			s.apply(rec, restored)
			if !restored {
				ends.seen(rec.Partition, rec.Offset)
			}
		})
		if !restored && caughtUp(ends) {
			restored = true
			if err := goLive(); err != nil {
				return err
			}
		}
		select {
		case err := <-errc:
			if err != nil && ctx.Err() == nil {
				return err
			}
		default:
		}
	}
}

// lastFlush writes what is pending one last time, on a fresh short context (Run's has ended).
func (s *SpendSync) lastFlush() {
	select {
	case <-s.ready:
	default:
		return // not live: nothing of ours to write
	}
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Flush(fctx); err != nil {
		s.log.Warn("spend sync: last flush failed", "err", err)
	}
}

func (s *SpendSync) apply(rec *kgo.Record, restored bool) {
	if rec.Value == nil {
		s.cfg.Ledger.ApplyTombstone(string(rec.Key))
		return
	}
	var st schemas.SpendState
	if err := s.cfg.Codec.Decode(schemas.TypeSpend, rec.Value, producers.Header(rec, "content-type"), &st); err != nil {
		s.log.Warn("spend sync: undecodable spend record skipped", "offset", rec.Offset, "err", err)
		return
	}
	if st.Period == schemas.SpendCheckpoint {
		if !restored && st.ReplicaID == s.cfg.Ledger.ReplicaID() {
			s.mu.Lock()
			s.cp = st.ResponseOffsets
			s.mu.Unlock()
		}
		return
	}
	s.cfg.Ledger.Apply(st)
}

// startResponses builds the llm.responses reader at this replica's checkpoint, or at the end
// of each partition when it has none (a new replica reserved nothing before).
func (s *SpendSync) startResponses(ctx context.Context) error {
	ends, err := endOffsets(ctx, s.cl, s.cfg.ResponsesTopic)
	if err != nil {
		return fmt.Errorf("spend sync: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at := map[int32]kgo.Offset{}
	for p, end := range ends.end {
		off := end
		if v, ok := s.cp[strconv.Itoa(int(p))]; ok && v <= end {
			off = v
		}
		s.respPos[p] = off
		at[p] = kgo.NewOffset().At(off)
	}
	s.lastCP = maps.Clone(s.respPos)
	if len(s.cp) == 0 {
		s.lastCP = nil // write a first checkpoint, so a restart resumes here
	}
	opts := []kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...), kgo.ClientID("switchyard-settle-" + s.cfg.Ledger.ReplicaID()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.ResponsesTopic: at}),
		kgo.FetchMaxWait(50 * time.Millisecond)}
	cl, err := kgo.NewClient(append(opts, s.cfg.ExtraOpts...)...)
	if err != nil {
		return fmt.Errorf("spend sync: %w", err)
	}
	s.resp = cl
	return nil
}

// settleLoop settles this replica's reservations with the responses' actual cost.
func (s *SpendSync) settleLoop(ctx context.Context) error {
	for {
		fs := s.resp.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fatalFetchErr(fs); err != nil {
			return fmt.Errorf("spend sync: read %s: %w", s.cfg.ResponsesTopic, err)
		}
		var audit []*kgo.Record
		fs.EachRecord(func(rec *kgo.Record) {
			// Responses are keyed by request id: only those this replica holds are decoded.
			if len(rec.Key) == 0 || s.cfg.Ledger.Holds(string(rec.Key)) {
				audit = append(audit, s.settle(ctx, rec)...)
			}
			// The position moves only after the settlement is in the ledger, so a checkpoint
			// never runs ahead of the totals written with it.
			s.mu.Lock()
			s.respPos[rec.Partition] = rec.Offset + 1
			s.mu.Unlock()
		})
		if len(audit) > 0 {
			// The settlements stand whether or not their events are written: a lost event
			// loses an explanation, never money.
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := producers.ProduceAll(actx, s.cl, audit...); err != nil && ctx.Err() == nil {
				s.log.Warn("spend sync: settlement audit events not written", "topic", s.cfg.AuditTopic, "err", err)
			}
			cancel()
		}
	}
}

// settle settles the reservation of one response, if this replica holds it, and returns its
// budget.settled audit record (none without an AuditTopic).
func (s *SpendSync) settle(ctx context.Context, rec *kgo.Record) []*kgo.Record {
	var r schemas.Response
	if err := s.cfg.Codec.DecodeContext(ctx, schemas.TypeResponse, rec.Value, producers.Header(rec, "content-type"), &r); err != nil {
		// Its reservation, if ours, expires at its estimate.
		s.log.Warn("spend sync: undecodable response skipped", "partition", rec.Partition, "offset", rec.Offset, "err", err)
		return nil
	}
	at := time.UnixMilli(r.CompletedAt)
	if r.CompletedAt <= 0 {
		at = s.cfg.Now()
	}
	if !s.cfg.Ledger.SettleReserved(r.RequestID, r.CostUSD, at) {
		return nil
	}
	s.m.settled.Inc()
	if s.cfg.AuditTopic == "" {
		return nil
	}
	out := newOutputs(s.cfg.Codec, s.cfg.AuditTopic)
	out.forRequest(r.RequestID, r.TenantID, r.FallbackDepth)
	out.audit(schemas.EventBudgetSettled, schemas.StageRespond, r.Provider, r.Model, 0,
		"cost_usd", ftoa(r.CostUSD), "status", r.Status, "replica", s.cfg.Ledger.ReplicaID())
	return out.recs
}

func (s *SpendSync) flushLoop(ctx context.Context) error {
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.cfg.Ledger.Kick(): // a burst: write it now rather than at the next tick
		}
		if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
			// Kept pending; the next tick tries again.
			s.log.Warn("spend sync: write failed", "topic", s.cfg.SpendTopic, "err", err)
		}
	}
}

// Flush expires old reservations and writes this replica's changed totals, the records of
// periods that are over as tombstones, and then its llm.responses checkpoint, awaiting them.
// On failure the totals stay pending.
func (s *SpendSync) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	now := s.cfg.Now()
	// Expiry walks every open reservation: once a second is plenty against a TTL of minutes.
	if now.Sub(s.lastExpire) >= time.Second {
		s.m.expired.Add(float64(s.cfg.Ledger.Expire(now)))
		s.lastExpire = now
	}
	// The positions are read before the totals: the totals then include every settlement
	// before the positions (and maybe some after, which a replay finds settled and ignores).
	s.mu.Lock()
	pos := maps.Clone(s.respPos)
	cpChanged := !maps.Equal(pos, s.lastCP)
	s.mu.Unlock()
	p := s.cfg.Ledger.TakePending(now)
	if p.Empty() && !cpChanged {
		return nil
	}
	replica := s.cfg.Ledger.ReplicaID()
	recs := make([]*kgo.Record, 0, len(p.States)+len(p.Tombstones)+1)
	add := func(key string, st *schemas.SpendState) error {
		rec := &kgo.Record{Topic: s.cfg.SpendTopic, Key: []byte(key)}
		if st != nil {
			v, err := s.cfg.Codec.Encode(schemas.TypeSpend, st)
			if err != nil {
				return err
			}
			rec.Value = v
			rec.Headers = []kgo.RecordHeader{{Key: "content-type", Value: []byte(s.cfg.Codec.ContentType())}}
		}
		recs = append(recs, rec)
		return nil
	}
	for i := range p.States {
		st := &p.States[i]
		if err := add(router.SpendKey(st.TenantID, st.Period, st.ReplicaID), st); err != nil {
			s.cfg.Ledger.Requeue(p)
			return err
		}
	}
	for _, k := range p.Tombstones {
		_ = add(k, nil)
	}
	if cpChanged {
		cp := &schemas.SpendState{Period: schemas.SpendCheckpoint, ReplicaID: replica, UpdatedAt: now.UnixMilli(),
			Reservations: []schemas.SpendReservation{}, ResponseOffsets: make(map[string]int64, len(pos))}
		for part, off := range pos {
			cp.ResponseOffsets[strconv.Itoa(int(part))] = off
		}
		if err := add(router.SpendKey("", schemas.SpendCheckpoint, replica), cp); err != nil {
			s.cfg.Ledger.Requeue(p)
			return err
		}
	}
	if err := producers.ProduceAll(ctx, s.cl, recs...); err != nil {
		s.cfg.Ledger.Requeue(p)
		s.m.flushes.WithLabelValues("error").Inc()
		return err
	}
	s.m.flushes.WithLabelValues("ok").Inc()
	if cpChanged {
		s.mu.Lock()
		s.lastCP = pos
		s.mu.Unlock()
	}
	return nil
}

// Close releases the clients; call it after Run returned. Safe to call more than once.
func (s *SpendSync) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		resp := s.resp
		s.mu.Unlock()
		if resp != nil {
			resp.Close()
		}
		s.cl.Close()
	})
}

// HealthTailConfig configures NewHealthTail.
type HealthTailConfig struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// ExtraOpts are added to the Kafka client.
	ExtraOpts []kgo.Opt
	// Topic is the compacted health topic (llm.provider.health). Required.
	Topic string
	// Codec decodes the records. Required.
	Codec *schemas.Codec
	// Table receives the records. Required.
	Table *router.HealthTable
	// ReadyTimeout bounds the wait for the end of the topic before Ready. Default
	// DefaultHealthReadyTimeout.
	ReadyTimeout time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// HealthTail reads llm.provider.health from the start and keeps feeding its HealthTable.
type HealthTail struct {
	cfg   HealthTailConfig
	cl    *kgo.Client
	ready chan struct{}
	once  sync.Once
}

// NewHealthTail validates cfg and builds the client; Run starts reading.
func NewHealthTail(cfg HealthTailConfig) (*HealthTail, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Codec == nil || cfg.Table == nil {
		return nil, errors.New("health tail: Brokers, Topic, Codec and Table are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultHealthReadyTimeout
	}
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("switchyard-health"),
		kgo.ConsumeTopics(cfg.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50 * time.Millisecond)}
	cl, err := kgo.NewClient(append(opts, cfg.ExtraOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("health tail: %w", err)
	}
	return &HealthTail{cfg: cfg, cl: cl, ready: make(chan struct{})}, nil
}

// DefaultHealthReadyTimeout bounds how long HealthTail waits to reach the end offsets it saw
// at start before it reports ready anyway: a partition can end past its last readable record
// (a tombstone cleaned away by compaction, a transaction marker), and the router must not
// wait forever for it (health only ever takes providers out, so a partial view is safe).
const DefaultHealthReadyTimeout = 10 * time.Second

// Ready is closed once the topic has been read to its end as of start, or after
// DefaultHealthReadyTimeout.
func (h *HealthTail) Ready() <-chan struct{} { return h.ready }

// Run reads until ctx ends.
func (h *HealthTail) Run(ctx context.Context) error {
	ends, err := endOffsets(ctx, h.cl, h.cfg.Topic)
	if err != nil {
		return fmt.Errorf("health tail: %w", err)
	}
	live := caughtUp(ends)
	if live {
		close(h.ready)
	}
	giveUp := time.Now().Add(h.cfg.ReadyTimeout)
	for {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if !live {
			pctx, cancel = context.WithDeadline(ctx, giveUp)
		}
		fs := h.cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if !live && !time.Now().Before(giveUp) {
			h.cfg.Logger.Warn("health tail: end of topic not reached; routing on what was read", "topic", h.cfg.Topic)
			live = true
			close(h.ready)
		}
		if err := fatalFetchErr(fs); err != nil {
			return fmt.Errorf("health tail: read %s: %w", h.cfg.Topic, err)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if !live {
				ends.seen(rec.Partition, rec.Offset)
			}
			if rec.Value == nil {
				if p, m, src, ok := router.SplitHealthKey(string(rec.Key)); ok {
					h.cfg.Table.Forget(p, m, src)
				}
				return
			}
			var st schemas.ProviderHealth
			if err := h.cfg.Codec.Decode(schemas.TypeHealth, rec.Value, producers.Header(rec, "content-type"), &st); err != nil {
				h.cfg.Logger.Warn("health tail: undecodable record skipped", "offset", rec.Offset, "err", err)
				return
			}
			h.cfg.Table.Apply(st)
		})
		if !live && caughtUp(ends) {
			live = true
			close(h.ready)
		}
	}
}

// Close releases the client; safe to call more than once.
func (h *HealthTail) Close() { h.once.Do(h.cl.Close) }

// PublishHealth writes a health record to the health topic (keyed router.HealthKey) and
// waits for its acknowledgement. Breakers and probes report through it; a record without a
// timestamp gets the current time.
func PublishHealth(ctx context.Context, cl *kgo.Client, topic string, codec *schemas.Codec, rec schemas.ProviderHealth) error {
	if rec.Provider == "" {
		return errors.New("publish health: provider is required")
	}
	if rec.Status != schemas.HealthHealthy && rec.Status != schemas.HealthUnhealthy {
		return fmt.Errorf("publish health: status %q: want healthy or unhealthy", rec.Status)
	}
	if rec.TS == 0 {
		rec.TS = time.Now().UnixMilli()
	}
	v, err := codec.Encode(schemas.TypeHealth, &rec)
	if err != nil {
		return err
	}
	return producers.ProduceAll(ctx, cl, &kgo.Record{Topic: topic, Key: []byte(router.HealthKey(rec.Provider, rec.Model, rec.Source)), Value: v,
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(codec.ContentType())}}})
}

// catchUp tracks a topic's end offsets as of start and what has been read of them.
type catchUp struct {
	end  map[int32]int64
	next map[int32]int64
}

func (c *catchUp) seen(p int32, off int64) {
	if off+1 > c.next[p] {
		c.next[p] = off + 1
	}
}

func caughtUp(c *catchUp) bool {
	for p, end := range c.end {
		if c.next[p] < end {
			return false
		}
	}
	return true
}

// endOffsets lists the topic's partitions with their start and end offsets; a partition whose
// start is its end (empty, or everything deleted) counts as read.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (*catchUp, error) {
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	c := &catchUp{end: map[int32]int64{}, next: map[int32]int64{}}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Topic == topic {
			c.end[o.Partition] = o.Offset
		}
	})
	if len(c.end) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions (does it exist?)", topic)
	}
	starts.Each(func(o kadm.ListedOffset) {
		if o.Topic == topic && o.Err == nil {
			c.next[o.Partition] = o.Offset
		}
	})
	return c, nil
}

// fatalFetchErr returns an error that ends the reading: the client was closed. franz-go
// retries every other fetch error itself.
func fatalFetchErr(fs kgo.Fetches) error {
	var out error
	fs.EachError(func(_ string, _ int32, err error) {
		if out == nil && errors.Is(err, kgo.ErrClientClosed) {
			out = err
		}
	})
	return out
}
