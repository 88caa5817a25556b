package schemas

// EventSpec declares one audit event type: its name, the pipeline stage that emits it, what it
// means and the attributes it carries. The catalogue below is the one place event types are
// declared; docs/audit-events.md is generated from it.
type EventSpec struct {
	Type  string
	Stage string
	Doc   string
	Attrs []AttrSpec
}

// AttrSpec declares one typed attribute of an event. Values travel as strings in
// AuditEvent.Attrs; Kind says how to read them: string, int, float, bool or duration_us.
type AttrSpec struct {
	Name string
	Kind string
	Doc  string
}

// Pipeline stages.
const (
	StageIngest   = "ingest"
	StageRoute    = "route"
	StageDispatch = "dispatch"
	StageProvider = "provider"
	StageStream   = "stream"
	StageRespond  = "respond"
	StageDLQ      = "dlq"
	StageHealth   = "health"
)

// Audit event types emitted by the pipeline.
const (
	EventRequestReceived  = "request.received"
	EventRequestDecoded   = "request.decoded"
	EventRequestRejected  = "request.rejected"
	EventRouteClassified  = "route.classified"
	EventRouteRerouted    = "route.rerouted"
	EventRouteCandidate   = "route.candidate_skipped"
	EventRouteDegraded    = "route.degraded"
	EventRouteDecided     = "route.decided"
	EventRouteRejected    = "route.rejected"
	EventWorkEnqueued     = "work.enqueued"
	EventWorkReceived     = "work.received"
	EventDeadlineExceeded = "work.deadline_exceeded"
	EventAttemptStarted   = "attempt.started"
	EventFirstToken       = "attempt.first_token"
	EventAttemptSucceeded = "attempt.succeeded"
	EventAttemptFailed    = "attempt.failed"
	EventFallbackEnqueued = "fallback.enqueued"
	EventChainExhausted   = "fallback.exhausted"
	EventStreamChunks     = "stream.completed"
	EventToolCallsChecked = "tool_calls.validated"
	EventToolCallInvalid  = "tool_call.invalid"
	EventContentFiltered  = "answer.content_filtered"
	EventCostComputed     = "cost.computed"
	EventResponsePublish  = "response.published"
	EventDLQPublished     = "dlq.published"

	EventAttemptRejected        = "attempt.rejected"
	EventAttemptTimedOut        = "attempt.timed_out"
	EventAttemptBudgetExhausted = "attempt.budget_exhausted"
	EventCooldownStarted        = "provider.cooldown"
	EventRetryScheduled         = "retry.scheduled"
	EventHedgeStarted           = "hedge.started"
	EventHedgeDenied            = "hedge.budget_denied"
	EventHedgeCancelled         = "hedge.loser_cancelled"
	EventHedgeDecided           = "hedge.decided"
	EventFallbackSkipped        = "fallback.candidate_skipped"
	EventStreamResumed          = "stream.provider_switched"
	EventStreamAborted          = "stream.aborted"
	EventToolCallRetry          = "tool_call.corrective_retry"
	EventToolCallGaveUp         = "tool_call.gave_up"
	EventBreakerOpened          = "breaker.opened"
	EventBreakerHalfOpened      = "breaker.half_opened"
	EventBreakerClosed          = "breaker.closed"
	EventHealthChanged          = "health.changed"
	EventProbeFailed            = "health.probe_failed"
)

// Catalog lists every audit event type, in pipeline order.
var Catalog = []EventSpec{
	{EventRequestReceived, StageIngest, "The router consumed a record from the request topic.", []AttrSpec{
		{"topic", "string", "source topic"}, {"partition", "int", "source partition"}, {"offset", "int", "source offset"},
		{"bytes", "int", "size of the record value"}, {"encoding", "string", "confluent, single-object or json"}}},
	{EventRequestDecoded, StageIngest, "The request decoded and passed validation.", []AttrSpec{
		{"task_type", "string", "declared task type"}, {"priority", "string", "interactive, batch or background"},
		{"messages", "int", "number of messages"}, {"tools", "int", "number of tools"}, {"stream", "bool", "streaming requested"}}},
	{EventRequestRejected, StageIngest, "The record could not be decoded or failed validation; it goes to the DLQ.", []AttrSpec{
		{"reason", "string", "reason code, e.g. truncated or validation:tenant_id"}}},
	{EventRouteClassified, StageRoute, "The request was classified into a complexity tier (docs/classifier.md).", []AttrSpec{
		{"tier", "string", "simple, standard, complex or long-context"}, {"source", "string", "rule:<name>, model or fallback:size"},
		{"confidence", "float", "1 for rules, the model's probability of the tier otherwise"},
		{"est_input_tokens", "int", "estimated prompt tokens"},
		{"features", "string", "the classifier's features as name=value pairs (counts only, never prompt text)"}}},
	{EventRouteRerouted, StageRoute, "The request's own model breaks its tenant's policy and the tenant reroutes: the task rule routes instead.", []AttrSpec{
		{"violation", "string", "model_not_allowed, provider_not_allowed or region_not_allowed"}, {"rule", "string", "the rule that routes instead"}}},
	{EventRouteCandidate, StageRoute, "A candidate model was passed over; provider and model name it.", []AttrSpec{
		{"candidate", "string", "model name in the routing table"},
		{"reason", "string", "no_allowed_provider, model_not_allowed, provider_not_allowed, region_not_allowed, context_too_long, unhealthy, over_request_budget, over_budget or pricier_than_primary (docs/routing.md)"},
		{"detail", "string", "the numbers or health reason behind it"}, {"source", "string", "empty for the rule's chain, long_context for a model added for its window"},
		{"est_input_tokens", "int", "estimated prompt tokens"}, {"est_output_tokens", "int", "max_tokens, else the tier's typical output"},
		{"est_cost_usd", "float", "estimated cost on this candidate"}}},
	{EventRouteDegraded, StageRoute, "The primary was unhealthy or over budget and the tenant allows degradation: a lesser model serves, and the response is marked degraded.", []AttrSpec{
		{"reason", "string", "primary_unhealthy or over_budget"}, {"primary", "string", "the model passed over"}, {"alias", "string", "the model chosen instead"}}},
	{EventRouteDecided, StageRoute, "The router chose the first hop and the fallback chain; provider and model are the pinned first hop.", []AttrSpec{
		{"rule", "string", "user_choice, task:<type> or default, with /tier:<tier> when a tier chain matched"}, {"tier", "string", "complexity tier"},
		{"alias", "string", "model name in the routing table"}, {"fallbacks", "string", "comma-separated provider/model chain"},
		{"est_input_tokens", "int", "estimated prompt tokens"}, {"est_output_tokens", "int", "estimated output tokens of the first hop"},
		{"est_cost_usd", "float", "estimated cost of the first hop"}, {"degraded", "bool", "the first hop is not the chain's primary"},
		{"degraded_reason", "string", "primary_unhealthy, over_budget or empty"}, {"rerouted", "string", "the policy violation rerouted, or empty"},
		{"candidates", "int", "models considered"}}},
	{EventRouteRejected, StageRoute, "No model may serve the request; it ends with an error response.", []AttrSpec{
		{"reason", "string", "model_not_allowed, provider_not_allowed, region_not_allowed, no_allowed_provider, context_too_long, budget_exceeded, no_healthy_model, primary_unavailable or routing_rejected"},
		{"retryable", "bool", "the same request may succeed later"}, {"candidates", "int", "models considered"}}},
	{EventWorkEnqueued, StageRoute, "The routed request was published to a provider's work topic.", []AttrSpec{
		{"topic", "string", "work topic"}, {"hop", "int", "0 for the first provider"}}},
	{EventWorkReceived, StageDispatch, "A provider worker consumed the routed request.", []AttrSpec{
		{"hop", "int", "fallback depth"}, {"queue_ms", "float", "time since the request was created"}}},
	{EventDeadlineExceeded, StageDispatch, "The request's deadline passed before a provider answered.", []AttrSpec{
		{"deadline_ms", "int", "the request's time budget"}}},
	{EventAttemptStarted, StageProvider, "A provider call started.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"stream", "bool", "streaming call"}}},
	{EventFirstToken, StageProvider, "The first token of the answer arrived.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"ttft_ms", "float", "time to first token"}}},
	{EventAttemptSucceeded, StageProvider, "A provider call returned a complete answer.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"finish_reason", "string", "canonical finish reason"},
		{"input_tokens", "int", "prompt tokens"}, {"output_tokens", "int", "completion tokens"}}},
	{EventAttemptFailed, StageProvider, "A provider call failed.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"error_kind", "string", "error taxonomy kind"},
		{"status", "int", "HTTP status, 0 if none"}, {"retryable", "bool", "whether another provider may succeed"}}},
	{EventAttemptRejected, StageProvider, "A call was refused locally and nothing was sent: the breaker is open or its half-open probes are out, the provider is cooling down, or our own limits would wait too long.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"reason", "string", "breaker_open, breaker_half_open, retry_after, rate_limited, auth, rpm_limit, tpm_limit or concurrency_limit"},
		{"until_ms", "int", "Unix ms when the refusal lifts, empty if unknown"}, {"hedge", "bool", "the call was a hedge"}}},
	{EventAttemptTimedOut, StageProvider, "A provider call overran one of its per-phase timeouts and was cut.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"phase", "string", "first_byte, first_token, stall or total"}, {"limit_ms", "int", "the phase's bound"}}},
	{EventAttemptBudgetExhausted, StageDispatch, "The request used its attempt budget (worker.attempt_budget) across the chain; it ends in error.", []AttrSpec{
		{"attempts", "int", "calls made"}, {"budget", "int", "the budget"}}},
	{EventCooldownStarted, StageProvider, "The provider gets no calls until a time: it sent Retry-After, a bare 429, or refused our key.", []AttrSpec{
		{"reason", "string", "retry_after, rate_limited or auth"}, {"until_ms", "int", "Unix ms when calls may resume"}, {"wait_ms", "int", "the cool-down's length"}}},
	{EventRetryScheduled, StageDispatch, "The hop calls the same provider again after a retryable failure, after a wait.", []AttrSpec{
		{"try", "int", "the call number within the hop"}, {"wait_ms", "int", "jittered backoff, or the Retry-After"}, {"error_kind", "string", "the failure retried"}}},
	{EventHedgeStarted, StageProvider, "No first token came within the hedge delay: the same request went to the next provider of the chain. provider and model name the primary.", []AttrSpec{
		{"to_provider", "string", "hedge provider"}, {"to_model", "string", "hedge model"}, {"delay_ms", "int", "the hedge delay (fixed, or the observed p95 time to first token)"}}},
	{EventHedgeDenied, StageProvider, "The hedge delay passed but the provider's hedge budget (hedge.max_rate) was spent: no hedge.", []AttrSpec{
		{"to_provider", "string", "the hedge it would have called"}, {"delay_ms", "int", "the hedge delay"}}},
	{EventHedgeCancelled, StageProvider, "The losing call of a hedged pair was cancelled; it is billed at its estimate and not counted by its breaker.", []AttrSpec{
		{"attempt_id", "string", "the cancelled attempt"}, {"billed_usd", "float", "its estimated cost"}}},
	{EventHedgeDecided, StageProvider, "A hedged pair ended; provider and model name the call whose outcome counts.", []AttrSpec{
		{"winner_attempt_id", "string", "that call"}, {"hedge_won", "bool", "the hedge answered first"}, {"outcome", "string", "ok, error, timeout, rejected or cancelled"}}},
	{EventFallbackEnqueued, StageDispatch, "The request was republished to the next provider of its chain, with its attempts, remaining deadline and the text streamed so far.", []AttrSpec{
		{"to_provider", "string", "next provider"}, {"to_model", "string", "next model"}, {"hop", "int", "new fallback depth"},
		{"reason", "string", "the failure kind or local refusal that sent it on"}, {"remaining_ms", "int", "time left to the deadline"},
		{"partial_chars", "int", "streamed text the next provider continues"}}},
	{EventFallbackSkipped, StageDispatch, "A step of the chain was passed over: its context window is not larger than the one that overflowed, or the request's own budget is spent.", []AttrSpec{
		{"reason", "string", "context_window or over_request_budget"}, {"window", "int", "the skipped model's window"}, {"needed_over", "int", "the window that overflowed"},
		{"spent_usd", "float", "spent so far"}, {"budget_usd", "float", "the request's budget_usd"}}},
	{EventChainExhausted, StageDispatch, "Every provider of the chain failed; the request ends in error.", []AttrSpec{
		{"attempts", "int", "attempts made"}, {"last_error", "string", "the last failure"}}},
	{EventStreamResumed, StageStream, "A streamed answer moves to another attempt after a failure: continued from the text so far (assistant prefill) or restarted; a provider_switch chunk tells stream readers which.", []AttrSpec{
		{"mode", "string", "continue or restart"}, {"partial_chars", "int", "text continued (0 on restart)"}, {"seq", "int", "the next chunk's seq"}}},
	{EventStreamAborted, StageStream, "A streamed answer ended without completing; an error chunk tells readers to drop it.", []AttrSpec{
		{"chunks", "int", "chunks published"}, {"error", "string", "the request's error code"}}},
	{EventStreamChunks, StageStream, "Token deltas were published to the stream topic.", []AttrSpec{
		{"chunks", "int", "chunks published"}}},
	{EventToolCallsChecked, StageRespond, "The answer's tool calls were checked against the request's tool schemas.", []AttrSpec{
		{"calls", "int", "tool calls returned"}, {"invalid", "int", "calls that failed validation"}}},
	{EventToolCallInvalid, StageRespond, "A returned tool call failed validation; it is kept, flagged, with the provider's raw text.", []AttrSpec{
		{"tool_call_id", "string", "the provider's call id"}, {"tool", "string", "the tool name the model used"}, {"error", "string", "why the call is invalid (names locations, never argument values)"}}},
	{EventToolCallRetry, StageRespond, "The answer's tool calls broke their schemas: the model is asked again with a corrective turn naming the errors.", []AttrSpec{
		{"try", "int", "correction number"}, {"invalid", "int", "invalid calls"}}},
	{EventToolCallGaveUp, StageRespond, "The tool calls still broke their schemas after the corrective retries; the request ends in error invalid_tool_call.", []AttrSpec{
		{"corrections", "int", "corrective retries made"}, {"invalid", "int", "invalid calls in the last answer"}}},
	{EventContentFiltered, StageRespond, "The provider stopped the answer with its content filter; the response is degraded.", []AttrSpec{
		{"finish_reason", "string", "the canonical finish reason"}, {"output_tokens", "int", "tokens produced before the stop"}}},
	{EventCostComputed, StageRespond, "The cost of the answer was computed from the price table.", []AttrSpec{
		{"cost_usd", "float", "cost of all attempts"}, {"input_tokens", "int", "prompt tokens the provider counted"}, {"output_tokens", "int", "completion tokens"},
		{"est_input_tokens", "int", "the router's estimate of the prompt tokens"},
		{"estimate_error", "float", "(estimate - actual) / actual input tokens; empty when the provider reported none"}}},
	{EventResponsePublish, StageRespond, "The terminal response was published.", []AttrSpec{
		{"status", "string", "ok, error or degraded"}, {"total_ms", "float", "end-to-end latency"}}},
	{EventDLQPublished, StageDLQ, "A record was dead-lettered with a reason.", []AttrSpec{
		{"reason", "string", "reason code"}, {"source_topic", "string", "where the record came from"}}},
	{EventBreakerOpened, StageHealth, "A provider model's circuit breaker opened: no calls until its open timeout; the model is published unhealthy. Not tied to a request (request_id empty).", []AttrSpec{
		{"requests", "int", "calls counted in the window that tripped it"}, {"failures", "int", "failures among them"},
		{"consecutive_failures", "int", "failures in a row"}, {"source", "string", "the worker process"}}},
	{EventBreakerHalfOpened, StageHealth, "An open breaker's timeout passed: a few probe calls may go through.", []AttrSpec{
		{"source", "string", "the worker process"}}},
	{EventBreakerClosed, StageHealth, "The half-open probes succeeded: the breaker closed and the model is published healthy.", []AttrSpec{
		{"source", "string", "the worker process"}}},
	{EventProbeFailed, StageHealth, "A health-check probe of a provider failed.", []AttrSpec{
		{"error_kind", "string", "error taxonomy kind or refusal reason"}, {"latency_ms", "float", "probe duration"}, {"source", "string", "the worker process"}}},
	{EventHealthChanged, StageHealth, "The health-check verdict of a provider changed; published on llm.provider.health.", []AttrSpec{
		{"status", "string", "healthy or unhealthy"}, {"reason", "string", "why (probe_errors or probe_latency with figures)"}, {"source", "string", "the worker process"}}},
}
