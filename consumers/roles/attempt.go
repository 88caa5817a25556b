package roles

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/resilience"
	"github.com/switchyard-llm/switchyard/schemas"
)

// errAnswerTooLarge ends an attempt whose answer outgrew WorkerRole.MaxAnswerBytes: it could
// not be published (a Kafka record has a size limit) and holding it would cost memory.
var errAnswerTooLarge = errors.New("the answer exceeds worker.max_answer_bytes")

// errHedgeLost ends the attempt that lost a hedge race: the other one answered first.
var errHedgeLost = errors.New("hedge lost: the other attempt answered first")

// target is one provider model an attempt calls.
type target struct {
	provider, model string
	adapter         adapters.Adapter
}

// attempt is the outcome of one provider call.
type attempt struct {
	target
	idx  int // 0 primary, 1 hedge
	rec  schemas.Attempt
	res  *adapters.Result
	err  error  // nil, an *adapters.Error (timeouts and hedge losses classified), a *resilience.Rejection or ctx's error
	text string // content streamed by this attempt (published)
	tool bool   // tool-call fragments were streamed
	ttft time.Duration
}

// race decides the winner of a hedged pair: the first attempt to stream a token, or (not
// streaming) to return an answer, wins; the others are cancelled at once.
type race struct {
	winner  atomic.Int32 // index+1 of the winner, 0 while undecided
	mu      sync.Mutex
	cancels map[int]context.CancelCauseFunc
}

func newRace() *race { return &race{cancels: map[int]context.CancelCauseFunc{}} }

func (r *race) register(i int, cancel context.CancelCauseFunc) {
	r.mu.Lock()
	r.cancels[i] = cancel
	won := r.winner.Load()
	r.mu.Unlock()
	if won != 0 && int(won) != i+1 {
		cancel(errHedgeLost)
	}
}

// claim makes attempt i the winner if there is none yet, and reports whether i is the winner.
func (r *race) claim(i int) bool {
	if r == nil {
		return true
	}
	if r.winner.CompareAndSwap(0, int32(i+1)) {
		r.mu.Lock()
		for j, c := range r.cancels {
			if j != i {
				c(errHedgeLost)
			}
		}
		r.mu.Unlock()
		return true
	}
	return r.winner.Load() == int32(i+1)
}

func (r *race) decided() bool { return r != nil && r.winner.Load() != 0 }

// call makes one guarded attempt at t: cool-down, limits and breaker first (a refusal sends
// nothing), then the call under a watchdog with the model's timeouts, bounded by the
// request's deadline. Streamed deltas go to h's publisher once this attempt has won its race.
func (w *WorkerRole) call(ctx context.Context, h *handling, t target, c *adapters.Call, hedge bool, rc *race, idx int) *attempt {
	g := w.guard()
	a := &attempt{target: t, idx: idx}
	if c.Model != t.model {
		// A hedge calls the next step of the chain: the same request, its own model.
		cc := *c
		cc.Model = t.model
		c = &cc
	}
	a.rec = schemas.Attempt{AttemptID: h.nextAttemptID(), Provider: t.provider, Model: t.model, Hop: h.item.Hop, Hedge: hedge}
	start := w.now()
	a.rec.StartedAt = start.UnixMicro()
	reject := func(rej *resilience.Rejection) *attempt {
		rej.Model = t.model
		a.err = rej
		a.rec.Outcome, a.rec.ErrorCode = "rejected", rej.Reason
		g.m.rejections.WithLabelValues(t.provider, rej.Reason).Inc()
		g.m.attempts.WithLabelValues(t.provider, "rejected", rej.Reason).Inc()
		until := ""
		if !rej.Until.IsZero() {
			until = strconv.FormatInt(rej.Until.UnixMilli(), 10)
		}
		h.out.audit(schemas.EventAttemptRejected, schemas.StageProvider, t.provider, t.model, 0,
			"attempt_id", a.rec.AttemptID, "reason", rej.Reason, "until_ms", until, "hedge", strconv.FormatBool(hedge))
		return a
	}
	if rej := g.Cooldowns.Check(t.provider); rej != nil {
		return reject(rej)
	}
	settings := g.Settings(t.provider)
	if l := g.Limiter(t.provider); l != nil {
		tokens := int(h.item.EstimatedInputTokens) + int(h.item.Request.MaxTokens)
		waitStart := time.Now()
		release, err := l.Acquire(ctx, tokens)
		if err != nil {
			if rej := resilience.RejectionOf(err); rej != nil {
				return reject(rej)
			}
			a.err, a.rec.Outcome, a.rec.ErrorCode = err, "cancelled", adapters.Canceled.String()
			return a
		}
		defer release()
		// A call that found its slot and budgets free takes microseconds; one that waited for
		// them took at least a timer's round.
		if waited := time.Since(waitStart); waited >= time.Millisecond {
			h.out.audit(schemas.EventLimitWaited, schemas.StageProvider, t.provider, t.model, waited,
				"attempt_id", a.rec.AttemptID, "wait_ms", ftoa(float64(waited.Microseconds())/1000),
				"tokens", itoa(int64(tokens)), "in_flight", itoa(int64(l.InFlight())))
		}
	}
	// Read before Allow: a half-open breaker lets this call through as one of its probes.
	probing := g.Breakers.State(t.provider, t.model) == resilience.StateHalfOpen
	done, err := g.Breakers.Allow(t.provider, t.model)
	if err != nil {
		return reject(resilience.RejectionOf(err))
	}
	if probing {
		h.out.audit(schemas.EventBreakerProbe, schemas.StageProvider, t.provider, t.model, 0,
			"attempt_id", a.rec.AttemptID, "hedge", strconv.FormatBool(hedge))
	}

	timeouts, _ := settings.ForModel(t.model)
	if left := time.Until(h.deadline); timeouts.Total <= 0 || left < timeouts.Total {
		timeouts.Total = max(left, time.Millisecond)
	}
	raceCtx, raceCancel := context.WithCancelCause(ctx)
	defer raceCancel(nil)
	if rc != nil {
		rc.register(idx, raceCancel)
	}
	gated := resilience.WithGate(raceCtx, func() error {
		if rej := g.Cooldowns.Check(t.provider); rej != nil {
			rej.Model = t.model
			return rej
		}
		return nil
	})
	callCtx, wd, cancel := resilience.Watch(gated, timeouts)
	defer cancel()
	h.out.audit(schemas.EventAttemptStarted, schemas.StageProvider, t.provider, t.model, 0,
		"attempt_id", a.rec.AttemptID, "stream", strconv.FormatBool(h.item.Request.Stream), "hedge", strconv.FormatBool(hedge),
		"timeout_ms", itoa(timeouts.Total.Milliseconds()))

	var text strings.Builder
	// A continued answer comes back with its prefill as the first delta (adapters.Capabilities
	// Prefill): readers have it already, so it is not published again.
	echo := ""
	if idx == 0 {
		echo = h.echo
	}
	streamer, canStream := t.adapter.(adapters.Streamer)
	var res *adapters.Result
	streamed := h.item.Request.Stream && canStream
	cm := g.callMetrics(t.provider)
	cm.inFlight.Inc()
	if streamed {
		res, err = streamer.Stream(callCtx, c, func(d adapters.Delta) error {
			if echo != "" && d.Content != "" {
				switch {
				case strings.HasPrefix(echo, d.Content):
					echo = echo[len(d.Content):]
					d.Content = ""
				case strings.HasPrefix(d.Content, echo):
					d.Content = d.Content[len(echo):]
					echo = ""
				default:
					echo = ""
				}
			}
			if d.Content == "" && d.ToolCall == nil {
				return nil
			}
			wd.Token()
			if a.ttft == 0 {
				a.ttft = w.now().Sub(start)
			}
			if !rc.claim(idx) {
				return errHedgeLost
			}
			text.WriteString(d.Content)
			if text.Len() > w.maxAnswer() {
				return errAnswerTooLarge
			}
			a.tool = a.tool || d.ToolCall != nil
			// Only the race's winner gets here, so the first chunk is published once.
			first := h.pub.next() == 0
			err := h.pub.delta(d, t.provider, t.model, a.rec.AttemptID)
			if first {
				h.out.audit(schemas.EventStreamStarted, schemas.StageStream, t.provider, t.model, w.now().Sub(start),
					"attempt_id", a.rec.AttemptID, "since_created_ms", ftoa(msSince(h.item.Request.CreatedAt, w.now())),
					"hedge", strconv.FormatBool(hedge))
			}
			return err
		})
	} else {
		res, err = t.adapter.Complete(callCtx, c)
		if err == nil && answerBytes(res) > w.maxAnswer() {
			err = errAnswerTooLarge
		}
		if err == nil && !rc.claim(idx) {
			err = errHedgeLost
		}
	}
	cm.inFlight.Dec()
	a.text = text.String()
	dur := w.now().Sub(start)
	cm.duration.Observe(dur.Seconds())
	a.rec.DurationMS = float64(dur.Microseconds()) / 1000
	a.res = res
	if res != nil {
		// Billed even when it lost a race or failed late: the provider charged for it.
		a.rec.InputTokens, a.rec.OutputTokens, a.rec.CachedTokens = res.Usage.InputTokens, res.Usage.OutputTokens, res.Usage.CachedTokens
		a.rec.CostUSD = w.price(h, t, res.Usage)
		w.auditCache(h, a, res.Usage)
	}
	if err == nil {
		done(nil)
		if !streamed && res.TTFT > 0 {
			// Complete's TTFT is the time to the first byte of the body (adapters.Result).
			h.out.audit(schemas.EventFirstByte, schemas.StageProvider, t.provider, t.model, res.TTFT,
				"attempt_id", a.rec.AttemptID, "ttfb_ms", ftoa(float64(res.TTFT.Microseconds())/1000))
		}
		if a.ttft == 0 {
			a.ttft = res.TTFT
		}
		a.rec.Outcome = "ok"
		a.rec.TTFTMS = float64(a.ttft.Microseconds()) / 1000
		g.Hedger.Observe(t.provider, t.model, a.ttft)
		g.m.ttft.WithLabelValues(t.provider).Observe(a.ttft.Seconds())
		g.m.attempts.WithLabelValues(t.provider, "ok", "").Inc()
		w.auditBilled(h, a, false)
		h.out.audit(schemas.EventFirstToken, schemas.StageProvider, t.provider, t.model, a.ttft,
			"attempt_id", a.rec.AttemptID, "ttft_ms", ftoa(a.rec.TTFTMS))
		h.out.audit(schemas.EventAttemptSucceeded, schemas.StageProvider, t.provider, t.model, dur,
			"attempt_id", a.rec.AttemptID, "finish_reason", res.FinishReason,
			"input_tokens", itoa(res.Usage.InputTokens), "output_tokens", itoa(res.Usage.OutputTokens))
		return a
	}

	// Classify: a race loss is a cancellation, a watchdog's cut a timeout (whatever the
	// adapter made of the cut connection); a shutdown stays ctx's error.
	phase := ""
	lost := false // this call lost its hedge race
	if rej := resilience.RejectionOf(err); rej != nil && ctx.Err() == nil {
		// The cool-down began while this call was being prepared: the gate kept it in.
		done(&adapters.Error{Provider: t.provider, Kind: adapters.Canceled, Message: "refused at the gate"})
		return reject(rej)
	}
	switch {
	case ctx.Err() != nil:
		a.err = ctx.Err()
	case errors.Is(err, errAnswerTooLarge):
		a.err = &adapters.Error{Provider: t.provider, Kind: adapters.Malformed, Message: errAnswerTooLarge.Error() + " (" + itoa(int64(w.maxAnswer())) + ")", Err: err}
		h.out.audit(schemas.EventAnswerTooLarge, schemas.StageProvider, t.provider, t.model, dur,
			"attempt_id", a.rec.AttemptID, "limit_bytes", itoa(int64(w.maxAnswer())), "stream", strconv.FormatBool(streamed))
		a.text, a.tool = "", true // never continued: the next attempt starts again
	case errors.Is(err, errHedgeLost) || errors.Is(context.Cause(raceCtx), errHedgeLost):
		lost = true
		a.err = &adapters.Error{Provider: t.provider, Kind: adapters.Canceled, Message: errHedgeLost.Error(), Err: err}
	case resilience.TimeoutCause(callCtx) != nil:
		cause := resilience.TimeoutCause(callCtx)
		phase = timeoutPhase(cause)
		a.err = &adapters.Error{Provider: t.provider, Kind: adapters.Timeout, Message: cause.Error(), Err: err}
	default:
		a.err = err
	}
	done(a.err)
	kind := adapters.KindOf(a.err)
	a.rec.ErrorCode = kind.String()
	switch kind {
	case adapters.Canceled:
		a.rec.Outcome = "cancelled"
	case adapters.Timeout:
		a.rec.Outcome = "timeout"
	default:
		a.rec.Outcome = "error"
	}
	estimated := false
	if a.rec.CostUSD == 0 && (lost || a.text != "") {
		// A race's loser (the primary or the hedge) or a cut call has no usage: bill the
		// estimate of what the provider processed (the prompt, and the text it streamed).
		a.rec.InputTokens = h.item.EstimatedInputTokens
		a.rec.OutputTokens = int64(len(a.text)+3) / 4
		a.rec.CostUSD = w.price(h, t, schemas.Usage{InputTokens: a.rec.InputTokens, OutputTokens: a.rec.OutputTokens})
		estimated = true
	}
	// Every call that went out is accounted for, at $0 when the provider reported no usage
	// and nothing is estimated (a refused or failed request).
	w.auditBilled(h, a, estimated)
	g.m.attempts.WithLabelValues(t.provider, a.rec.Outcome, a.rec.ErrorCode).Inc()
	w.coolDown(h, t, a.err)
	status := 0
	if ae, ok := errors.AsType[*adapters.Error](a.err); ok {
		status = ae.Status
	}
	if phase != "" {
		h.out.audit(schemas.EventAttemptTimedOut, schemas.StageProvider, t.provider, t.model, dur,
			"attempt_id", a.rec.AttemptID, "phase", phase, "limit_ms", itoa(phaseLimit(timeouts, phase).Milliseconds()))
	}
	h.out.audit(schemas.EventAttemptFailed, schemas.StageProvider, t.provider, t.model, dur,
		"attempt_id", a.rec.AttemptID, "error_kind", a.rec.ErrorCode, "status", itoa(int64(status)),
		"retryable", strconv.FormatBool(kind.Retryable()), "streamed_chars", itoa(int64(len(a.text))))
	return a
}

// coolDown keeps calls away from a provider that asked for it: until its Retry-After, a
// short pause after a bare 429, a long one after it refused our key.
func (w *WorkerRole) coolDown(h *handling, t target, err error) {
	g := w.guard()
	s := g.Settings(t.provider).Retry
	var d time.Duration
	reason := ""
	switch adapters.KindOf(err) {
	case adapters.RateLimited:
		d, reason = adapters.RetryAfterOf(err), resilience.ReasonRetryAfter
		if d <= 0 {
			d, reason = s.RateLimitCooldown, resilience.ReasonRateLimited
		}
	case adapters.Auth:
		d, reason = s.AuthCooldown, resilience.ReasonAuth
		w.log().Error("provider refused the API key: calls paused", "provider", t.provider, "pause", d)
	default:
		if ra := adapters.RetryAfterOf(err); ra > 0 {
			d, reason = ra, resilience.ReasonRetryAfter // a 503 with Retry-After
		}
	}
	if d <= 0 {
		return
	}
	until := w.now().Add(d)
	g.Cooldowns.Set(t.provider, until, reason)
	h.out.audit(schemas.EventCooldownStarted, schemas.StageProvider, t.provider, t.model, 0,
		"reason", reason, "until_ms", strconv.FormatInt(until.UnixMilli(), 10), "wait_ms", itoa(d.Milliseconds()))
}

// auditCache adds the prompt-cache events of a call whose usage says the provider read or
// wrote its prompt cache.
func (w *WorkerRole) auditCache(h *handling, a *attempt, u schemas.Usage) {
	if u.CachedTokens > 0 {
		ratio := 0.0
		if u.InputTokens > 0 {
			ratio = float64(u.CachedTokens) / float64(u.InputTokens)
		}
		h.out.audit(schemas.EventPromptCacheHit, schemas.StageProvider, a.provider, a.model, 0,
			"attempt_id", a.rec.AttemptID, "cached_tokens", itoa(u.CachedTokens), "input_tokens", itoa(u.InputTokens),
			"cached_ratio", strconv.FormatFloat(ratio, 'f', 4, 64))
	}
	if u.CacheWriteTokens > 0 {
		h.out.audit(schemas.EventPromptCacheWrite, schemas.StageProvider, a.provider, a.model, 0,
			"attempt_id", a.rec.AttemptID, "cache_write_tokens", itoa(u.CacheWriteTokens), "input_tokens", itoa(u.InputTokens))
	}
}

// auditBilled adds the cost of one call, as its attempt record carries it.
func (w *WorkerRole) auditBilled(h *handling, a *attempt, estimated bool) {
	h.out.audit(schemas.EventAttemptBilled, schemas.StageProvider, a.provider, a.model, 0,
		"attempt_id", a.rec.AttemptID, "cost_usd", ftoa(a.rec.CostUSD), "outcome", a.rec.Outcome,
		"input_tokens", itoa(a.rec.InputTokens), "output_tokens", itoa(a.rec.OutputTokens), "cached_tokens", itoa(a.rec.CachedTokens),
		"estimated", strconv.FormatBool(estimated), "hedge", strconv.FormatBool(a.rec.Hedge))
}

// answerBytes is the size of an answer's content and tool calls.
func answerBytes(res *adapters.Result) int {
	n := len(res.Content)
	for _, c := range res.ToolCalls {
		n += len(c.Arguments) + len(c.Name) + len(c.ID) + len(c.Signature)
	}
	return n
}

func (w *WorkerRole) price(h *handling, t target, u schemas.Usage) float64 {
	req := &h.item.Request
	// Priced at the request's creation: a price change while it waited does not reprice it.
	if usd, ok := w.Prices.CostAt(t.provider, t.model, time.UnixMilli(req.CreatedAt), req.Priority, u); ok {
		return usd
	}
	return 0
}

func timeoutPhase(cause error) string {
	switch {
	case errors.Is(cause, resilience.ErrFirstByteTimeout):
		return "first_byte"
	case errors.Is(cause, resilience.ErrFirstTokenTimeout):
		return "first_token"
	case errors.Is(cause, resilience.ErrStallTimeout):
		return "stall"
	}
	return "total"
}

func phaseLimit(t resilience.Timeouts, phase string) time.Duration {
	switch phase {
	case "first_byte":
		return t.FirstByte
	case "first_token":
		return t.FirstToken
	case "stall":
		return t.Stall
	}
	return t.Total
}

// callHedged makes the hop's call at primary and, when hedge is set and no first token came
// within delay (and the provider's hedge budget allows), the same call at hedge. It returns
// the attempt that decides the outcome (the winner; else the primary) and every attempt made.
func (w *WorkerRole) callHedged(ctx context.Context, h *handling, primary target, hedge *target, delay time.Duration, c *adapters.Call) (*attempt, []*attempt) {
	g := w.guard()
	g.Hedger.NoteCall(primary.provider, primary.model)
	if hedge == nil {
		a := w.call(ctx, h, primary, c, false, nil, 0)
		return a, []*attempt{a}
	}
	rc := newRace()
	results := make(chan *attempt, 2)
	go func() { results <- w.call(ctx, h, primary, c, false, rc, 0) }()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var all []*attempt
	running, hedged := 1, false
	for running > 0 {
		select {
		case a := <-results:
			running--
			all = append(all, a)
		case <-timer.C:
			if rc.decided() || len(all) > 0 || hedged {
				continue
			}
			if !g.Hedger.Admit(primary.provider) {
				h.out.audit(schemas.EventHedgeDenied, schemas.StageProvider, primary.provider, primary.model, 0,
					"to_provider", hedge.provider, "delay_ms", itoa(delay.Milliseconds()))
				continue
			}
			hedged = true
			running++
			g.m.hedges.WithLabelValues(primary.provider, "started").Inc()
			h.out.audit(schemas.EventHedgeStarted, schemas.StageProvider, primary.provider, primary.model, delay,
				"to_provider", hedge.provider, "to_model", hedge.model, "delay_ms", itoa(delay.Milliseconds()))
			go func() { results <- w.call(ctx, h, *hedge, c, true, rc, 1) }()
		}
	}
	// The winner decides; with none (no token, no answer), the primary's failure does.
	var decider *attempt
	want := int(rc.winner.Load()) - 1
	if want < 0 {
		want = 0
	}
	for _, a := range all {
		if a.idx == want {
			decider = a
		}
	}
	if hedged {
		result := "lost"
		if decider.rec.Hedge {
			result = "won"
		}
		g.m.hedges.WithLabelValues(primary.provider, result).Inc()
		for _, a := range all {
			if a != decider && adapters.KindOf(a.err) == adapters.Canceled {
				h.out.audit(schemas.EventHedgeCancelled, schemas.StageProvider, a.provider, a.model, 0,
					"attempt_id", a.rec.AttemptID, "billed_usd", ftoa(a.rec.CostUSD))
			}
		}
		h.out.audit(schemas.EventHedgeDecided, schemas.StageProvider, decider.provider, decider.model, 0,
			"winner_attempt_id", decider.rec.AttemptID, "hedge_won", strconv.FormatBool(decider.rec.Hedge),
			"outcome", decider.rec.Outcome)
	}
	return decider, all
}

// streamPublisher produces a request's stream chunks as they come, without waiting for each
// ack, numbering them across attempts and hops; it keeps the first produce error.
type streamPublisher struct {
	w          *WorkerRole
	requestID  string
	headers    []kgo.RecordHeader // the record headers: content type and reply routing
	seq        int32
	wg         sync.WaitGroup
	mu         sync.Mutex
	produceErr error
}

func (s *streamPublisher) delta(d adapters.Delta, provider, model, attemptID string) error {
	if d.Content != "" {
		s.publish(schemas.StreamChunk{Kind: schemas.ChunkDelta, Delta: d.Content, Provider: provider, Model: model, AttemptID: attemptID})
	}
	if tc := d.ToolCall; tc != nil {
		s.publish(schemas.StreamChunk{Kind: schemas.ChunkToolCall, Provider: provider, Model: model, AttemptID: attemptID,
			ToolCall: &schemas.ToolCallDelta{Index: int32(tc.Index), ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.produceErr
}

func (s *streamPublisher) publish(c schemas.StreamChunk) {
	s.mu.Lock()
	c.RequestID = s.requestID
	c.Seq = s.seq
	s.seq++
	s.mu.Unlock()
	c.TS = s.w.now().UnixMicro()
	val, err := s.w.Codec.Encode(schemas.TypeStreamChunk, &c)
	if err != nil {
		s.fail(err)
		return
	}
	s.wg.Add(1)
	s.w.Client.Produce(context.Background(), &kgo.Record{
		Topic: s.w.Topics.Stream, Key: []byte(c.RequestID), Value: val, Headers: s.headers,
	}, func(_ *kgo.Record, err error) {
		if err != nil {
			s.fail(err)
		}
		s.wg.Done()
	})
}

func (s *streamPublisher) next() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
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
