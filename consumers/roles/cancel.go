package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/internal/recent"
	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

// ErrCancelled is the cause of a provider call's context when its request was cancelled by
// its caller (a record on llm.cancels).
var ErrCancelled = errors.New("the caller cancelled the request")

// CodeCancelled is the error code of a cancelled request's response.
const CodeCancelled = "cancelled"

// DefaultCancelTTL is how long a process remembers a cancelled request id: a request routed
// or retried within it after the cancel is dropped too.
const DefaultCancelTTL = 10 * time.Minute

// maxCancelled bounds the cancelled ids a process remembers (the oldest go first).
const maxCancelled = 100_000

// Cancels is the process's view of cancelled requests, fed by a CancelTail: the router
// checks it before routing, workers before calling a provider, and a worker's call in flight
// is cancelled when its request is. Safe for concurrent use.
type Cancels struct {
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	seen     *recent.Map[schemas.Cancel]
	inflight map[string][]*tracked
}

type tracked struct{ cancel context.CancelCauseFunc }

// NewCancels returns an empty view; ttl 0 means DefaultCancelTTL, now nil time.Now.
func NewCancels(ttl time.Duration, now func() time.Time) *Cancels {
	if ttl <= 0 {
		ttl = DefaultCancelTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Cancels{ttl: ttl, now: now, seen: recent.New[schemas.Cancel](ttl, maxCancelled), inflight: map[string][]*tracked{}}
}

// Cancel records a cancel and ends the provider calls in flight for its request.
func (c *Cancels) Cancel(x schemas.Cancel) {
	if c == nil {
		return
	}
	now := c.now()
	c.mu.Lock()
	if _, dup := c.seen.Get(x.RequestID, now); !dup {
		c.seen.Put(x.RequestID, x, now)
	}
	calls := c.inflight[x.RequestID]
	c.mu.Unlock()
	for _, t := range calls {
		t.cancel(ErrCancelled)
	}
}

// Cancelled returns the cancel of a request, if it was cancelled within the TTL.
func (c *Cancels) Cancelled(requestID string) (schemas.Cancel, bool) {
	if c == nil {
		return schemas.Cancel{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen.Get(requestID, c.now())
}

// Track returns a context for the provider calls of a request that ends, with cause
// ErrCancelled, when the request is cancelled; done stops tracking. A nil Cancels returns
// ctx itself.
func (c *Cancels) Track(ctx context.Context, requestID string) (_ context.Context, done func()) {
	if c == nil {
		return ctx, func() {}
	}
	cctx, cancel := context.WithCancelCause(ctx)
	t := &tracked{cancel: cancel}
	c.mu.Lock()
	c.inflight[requestID] = append(c.inflight[requestID], t)
	_, already := c.seen.Get(requestID, c.now())
	c.mu.Unlock()
	if already {
		cancel(ErrCancelled)
	}
	return cctx, func() {
		c.mu.Lock()
		ts := c.inflight[requestID]
		for i, x := range ts {
			if x == t {
				ts = append(ts[:i], ts[i+1:]...)
				break
			}
		}
		if len(ts) == 0 {
			delete(c.inflight, requestID)
		} else {
			c.inflight[requestID] = ts
		}
		c.mu.Unlock()
		cancel(nil)
	}
}

// IsCancelled reports whether ctx ended because its request was cancelled.
func IsCancelled(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrCancelled)
}

// CancelTailConfig configures NewCancelTail.
type CancelTailConfig struct {
	Brokers   []string
	ExtraOpts []kgo.Opt
	// Topic is llm.cancels. Required.
	Topic   string
	Codec   *schemas.Codec
	Cancels *Cancels
	Logger  *slog.Logger
}

// CancelTail reads llm.cancels into a Cancels: every partition, without a consumer group
// (every process needs every cancel), from the records of the last DefaultCancelTTL on, so a
// process that starts late still knows the recent cancels.
type CancelTail struct {
	cfg CancelTailConfig
	cl  *kgo.Client
}

// NewCancelTail builds the tail; Run reads.
func NewCancelTail(cfg CancelTailConfig) (*CancelTail, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Codec == nil || cfg.Cancels == nil {
		return nil, errors.New("cancel tail: Brokers, Topic, Codec and Cancels are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	since := time.Now().Add(-cfg.Cancels.ttl).UnixMilli()
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("switchyard-cancels"),
		kgo.ConsumeTopics(cfg.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(since)),
		kgo.FetchMaxWait(100 * time.Millisecond)}
	cl, err := kgo.NewClient(append(opts, cfg.ExtraOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("cancel tail: %w", err)
	}
	return &CancelTail{cfg: cfg, cl: cl}, nil
}

// Run reads until ctx ends.
func (t *CancelTail) Run(ctx context.Context) error {
	for {
		fs := t.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		if err := fatalFetchErr(fs); err != nil {
			return fmt.Errorf("cancel tail: read %s: %w", t.cfg.Topic, err)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			var x schemas.Cancel
			if err := t.cfg.Codec.Decode(schemas.TypeCancel, rec.Value, producers.Header(rec, "content-type"), &x); err != nil || x.RequestID == "" {
				t.cfg.Logger.Warn("cancel tail: undecodable record skipped", "partition", rec.Partition, "offset", rec.Offset, "err", err)
				return
			}
			t.cfg.Cancels.Cancel(x)
		})
	}
}

// Close closes the tail's client.
func (t *CancelTail) Close() { t.cl.Close() }
