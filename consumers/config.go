package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Handler processes one record.
//
// Contract:
//
//   - Return nil only once every output the record caused (response, audit,
//     stream chunks, fallback hop, DLQ record) has been acknowledged by
//     Kafka: produce with [Consumer.Client] and await the acks (for example
//     with producers.ProduceAll). nil is the only thing that lets the
//     record's offset be committed.
//   - A non-nil error means "not durably done, try again": the consumer calls
//     the handler again with the SAME record after a jittered exponential
//     backoff ([Config.RetryBackoff]), until it returns nil, the record's
//     partition is revoked or lost, or the consumer stops. A record is never
//     skipped and never marked on error. Handlers must therefore be
//     idempotent (request_id is the idempotency key).
//   - Poison input is the handler's job: publish a DLQ record with a reason,
//     await its ack, and return nil. Only then does the partition move past
//     the record.
//   - ctx is cancelled when the record's partition is revoked or lost, and
//     when a shutdown abandons in-flight work. The handler should return
//     promptly then; its result is ignored (the next owner processes the
//     record again).
//   - Records of one partition may run concurrently (up to
//     [Config.Concurrency]) and complete out of order.
//   - The record must not be modified or retained after the handler
//     returns.
type Handler func(ctx context.Context, rec *kgo.Record) error

// PanicHandler is called when a [Handler] panics, with the recovered value
// and the goroutine's stack. It follows the Handler contract: nil means the
// record is durably dealt with (for example dead-lettered and acknowledged)
// and may be committed; an error means the record is retried.
type PanicHandler func(ctx context.Context, rec *kgo.Record, value any, stack []byte) error

// Backoff bounds the jittered exponential backoff between attempts of a
// failing record: the n-th retry waits a random duration in [d/2, d] with
// d = min(Min * 2^(n-1), Max).
type Backoff struct {
	// Min is the first retry's upper bound. Default 100 ms.
	Min time.Duration
	// Max caps every wait. Default 5 s.
	Max time.Duration
}

// Config configures a [Consumer]. Construct with [New], which validates it
// and lists every problem at once.
type Config struct {
	// Brokers are the seed brokers (host:port). Required.
	Brokers []string

	// Group is the consumer group. Required.
	Group string

	// Topics are the topics to consume. Required, no duplicates.
	Topics []string

	// ClientID is the Kafka client id. Default "switchyard".
	ClientID string

	// InstanceID, when set, makes the member static (KIP-345): a restart
	// within the session timeout gets its partitions back without a
	// rebalance. A static member does not leave the group on Close.
	// Default: none (dynamic membership).
	InstanceID string

	// Concurrency is the maximum number of records handled at the same time
	// per partition. A partition holding 4×Concurrency records stops
	// fetching until it is down to 2×Concurrency. Default 8.
	Concurrency int

	// MaxInFlight is the maximum number of records held across the whole
	// consumer: polled and not yet passed by a mark (queued, running, or
	// completed behind an unfinished record of their partition). Polling
	// stops while it is reached, which bounds memory. Default 1024.
	MaxInFlight int

	// Handler processes each record; see [Handler] for the contract.
	// Required.
	Handler Handler

	// OnPanic is called when Handler panics (see [PanicHandler]); a panic
	// never crashes the process. Typical use: dead-letter the record with
	// a panic reason, await the ack and return nil. Default (nil): the panic is
	// logged with its stack, counted, and turned into a retryable error, so
	// the record is retried with backoff and never skipped. A handler that
	// panics on every attempt then holds its partition's commit point (the
	// other records of the partition keep running up to Concurrency and the
	// partition is paused behind it): roles that must not stall set OnPanic.
	OnPanic PanicHandler

	// RetryBackoff bounds the wait between attempts of a failing record.
	// Default {Min: 100 ms, Max: 5 s}.
	RetryBackoff Backoff

	// DrainTimeout is how long a graceful stop (cancelling Run's context)
	// waits for running handlers before cancelling their contexts.
	// Default 10 s.
	DrainTimeout time.Duration

	// CommitInterval is how often marked offsets are committed in the
	// background (kgo AutoCommitInterval). Offsets are also committed
	// synchronously on revoke and on stop. Default 1 s; minimum 100 ms.
	CommitInterval time.Duration

	// Logger receives the consumer's and franz-go's logs. Default: a logger
	// that discards everything.
	Logger *slog.Logger

	// Registerer, when set, receives the consumer's metrics (see
	// [Consumer] for the list). Default: metrics are kept but not
	// registered. Nothing is registered globally.
	Registerer prometheus.Registerer

	// ProducerOpts are the producer options of the shared client, which
	// handlers use to produce outputs. Default (nil):
	// producers.ProducerOpts().
	ProducerOpts []kgo.Opt

	// ExtraOpts are appended last to the client options and override
	// everything else (TLS, SASL, tests: shorter heartbeats). Do not pass
	// options that change offset or group callback handling
	// (DisableAutoCommit, GreedyAutoCommit, AutoCommitCallback,
	// OnPartitions*, WithContext, ConsumeTopics): they void the guarantees
	// of this package. Default: none.
	ExtraOpts []kgo.Opt
}

const (
	defaultClientID       = "switchyard"
	defaultConcurrency    = 8
	defaultMaxInFlight    = 1024
	defaultBackoffMin     = 100 * time.Millisecond
	defaultBackoffMax     = 5 * time.Second
	defaultDrainTimeout   = 10 * time.Second
	defaultCommitInterval = time.Second
	minCommitInterval     = 100 * time.Millisecond // franz-go's lower bound
)

// withDefaults validates c and returns a copy with defaults filled in. Every
// problem is reported, joined.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(c.Brokers) == 0 {
		add("Brokers: at least one seed broker is required")
	}
	for i, b := range c.Brokers {
		if b == "" {
			add("Brokers[%d]: empty address", i)
		}
	}
	if c.Group == "" {
		add("Group: required")
	}
	if len(c.Topics) == 0 {
		add("Topics: at least one topic is required")
	}
	seen := make(map[string]bool, len(c.Topics))
	for i, t := range c.Topics {
		switch {
		case t == "":
			add("Topics[%d]: empty topic name", i)
		case seen[t]:
			add("Topics[%d]: duplicate topic %q", i, t)
		}
		seen[t] = true
	}
	if c.Handler == nil {
		add("Handler: required")
	}
	if c.Concurrency < 0 {
		add("Concurrency: %d is negative", c.Concurrency)
	}
	if c.MaxInFlight < 0 {
		add("MaxInFlight: %d is negative", c.MaxInFlight)
	}
	if c.RetryBackoff.Min < 0 {
		add("RetryBackoff.Min: %v is negative", c.RetryBackoff.Min)
	}
	if c.RetryBackoff.Max < 0 {
		add("RetryBackoff.Max: %v is negative", c.RetryBackoff.Max)
	}
	if c.RetryBackoff.Min > 0 && c.RetryBackoff.Max > 0 && c.RetryBackoff.Min > c.RetryBackoff.Max {
		add("RetryBackoff: Min %v is greater than Max %v", c.RetryBackoff.Min, c.RetryBackoff.Max)
	}
	if c.DrainTimeout < 0 {
		add("DrainTimeout: %v is negative", c.DrainTimeout)
	}
	if c.CommitInterval != 0 && c.CommitInterval < minCommitInterval {
		add("CommitInterval: %v is below the minimum %v", c.CommitInterval, minCommitInterval)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("consumers: invalid config: %w", errors.Join(errs...))
	}

	if c.ClientID == "" {
		c.ClientID = defaultClientID
	}
	if c.Concurrency == 0 {
		c.Concurrency = defaultConcurrency
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = defaultMaxInFlight
	}
	if c.RetryBackoff.Min == 0 {
		c.RetryBackoff.Min = defaultBackoffMin
	}
	if c.RetryBackoff.Max == 0 {
		c.RetryBackoff.Max = max(defaultBackoffMax, c.RetryBackoff.Min)
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = defaultDrainTimeout
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = defaultCommitInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
