package roles

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/toolschema"
	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Pricer prices an attempt's usage on a provider's pinned model with the price in force at a
// time (batch prices for batch priority); the router's versioned price table implements it.
type Pricer interface {
	CostAt(provider, version string, at time.Time, priority string, u schemas.Usage) (usd float64, ok bool)
}

// WorkerRole is a provider worker group's handler: call the provider through its adapter and
// publish the response, its stream and audit trail, or on a failure the next hop of the
// fallback chain. It never decides policy beyond the chain the router gave it.
type WorkerRole struct {
	Provider string
	Adapter  adapters.Adapter
	Client   *kgo.Client
	Codec    *schemas.Codec
	Prices   Pricer
	Topics   Topics
	Logger   *slog.Logger
	// DefaultDeadline applies to requests whose deadline_ms is 0. Default 120s.
	DefaultDeadline time.Duration
	// Timeout bounds one provider call. Default 60s.
	Timeout time.Duration
	// Limit bounds the provider calls in flight in this process; nil means no bound.
	Limit chan struct{}
	// ToolSchemas compiles the requests' tool lists to check returned calls. Default: a cache
	// shared by every worker of the process.
	ToolSchemas *toolschema.Cache
	Now         func() time.Time
}

// Handle processes one work record. It returns nil once every output is acknowledged.
func (w *WorkerRole) Handle(ctx context.Context, rec *kgo.Record) error {
	now := w.now()
	out := newOutputs(w.Codec, w.Topics.Audit)
	var item schemas.WorkItem
	if err := w.Codec.Decode(schemas.TypeWorkItem, rec.Value, header(rec, "content-type"), &item); err != nil {
		if errors.Is(err, schemas.ErrRegistryUnavailable) {
			return err
		}
		reason := schemas.ReasonOf(err)
		if reason == "" {
			reason = schemas.ReasonDecodeError
		}
		if err := deadLetter(out, w.Topics, rec, nil, reason, err.Error(), schemas.StageDispatch, now); err != nil {
			return err
		}
		return producers.ProduceAll(ctx, w.Client, out.recs...)
	}
	req := &item.Request
	out.forRequest(req.RequestID, req.TenantID, item.Hop)
	out.audit(schemas.EventWorkReceived, schemas.StageDispatch, item.Provider, item.Model, 0,
		"hop", itoa(int64(item.Hop)), "queue_ms", ftoa(msSince(req.CreatedAt, now)))

	deadline := w.deadlineOf(req)
	if !now.Before(deadline) {
		out.audit(schemas.EventDeadlineExceeded, schemas.StageDispatch, item.Provider, item.Model, 0,
			"deadline_ms", itoa(deadline.Sub(time.UnixMilli(req.CreatedAt)).Milliseconds()))
		return w.finish(ctx, out, req, errorResponse(req, "deadline_exceeded", "the request's deadline passed before a provider answered",
			false, item.Attempts, item.Hop, now))
	}

	attempt, res, callErr := w.call(ctx, out, &item, deadline)
	item.Attempts = append(item.Attempts, attempt)
	if ctx.Err() != nil {
		// Shutting down or the partition was revoked: the record is not done and is not marked,
		// so its next owner redoes it.
		return ctx.Err()
	}
	if callErr != nil {
		kind := adapters.KindOf(callErr)
		if adapters.IsRetryable(callErr) && len(item.Fallbacks) > 0 && w.now().Before(deadline) {
			next := item
			next.Provider, next.Model = item.Fallbacks[0].Provider, item.Fallbacks[0].Model
			next.Fallbacks = item.Fallbacks[1:]
			next.Hop = item.Hop + 1
			next.RoutedAt = w.now().UnixMilli()
			topic := w.Topics.Work(next.Provider)
			if err := out.add(topic, req.RequestID, schemas.TypeWorkItem, &next); err != nil {
				return err
			}
			out.audit(schemas.EventFallbackEnqueued, schemas.StageDispatch, item.Provider, item.Model, 0,
				"to_provider", next.Provider, "to_model", next.Model, "hop", itoa(int64(next.Hop)))
			return producers.ProduceAll(ctx, w.Client, out.recs...)
		}
		if adapters.IsRetryable(callErr) {
			out.audit(schemas.EventChainExhausted, schemas.StageDispatch, item.Provider, item.Model, 0,
				"attempts", itoa(int64(len(item.Attempts))))
		}
		return w.finish(ctx, out, req, errorResponse(req, kind.String(), safeMessage(callErr), adapters.IsRetryable(callErr),
			item.Attempts, item.Hop, w.now()))
	}

	done := w.now()
	resp := &schemas.Response{
		RequestID:     req.RequestID,
		TenantID:      req.TenantID,
		UserID:        req.UserID,
		TaskType:      req.TaskType,
		Priority:      req.Priority,
		Status:        schemas.StatusOK,
		Provider:      item.Provider,
		Model:         item.Model,
		Content:       res.Content,
		FinishReason:  res.FinishReason,
		Usage:         res.Usage,
		Attempts:      item.Attempts,
		FallbackDepth: item.Hop,
		Latency: schemas.Latency{
			QueueMS: float64(attempt.StartedAt-req.CreatedAt*1000) / 1000,
			TTFTMS:  attempt.TTFTMS,
			TotalMS: msSince(req.CreatedAt, done),
		},
		CreatedAt:   req.CreatedAt,
		CompletedAt: done.UnixMilli(),
	}
	if why, ok := router.DegradedReason(item.RouteReason); ok {
		// The router gave this request a lesser model than its rule's primary (unhealthy or over
		// budget): the answer is whole but not what the rule asked for, and says so.
		resp.Status, resp.DegradedReason = schemas.StatusDegraded, why
	}
	if len(res.ToolCalls) > 0 {
		resp.ToolCalls = w.checkToolCalls(out, &item, res.ToolCalls)
		for _, tc := range resp.ToolCalls {
			if !tc.Valid {
				resp.Status, resp.DegradedReason = schemas.StatusDegraded, "invalid_tool_call"
				break
			}
		}
	}
	if res.FinishReason == adapters.FinishContentFilter {
		// The provider cut the answer: what there is must not pass for a whole answer.
		resp.Status, resp.DegradedReason = schemas.StatusDegraded, "content_filtered"
		out.audit(schemas.EventContentFiltered, schemas.StageRespond, item.Provider, item.Model, 0,
			"finish_reason", res.FinishReason, "output_tokens", itoa(res.Usage.OutputTokens))
	}
	for _, a := range item.Attempts {
		resp.CostUSD += a.CostUSD
	}
	// The router's token estimate beside the provider's count, so the estimator's error is
	// visible per model in the audit trail.
	estErr := ""
	if res.Usage.InputTokens > 0 {
		estErr = strconv.FormatFloat(router.EstimateError(item.EstimatedInputTokens, res.Usage.InputTokens), 'f', 4, 64)
	}
	out.audit(schemas.EventCostComputed, schemas.StageRespond, item.Provider, item.Model, 0,
		"cost_usd", ftoa(resp.CostUSD), "input_tokens", itoa(res.Usage.InputTokens), "output_tokens", itoa(res.Usage.OutputTokens),
		"est_input_tokens", itoa(item.EstimatedInputTokens), "estimate_error", estErr)
	return w.finish(ctx, out, req, resp)
}

// sharedToolSchemas serves workers that were given no cache of their own.
var sharedToolSchemas = toolschema.NewCache(0)

// checkToolCalls validates the returned calls against the request's tools. Every call is kept,
// with the provider's raw text beside the checked arguments; invalid ones are flagged and audited.
func (w *WorkerRole) checkToolCalls(out *outputs, item *schemas.WorkItem, calls []schemas.ToolCall) []schemas.ResponseToolCall {
	cache := w.ToolSchemas
	if cache == nil {
		cache = sharedToolSchemas
	}
	var checked []schemas.ResponseToolCall
	if set, err := cache.Compile(item.Request.Tools); err != nil {
		checked = make([]schemas.ResponseToolCall, len(calls))
		for i, c := range calls {
			checked[i] = schemas.ResponseToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments, Raw: c.Arguments, Signature: c.Signature,
				ValidationError: "the request's tool schemas do not compile: " + err.Error()}
		}
	} else {
		checked = set.Check(calls)
	}
	invalid := 0
	for _, c := range checked {
		if c.Valid {
			continue
		}
		invalid++
		out.audit(schemas.EventToolCallInvalid, schemas.StageRespond, item.Provider, item.Model, 0,
			"tool_call_id", c.ID, "tool", c.Name, "error", c.ValidationError)
	}
	out.audit(schemas.EventToolCallsChecked, schemas.StageRespond, item.Provider, item.Model, 0,
		"calls", itoa(int64(len(checked))), "invalid", itoa(int64(invalid)))
	return checked
}

// call makes one provider attempt and returns its record. Streamed deltas are published as
// they arrive (their acks are awaited with the rest of the outputs).
func (w *WorkerRole) call(ctx context.Context, out *outputs, item *schemas.WorkItem, deadline time.Time) (schemas.Attempt, *adapters.Result, error) {
	req := &item.Request
	attempt := schemas.Attempt{
		AttemptID: req.RequestID + "/h" + itoa(int64(item.Hop)) + "/a0",
		Provider:  item.Provider,
		Model:     item.Model,
		Hop:       item.Hop,
	}
	if w.Limit != nil {
		select {
		case w.Limit <- struct{}{}:
			defer func() { <-w.Limit }()
		case <-ctx.Done():
			attempt.Outcome, attempt.ErrorCode = "cancelled", "canceled"
			return attempt, nil, ctx.Err()
		}
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	callCtx, cancel := context.WithDeadline(ctx, minTime(deadline, w.now().Add(timeout)))
	defer cancel()

	call := &adapters.Call{
		RequestID:      req.RequestID,
		Model:          item.Model,
		Messages:       req.Messages,
		Tools:          req.Tools,
		ToolChoice:     req.ToolChoice,
		ResponseFormat: req.ResponseFormat,
		MaxTokens:      int(req.MaxTokens),
		Temperature:    req.Temperature,
	}
	start := w.now()
	attempt.StartedAt = start.UnixMicro()
	out.audit(schemas.EventAttemptStarted, schemas.StageProvider, item.Provider, item.Model, 0,
		"attempt_id", attempt.AttemptID, "stream", strconv.FormatBool(req.Stream))

	var (
		res *adapters.Result
		err error
	)
	streamer, canStream := w.Adapter.(adapters.Streamer)
	if req.Stream && canStream {
		var sp streamPublisher
		sp.init(w, item, attempt.AttemptID)
		res, err = streamer.Stream(callCtx, call, sp.onDelta)
		if werr := sp.wait(); werr != nil && err == nil {
			err = werr
		}
		if err == nil {
			sp.publish(schemas.StreamChunk{Kind: "done", FinishReason: res.FinishReason})
			if werr := sp.wait(); werr != nil {
				err = werr
			}
			out.audit(schemas.EventStreamChunks, schemas.StageStream, item.Provider, item.Model, 0,
				"chunks", itoa(int64(sp.seq)))
		}
		if err != nil && sp.seq > 0 {
			// Stream readers saw part of an answer that will not complete here: tell them to
			// drop it; a fallback hop, if any, starts a fresh sequence.
			sp.publish(schemas.StreamChunk{Kind: "error"})
			_ = sp.wait()
		}
		if sp.produceErr != nil {
			// A stream chunk that Kafka did not take is an output not acknowledged: retry the
			// whole record rather than publish a response whose stream has a hole.
			return attempt, nil, sp.produceErr
		}
	} else {
		res, err = w.Adapter.Complete(callCtx, call)
	}
	dur := w.now().Sub(start)
	attempt.DurationMS = float64(dur.Microseconds()) / 1000
	if err != nil {
		attempt.Outcome = "error"
		if errors.Is(err, context.DeadlineExceeded) || adapters.KindOf(err) == adapters.Timeout {
			attempt.Outcome = "timeout"
		}
		attempt.ErrorCode = adapters.KindOf(err).String()
		var ae *adapters.Error
		status := 0
		if errors.As(err, &ae) {
			status = ae.Status
		}
		out.audit(schemas.EventAttemptFailed, schemas.StageProvider, item.Provider, item.Model, dur,
			"attempt_id", attempt.AttemptID, "error_kind", attempt.ErrorCode, "status", itoa(int64(status)),
			"retryable", strconv.FormatBool(adapters.IsRetryable(err)))
		return attempt, nil, err
	}
	attempt.Outcome = "ok"
	attempt.TTFTMS = float64(res.TTFT.Microseconds()) / 1000
	attempt.InputTokens, attempt.OutputTokens, attempt.CachedTokens = res.Usage.InputTokens, res.Usage.OutputTokens, res.Usage.CachedTokens
	// Priced at the request's creation: a price change while it waited does not reprice it.
	if usd, ok := w.Prices.CostAt(item.Provider, item.Model, time.UnixMilli(req.CreatedAt), req.Priority, res.Usage); ok {
		attempt.CostUSD = usd
	}
	out.audit(schemas.EventFirstToken, schemas.StageProvider, item.Provider, item.Model, res.TTFT,
		"attempt_id", attempt.AttemptID, "ttft_ms", ftoa(attempt.TTFTMS))
	out.audit(schemas.EventAttemptSucceeded, schemas.StageProvider, item.Provider, item.Model, dur,
		"attempt_id", attempt.AttemptID, "finish_reason", res.FinishReason,
		"input_tokens", itoa(res.Usage.InputTokens), "output_tokens", itoa(res.Usage.OutputTokens))
	return attempt, res, nil
}

// finish publishes the terminal response with its audit event and awaits every output.
func (w *WorkerRole) finish(ctx context.Context, out *outputs, req *schemas.Request, resp *schemas.Response) error {
	if err := out.add(w.Topics.Responses, req.RequestID, schemas.TypeResponse, resp); err != nil {
		return err
	}
	out.audit(schemas.EventResponsePublish, schemas.StageRespond, resp.Provider, resp.Model, 0,
		"status", resp.Status, "total_ms", ftoa(resp.Latency.TotalMS))
	return producers.ProduceAll(ctx, w.Client, out.recs...)
}

func (w *WorkerRole) deadlineOf(req *schemas.Request) time.Time {
	budget := time.Duration(req.DeadlineMS) * time.Millisecond
	if budget <= 0 {
		budget = w.DefaultDeadline
		if budget <= 0 {
			budget = 120 * time.Second
		}
	}
	return time.UnixMilli(req.CreatedAt).Add(budget)
}

func (w *WorkerRole) now() time.Time { return clock(w.Now) }

// streamPublisher produces stream chunks as deltas arrive, without waiting for each ack, and
// keeps the first produce error.
type streamPublisher struct {
	w          *WorkerRole
	item       *schemas.WorkItem
	attemptID  string
	seq        int32
	wg         sync.WaitGroup
	mu         sync.Mutex
	produceErr error
}

func (s *streamPublisher) init(w *WorkerRole, item *schemas.WorkItem, attemptID string) {
	s.w, s.item, s.attemptID = w, item, attemptID
}

func (s *streamPublisher) onDelta(d adapters.Delta) error {
	if d.Content == "" && d.ToolCall == nil {
		return nil
	}
	if d.Content != "" {
		s.publish(schemas.StreamChunk{Kind: "delta", Delta: d.Content})
	}
	if tc := d.ToolCall; tc != nil {
		s.publish(schemas.StreamChunk{Kind: "tool_call", ToolCall: &schemas.ToolCallDelta{
			Index: int32(tc.Index), ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.produceErr
}

func (s *streamPublisher) publish(c schemas.StreamChunk) {
	c.RequestID = s.item.Request.RequestID
	c.Seq = s.seq
	c.Provider, c.Model, c.AttemptID = s.item.Provider, s.item.Model, s.attemptID
	c.TS = s.w.now().UnixMicro()
	s.seq++
	val, err := s.w.Codec.Encode(schemas.TypeStreamChunk, &c)
	if err != nil {
		s.fail(err)
		return
	}
	s.wg.Add(1)
	s.w.Client.Produce(context.Background(), &kgo.Record{
		Topic: s.w.Topics.Stream, Key: []byte(c.RequestID), Value: val,
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(s.w.Codec.ContentType())}},
	}, func(_ *kgo.Record, err error) {
		if err != nil {
			s.fail(err)
		}
		s.wg.Done()
	})
}

func (s *streamPublisher) fail(err error) {
	s.mu.Lock()
	if s.produceErr == nil {
		s.produceErr = err
	}
	s.mu.Unlock()
}

func (s *streamPublisher) wait() error {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.produceErr
}

// safeMessage is an error text fit for a response: the adapter's errors carry no secrets or
// prompts by construction; it is capped all the same.
func safeMessage(err error) string { return truncate(err.Error(), 512) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
