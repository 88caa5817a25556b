package analytics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Sink defaults.
const (
	DefaultGroup           = "switchyard-analytics"
	DefaultResponsesTopic  = "llm.responses"
	DefaultAuditTopic      = "llm.audit"
	DefaultDeadLetterTopic = "llm.sink.dlq"
	DefaultBodyTTL         = 7 * 24 * time.Hour
	DefaultPruneInterval   = time.Hour
	DefaultBatchRows       = 5000
	DefaultBatchBytes      = 16 << 20
	DefaultFlushInterval   = time.Second
	DefaultRetryBackoff    = 100 * time.Millisecond
	DefaultMaxRetryBackoff = 5 * time.Second
	DefaultInsertTimeout   = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
)

// commitTimeout bounds one offset commit. It is not configurable: a commit that cannot finish in
// this time is abandoned, which only means the already-inserted rows are read and deduplicated again.
const commitTimeout = 10 * time.Second

// SinkConfig configures a Sink. Zero values take the default named on each field.
type SinkConfig struct {
	// Conn is the ClickHouse connection. Required. The sink does not close it.
	Conn driver.Conn
	// Database holds the tables Migrate created. Default DefaultDatabase ("switchyard").
	Database string

	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Group is the sink's consumer group. Default "switchyard-analytics".
	Group string
	// ResponsesTopic carries schemas.Response records. Default "llm.responses".
	ResponsesTopic string
	// AuditTopic carries schemas.AuditEvent records. Default "llm.audit".
	AuditTopic string
	// DeadLetterTopic receives, as schemas.DeadLetter records, the rows ClickHouse rejects for
	// good (type or schema mismatch) and the records the sink cannot decode or that lack their
	// id, each with the reason, the table and the source topic, partition and offset. Default
	// "llm.sink.dlq". The sink's client may create it (broker auto-creation permitting); create it
	// beforehand where auto-creation is off.
	DeadLetterTopic string
	// EncodeDeadLetter encodes a dead letter as a record value plus headers (e.g. content-type).
	// Default: JSON with the schema's field names and a content-type: application/json header.
	EncodeDeadLetter func(schemas.DeadLetter) ([]byte, []kgo.RecordHeader, error)

	// StoreBodies stores each answer (the response's content, redacted by Redact) in llm_bodies.
	// Default false: no bodies are stored. Prompts are never on the topics the sink reads.
	StoreBodies bool
	// BodyTTL is how long stored bodies are kept: whole days older than this are dropped from
	// llm_bodies at start and every PruneInterval (18.16 has no TTL clause; see PruneBodies),
	// whether or not StoreBodies is on. Default 7 days; at least one hour.
	BodyTTL time.Duration
	// PruneInterval is how often bodies older than BodyTTL are dropped. Default 1h.
	PruneInterval time.Duration
	// Decode turns a record value into *schemas.Response or *schemas.AuditEvent (values are
	// accepted too). Required; it keeps the wire codec out of this package. An error, or any other
	// type, makes the record count as a decode error and be skipped.
	Decode func(topic string, value []byte, headers []kgo.RecordHeader) (any, error)
	// ExtraOpts are appended to the kgo options the sink sets (tests use it for kfake tuning).
	// Options that change the group, topics, commit mode or rebalance callbacks break the sink's
	// guarantees; don't pass them.
	ExtraOpts []kgo.Opt

	// BatchRows flushes when any table's buffer holds this many rows. Default 5000.
	BatchRows int
	// BatchBytes flushes when the consumed record bytes of the batch reach this. Default 16 MiB.
	BatchBytes int
	// FlushInterval flushes a batch at the latest this long after its first record. Default 1s.
	FlushInterval time.Duration
	// RetryBackoff is the first delay before re-inserting a failed batch; it doubles per failure
	// up to MaxRetryBackoff. Defaults 100ms and 5s. Retries go on until the insert succeeds or
	// Run's context ends.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// InsertTimeout bounds one insert of one table. Default 30s.
	InsertTimeout time.Duration
	// ShutdownTimeout bounds the final flush when Run's context ends, and the flush before
	// partitions are revoked in a rebalance. Default 10s.
	ShutdownTimeout time.Duration

	// Logger receives warnings (failed inserts and commits, skipped records). Default
	// slog.Default(). Record payloads are never logged.
	Logger *slog.Logger
}

func (c *SinkConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("analytics: sink config: "+format, args...))
	}

	if c.Conn == nil {
		bad("Conn: required")
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if err := validDatabase(c.Database); err != nil {
		bad("Database: %v", err)
	}
	if len(c.Brokers) == 0 {
		bad("Brokers: at least one seed broker is required")
	}
	for i, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			bad("Brokers[%d]: empty", i)
		}
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.ResponsesTopic == "" {
		c.ResponsesTopic = DefaultResponsesTopic
	}
	if c.AuditTopic == "" {
		c.AuditTopic = DefaultAuditTopic
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = DefaultDeadLetterTopic
	}
	if c.ResponsesTopic == c.AuditTopic {
		bad("ResponsesTopic and AuditTopic: both are %q", c.AuditTopic)
	}
	if c.DeadLetterTopic == c.ResponsesTopic || c.DeadLetterTopic == c.AuditTopic {
		bad("DeadLetterTopic: %q is a topic the sink consumes", c.DeadLetterTopic)
	}
	if c.EncodeDeadLetter == nil {
		c.EncodeDeadLetter = encodeDeadLetterJSON
	}
	if c.Decode == nil {
		bad("Decode: required")
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{{"BatchRows", &c.BatchRows, DefaultBatchRows}, {"BatchBytes", &c.BatchBytes, DefaultBatchBytes}}
	for _, f := range ints {
		switch {
		case *f.v < 0:
			bad("%s: %d is negative", f.name, *f.v)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"FlushInterval", &c.FlushInterval, DefaultFlushInterval},
		{"RetryBackoff", &c.RetryBackoff, DefaultRetryBackoff},
		{"MaxRetryBackoff", &c.MaxRetryBackoff, DefaultMaxRetryBackoff},
		{"InsertTimeout", &c.InsertTimeout, DefaultInsertTimeout},
		{"ShutdownTimeout", &c.ShutdownTimeout, DefaultShutdownTimeout},
		{"BodyTTL", &c.BodyTTL, DefaultBodyTTL},
		{"PruneInterval", &c.PruneInterval, DefaultPruneInterval},
	}
	for _, f := range durs {
		switch {
		case *f.v < 0:
			bad("%s: %v is negative", f.name, *f.v)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	if c.BodyTTL > 0 && c.BodyTTL < time.Hour {
		bad("BodyTTL: %v is below one hour", c.BodyTTL)
	}
	if c.MaxRetryBackoff < c.RetryBackoff {
		bad("MaxRetryBackoff: %v is below RetryBackoff %v", c.MaxRetryBackoff, c.RetryBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

// Stats are the sink's counters since NewSink. Row counts include duplicates the tables later
// collapse.
type Stats struct {
	Records        uint64 // records consumed
	RequestRows    uint64 // rows inserted into llm_requests
	AttemptRows    uint64 // rows inserted into llm_attempts
	AuditRows      uint64 // rows inserted into llm_audit_events
	BodyRows       uint64 // rows inserted into llm_bodies
	Batches        uint64 // batches whose inserts all succeeded
	InsertErrors   uint64 // failed insert attempts; every retry of the same batch counts
	DecodeErrors   uint64 // records skipped: Decode failed or returned an unexpected type
	InvalidRecords uint64 // records skipped: decoded, but without request_id / event_id
	Commits        uint64 // successful offset commits
	CommitErrors   uint64 // failed offset commits (the rows were inserted; they are re-read later)
	DeadLetters    uint64 // records written to the dead-letter topic (rejected rows and skipped records)
	RejectedRows   uint64 // rows ClickHouse rejected for good (each also counted in DeadLetters)
	DLQErrors      uint64 // failed dead-letter writes (retried; the batch is not committed meanwhile)
	PrunedDays     uint64 // llm_bodies day partitions dropped by the retention
}

// Sink consumes llm.responses and llm.audit and inserts them into ClickHouse in batches.
//
// Delivery is at-least-once: a batch's offsets are committed only after every row of the batch is
// in ClickHouse. A crash, a failed commit or a rebalance can make the sink insert rows again;
// the tables collapse them (see migrations/0001_init.sql) and the v_* views read collapsed data.
//
// A failed insert is classified (see classify). Transient failures retry the same rows with backoff.
// Rows ClickHouse rejects for good (a type or schema mismatch) are isolated (the row the driver
// refused, or by halving the rows when the server refused the block) and written to
// DeadLetterTopic with the reason, the table and the source topic, partition and offset; the rest
// go in and the sink moves on. An authentication failure stops Run with a *FatalError and no
// commit. Records that cannot be decoded, or that lack their idempotency key (request_id,
// event_id), are counted in Stats, logged without payload and written to the dead-letter topic
// too. Every dead letter is acknowledged by Kafka before the batch's offsets are committed.
type Sink struct {
	cfg SinkConfig
	cl  *kgo.Client
	log *slog.Logger

	insertSQL [numTables]string

	// mu guards buf. The poll loop holds it while it buffers and flushes; the rebalance callbacks
	// hold it while they flush or drop offsets. BlockRebalanceOnPoll already keeps those apart
	// (see Run), so mu is rarely contended; it makes the exclusion explicit and race-checkable.
	mu  sync.Mutex
	buf batch

	running   atomic.Bool
	closeOnce sync.Once

	lastPrune time.Time // when the bodies retention last ran (poll loop only)

	stats struct {
		records, batches, insertErrors, decodeErrors, invalid, commits, commitErrors atomic.Uint64
		deadLetters, rejected, dlqErrors, prunedDays                                 atomic.Uint64
		rows                                                                         [numTables]atomic.Uint64
	}
}

type table int

const (
	tableRequests table = iota
	tableAttempts
	tableAudit
	tableBodies
	numTables
)

var tableNames = [numTables]string{"llm_requests", "llm_attempts", "llm_audit_events", "llm_bodies"}

// batch is what the sink has consumed but not yet committed.
type batch struct {
	requests []RequestRow
	attempts []AttemptRow
	audits   []AuditRow
	bodies   []BodyRow
	// src[t][i] is the index in sources of the record that row i of table t came from.
	src [numTables][]int
	// sources are the batch's records, kept for the dead-letter topic (their bytes count towards
	// BatchBytes already).
	sources []*kgo.Record
	// skipped are dead letters for records that produced no rows; written before the commit.
	skipped  []schemas.DeadLetter
	inserted [numTables]bool // tables of this batch already in ClickHouse; a retry skips them
	// skippedSent: the skipped dead letters are acknowledged; a retry does not write them again.
	skippedSent bool
	bytes       int
	since       time.Time                            // when the batch's first record was buffered
	offsets     map[string]map[int32]kgo.EpochOffset // next offset to commit per partition
}

func (b *batch) empty() bool { return b.since.IsZero() }

func (b *batch) rows(t table) int { return len(b.src[t]) }

func (b *batch) maxRows() int {
	return max(len(b.requests), len(b.attempts), len(b.audits), len(b.bodies))
}

func (b *batch) totalRows() int {
	return len(b.requests) + len(b.attempts) + len(b.audits) + len(b.bodies)
}

// source returns the index the next rows of r are tracked under.
func (b *batch) source(r *kgo.Record) int {
	if n := len(b.sources); n > 0 && b.sources[n-1] == r {
		return n - 1
	}
	b.sources = append(b.sources, r)
	return len(b.sources) - 1
}

func (b *batch) track(r *kgo.Record) {
	if b.since.IsZero() {
		b.since = time.Now()
	}
	if b.offsets == nil {
		b.offsets = map[string]map[int32]kgo.EpochOffset{}
	}
	parts := b.offsets[r.Topic]
	if parts == nil {
		parts = map[int32]kgo.EpochOffset{}
		b.offsets[r.Topic] = parts
	}
	next := kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
	if cur, ok := parts[r.Partition]; !ok || cur.Less(next) {
		parts[r.Partition] = next
	}
	b.bytes += len(r.Key) + len(r.Value)
}

// forget drops the offsets of partitions this member no longer owns, so they are never committed
// by it; their buffered rows stay and are inserted with the batch (a harmless duplicate of what the
// new owner inserts).
func (b *batch) forget(parts map[string][]int32) {
	for topic, ps := range parts {
		for _, p := range ps {
			delete(b.offsets[topic], p)
		}
		if len(b.offsets[topic]) == 0 {
			delete(b.offsets, topic)
		}
	}
}

func (b *batch) reset() {
	clear(b.requests)
	clear(b.attempts)
	clear(b.audits)
	clear(b.bodies)
	clear(b.sources)
	nb := batch{requests: b.requests[:0], attempts: b.attempts[:0], audits: b.audits[:0], bodies: b.bodies[:0],
		sources: b.sources[:0], skipped: b.skipped[:0]}
	for t := range numTables {
		nb.src[t] = b.src[t][:0]
	}
	*b = nb
}

// NewSink validates cfg (listing every problem) and creates the Kafka client, which joins the
// consumer group right away: call Run next, or Close if Run will not be called.
func NewSink(cfg SinkConfig) (*Sink, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, log: cfg.Logger.With("component", "analytics.sink")}
	cols := [numTables][]string{requestColumns, attemptColumns, auditColumns, bodyColumns}
	for t := range numTables {
		s.insertSQL[t] = fmt.Sprintf("INSERT INTO %s.%s (%s)", cfg.Database, tableNames[t], strings.Join(cols[t], ", "))
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.ResponsesTopic, cfg.AuditTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		// Bounded memory: kgo buffers at most one fetch per broker until it is polled; cap
		// its size at one batch.
		kgo.FetchMaxBytes(int32(min(cfg.BatchBytes, 1<<30))),
		// The dead-letter topic may not exist yet.
		kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
	cl, err := kgo.NewClient(append(opts, cfg.ExtraOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("analytics: sink: kafka client: %w", err)
	}
	s.cl = cl
	return s, nil
}

// Stats returns a snapshot of the counters.
func (s *Sink) Stats() Stats {
	return Stats{
		Records:        s.stats.records.Load(),
		RequestRows:    s.stats.rows[tableRequests].Load(),
		AttemptRows:    s.stats.rows[tableAttempts].Load(),
		AuditRows:      s.stats.rows[tableAudit].Load(),
		BodyRows:       s.stats.rows[tableBodies].Load(),
		Batches:        s.stats.batches.Load(),
		InsertErrors:   s.stats.insertErrors.Load(),
		DecodeErrors:   s.stats.decodeErrors.Load(),
		InvalidRecords: s.stats.invalid.Load(),
		Commits:        s.stats.commits.Load(),
		CommitErrors:   s.stats.commitErrors.Load(),
		DeadLetters:    s.stats.deadLetters.Load(),
		RejectedRows:   s.stats.rejected.Load(),
		DLQErrors:      s.stats.dlqErrors.Load(),
		PrunedDays:     s.stats.prunedDays.Load(),
	}
}

// Close leaves the group and closes the Kafka client without flushing. It is for a Sink whose Run
// was never called (Run closes on return); calling it again, or after Run, does nothing. Calling it
// while Run is running makes Run return an error without a final flush or commit.
func (s *Sink) Close() {
	s.closeOnce.Do(s.cl.Close)
}

// Run consumes until ctx ends, then flushes what is buffered within ShutdownTimeout, commits,
// leaves the group and closes the Kafka client. It returns nil after a clean shutdown, and an
// error if rows were left uninserted (their offsets are not committed, so they are re-read by the
// next owner of their partitions). Run may be called once.
//
// The loop is single-threaded and holds at most one batch: it does not poll while it flushes, and
// each poll asks for no more records than the batch has room for, so memory is bounded by
// BatchRows/BatchBytes plus what kgo has prefetched (one fetch per broker, at most BatchBytes):
// while ClickHouse is slow or down, the sink stops reading and Kafka holds the backlog.
//
// Offsets and rebalances. The race to avoid: the loop inserts a batch, a rebalance moves one of
// its partitions to another member meanwhile, and the loop then commits that partition's offset,
// overwriting the new owner's progress; or the loop commits before the insert, and a crash loses
// the batch. So: autocommit is off, offsets are committed only after the insert (flush), and
// BlockRebalanceOnPoll stops any rebalance between the moment PollRecords returns (also when it
// returns only a deadline error) and AllowRebalance. Inside that window the loop buffers, inserts
// and commits knowing it owns every partition it commits. The loop calls AllowRebalance after every
// poll, so that a rebalance waits at most one insert, not a whole batch interval; a batch can
// therefore be half-full when partitions are revoked. OnPartitionsRevoked runs only outside the
// window (kgo runs callbacks after the poll block is released), so it sees the batch at rest: it
// flushes and commits it before the partitions go (within ShutdownTimeout). If that flush fails,
// it drops the revoked partitions' offsets, so they are never committed by this member; their
// rows stay in the batch and are inserted later, a duplicate of what the new owner inserts.
// OnPartitionsLost (no chance to commit) only drops the offsets.
//
// While ClickHouse refuses inserts, the loop retries the same batch inside the window, so
// rebalances wait. If a rebalance times out on this member, the group moves on without it, the
// later commit fails (counted, logged), and the new owner re-reads rows this member inserted:
// duplicates, which the tables collapse. Moving partitions sooner would not help, since every
// member writes to the same ClickHouse.
func (s *Sink) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("analytics: Sink.Run called twice")
	}
	for {
		s.pruneIfDue(ctx)
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		s.mu.Lock()
		room := max(s.cfg.BatchRows-s.buf.maxRows(), 1)
		if !s.buf.empty() {
			pollCtx, cancel = context.WithDeadline(ctx, s.buf.since.Add(s.cfg.FlushInterval))
		}
		s.mu.Unlock()

		fetches := s.cl.PollRecords(pollCtx, room)
		cancel()
		// Rebalances are blocked from here until AllowRebalance.
		if fetches.IsClientClosed() {
			// Close was called while Run was polling: nothing can be committed any more.
			s.cl.AllowRebalance()
			return errors.New("analytics: sink: Kafka client closed while running")
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, kgo.ErrClientClosed) {
				continue
			}
			s.log.Warn("analytics sink: fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}

		s.mu.Lock()
		fetches.EachRecord(s.add)
		var ferr error
		if ctx.Err() == nil && s.due() {
			// flush fails only when ctx ends (the shutdown below then retries within its
			// budget) or on a fatal error.
			ferr = s.flush(ctx)
		}
		s.mu.Unlock()
		if fe := (*FatalError)(nil); errors.As(ferr, &fe) {
			s.log.Error("analytics sink: stopping without commit", "err", ferr)
			s.cl.AllowRebalance()
			s.Close()
			return ferr
		}

		if ctx.Err() != nil {
			err := s.shutdown(ctx)
			// Close leaves the group, which runs onRevoked and so must not be blocked.
			s.cl.AllowRebalance()
			s.Close()
			return err
		}
		s.cl.AllowRebalance()
	}
}

// add buffers one record's rows. Called with mu held.
func (s *Sink) add(r *kgo.Record) {
	s.stats.records.Add(1)
	s.buf.track(r)
	v, err := s.cfg.Decode(r.Topic, r.Value, r.Headers)
	if err != nil {
		s.skip(r, &s.stats.decodeErrors, "undecodable record", err)
		return
	}
	switch v := v.(type) {
	case *schemas.Response:
		if v == nil {
			s.skip(r, &s.stats.decodeErrors, "undecodable record", errors.New("Decode returned a nil *schemas.Response"))
			return
		}
		s.addResponse(r, v)
	case schemas.Response:
		s.addResponse(r, &v)
	case *schemas.AuditEvent:
		if v == nil {
			s.skip(r, &s.stats.decodeErrors, "undecodable record", errors.New("Decode returned a nil *schemas.AuditEvent"))
			return
		}
		s.addAudit(r, v)
	case schemas.AuditEvent:
		s.addAudit(r, &v)
	default:
		s.skip(r, &s.stats.decodeErrors, "undecodable record", fmt.Errorf("Decode returned %T, want *schemas.Response or *schemas.AuditEvent", v))
	}
}

func (s *Sink) addResponse(r *kgo.Record, resp *schemas.Response) {
	if resp.RequestID == "" {
		s.skip(r, &s.stats.invalid, "response without request_id", nil)
		return
	}
	b := &s.buf
	src := b.source(r)
	b.requests = append(b.requests, NewRequestRow(*resp))
	b.src[tableRequests] = append(b.src[tableRequests], src)
	for _, a := range NewAttemptRows(*resp) {
		b.attempts = append(b.attempts, a)
		b.src[tableAttempts] = append(b.src[tableAttempts], src)
	}
	if s.cfg.StoreBodies && resp.Status != schemas.StatusError {
		if body, ok := NewBodyRow(*resp); ok {
			b.bodies = append(b.bodies, body)
			b.src[tableBodies] = append(b.src[tableBodies], src)
		}
	}
}

func (s *Sink) addAudit(r *kgo.Record, ev *schemas.AuditEvent) {
	if ev.EventID == "" {
		s.skip(r, &s.stats.invalid, "audit event without event_id", nil)
		return
	}
	s.buf.audits = append(s.buf.audits, NewAuditRow(*ev))
	s.buf.src[tableAudit] = append(s.buf.src[tableAudit], s.buf.source(r))
}

// Dead-letter reasons (schemas.DeadLetter.Reason) the sink writes.
const (
	ReasonSinkUndecodable = "sink_undecodable"  // Decode failed or returned another type
	ReasonSinkMissingID   = "sink_missing_id"   // a response without request_id, an event without event_id
	ReasonSinkRowRejected = "sink_row_rejected" // ClickHouse (or its driver) refused the row for good
	// ReasonSinkSchemaMismatch: ClickHouse refused the INSERT itself (e.g. a column the sink
	// writes is missing), so every row of the table in the batch is dead-lettered.
	ReasonSinkSchemaMismatch = "sink_schema_mismatch"
)

// deadLetterStage is schemas.DeadLetter.Stage for the sink's dead letters.
const deadLetterStage = "analytics_sink"

// skip counts and logs a record the sink will not insert, and queues its dead letter. Its offset
// is already tracked, so it is committed with the batch, after the dead letter is acknowledged.
func (s *Sink) skip(r *kgo.Record, counter *atomic.Uint64, why string, err error) {
	counter.Add(1)
	attrs := []any{"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "bytes", len(r.Value)}
	reason, detail := ReasonSinkMissingID, why
	if err != nil {
		attrs = append(attrs, "err", err)
		reason, detail = ReasonSinkUndecodable, why+": "+err.Error()
	}
	s.log.Warn("analytics sink: skipping "+why, attrs...)
	s.buf.skipped = append(s.buf.skipped, newDeadLetter(r, reason, "", "", detail))
}

// newDeadLetter describes one record (or one row of it, rowID) that the sink could not store.
// The id is derived from the source position, table and row, so a dead letter written again after
// a crash carries the same dlq_id.
func newDeadLetter(r *kgo.Record, reason, table, rowID, detail string) schemas.DeadLetter {
	sum := sha256.Sum256(r.Value)
	id := strings.Join([]string{"sink", r.Topic, strconv.Itoa(int(r.Partition)), strconv.FormatInt(r.Offset, 10), table, rowID}, ":")
	if table != "" {
		detail = "table " + table + ": " + detail
	}
	return schemas.DeadLetter{
		DLQID:           id,
		RequestID:       string(r.Key),
		Reason:          reason,
		Detail:          detail,
		Stage:           deadLetterStage,
		SourceTopic:     r.Topic,
		SourcePartition: r.Partition,
		SourceOffset:    r.Offset,
		TS:              time.Now().UnixMilli(),
		Payload:         r.Value,
		PayloadSHA256:   hex.EncodeToString(sum[:]),
	}
}

// encodeDeadLetterJSON is the default SinkConfig.EncodeDeadLetter.
func encodeDeadLetterJSON(d schemas.DeadLetter) ([]byte, []kgo.RecordHeader, error) {
	b, err := json.Marshal(d)
	return b, []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}, err
}

// due reports whether the batch should be flushed now. Called with mu held.
func (s *Sink) due() bool {
	if s.buf.empty() {
		return false
	}
	return s.buf.maxRows() >= s.cfg.BatchRows ||
		s.buf.bytes >= s.cfg.BatchBytes ||
		!time.Now().Before(s.buf.since.Add(s.cfg.FlushInterval))
}

// flush inserts every table of the batch not inserted yet (see deliver), writes the batch's dead
// letters, then commits the batch's offsets and empties it. A table that went in before another
// failed is not inserted again on retry. It returns an error only when ctx ends (the batch stays,
// uncommitted) or on a *FatalError. Called with mu held.
func (s *Sink) flush(ctx context.Context) error {
	if s.buf.empty() {
		return nil
	}
	if !s.buf.skippedSent && len(s.buf.skipped) > 0 {
		if err := s.writeDeadLetters(ctx, s.buf.skipped); err != nil {
			return err
		}
	}
	s.buf.skippedSent = true
	for t := range numTables {
		if s.buf.inserted[t] || s.buf.rows(t) == 0 {
			continue
		}
		idx := make([]int, s.buf.rows(t))
		for i := range idx {
			idx[i] = i
		}
		if err := s.deliver(ctx, t, idx); err != nil {
			return err
		}
		s.buf.inserted[t] = true
	}
	s.stats.batches.Add(1)
	s.commit(ctx)
	s.buf.reset()
	return nil
}

// deliver inserts rows idx of table t, retrying transient failures of the same rows with backoff
// until they are in or ctx ends. Rows refused for good are dead-lettered and the rest go in: a row
// the driver refused in Append is known exactly; a refused INSERT statement (stagePrepare) refuses
// every row; a block the server refused (stageSend) is halved until the refused rows are alone.
// Halving costs about 2·log2(n) inserts per bad row, and nothing when no row is bad.
func (s *Sink) deliver(ctx context.Context, t table, idx []int) error {
	backoff := s.cfg.RetryBackoff
	for len(idx) > 0 {
		err := s.insert(ctx, t, idx)
		if err == nil {
			s.stats.rows[t].Add(uint64(len(idx)))
			return nil
		}
		s.stats.insertErrors.Add(1)
		var ie *insertError
		errors.As(err, &ie)
		switch classify(err) {
		case classFatal:
			return &FatalError{Table: tableNames[t], Err: err}
		case classPermanent:
			switch {
			case ie != nil && ie.stage == stageAppend:
				if err := s.reject(ctx, t, idx[ie.pos:ie.pos+1], ReasonSinkRowRejected, err); err != nil {
					return err
				}
				idx = append(idx[:ie.pos:ie.pos], idx[ie.pos+1:]...)
				continue
			case ie != nil && ie.stage == stagePrepare:
				return s.reject(ctx, t, idx, ReasonSinkSchemaMismatch, err)
			case len(idx) == 1:
				return s.reject(ctx, t, idx, ReasonSinkRowRejected, err)
			}
			s.log.Warn("analytics sink: ClickHouse refused a block for good; halving it to find the refused rows",
				"table", tableNames[t], "rows", len(idx), "err", err)
			mid := len(idx) / 2
			if err := s.deliver(ctx, t, idx[:mid:mid]); err != nil {
				return err
			}
			return s.deliver(ctx, t, idx[mid:])
		}
		if ctx.Err() != nil {
			return fmt.Errorf("analytics: insert %s: %w", tableNames[t], err)
		}
		s.log.Warn("analytics sink: insert failed, retrying the same rows",
			"table", tableNames[t], "rows", len(idx), "retry_in", backoff, "err", err)
		if err := sleep(ctx, backoff); err != nil {
			return fmt.Errorf("analytics: insert %s: %w", tableNames[t], err)
		}
		backoff = min(backoff*2, s.cfg.MaxRetryBackoff)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// reject dead-letters rows idx of table t, which ClickHouse refused for good with cause.
func (s *Sink) reject(ctx context.Context, t table, idx []int, reason string, cause error) error {
	s.log.Warn("analytics sink: rows refused for good, writing them to the dead-letter topic",
		"table", tableNames[t], "rows", len(idx), "reason", reason, "topic", s.cfg.DeadLetterTopic, "err", cause)
	dls := make([]schemas.DeadLetter, 0, len(idx))
	for _, i := range idx {
		rowID, requestID, tenantID := s.buf.rowIdentity(t, i)
		d := newDeadLetter(s.buf.sources[s.buf.src[t][i]], reason, tableNames[t], rowID, cause.Error())
		d.RequestID, d.TenantID = requestID, tenantID
		dls = append(dls, d)
	}
	if err := s.writeDeadLetters(ctx, dls); err != nil {
		return err
	}
	s.stats.rejected.Add(uint64(len(idx)))
	return nil
}

// rowIdentity returns the id of row i of table t (its deduplication key), its request and tenant.
func (b *batch) rowIdentity(t table, i int) (rowID, requestID, tenantID string) {
	switch t {
	case tableRequests:
		r := &b.requests[i]
		return r.RequestID, r.RequestID, r.TenantID
	case tableAttempts:
		r := &b.attempts[i]
		return r.AttemptID, r.RequestID, r.TenantID
	case tableAudit:
		r := &b.audits[i]
		return r.EventID, r.RequestID, r.TenantID
	default:
		r := &b.bodies[i]
		return r.RequestID, r.RequestID, r.TenantID
	}
}

// writeDeadLetters produces dls to the dead-letter topic and waits for Kafka's acknowledgement,
// retrying with backoff until it succeeds or ctx ends: the batch's offsets must not be committed
// before its dead letters are durable.
func (s *Sink) writeDeadLetters(ctx context.Context, dls []schemas.DeadLetter) error {
	recs := make([]*kgo.Record, 0, len(dls))
	for _, d := range dls {
		v, hdrs, err := s.cfg.EncodeDeadLetter(d)
		if err != nil {
			// The encoder failing on a plain struct is a bug; without the payload it cannot.
			s.log.Error("analytics sink: cannot encode dead letter; writing it without payload", "dlq_id", d.DLQID, "err", err)
			d.Payload = nil
			if v, hdrs, err = s.cfg.EncodeDeadLetter(d); err != nil {
				return fmt.Errorf("analytics: encode dead letter %s: %w", d.DLQID, err)
			}
		}
		hdrs = append(hdrs, kgo.RecordHeader{Key: "switchyard-reason", Value: []byte(d.Reason)})
		recs = append(recs, &kgo.Record{Topic: s.cfg.DeadLetterTopic, Key: []byte(d.RequestID), Value: v, Headers: hdrs})
	}
	backoff := s.cfg.RetryBackoff
	for {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.InsertTimeout)
		err := s.cl.ProduceSync(pctx, recs...).FirstErr()
		cancel()
		if err == nil {
			s.stats.deadLetters.Add(uint64(len(recs)))
			return nil
		}
		s.stats.dlqErrors.Add(1)
		if ctx.Err() != nil {
			return fmt.Errorf("analytics: write dead letters: %w", err)
		}
		s.log.Warn("analytics sink: dead-letter write failed, retrying; the batch is not committed meanwhile",
			"topic", s.cfg.DeadLetterTopic, "records", len(recs), "retry_in", backoff, "err", err)
		if err := sleep(ctx, backoff); err != nil {
			return fmt.Errorf("analytics: write dead letters: %w", err)
		}
		backoff = min(backoff*2, s.cfg.MaxRetryBackoff)
	}
}

func (s *Sink) insert(ctx context.Context, t table, idx []int) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.InsertTimeout)
	defer cancel()
	switch t {
	case tableRequests:
		return insertIdx(ctx, s.cfg.Conn, s.insertSQL[t], s.buf.requests, idx)
	case tableAttempts:
		return insertIdx(ctx, s.cfg.Conn, s.insertSQL[t], s.buf.attempts, idx)
	case tableAudit:
		return insertIdx(ctx, s.cfg.Conn, s.insertSQL[t], s.buf.audits, idx)
	default:
		return insertIdx(ctx, s.cfg.Conn, s.insertSQL[t], s.buf.bodies, idx)
	}
}

type rowValues[R any] interface {
	*R
	values() []any
}

// insertRows sends rows as one native-protocol batch. ClickHouse writes a block atomically per
// partition, so a failure can leave some partitions' rows written: the retry writes them again
// and the table collapses them.
func insertRows[R any, P rowValues[R]](ctx context.Context, conn driver.Conn, query string, rows []R) error {
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	return insertIdx[R, P](ctx, conn, query, rows, idx)
}

// insertIdx sends rows[i] for each i of idx as one batch. Its errors are *insertError, naming the
// stage that failed and, for stageAppend, the position in idx of the row the driver refused.
func insertIdx[R any, P rowValues[R]](ctx context.Context, conn driver.Conn, query string, rows []R, idx []int) error {
	b, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return &insertError{stage: stagePrepare, err: err}
	}
	for pos, i := range idx {
		if err := b.Append(P(&rows[i]).values()...); err != nil {
			_ = b.Abort()
			return &insertError{stage: stageAppend, pos: pos, err: err}
		}
	}
	if err := b.Send(); err != nil {
		return &insertError{stage: stageSend, err: err}
	}
	return nil
}

// pruneIfDue drops llm_bodies days older than BodyTTL when PruneInterval has passed since the last
// run (at the first call, then periodically). A failure is logged and tried again next interval.
func (s *Sink) pruneIfDue(ctx context.Context) {
	now := time.Now()
	if !s.lastPrune.IsZero() && now.Sub(s.lastPrune) < s.cfg.PruneInterval {
		return
	}
	s.lastPrune = now
	pctx, cancel := context.WithTimeout(ctx, s.cfg.InsertTimeout)
	defer cancel()
	dropped, err := PruneBodies(pctx, s.cfg.Conn, s.cfg.Database, s.cfg.BodyTTL, now)
	s.stats.prunedDays.Add(uint64(len(dropped)))
	if err != nil && ctx.Err() == nil {
		s.log.Warn("analytics sink: body retention failed; retrying next interval", "err", err)
	}
	if len(dropped) > 0 {
		s.log.Info("analytics sink: dropped stored bodies past their retention", "days", dropped, "body_ttl", s.cfg.BodyTTL)
	}
}

// commit commits the batch's offsets. It runs after the inserts succeeded, with its own timeout:
// the rows are in, and a commit that still goes through after Run's context ended saves
// re-reading them. A failed commit is counted and logged, not retried: the rows are inserted, so
// the worst outcome is that they are read and inserted again, and collapse. Called with mu held.
func (s *Sink) commit(ctx context.Context) {
	if len(s.buf.offsets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	var cerr error
	s.cl.CommitOffsetsSync(ctx, s.buf.offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					cerr = fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err)
					return
				}
			}
		}
	})
	if cerr != nil {
		s.stats.commitErrors.Add(1)
		s.log.Warn("analytics sink: offset commit failed; the inserted rows will be re-read and collapse", "err", cerr)
		return
	}
	s.stats.commits.Add(1)
}

// shutdown flushes the batch within ShutdownTimeout after Run's context ended. If that fails the
// batch is abandoned: its offsets are not committed, so its records are re-read later.
func (s *Sink) shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf.empty() {
		return nil
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.flush(fctx); err != nil {
		n := s.buf.totalRows()
		s.buf.reset()
		return fmt.Errorf("analytics: sink stopped with %d rows not inserted (offsets not committed, they will be re-read): %w", n, err)
	}
	return nil
}

// onRevoked flushes and commits the batch before partitions move to another member. See Run.
func (s *Sink) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf.empty() {
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.flush(fctx); err != nil {
		s.buf.forget(revoked)
		s.log.Warn("analytics sink: could not flush before partitions were revoked; their offsets will not be committed by this member",
			"rows", s.buf.totalRows(), "err", err)
	}
}

// onLost drops the offsets of partitions lost without a chance to commit. See Run.
func (s *Sink) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.forget(lost)
}

// Joined reports whether the sink's client holds a member id and a generation of its consumer
// group (for readiness checks).
func (s *Sink) Joined() bool {
	member, gen := s.cl.GroupMetadata()
	return member != "" && gen > 0
}
