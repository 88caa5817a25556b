package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/switchyard-llm/switchyard/producers"
)

// ErrClosed is returned by [Consumer.Run] after [Consumer.Close].
var ErrClosed = errors.New("consumers: consumer closed")

// commitTimeout bounds the synchronous commits on revoke and on stop. A
// revoke must finish within the group's rebalance timeout (60 s by default);
// a commit that cannot finish in this time only costs duplicates.
const commitTimeout = 10 * time.Second

// fetchMaxWait is the consumer's FetchMaxWait; see New.
const fetchMaxWait = 100 * time.Millisecond

// PanicError is the error a handler panic turns into when [Config.OnPanic]
// is nil (or itself panics). The record is retried.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// Stats are cumulative counters of one [Consumer], for tests and debugging.
// Metrics carry the same information for operators.
type Stats struct {
	// Consumed counts records accepted from polls for an owned partition.
	Consumed int64
	// Completed counts records whose handler returned nil while their
	// partition was still owned (eligible for marking).
	Completed int64
	// HandlerErrors counts attempts that returned an error, including
	// panics that are retried (OnPanic nil or returning an error).
	HandlerErrors int64
	// Retries counts attempts started again after an error.
	Retries int64
	// Panics counts handler panics (recovered).
	Panics int64
	// InFlight is the number of records held now: polled and not yet
	// passed by a mark (queued, running, or completed behind an unfinished
	// record). Never above MaxInFlight.
	InFlight int64
	// MaxWindow is the largest number of records one partition held at
	// once. Pausing keeps it below 8×Concurrency.
	MaxWindow int64
	// Marks counts MarkCommitRecords calls (one per advance of a
	// partition's contiguous completed prefix).
	Marks int64
	// FencedCompletions counts handlers that returned after their
	// partition was revoked, lost or shut down: the mark they would have
	// made was suppressed by the fence.
	FencedCompletions int64
	// StaleDropped counts polled records of a partition that was no longer
	// owned when they were routed; they never ran.
	StaleDropped int64
	// CommitRequests counts offset commit requests the client sent
	// (periodic, on revoke, on stop).
	CommitRequests int64
	// CommitErrors counts failed commit requests.
	CommitErrors int64
	// NonOwnedCommits counts partitions found in an outgoing offset commit
	// request while this member did not own them (after the revoke or lost
	// callback for them returned, or before they were assigned). The
	// fencing guarantees it stays 0; tests assert it.
	NonOwnedCommits int64
	// Assigned, Revoked and Lost count partitions passed to the group
	// callbacks.
	Assigned, Revoked, Lost int64
}

type stats struct {
	consumed, completed, handlerErrors, retries, panics, marks    atomic.Int64
	fencedCompletions, staleDropped, commitRequests, commitErrors atomic.Int64
	nonOwnedCommits, assigned, revoked, lost, maxWindow           atomic.Int64
}

type tp struct {
	topic     string
	partition int32
}

// Consumer is one member of a consumer group running a [Handler] per record.
// See the package documentation for the delivery guarantees.
//
// # Offsets
//
// The client runs with kgo.AutoCommitMarks: only offsets the consumer marked
// are committed, every CommitInterval and synchronously on revoke and stop.
// Per partition, a tracker lists the records handed to handlers in offset
// order; when a record completes, the contiguous completed prefix advances
// and only its highest record is marked. A record that is queued, running or
// failing holds the prefix, so a commit never passes unfinished work.
//
// # Fencing (the revoke race)
//
// A handler may finish at any moment, also while or after its partition is
// revoked. Walk through the window without a fence: the handler's outputs
// are acknowledged; before it marks, the group revokes the partition and
// the revoke's commit writes offset N; the new owner starts at N; now our
// handler marks N+5. franz-go forgets its marks for a revoked partition
// once the callback returns, so the mark is usually dropped, but not if the
// partition has come back to us in the meantime: its mark state is rebuilt
// on the next poll, the stale mark lands in the new assignment, and the
// next commit skips records of the new assignment that never ran. If the
// mark lands while the revoke is still running (between its commit and its
// return) the periodic commit may still send it for a partition that is
// being handed over, possibly past records the new owner has not finished.
//
// So the first thing OnPartitionsRevoked and OnPartitionsLost do is set the
// tracker's fenced flag under the tracker's lock, the same lock a completing
// handler holds while it checks the flag and marks. Either the handler got
// the lock first: it marked, its work is durable, and the synchronous commit
// below includes it; or the fence came first: the handler does not mark
// (counted in Stats.FencedCompletions) and the next owner does the record
// again, a duplicate, never a loss. The fence also drops the queued records
// and cancels the handlers' contexts. Then the revoke commits what is
// marked, synchronously, before it returns (a lost partition is not
// committed: the member's generation is gone). The fenced tracker is
// dropped; if the partition is assigned to us again, its records go to a
// fresh tracker. Stats.NonOwnedCommits checks every outgoing commit request
// against the ownership set (owned from OnPartitionsAssigned until the
// revoke or lost callback returns).
//
// The client uses kgo.BlockRebalanceOnPoll, held only from the moment
// PollRecords returns until its records are appended to the trackers (no
// handler runs under it, nothing blocks): otherwise records polled just
// before a revoke could be routed after it, into a tracker of a later
// assignment. Handlers run outside the block, so slow handlers never delay
// a rebalance.
//
// # Backpressure
//
// At most MaxInFlight records are held: polled and not yet passed by a mark
// (queued, running, or completed behind an unfinished record). The poll loop
// waits for capacity and asks PollRecords for no more than the free
// capacity, so memory is bounded even when a record is stuck. At most
// Concurrency records run per partition.
//
// PollRecords hands out records in fetch order, partition after partition,
// so without more care the budget piles up on the first partitions of a
// fetch while the others sit idle (with slow LLM handlers: two or three
// partitions × Concurrency running instead of all of them), and a partition
// stuck on one record would soak up the whole budget and stall every
// partition. Hence: a poll takes at most 4×Concurrency records, and a
// partition whose window reaches 4×Concurrency is paused
// (PauseFetchPartitions) until it falls to 2×Concurrency, so the next polls
// serve the other partitions; a partition never holds 8×Concurrency
// records (Stats.MaxWindow). A resumed partition is fetched again at the
// next fetch round, so the client uses a 100 ms FetchMaxWait (kgo's default
// 5 s made BenchmarkConsumeProduce 10× slower).
//
// # Metrics
//
// Registered on Config.Registerer (labels: group, topic; no partition
// labels): switchyard_consumer_records_consumed_total,
// _records_completed_total, _handler_errors_total, _handler_retries_total,
// _handler_panics_total, _fenced_completions_total,
// _handler_duration_seconds (per attempt), _records_in_flight (group),
// _stale_records_dropped_total (group), _commits_total (group, result),
// _partitions_total (group, event=assigned|revoked|lost), _lag (group, topic; computed at
// scrape time: per owned partition, the high watermark of its latest fetch with records minus
// its commit point, summed per topic).
type Consumer struct {
	cfg Config
	cl  *kgo.Client
	log *slog.Logger
	// mark is cl.MarkCommitRecords; tests observe marks through it.
	mark func(...*kgo.Record)
	m    *metrics
	st   stats

	// baseCtx is the client's context; it carries the commit inspector so
	// that every commit the client sends passes through it.
	baseCtx context.Context

	// hardCtx is the parent of every handler context; cancelling it
	// abandons all in-flight work.
	hardCtx    context.Context
	hardCancel context.CancelFunc

	draining atomic.Bool   // set when shutdown starts: no new records start
	polling  atomic.Bool   // Run's poll loop is running
	inflight atomic.Int64  // records polled and not yet passed by a mark
	space    chan struct{} // signalled when inflight decreases
	active   atomic.Int64  // handler goroutines alive
	idle     chan struct{} // signalled when active drops to 0

	// A partition stops fetching once its window reaches pauseAt and
	// resumes when it falls to resumeAt.
	pauseAt, resumeAt int

	mu    sync.Mutex
	parts map[tp]*partition // live trackers
	owned map[tp]bool       // assigned and not yet released by a revoke/lost callback

	lifeMu    sync.Mutex
	running   bool
	closing   bool
	stopRun   context.CancelFunc
	runDone   chan struct{}
	abort     chan struct{} // closed by Close: skip the drain
	closeDone chan struct{}
	clientMu  sync.Once
}

// New validates cfg and creates the consumer and its client. The client
// joins the group right away; records are handled once [Consumer.Run] is
// called.
func New(cfg Config) (*Consumer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg:       cfg,
		log:       cfg.Logger.With("group", cfg.Group),
		space:     make(chan struct{}, 1),
		idle:      make(chan struct{}, 1),
		parts:     make(map[tp]*partition),
		owned:     make(map[tp]bool),
		abort:     make(chan struct{}),
		closeDone: make(chan struct{}),
	}
	c.m = newMetrics(cfg.Registerer, cfg.Group)
	c.m.lag.add(c)
	c.pauseAt, c.resumeAt = 4*cfg.Concurrency, 2*cfg.Concurrency
	c.hardCtx, c.hardCancel = context.WithCancel(context.Background())
	c.baseCtx = kgo.PreCommitFnContext(context.Background(), c.inspectCommit)

	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.WithContext(c.baseCtx),
		kgo.WithLogger(kgoLogger{cfg.Logger.With("component", "kgo", "group", cfg.Group)}),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		// Resuming a paused partition takes effect at the next fetch,
		// which an in-flight fetch with no new data delays by up to
		// FetchMaxWait (kgo default 5 s, Kafka's 500 ms). 100 ms measured
		// best in BenchmarkConsumeProduce; an idle member pays ~10 empty
		// fetches per second per broker.
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(cfg.CommitInterval),
		kgo.AutoCommitCallback(c.onAutoCommit),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	if cfg.ProducerOpts != nil {
		opts = append(opts, cfg.ProducerOpts...)
	} else {
		opts = append(opts, producers.ProducerOpts()...)
	}
	opts = append(opts, cfg.ExtraOpts...)

	cl, err := kgo.NewClient(opts...)
	if err != nil {
		c.hardCancel()
		return nil, fmt.Errorf("consumers: new client: %w", err)
	}
	c.cl = cl
	c.mark = cl.MarkCommitRecords
	return c, nil
}

// Client returns the consumer's client. Handlers produce their outputs with
// it (and await the acks) so that producing shares connections and the
// idempotent producer of the consumer. Do not close it; use Close.
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Stats returns a snapshot of the consumer's counters.
func (c *Consumer) Stats() Stats {
	return Stats{
		Consumed:          c.st.consumed.Load(),
		Completed:         c.st.completed.Load(),
		HandlerErrors:     c.st.handlerErrors.Load(),
		Retries:           c.st.retries.Load(),
		Panics:            c.st.panics.Load(),
		InFlight:          c.inflight.Load(),
		MaxWindow:         c.st.maxWindow.Load(),
		Marks:             c.st.marks.Load(),
		FencedCompletions: c.st.fencedCompletions.Load(),
		StaleDropped:      c.st.staleDropped.Load(),
		CommitRequests:    c.st.commitRequests.Load(),
		CommitErrors:      c.st.commitErrors.Load(),
		NonOwnedCommits:   c.st.nonOwnedCommits.Load(),
		Assigned:          c.st.assigned.Load(),
		Revoked:           c.st.revoked.Load(),
		Lost:              c.st.lost.Load(),
	}
}

// Run polls and handles records until ctx is cancelled or Close is called,
// then shuts down in two tiers:
//
//  1. stop polling and starting records; wait up to DrainTimeout for the
//     running handlers (Close skips this wait);
//  2. fence every partition (nothing marks any more), cancel the handlers'
//     contexts and wait up to DrainTimeout for them to return, commit the
//     marked offsets synchronously, leave the group and close the client.
//
// Run returns nil after a clean stop, or the problems of the stop (final
// commit failed, handlers that ignored their cancelled context). It can be
// called once.
func (c *Consumer) Run(ctx context.Context) error {
	c.lifeMu.Lock()
	switch {
	case c.closing:
		c.lifeMu.Unlock()
		return ErrClosed
	case c.running:
		c.lifeMu.Unlock()
		return errors.New("consumers: Run called twice")
	}
	c.running = true
	ctx, cancel := context.WithCancel(ctx)
	c.stopRun = cancel
	c.runDone = make(chan struct{})
	c.lifeMu.Unlock()
	defer close(c.runDone)
	defer cancel()

	c.log.Info("consumer running", "topics", c.cfg.Topics,
		"concurrency", c.cfg.Concurrency, "max_in_flight", c.cfg.MaxInFlight)
	c.polling.Store(true)
	c.pollLoop(ctx)
	c.polling.Store(false)
	return c.shutdown()
}

// Close stops the consumer without draining: in-flight handlers get their
// contexts cancelled at once and their records are left to the next owner;
// what is already marked is committed, then the member leaves the group and
// the client is closed. For a graceful stop cancel Run's context instead.
// Close is idempotent, safe to call concurrently, and returns once
// everything is stopped.
func (c *Consumer) Close() {
	c.lifeMu.Lock()
	if c.closing {
		c.lifeMu.Unlock()
		<-c.closeDone
		return
	}
	c.closing = true
	close(c.abort)
	running, stop, done := c.running, c.stopRun, c.runDone
	c.lifeMu.Unlock()
	defer close(c.closeDone)

	if running {
		stop()
		<-done
		return
	}
	// Run never started, so no handler ever ran and nothing is marked.
	c.draining.Store(true)
	c.fenceAll()
	c.hardCancel()
	c.closeClient()
}

func (c *Consumer) closeClient() {
	c.clientMu.Do(func() {
		// Close leaves the group (unless static); kgo calls onRevoked
		// for what we still own, which commits and releases it.
		c.cl.Close()
		c.hardCancel()
		c.m.lag.remove(c)
	})
}

// State is what a readiness check needs to know of a [Consumer].
type State struct {
	Group string
	// Polling is true from the moment Run starts polling until its shutdown begins.
	Polling bool
	// Joined is true while the member holds a member id and a generation of its group (it has
	// joined, and has not been fenced or left).
	Joined bool
	// Partitions is the number of partitions the member owns now (0 is normal for a member
	// of a group with more members than partitions).
	Partitions int
}

// State reports the consumer's group membership and whether it polls, read from the client
// and the consumer's own state, for readiness checks.
func (c *Consumer) State() State {
	member, gen := c.cl.GroupMetadata()
	c.mu.Lock()
	n := len(c.owned)
	c.mu.Unlock()
	return State{Group: c.cfg.Group, Polling: c.polling.Load(), Joined: member != "" && gen > 0, Partitions: n}
}

// lagByTopic sums the lag of the owned partitions per consumed topic (0 for a topic with none).
func (c *Consumer) lagByTopic() map[string]int64 {
	out := make(map[string]int64, len(c.cfg.Topics))
	for _, t := range c.cfg.Topics {
		out[t] = 0
	}
	c.mu.Lock()
	ps := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		ps = append(ps, p)
	}
	c.mu.Unlock()
	for _, p := range ps {
		out[p.key.topic] += p.lag()
	}
	return out
}

func (c *Consumer) pollLoop(ctx context.Context) {
	maxIn := int64(c.cfg.MaxInFlight)
	for {
		free := maxIn - c.inflight.Load()
		if free <= 0 {
			select {
			case <-c.space:
				continue
			case <-ctx.Done():
				return
			}
		}
		// At most one window per poll: PollRecords hands out records
		// in fetch order, so a larger poll could give the whole budget
		// to the first partition of the fetch; this way that partition
		// pauses and the next poll serves the others.
		fetches := c.cl.PollRecords(ctx, int(min(free, int64(c.pauseAt))))
		// BlockRebalanceOnPoll: from here until AllowRebalance no
		// revoke can run, so every record below is routed to the
		// tracker of the assignment it was fetched under.
		stop := c.route(ctx, fetches)
		c.cl.AllowRebalance()
		if stop {
			return
		}
	}
}

// route hands the polled records to their partitions' trackers. It never
// blocks. It reports whether the poll loop must stop.
func (c *Consumer) route(ctx context.Context, fetches kgo.Fetches) (stop bool) {
	if fetches.IsClientClosed() || ctx.Err() != nil {
		// Stopping: records polled now are not started; they are not
		// marked either, so the next owner reads them again.
		return true
	}
	fetches.EachError(func(topic string, partition int32, err error) {
		c.log.Warn("fetch error", "topic", topic, "partition", partition, "err", err)
	})
	fetches.EachPartition(func(f kgo.FetchTopicPartition) {
		n := len(f.Records)
		if n == 0 {
			return
		}
		c.acquire(n)
		c.mu.Lock()
		p := c.parts[tp{f.Topic, f.Partition}]
		c.mu.Unlock()
		if p != nil {
			p.fetched(f.HighWatermark)
		}
		if p == nil || !p.enqueue(f.Records) {
			// Fetched under an assignment that has ended: the
			// next owner reads these from the committed offset.
			c.st.staleDropped.Add(int64(n))
			c.m.stale.Add(float64(n))
			c.release(n)
			return
		}
		c.st.consumed.Add(int64(n))
		p.m.consumed.Add(float64(n))
	})
	return stop
}

func (c *Consumer) acquire(n int) {
	c.inflight.Add(int64(n))
	c.m.inFlight.Add(float64(n))
}

func (c *Consumer) release(n int) {
	if n == 0 {
		return
	}
	c.inflight.Add(-int64(n))
	c.m.inFlight.Sub(float64(n))
	select {
	case c.space <- struct{}{}:
	default:
	}
}

// work runs records of one partition, one after another, until the
// partition has nothing left to start for it.
func (c *Consumer) work(p *partition, e *entry) {
	defer func() {
		if c.active.Add(-1) == 0 {
			select {
			case c.idle <- struct{}{}:
			default:
			}
		}
	}()
	for e != nil {
		e = p.complete(e, c.process(p, e.rec))
	}
}

// process runs the handler on rec until it succeeds or the partition's
// context ends. It reports whether the handler returned nil.
func (c *Consumer) process(p *partition, rec *kgo.Record) bool {
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := c.invoke(p, rec)
		p.m.duration.Observe(time.Since(start).Seconds())
		if err == nil {
			return true
		}
		if p.ctx.Err() != nil {
			// Revoked, lost or abandoned: the error is most likely the
			// cancellation itself, and the next owner retries anyway.
			return false
		}
		c.st.handlerErrors.Add(1)
		p.m.errors.Inc()
		wait := c.backoff(attempt)
		if attempt&(attempt-1) == 0 { // log attempts 1, 2, 4, 8, ...
			c.log.Warn("handler failed; retrying the same record",
				"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
				"attempt", attempt, "backoff", wait, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return false
		}
		c.st.retries.Add(1)
		p.m.retries.Inc()
	}
}

// invoke calls the handler, turning a panic into OnPanic's result.
func (c *Consumer) invoke(p *partition, rec *kgo.Record) (err error) {
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			c.st.panics.Add(1)
			p.m.panics.Inc()
			// The value is not logged: it may carry request content
			// (secrets never go to logs). OnPanic receives it.
			c.log.Error("handler panicked", "topic", rec.Topic, "partition", rec.Partition,
				"offset", rec.Offset, "panic_type", fmt.Sprintf("%T", v), "stack", string(stack))
			err = c.onPanic(p.ctx, rec, v, stack)
		}
	}()
	return c.cfg.Handler(p.ctx, rec)
}

func (c *Consumer) onPanic(ctx context.Context, rec *kgo.Record, v any, stack []byte) (err error) {
	if c.cfg.OnPanic == nil {
		return &PanicError{Value: v, Stack: stack}
	}
	defer func() {
		if v2 := recover(); v2 != nil {
			c.log.Error("OnPanic panicked", "topic", rec.Topic, "partition", rec.Partition,
				"offset", rec.Offset, "panic_type", fmt.Sprintf("%T", v2))
			err = &PanicError{Value: v2, Stack: debug.Stack()}
		}
	}()
	return c.cfg.OnPanic(ctx, rec, v, stack)
}

// backoff returns a wait in [d/2, d], d = min(Min·2^(attempt-1), Max).
func (c *Consumer) backoff(attempt int) time.Duration {
	lo, hi := c.cfg.RetryBackoff.Min, c.cfg.RetryBackoff.Max
	d := hi
	if shift := attempt - 1; shift < 32 {
		if v := lo << shift; v > 0 && v < hi {
			d = v
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// onAssigned starts a fresh tracker for every newly assigned partition.
func (c *Consumer) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	n := 0
	c.mu.Lock()
	for topic, ps := range assigned {
		for _, id := range ps {
			k := tp{topic, id}
			c.owned[k] = true
			n++
			if c.parts[k] == nil && !c.draining.Load() {
				c.parts[k] = c.newPartition(k)
			}
		}
	}
	c.mu.Unlock()
	if n == 0 {
		return
	}
	// A pause never outlives a tracker (fence resumes), but a paused
	// partition must not stay paused across assignments in any case.
	cl.ResumeFetchPartitions(assigned)
	c.st.assigned.Add(int64(n))
	c.m.partitions.WithLabelValues(c.cfg.Group, "assigned").Add(float64(n))
	c.log.Info("partitions assigned", "partitions", assigned)
}

// onRevoked fences, commits, then releases the revoked partitions; see the
// Consumer documentation for why the fence comes first.
func (c *Consumer) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	n := c.fence(revoked)
	if n == 0 {
		return // cooperative end-of-session call with nothing revoked
	}
	cctx, cancel := context.WithTimeout(ctx, commitTimeout)
	err := c.commitMarked(cctx, cl)
	cancel()
	if err != nil {
		c.log.Warn("commit on revoke failed; the next owner will reprocess from the last commit",
			"partitions", revoked, "err", err)
	}
	c.releaseOwnership(revoked)
	c.st.revoked.Add(int64(n))
	c.m.partitions.WithLabelValues(c.cfg.Group, "revoked").Add(float64(n))
	c.log.Info("partitions revoked", "partitions", revoked)
}

// onLost fences the lost partitions; committing is pointless (the member's
// generation is gone) and would be rejected.
func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	n := c.fence(lost)
	if n == 0 {
		return
	}
	c.releaseOwnership(lost)
	c.st.lost.Add(int64(n))
	c.m.partitions.WithLabelValues(c.cfg.Group, "lost").Add(float64(n))
	c.log.Warn("partitions lost", "partitions", lost)
}

// fence fences and drops the trackers of the given partitions and cancels
// their handlers. It returns the number of partitions named.
func (c *Consumer) fence(ps map[string][]int32) int {
	n := 0
	var fenced []*partition
	c.mu.Lock()
	for topic, ids := range ps {
		for _, id := range ids {
			n++
			k := tp{topic, id}
			if p := c.parts[k]; p != nil {
				delete(c.parts, k)
				fenced = append(fenced, p)
			}
		}
	}
	c.mu.Unlock()
	for _, p := range fenced {
		p.fence()
	}
	return n
}

// fenceAll fences every tracker (shutdown). Ownership is kept: the member
// still owns its partitions until it leaves the group.
func (c *Consumer) fenceAll() {
	c.mu.Lock()
	all := make([]*partition, 0, len(c.parts))
	for k, p := range c.parts {
		all = append(all, p)
		delete(c.parts, k)
	}
	c.mu.Unlock()
	for _, p := range all {
		p.fence()
	}
}

func (c *Consumer) releaseOwnership(ps map[string][]int32) {
	c.mu.Lock()
	for topic, ids := range ps {
		for _, id := range ids {
			delete(c.owned, tp{topic, id})
		}
	}
	c.mu.Unlock()
}

// commitMarked commits the marked offsets synchronously. It takes the
// client as an argument because group callbacks may run before New has
// stored it.
func (c *Consumer) commitMarked(ctx context.Context, cl *kgo.Client) error {
	err := cl.CommitMarkedOffsets(ctx)
	c.countCommit(err)
	return err
}

// inspectCommit runs just before the client sends any offset commit
// (periodic, revoke, stop): it counts partitions this member does not own.
func (c *Consumer) inspectCommit(req *kmsg.OffsetCommitRequest) error {
	c.st.commitRequests.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if !c.owned[tp{t.Topic, p.Partition}] {
				c.st.nonOwnedCommits.Add(1)
				c.log.Error("offset commit for a partition this member does not own",
					"topic", t.Topic, "partition", p.Partition, "offset", p.Offset)
			}
		}
	}
	return nil
}

func (c *Consumer) onAutoCommit(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err == nil && resp != nil {
	check:
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err = kerr.ErrorForCode(p.ErrorCode); err != nil {
					break check
				}
			}
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		c.log.Warn("periodic offset commit failed", "err", err)
	}
	c.countCommit(err)
}

func (c *Consumer) countCommit(err error) {
	result := "ok"
	if err != nil {
		result = "error"
		c.st.commitErrors.Add(1)
	}
	c.m.commits.WithLabelValues(c.cfg.Group, result).Inc()
}

// shutdown is the two-tier stop; see Run.
func (c *Consumer) shutdown() error {
	c.draining.Store(true)
	c.mu.Lock()
	live := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		live = append(live, p)
	}
	c.mu.Unlock()
	for _, p := range live {
		p.dropQueued()
	}

	var errs []error
	if !c.waitHandlers(c.cfg.DrainTimeout, c.abort) {
		c.log.Warn("abandoning in-flight records", "records", c.inflight.Load())
	}
	// From here on nothing marks: what completed so far is committed
	// below, the rest is the next owner's.
	c.fenceAll()
	c.hardCancel()
	if !c.waitHandlers(c.cfg.DrainTimeout, nil) {
		err := fmt.Errorf("consumers: %d handlers ignored their cancelled context", c.active.Load())
		c.log.Error("handlers still running after cancel", "handlers", c.active.Load())
		errs = append(errs, err)
	}
	ctx, cancel := context.WithTimeout(c.baseCtx, commitTimeout)
	if err := c.commitMarked(ctx, c.cl); err != nil {
		errs = append(errs, fmt.Errorf("consumers: final commit: %w", err))
	}
	cancel()
	c.closeClient()
	c.log.Info("consumer stopped")
	return errors.Join(errs...)
}

// waitHandlers waits until no handler goroutine is alive, the timeout
// passes, or abort is closed. It reports whether all handlers returned.
func (c *Consumer) waitHandlers(timeout time.Duration, abort <-chan struct{}) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for c.active.Load() > 0 {
		select {
		case <-c.idle:
		case <-t.C:
			return c.active.Load() == 0
		case <-abort:
			return c.active.Load() == 0
		}
	}
	return true
}
