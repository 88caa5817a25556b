package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/toolschema"
	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/resilience"
	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Pricer prices an attempt's usage on a provider's pinned model with the price in force at a
// time (batch prices for batch priority); the router's versioned price table implements it.
type Pricer interface {
	CostAt(provider, version string, at time.Time, priority string, u schemas.Usage) (usd float64, ok bool)
}

// WorkerRole is a provider worker group's handler: call the provider through its adapter,
// guarded by the process's breakers, cool-downs and limits, retrying, hedging and correcting
// within the hop, and publish the response with its stream and audit trail, or on a failure
// the next hop of the fallback chain. It never decides policy beyond the chain the router
// gave it.
//
// # One hop
//
// A work record is one hop of the chain. Within it the worker makes up to
// Retry.MaxAttempts calls to its provider, waiting a jittered backoff (or the provider's
// Retry-After, when it is short) between them; the first may be hedged to the next provider
// of the chain. A retryable failure that the hop cannot absorb, a local refusal (open
// breaker, cool-down, limits) or a refused key sends the request to the next provider's work
// topic with its attempt history, the text already streamed and the next stream seq; a
// context-window error skips to a model with a larger window; a content-filter refusal
// follows worker.content_filter; other client errors end the request at once. Every path
// ends in exactly one terminal outcome, within the request's deadline and attempt budget.
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
	// Guard is the process's resilience state, shared by its workers. Default: a private
	// Guard with default settings.
	Guard *Guard
	// Peers returns the adapter of another provider, for hedged calls to it; nil, or a nil
	// result, means the request is not hedged to that provider.
	Peers func(provider string) adapters.Adapter
	// Windows returns a model's context window in tokens (0 if unknown), to pick a larger
	// model after a context-too-long error. nil: every fallback counts as larger.
	Windows func(provider, model string) int
	// AttemptBudget caps the calls made for one request across its whole chain. Default 6.
	AttemptBudget int
	// ToolCallRetries is how often an answer with invalid tool calls is asked again with a
	// corrective message. Default 0.
	ToolCallRetries int
	// ContentFilterFallback sends a prompt refused by a provider's content filter down the
	// chain; false ends it in error with a DLQ record. Default false.
	ContentFilterFallback bool
	// MaxAnswerBytes caps an answer's content and tool calls: a larger one fails its attempt
	// (malformed) as soon as it passes the cap, so that the response fits a Kafka record and
	// memory stays bounded. Default 512 KiB.
	MaxAnswerBytes int
	// ToolSchemas compiles the requests' tool lists to check returned calls. Default: a cache
	// shared by every worker of the process.
	ToolSchemas *toolschema.Cache
	// Metrics records stage latencies, responses, tokens, cost and dead letters. Optional:
	// nil records nothing.
	Metrics *Metrics
	// Cancels are the requests their callers cancelled (llm.cancels): such a request is not
	// called, and a call in flight is abandoned; either way it ends in an error response of
	// code cancelled. Optional: nil cancels nothing.
	Cancels *Cancels
	Now     func() time.Time
}

// handling is the state of one work record while it is handled.
type handling struct {
	item     schemas.WorkItem
	out      *outputs
	pub      *streamPublisher
	deadline time.Time
	// messages are the request's messages plus the corrective turns added in this hop.
	messages []schemas.Message
	// partial is the answer text that stands, streamed by earlier attempts; partialTools
	// says tool-call fragments were streamed too (they cannot be continued, only restarted).
	partial      string
	partialTools bool
	// echo is the prefill a continuing attempt's answer starts with (the partial text without
	// its trailing whitespace, which the adapter drops): not published twice, not counted twice.
	echo        string
	toolRetries int
	attempts    int // attempt ids handed out in this hop
}

func (h *handling) nextAttemptID() string {
	id := h.item.Request.RequestID + "/h" + itoa(int64(h.item.Hop)) + "/a" + itoa(int64(h.attempts))
	h.attempts++
	return id
}

// Handle processes one work record. It returns nil once every output is acknowledged.
func (w *WorkerRole) Handle(ctx context.Context, rec *kgo.Record) error {
	now := w.now()
	mQueue, mDecode, mProduce := w.Metrics.workerStage()
	t0 := time.Now()
	out := newOutputs(w.Codec, w.Topics.Audit)
	h := &handling{out: out}
	err := w.Codec.Decode(schemas.TypeWorkItem, rec.Value, producers.Header(rec, "content-type"), &h.item)
	observe(mDecode, time.Since(t0))
	if err != nil {
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
		return out.produce(ctx, w.Client, w.Metrics, mProduce)
	}
	item := &h.item
	if item.RoutedAt > 0 {
		observe(mQueue, now.Sub(time.UnixMilli(item.RoutedAt)))
	}
	req := &item.Request
	out.forRequest(req.RequestID, req.TenantID, item.Hop)
	out.audit(schemas.EventWorkReceived, schemas.StageDispatch, item.Provider, item.Model, 0,
		"hop", itoa(int64(item.Hop)), "queue_ms", ftoa(msSince(req.CreatedAt, now)), "attempts_so_far", itoa(int64(len(item.Attempts))))
	if item.Hop > 0 {
		var last schemas.Attempt
		if n := len(item.Attempts); n > 0 {
			last = item.Attempts[n-1]
		}
		out.audit(schemas.EventFallbackReceived, schemas.StageDispatch, item.Provider, item.Model, 0,
			"hop", itoa(int64(item.Hop)), "from_provider", last.Provider, "from_model", last.Model, "last_error", last.ErrorCode,
			"partial_chars", itoa(int64(len(item.Partial))), "attempts_so_far", itoa(int64(len(item.Attempts))))
	}
	h.deadline = w.deadlineOf(req)
	out.replyTo(rec)
	h.pub = &streamPublisher{w: w, requestID: req.RequestID, seq: item.StreamSeq, headers: out.headers}
	h.messages = req.Messages
	h.partial = item.Partial
	h.partialTools = item.StreamSeq > 0 && item.Partial == ""

	if x, ok := w.Cancels.Cancelled(req.RequestID); ok {
		return w.cancelled(ctx, h, rec, x)
	}
	// Provider calls and the waits between them run under callCtx, which a cancel of the
	// request ends; outputs are produced under ctx.
	callCtx, untrack := w.Cancels.Track(ctx, req.RequestID)
	defer untrack()

	if !now.Before(h.deadline) {
		out.audit(schemas.EventDeadlineExceeded, schemas.StageDispatch, item.Provider, item.Model, 0,
			"deadline_ms", itoa(h.deadline.Sub(time.UnixMilli(req.CreatedAt)).Milliseconds()))
		return w.fail(ctx, h, rec, "deadline_exceeded", "the request's deadline passed before a provider answered", false, "")
	}
	primary := target{provider: item.Provider, model: item.Model, adapter: w.Adapter}
	retry := w.guard().Settings(w.Provider).Retry
	retries := 0 // retries scheduled in this hop and not yet answered
	for try := 1; ; try++ {
		if len(item.Attempts) >= w.attemptBudget() {
			out.audit(schemas.EventAttemptBudgetExhausted, schemas.StageDispatch, item.Provider, item.Model, 0,
				"attempts", itoa(int64(len(item.Attempts))), "budget", itoa(int64(w.attemptBudget())))
			return w.fail(ctx, h, rec, "attempt_budget_exhausted",
				fmt.Sprintf("the request used its %d provider calls without an answer", w.attemptBudget()), true, "")
		}
		call := w.prepare(h, primary)
		var hedge *target
		var delay time.Duration
		if try == 1 && h.pub.next() == 0 {
			hedge, delay = w.hedgeTarget(h, primary)
		}
		a, all := w.callHedged(callCtx, h, primary, hedge, delay, call)
		for _, x := range all {
			item.Attempts = append(item.Attempts, x.rec)
		}
		if ctx.Err() != nil {
			// Shutting down or the partition was revoked: the record is not done and is not
			// marked, so its next owner redoes it.
			return ctx.Err()
		}
		if IsCancelled(callCtx) {
			x, _ := w.Cancels.Cancelled(req.RequestID)
			return w.cancelled(ctx, h, rec, x)
		}
		if err := h.pub.wait(); err != nil {
			// A stream chunk Kafka did not take is an output not acknowledged: do the whole
			// record again rather than publish an answer whose stream has a hole.
			return err
		}
		if a.provider != primary.provider {
			// The hedge answered: its step of the chain is used up.
			item.Fallbacks = dropStep(item.Fallbacks, a.target)
		}
		if a.err == nil {
			if retries > 0 {
				out.audit(schemas.EventRetryRecovered, schemas.StageDispatch, a.provider, a.model, 0,
					"tries", itoa(int64(try)), "retries", itoa(int64(retries)))
				retries = 0
			}
			if retryTools, err := w.answered(ctx, h, rec, a); retryTools {
				primary = a.target
				continue
			} else {
				return err
			}
		}
		if a.text != "" || a.tool {
			h.partial += a.text
			h.partialTools = h.partialTools || a.tool
		}
		wait, ok, why := w.retryWait(h, a, try, retry)
		if why != "" {
			out.audit(schemas.EventRetryExhausted, schemas.StageDispatch, a.provider, a.model, 0,
				"tries", itoa(int64(try)), "max_attempts", itoa(int64(retry.MaxAttempts)), "reason", why,
				"error_kind", adapters.KindOf(a.err).String())
		}
		if ok {
			retries++
			w.guard().m.retries.WithLabelValues(a.provider).Inc()
			out.audit(schemas.EventRetryScheduled, schemas.StageDispatch, a.provider, a.model, 0,
				"try", itoa(int64(try+1)), "wait_ms", itoa(wait.Milliseconds()), "error_kind", adapters.KindOf(a.err).String())
			if !sleepCtx(callCtx, wait) {
				if ctx.Err() == nil && IsCancelled(callCtx) {
					x, _ := w.Cancels.Cancelled(req.RequestID)
					return w.cancelled(ctx, h, rec, x)
				}
				return ctx.Err()
			}
			primary = a.target
			continue
		}
		return w.fallBack(ctx, h, rec, a)
	}
}

// retryWait decides whether the hop calls the same provider again after a, and after how
// long: only for retryable failures of a call that reached the provider, within the hop's
// attempts, the request's deadline and the provider's Retry-After (a longer wait than
// MaxRetryAfter goes down the chain instead). When a retryable failure is not retried, why
// says what stopped it (for the audit trail); a hop without retries (max_attempts 1) and a
// failure that is not retryable give no why.
func (w *WorkerRole) retryWait(h *handling, a *attempt, try int, s resilience.RetrySettings) (wait time.Duration, ok bool, why string) {
	if resilience.RejectionOf(a.err) != nil || !adapters.IsRetryable(a.err) {
		return 0, false, ""
	}
	if try >= s.MaxAttempts {
		if s.MaxAttempts <= 1 {
			return 0, false, ""
		}
		return 0, false, "max_attempts"
	}
	if h.partialTools {
		return 0, false, "streamed_tool_calls" // a restart after streamed tool calls is a new answer: leave it to the chain
	}
	wait = resilience.Backoff(try, s.BackoffBase, s.BackoffMax)
	if ra := adapters.RetryAfterOf(a.err); ra > 0 {
		if ra > s.MaxRetryAfter {
			return 0, false, "retry_after_too_long"
		}
		wait = max(wait, ra)
	}
	if until, _ := w.guard().Cooldowns.Until(a.provider); !until.IsZero() {
		if d := until.Sub(w.now()); d > s.MaxRetryAfter {
			return 0, false, "cooldown_too_long"
		} else if d > wait {
			wait = d + time.Millisecond
		}
	}
	if !w.now().Add(wait).Before(h.deadline) {
		return 0, false, "deadline"
	}
	return wait, true, ""
}

// hedgeTarget returns the hop's hedge (the next step of the chain, when its adapter is in this
// process and the provider hedges this priority) and the delay, or nil.
func (w *WorkerRole) hedgeTarget(h *handling, primary target) (*target, time.Duration) {
	if w.Peers == nil || len(h.item.Fallbacks) == 0 {
		return nil, 0
	}
	next := h.item.Fallbacks[0]
	ad := w.Peers(next.Provider)
	if ad == nil {
		return nil, 0
	}
	delay, ok := w.guard().Hedger.Delay(primary.provider, primary.model, h.item.Request.Priority)
	if !ok || !w.now().Add(delay).Before(h.deadline) {
		return nil, 0
	}
	return &target{provider: next.Provider, model: next.Model, adapter: ad}, delay
}

// prepare builds the call for t. When earlier attempts streamed part of an answer, it either
// continues that text (a final assistant message, for models that take a prefill) or starts
// again, and tells stream readers which with a provider_switch chunk.
func (w *WorkerRole) prepare(h *handling, t target) *adapters.Call {
	req := &h.item.Request
	msgs := h.messages
	h.echo = ""
	if h.pub.next() > 0 && (h.partial != "" || h.partialTools) {
		mode := schemas.StreamRestart
		if h.partial != "" && !h.partialTools && adapters.CapabilitiesFor(t.adapter, t.model).Prefill {
			mode = schemas.StreamContinue
			msgs = append(msgs[:len(msgs):len(msgs)], schemas.Message{Role: "assistant", Content: h.partial})
			h.echo = strings.TrimRightFunc(h.partial, unicode.IsSpace)
		} else {
			h.partial, h.partialTools = "", false
		}
		h.pub.publish(schemas.StreamChunk{Kind: schemas.ChunkProviderSwitch, Mode: mode, Provider: t.provider, Model: t.model})
		h.out.audit(schemas.EventStreamResumed, schemas.StageStream, t.provider, t.model, 0,
			"mode", mode, "partial_chars", itoa(int64(len(h.partial))), "seq", itoa(int64(h.pub.next())))
	}
	return &adapters.Call{
		RequestID:      req.RequestID,
		Model:          t.model,
		Messages:       msgs,
		Tools:          req.Tools,
		ToolChoice:     req.ToolChoice,
		ResponseFormat: req.ResponseFormat,
		MaxTokens:      int(req.MaxTokens),
		Temperature:    req.Temperature,
	}
}

// answered finishes a successful attempt: tool calls checked (and, when invalid and the
// request has corrections left, retryTools asks the caller to call again with the corrective
// turn added), degradation marked, cost summed, the response published.
func (w *WorkerRole) answered(ctx context.Context, h *handling, rec *kgo.Record, a *attempt) (retryTools bool, err error) {
	item, res := &h.item, a.res
	req := &item.Request
	done := w.now()
	resp := &schemas.Response{
		RequestID:     req.RequestID,
		TenantID:      req.TenantID,
		UserID:        req.UserID,
		TaskType:      req.TaskType,
		Priority:      req.Priority,
		Status:        schemas.StatusOK,
		Provider:      a.provider,
		Model:         a.model,
		Content:       h.partial + strings.TrimPrefix(res.Content, h.echo),
		FinishReason:  res.FinishReason,
		Usage:         res.Usage,
		Attempts:      item.Attempts,
		FallbackDepth: item.Hop,
		Latency: schemas.Latency{
			QueueMS: float64(item.Attempts[0].StartedAt-req.CreatedAt*1000) / 1000,
			TTFTMS:  a.rec.TTFTMS,
			TotalMS: msSince(req.CreatedAt, done),
		},
		CreatedAt:   req.CreatedAt,
		CompletedAt: done.UnixMilli(),
	}
	resp.CostUSD, resp.Hedged = attemptTotals(item.Attempts)
	if why, ok := router.DegradedReason(item.RouteReason); ok {
		// The router gave this request a lesser model than its rule's primary (unhealthy or
		// over budget): the answer is whole but not what the rule asked for, and says so.
		resp.Status, resp.DegradedReason = schemas.StatusDegraded, why
	}
	if len(res.ToolCalls) > 0 {
		resp.ToolCalls = w.checkToolCalls(h.out, item, a.target, res.ToolCalls)
		var problems []string
		for _, tc := range resp.ToolCalls {
			if !tc.Valid {
				problems = append(problems, tc.Name+": "+tc.ValidationError)
			}
		}
		if len(problems) == 0 && h.toolRetries > 0 {
			h.out.audit(schemas.EventToolCallCorrected, schemas.StageRespond, a.provider, a.model, 0,
				"corrections", itoa(int64(h.toolRetries)), "calls", itoa(int64(len(resp.ToolCalls))))
		}
		if len(problems) > 0 {
			if h.toolRetries < w.ToolCallRetries && len(item.Attempts) < w.attemptBudget() && w.now().Before(h.deadline) {
				h.toolRetries++
				h.messages = correctiveTurn(h.messages, res, resp.ToolCalls)
				h.partial, h.partialTools = "", h.pub.next() > 0
				h.out.audit(schemas.EventToolCallRetry, schemas.StageRespond, a.provider, a.model, 0,
					"try", itoa(int64(h.toolRetries)), "invalid", itoa(int64(len(problems))))
				return true, nil
			}
			if h.toolRetries > 0 {
				h.out.audit(schemas.EventToolCallGaveUp, schemas.StageRespond, a.provider, a.model, 0,
					"corrections", itoa(int64(h.toolRetries)), "invalid", itoa(int64(len(problems))))
				resp.Status = schemas.StatusError
				resp.Error = &schemas.ErrorInfo{Code: "invalid_tool_call", Message: truncate(fmt.Sprintf(
					"the tool calls still broke their schemas after %d corrective retries: %s", h.toolRetries, strings.Join(problems, "; ")), 512)}
			} else {
				resp.Status, resp.DegradedReason = schemas.StatusDegraded, "invalid_tool_call"
			}
		}
	}
	if res.FinishReason == adapters.FinishContentFilter && resp.Status != schemas.StatusError {
		// The provider cut the answer: what there is must not pass for a whole answer.
		resp.Status, resp.DegradedReason = schemas.StatusDegraded, "content_filtered"
		h.out.audit(schemas.EventContentFiltered, schemas.StageRespond, a.provider, a.model, 0,
			"finish_reason", res.FinishReason, "output_tokens", itoa(res.Usage.OutputTokens))
	}
	if res.FinishReason == adapters.FinishLength {
		h.out.audit(schemas.EventAnswerTruncated, schemas.StageRespond, a.provider, a.model, 0,
			"output_tokens", itoa(res.Usage.OutputTokens), "max_tokens", itoa(int64(req.MaxTokens)))
	}
	// The router's token estimate beside the provider's count, so the estimator's error is
	// visible per model in the audit trail.
	estErr := ""
	if res.Usage.InputTokens > 0 {
		estErr = strconv.FormatFloat(router.EstimateError(item.EstimatedInputTokens, res.Usage.InputTokens), 'f', 4, 64)
	}
	h.out.audit(schemas.EventCostComputed, schemas.StageRespond, a.provider, a.model, 0,
		"cost_usd", ftoa(resp.CostUSD), "input_tokens", itoa(res.Usage.InputTokens), "output_tokens", itoa(res.Usage.OutputTokens),
		"est_input_tokens", itoa(item.EstimatedInputTokens), "estimate_error", estErr)
	if req.Stream && h.pub.next() > 0 {
		if resp.Status == schemas.StatusError {
			h.pub.publish(schemas.StreamChunk{Kind: schemas.ChunkError, Provider: a.provider, Model: a.model})
		} else {
			h.pub.publish(schemas.StreamChunk{Kind: schemas.ChunkDone, FinishReason: res.FinishReason, Provider: a.provider, Model: a.model})
		}
		h.out.audit(schemas.EventStreamChunks, schemas.StageStream, a.provider, a.model, 0, "chunks", itoa(int64(h.pub.next())))
		if err := h.pub.wait(); err != nil {
			return false, err
		}
	}
	switch resp.Status {
	case schemas.StatusDegraded:
		h.out.audit(schemas.EventResponseDegraded, schemas.StageRespond, a.provider, a.model, 0, "reason", resp.DegradedReason)
	case schemas.StatusError:
		h.out.audit(schemas.EventResponseError, schemas.StageRespond, a.provider, a.model, 0,
			"code", resp.Error.Code, "retryable", strconv.FormatBool(resp.Error.Retryable), "attempts", itoa(int64(len(resp.Attempts))))
	}
	if item.Hop > 0 && resp.Status != schemas.StatusError {
		h.out.audit(schemas.EventFallbackAnswered, schemas.StageDispatch, a.provider, a.model, 0,
			"hop", itoa(int64(item.Hop)), "attempts", itoa(int64(len(resp.Attempts))))
	}
	return false, w.finish(ctx, h.out, req, resp)
}

// correctiveTurn appends the answer's tool calls and, for each, a tool result that names what
// was wrong (the validator's message: schema locations, never values), so the model can call
// again with arguments that fit.
func correctiveTurn(msgs []schemas.Message, res *adapters.Result, checked []schemas.ResponseToolCall) []schemas.Message {
	out := append(msgs[:len(msgs):len(msgs)], schemas.Message{Role: "assistant", Content: res.Content, ToolCalls: res.ToolCalls})
	for _, c := range checked {
		text := "Not run: another call of this answer was invalid. Call the tools again."
		if !c.Valid {
			text = "Error: the arguments do not match the tool's parameter schema: " + c.ValidationError +
				". Call the tool again with arguments that match its schema."
		}
		out = append(out, schemas.Message{Role: "tool", ToolCallID: c.ID, Name: c.Name, Content: text})
	}
	return out
}

// fallBack ends a hop that failed with a: down the chain when the failure is the provider's
// (or a refusal, or a key it rejected), to a larger model after a context-window error, per
// policy after a content-filter refusal; an error response otherwise, with a DLQ record
// when the input itself is at fault.
func (w *WorkerRole) fallBack(ctx context.Context, h *handling, rec *kgo.Record, a *attempt) error {
	item := &h.item
	kind := adapters.KindOf(a.err)
	reason := kind.String()
	if rej := resilience.RejectionOf(a.err); rej != nil {
		reason = rej.Reason
	}
	switch {
	case kind == adapters.InvalidRequest:
		return w.fail(ctx, h, rec, reason, safeMessage(a.err), false, schemas.ReasonInvalidRequest)
	case kind == adapters.ContentFiltered && !w.ContentFilterFallback:
		return w.fail(ctx, h, rec, reason, safeMessage(a.err), false, schemas.ReasonContentFiltered)
	}
	chain := item.Fallbacks
	if kind == adapters.ContextTooLong {
		chain = w.largerModels(h, a.target, chain)
	}
	if len(chain) == 0 {
		if kind == adapters.ContextTooLong {
			return w.fail(ctx, h, rec, reason, "no model of the chain has a larger context window: "+safeMessage(a.err), false, schemas.ReasonContextTooLong)
		}
		h.out.audit(schemas.EventChainExhausted, schemas.StageDispatch, a.provider, a.model, 0,
			"attempts", itoa(int64(len(item.Attempts))), "last_error", reason)
		return w.fail(ctx, h, rec, reason, safeMessage(a.err), true, "")
	}
	if !w.now().Before(h.deadline) {
		h.out.audit(schemas.EventDeadlineExceeded, schemas.StageDispatch, a.provider, a.model, 0,
			"deadline_ms", itoa(h.deadline.Sub(time.UnixMilli(item.Request.CreatedAt)).Milliseconds()))
		return w.fail(ctx, h, rec, "deadline_exceeded", "the request's deadline passed: "+safeMessage(a.err), true, "")
	}
	if item.Request.BudgetUSD != nil && *item.Request.BudgetUSD > 0 {
		capUSD := *item.Request.BudgetUSD
		if spent, _ := attemptTotals(item.Attempts); spent >= capUSD {
			h.out.audit(schemas.EventFallbackSkipped, schemas.StageDispatch, chain[0].Provider, chain[0].Model, 0,
				"reason", "over_request_budget", "spent_usd", ftoa(spent), "budget_usd", ftoa(capUSD))
			return w.fail(ctx, h, rec, "budget_exceeded", fmt.Sprintf("the attempts spent $%.6f of the request's $%.6f budget", spent, capUSD), false, "")
		}
	}
	next := *item
	next.Provider, next.Model = chain[0].Provider, chain[0].Model
	next.Fallbacks = chain[1:]
	next.Hop = item.Hop + 1
	next.RoutedAt = w.now().UnixMilli()
	next.Partial, next.StreamSeq = h.partial, h.pub.next()
	if h.partialTools {
		next.Partial = ""
	}
	if err := h.out.add(w.Topics.Work(next.Provider), item.Request.RequestID, schemas.TypeWorkItem, &next); err != nil {
		return err
	}
	w.guard().m.fallbacks.WithLabelValues(a.provider, reason).Inc()
	h.out.audit(schemas.EventFallbackEnqueued, schemas.StageDispatch, a.provider, a.model, 0,
		"to_provider", next.Provider, "to_model", next.Model, "hop", itoa(int64(next.Hop)), "reason", reason,
		"remaining_ms", itoa(h.deadline.Sub(w.now()).Milliseconds()), "partial_chars", itoa(int64(len(next.Partial))))
	_, _, mProduce := w.Metrics.workerStage()
	return h.out.produce(ctx, w.Client, w.Metrics, mProduce)
}

// largerModels is the chain from its first model whose context window is larger than the
// failed one's; the models passed over are audited.
func (w *WorkerRole) largerModels(h *handling, failed target, chain []schemas.RouteStep) []schemas.RouteStep {
	if w.Windows == nil {
		return chain
	}
	have := w.Windows(failed.provider, failed.model)
	for i, s := range chain {
		if win := w.Windows(s.Provider, s.Model); have == 0 || win == 0 || win > have {
			return chain[i:]
		}
		h.out.audit(schemas.EventFallbackSkipped, schemas.StageDispatch, s.Provider, s.Model, 0,
			"reason", "context_window", "window", itoa(int64(w.Windows(s.Provider, s.Model))), "needed_over", itoa(int64(have)))
	}
	return nil
}

// fail publishes the request's terminal error response, a stream error chunk when part of
// an answer was streamed, and a DLQ record when dlqReason is set (the input is at fault).
func (w *WorkerRole) fail(ctx context.Context, h *handling, rec *kgo.Record, code, msg string, retryable bool, dlqReason string) error {
	req := &h.item.Request
	if h.pub.next() > 0 {
		// Stream readers saw part of an answer that will not complete: tell them to drop it.
		h.pub.publish(schemas.StreamChunk{Kind: schemas.ChunkError, Provider: h.item.Provider, Model: h.item.Model})
		h.out.audit(schemas.EventStreamAborted, schemas.StageStream, h.item.Provider, h.item.Model, 0,
			"chunks", itoa(int64(h.pub.next())), "error", code)
		if err := h.pub.wait(); err != nil {
			return err
		}
	}
	if dlqReason != "" {
		if err := deadLetter(h.out, w.Topics, rec, req, dlqReason, msg, schemas.StageDispatch, w.now()); err != nil {
			return err
		}
	}
	resp := errorResponse(req, code, msg, retryable, h.item.Attempts, h.item.Hop, w.now())
	resp.CostUSD, resp.Hedged = attemptTotals(h.item.Attempts)
	h.out.audit(schemas.EventResponseError, schemas.StageRespond, h.item.Provider, h.item.Model, 0,
		"code", code, "retryable", strconv.FormatBool(retryable), "attempts", itoa(int64(len(resp.Attempts))))
	return w.finish(ctx, h.out, req, resp)
}

// cancelled ends a request its caller cancelled: an error response of code cancelled (and a
// stream error chunk when part of an answer was streamed).
func (w *WorkerRole) cancelled(ctx context.Context, h *handling, rec *kgo.Record, x schemas.Cancel) error {
	h.out.audit(schemas.EventRequestCancelled, schemas.StageRespond, h.item.Provider, h.item.Model, 0,
		"reason", x.Reason, "source", x.Source, "at", schemas.StageDispatch)
	return w.fail(ctx, h, rec, CodeCancelled, "the caller cancelled the request", false, "")
}

// sharedToolSchemas serves workers that were given no cache of their own.
var sharedToolSchemas = toolschema.NewCache(0)

// checkToolCalls validates the returned calls against the request's tools. Every call is kept,
// with the provider's raw text beside the checked arguments; invalid ones are flagged and audited.
func (w *WorkerRole) checkToolCalls(out *outputs, item *schemas.WorkItem, t target, calls []schemas.ToolCall) []schemas.ResponseToolCall {
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
		out.audit(schemas.EventToolCallInvalid, schemas.StageRespond, t.provider, t.model, 0,
			"tool_call_id", c.ID, "tool", c.Name, "error", c.ValidationError)
	}
	out.audit(schemas.EventToolCallsChecked, schemas.StageRespond, t.provider, t.model, 0,
		"calls", itoa(int64(len(checked))), "invalid", itoa(int64(invalid)))
	return checked
}

// finish publishes the terminal response with its audit event and awaits every output.
func (w *WorkerRole) finish(ctx context.Context, out *outputs, req *schemas.Request, resp *schemas.Response) error {
	if err := out.add(w.Topics.Responses, req.RequestID, schemas.TypeResponse, resp); err != nil {
		return err
	}
	out.audit(schemas.EventResponsePublish, schemas.StageRespond, resp.Provider, resp.Model, 0,
		"status", resp.Status, "total_ms", ftoa(resp.Latency.TotalMS))
	_, _, mProduce := w.Metrics.workerStage()
	if err := out.produce(ctx, w.Client, w.Metrics, mProduce); err != nil {
		return err
	}
	// Counted once acknowledged: a response Kafka did not take is done again, and counted then.
	w.Metrics.responded(resp)
	return nil
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

func (w *WorkerRole) maxAnswer() int {
	if w.MaxAnswerBytes > 0 {
		return w.MaxAnswerBytes
	}
	return 512 << 10
}

func (w *WorkerRole) attemptBudget() int {
	if w.AttemptBudget > 0 {
		return w.AttemptBudget
	}
	return 6
}

// privateGuard serves workers that were given no Guard.
var privateGuard = NewGuard(GuardConfig{})

func (w *WorkerRole) guard() *Guard {
	if w.Guard != nil {
		return w.Guard
	}
	return privateGuard
}

func (w *WorkerRole) log() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

func (w *WorkerRole) now() time.Time { return clock(w.Now) }

// attemptTotals is what a request's attempts cost together, and whether one was a hedge.
func attemptTotals(attempts []schemas.Attempt) (costUSD float64, hedged bool) {
	for _, a := range attempts {
		costUSD += a.CostUSD
		hedged = hedged || a.Hedge
	}
	return costUSD, hedged
}

func dropStep(chain []schemas.RouteStep, t target) []schemas.RouteStep {
	for i, s := range chain {
		if s.Provider == t.provider && s.Model == t.model {
			return append(chain[:i:i], chain[i+1:]...)
		}
	}
	return chain
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// safeMessage is an error text fit for a response: the adapter's errors carry no secrets or
// prompts by construction; it is capped all the same.
func safeMessage(err error) string { return truncate(err.Error(), 512) }
