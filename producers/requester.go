package producers

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Errors of the [Requester].
var (
	// ErrSaturated: MaxInFlight requests already await their outcome; try again later.
	ErrSaturated = errors.New("producers: too many requests in flight")
	// ErrInProgress: a request with the same request_id is already in flight here.
	ErrInProgress = errors.New("producers: a request with this request_id is already in flight")
	// ErrStreamEnded: the response arrived and no further stream chunk followed it.
	ErrStreamEnded = errors.New("producers: the stream ended with the response")
	// ErrClosed: the requester was closed.
	ErrClosed = errors.New("producers: requester closed")
)

// RequesterTopics names the topics a [Requester] uses.
type RequesterTopics struct {
	Requests, Responses, Stream, Cancels string
}

// RequesterConfig configures a [Requester].
type RequesterConfig struct {
	Brokers []string
	// Opts are added to both of the requester's Kafka clients (TLS, SASL, dialers).
	Opts   []kgo.Opt
	Codec  *schemas.Codec
	Topics RequesterTopics
	// InstanceID names this requester in the reply-to header and cancel records. Default: the
	// host's name and the process id.
	InstanceID string
	// ReplyPartition is the partition of llm.responses and llm.responses.stream this requester
	// reads its replies from; -1 picks one from InstanceID's hash. Requesters sharing a
	// partition each skip the other's replies.
	ReplyPartition int32
	// MaxInFlight bounds the requests awaiting their outcome; one more is refused with
	// ErrSaturated. Default 1024.
	MaxInFlight int
	// StreamGrace is how long a stream waits for chunks still on their way after its response
	// arrived. Default 3s.
	StreamGrace time.Duration
	Logger      *slog.Logger
}

// Requester publishes requests to llm.requests for upstream Go services and, when asked,
// awaits each one's terminal response and stream on a reply partition of its own: requests
// it awaits carry [HeaderReplyPartition], which the router and workers copy onto the
// request's response and stream chunks, so that many requesters share the reply topics and
// each reads only its own partition. Safe for concurrent use.
type Requester struct {
	cfg       RequesterConfig
	prod      *kgo.Client
	cons      *kgo.Client
	partition int32
	replyHdrs []kgo.RecordHeader
	ctHdr     kgo.RecordHeader

	mu       sync.Mutex
	pending  map[string]*Call
	inFlight atomic.Int64
	stop     context.CancelFunc
	done     chan struct{}
	closed   atomic.Bool
}

// NewRequester connects, picks its reply partition and starts reading it from its end, so
// that a reply to any request sent afterwards is seen. It fails when a topic is missing.
func NewRequester(ctx context.Context, cfg RequesterConfig) (*Requester, error) {
	if cfg.Codec == nil {
		return nil, errors.New("producers: requester needs a codec")
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = DefaultInstanceID()
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.StreamGrace <= 0 {
		cfg.StreamGrace = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	base := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.Opts...)
	prod, err := kgo.NewClient(append(append(base[:len(base):len(base)], ProducerOpts()...), kgo.ClientID("switchyard-requester"))...)
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(prod).ListEndOffsets(ctx, cfg.Topics.Responses, cfg.Topics.Stream)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		prod.Close()
		return nil, fmt.Errorf("producers: reply topics %s and %s: %w", cfg.Topics.Responses, cfg.Topics.Stream, err)
	}
	parts := min(len(ends[cfg.Topics.Responses]), len(ends[cfg.Topics.Stream]))
	if parts == 0 {
		prod.Close()
		return nil, fmt.Errorf("producers: reply topics %s and %s have no partitions", cfg.Topics.Responses, cfg.Topics.Stream)
	}
	p := cfg.ReplyPartition
	if p < 0 {
		h := fnv.New32a()
		h.Write([]byte(cfg.InstanceID))
		p = int32(h.Sum32() % uint32(parts))
	}
	if int(p) >= parts {
		prod.Close()
		return nil, fmt.Errorf("producers: reply partition %d, but %s and %s have %d partitions in common", p, cfg.Topics.Responses, cfg.Topics.Stream, parts)
	}
	at := map[string]map[int32]kgo.Offset{}
	for _, t := range []string{cfg.Topics.Responses, cfg.Topics.Stream} {
		o, _ := ends.Lookup(t, p)
		at[t] = map[int32]kgo.Offset{p: kgo.NewOffset().At(o.Offset)}
	}
	cons, err := kgo.NewClient(append(base[:len(base):len(base)], kgo.ConsumePartitions(at), kgo.ClientID("switchyard-requester"),
		kgo.FetchMaxWait(time.Second))...)
	if err != nil {
		prod.Close()
		return nil, err
	}
	r := &Requester{cfg: cfg, prod: prod, cons: cons, partition: p, pending: make(map[string]*Call),
		ctHdr: kgo.RecordHeader{Key: "content-type", Value: []byte(cfg.Codec.ContentType())}, done: make(chan struct{})}
	r.replyHdrs = []kgo.RecordHeader{
		{Key: HeaderReplyPartition, Value: []byte(strconv.Itoa(int(p)))},
		{Key: HeaderReplyTo, Value: []byte(cfg.InstanceID)},
	}
	rctx, stop := context.WithCancel(context.Background())
	r.stop = stop
	go r.read(rctx)
	return r, nil
}

// DefaultInstanceID is the host's name and the process id.
func DefaultInstanceID() string {
	return fmt.Sprintf("%s-%d", hostname(), pid())
}

// Partition is the reply partition this requester reads.
func (r *Requester) Partition() int32 { return r.partition }

// InstanceID names this requester.
func (r *Requester) InstanceID() string { return r.cfg.InstanceID }

// InFlight is the number of requests awaiting their outcome.
func (r *Requester) InFlight() int { return int(r.inFlight.Load()) }

// Producer is the requester's producer client, for records beside the requests.
func (r *Requester) Producer() *kgo.Client { return r.prod }

// Close stops reading replies and closes both clients; calls still waiting end with ErrClosed.
func (r *Requester) Close() {
	if !r.closed.CompareAndSwap(false, true) {
		return
	}
	r.stop()
	r.cons.Close()
	<-r.done
	r.prod.Close()
	r.mu.Lock()
	for _, c := range r.pending {
		c.fail(ErrClosed)
	}
	r.mu.Unlock()
}

// Publish publishes requests without awaiting their outcome (fire and forget, as any upstream
// producer would): it returns once Kafka acknowledged them all.
func (r *Requester) Publish(ctx context.Context, reqs ...*schemas.Request) error {
	recs := make([]*kgo.Record, 0, len(reqs))
	for _, req := range reqs {
		rec, err := r.record(req, nil)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	return ProduceAll(ctx, r.prod, recs...)
}

// Do publishes req and waits for its terminal response, or for ctx to end. It does not
// cancel the request downstream when ctx ends; see [Call.Cancel].
func (r *Requester) Do(ctx context.Context, req *schemas.Request) (*schemas.Response, error) {
	c, err := r.Start(ctx, req)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Response(ctx)
}

// Start publishes req with the reply headers and returns the call that receives its
// response and stream chunks. The caller must Close the call. It refuses with ErrSaturated
// when MaxInFlight calls are open, and with ErrInProgress when one with the same request_id
// is.
func (r *Requester) Start(ctx context.Context, req *schemas.Request) (*Call, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if r.inFlight.Add(1) > int64(r.cfg.MaxInFlight) {
		r.inFlight.Add(-1)
		return nil, ErrSaturated
	}
	c := &Call{RequestID: req.RequestID, TenantID: req.TenantID, r: r, notify: make(chan struct{}, 1)}
	r.mu.Lock()
	if _, dup := r.pending[req.RequestID]; dup {
		r.mu.Unlock()
		r.inFlight.Add(-1)
		return nil, ErrInProgress
	}
	r.pending[req.RequestID] = c
	r.mu.Unlock()
	rec, err := r.record(req, r.replyHdrs)
	if err == nil {
		err = ProduceAll(ctx, r.prod, rec)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Cancel asks the pipeline to stop work on a request: the router drops it if not yet routed,
// a worker abandons its provider call. The request ends in an error response of code
// cancelled (which still reaches the reply partition).
func (r *Requester) Cancel(ctx context.Context, requestID, tenantID, reason string) error {
	v, err := r.cfg.Codec.Encode(schemas.TypeCancel, &schemas.Cancel{RequestID: requestID, TenantID: tenantID,
		Reason: reason, Source: r.cfg.InstanceID, TS: time.Now().UnixMilli()})
	if err != nil {
		return err
	}
	return ProduceAll(ctx, r.prod, &kgo.Record{Topic: r.cfg.Topics.Cancels, Key: []byte(requestID), Value: v,
		Headers: []kgo.RecordHeader{r.ctHdr}})
}

func (r *Requester) record(req *schemas.Request, reply []kgo.RecordHeader) (*kgo.Record, error) {
	if req.ResponseFormat.Type == "" {
		// The zero value means plain text, as it does in JSON input.
		cp := *req
		cp.ResponseFormat.Type = schemas.ResponseFormatText
		req = &cp
	}
	if err := schemas.ValidateRequest(req); err != nil {
		return nil, err
	}
	v, err := r.cfg.Codec.Encode(schemas.TypeRequest, req)
	if err != nil {
		return nil, err
	}
	hdrs := make([]kgo.RecordHeader, 0, 1+len(reply))
	hdrs = append(append(hdrs, r.ctHdr), reply...)
	return &kgo.Record{Topic: r.cfg.Topics.Requests, Key: []byte(req.RequestID), Value: v, Headers: hdrs}, nil
}

// read delivers the records of the reply partition to the calls waiting for them; records of
// requests not waited for here (another requester's on a shared partition, or a duplicate
// after the call ended) are skipped without decoding.
func (r *Requester) read(ctx context.Context) {
	defer close(r.done)
	for {
		fs := r.cons.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			r.cfg.Logger.Warn("reply fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(rec *kgo.Record) {
			r.mu.Lock()
			c := r.pending[string(rec.Key)]
			r.mu.Unlock()
			if c == nil {
				return
			}
			ct := Header(rec, "content-type")
			switch rec.Topic {
			case r.cfg.Topics.Responses:
				resp := new(schemas.Response)
				if err := r.cfg.Codec.Decode(schemas.TypeResponse, rec.Value, ct, resp); err != nil {
					r.cfg.Logger.Error("reply: undecodable response", "request_id", c.RequestID, "offset", rec.Offset, "err", err)
					return
				}
				c.respond(resp)
			case r.cfg.Topics.Stream:
				ch := new(schemas.StreamChunk)
				if err := r.cfg.Codec.Decode(schemas.TypeStreamChunk, rec.Value, ct, ch); err != nil {
					r.cfg.Logger.Error("reply: undecodable stream chunk", "request_id", c.RequestID, "offset", rec.Offset, "err", err)
					return
				}
				c.chunk(ch)
			}
		})
	}
}

// Call is one request in flight: its stream chunks and terminal response as they arrive.
type Call struct {
	RequestID, TenantID string

	r      *Requester
	notify chan struct{} // a value is ready

	mu       sync.Mutex
	chunks   []*schemas.StreamChunk // received, not yet taken
	nextSeq  int32                  // the next chunk seq to accept (earlier ones are duplicates)
	received int
	resp     *schemas.Response
	respAt   time.Time
	err      error
	closed   bool
}

func (c *Call) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *Call) respond(resp *schemas.Response) {
	c.mu.Lock()
	if c.resp == nil {
		c.resp, c.respAt = resp, time.Now()
	}
	c.mu.Unlock()
	c.signal()
}

// chunk takes a stream chunk in seq order. A re-delivered work record repeats seqs already
// received: those are dropped.
func (c *Call) chunk(ch *schemas.StreamChunk) {
	c.mu.Lock()
	if ch.Seq < c.nextSeq {
		c.mu.Unlock()
		return
	}
	c.nextSeq = ch.Seq + 1
	c.chunks = append(c.chunks, ch)
	c.received++
	c.mu.Unlock()
	c.signal()
}

func (c *Call) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.signal()
}

// Response waits for the terminal response.
func (c *Call) Response(ctx context.Context) (*schemas.Response, error) {
	for {
		c.mu.Lock()
		resp, err := c.resp, c.err
		c.mu.Unlock()
		if resp != nil {
			return resp, nil
		}
		if err != nil {
			return nil, err
		}
		select {
		case <-c.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Next returns the next stream chunk. Once the response has arrived, it returns
// ErrStreamEnded when no chunk is left: at once if no chunk ever came (the request ended
// before a provider answered, or was not streamed), else after StreamGrace without one.
func (c *Call) Next(ctx context.Context) (*schemas.StreamChunk, error) {
	var grace <-chan time.Time
	for {
		c.mu.Lock()
		if len(c.chunks) > 0 {
			ch := c.chunks[0]
			c.chunks[0] = nil
			c.chunks = c.chunks[1:]
			c.mu.Unlock()
			return ch, nil
		}
		resp, err, received, respAt := c.resp, c.err, c.received, c.respAt
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if resp != nil {
			wait := c.r.cfg.StreamGrace - time.Since(respAt)
			if received == 0 || wait <= 0 {
				return nil, ErrStreamEnded
			}
			if grace == nil {
				t := time.NewTimer(wait)
				defer t.Stop()
				grace = t.C
			}
		}
		select {
		case <-c.notify:
		case <-grace:
			return nil, ErrStreamEnded
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Cancel asks the pipeline to stop work on the request (see [Requester.Cancel]).
func (c *Call) Cancel(ctx context.Context, reason string) error {
	return c.r.Cancel(ctx, c.RequestID, c.TenantID, reason)
}

// Close stops waiting for the call's replies and frees its in-flight slot.
func (c *Call) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.r.mu.Lock()
	if c.r.pending[c.RequestID] == c {
		delete(c.r.pending, c.RequestID)
	}
	c.r.mu.Unlock()
	c.r.inFlight.Add(-1)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "switchyard"
	}
	return h
}

func pid() int { return os.Getpid() }
