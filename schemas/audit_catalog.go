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

// Pipeline stages, in pipeline order (Stages lists them).
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

// Stages lists the pipeline stages in order; every catalogue entry names one of them.
var Stages = []string{StageIngest, StageRoute, StageDispatch, StageProvider, StageStream, StageRespond, StageDLQ, StageHealth}

// Audit event types emitted by the pipeline.
const (
	EventRequestReceived  = "request.received"
	EventRequestDecoded   = "request.decoded"
	EventRequestRejected  = "request.rejected"
	EventRequestCancelled = "request.cancelled"
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

	EventRequestValidated  = "request.validated"
	EventPolicyApplied     = "policy.applied"
	EventPolicyUserModel   = "policy.user_model"
	EventBudgetReserved    = "budget.reserved"
	EventBudgetRefused     = "budget.refused"
	EventBudgetSettled     = "budget.settled"
	EventFallbackReceived  = "work.fallback_received"
	EventLimitWaited       = "limit.waited"
	EventBreakerProbe      = "attempt.breaker_probe"
	EventFirstByte         = "attempt.first_byte"
	EventAnswerTooLarge    = "attempt.answer_too_large"
	EventPromptCacheHit    = "cache.prompt_hit"
	EventPromptCacheWrite  = "cache.prompt_write"
	EventAttemptBilled     = "cost.attempt_billed"
	EventRetryExhausted    = "retry.exhausted"
	EventRetryRecovered    = "retry.recovered"
	EventFallbackAnswered  = "fallback.answered"
	EventStreamStarted     = "stream.started"
	EventAnswerTruncated   = "answer.truncated"
	EventToolCallCorrected = "tool_call.corrected"
	EventResponseDegraded  = "response.degraded"
	EventResponseError     = "response.error"
)

// Catalog lists every audit event type, in pipeline order.
var Catalog = []EventSpec{
	{EventRequestReceived, StageIngest, "The router consumed a record from the request topic.", []AttrSpec{
		{"topic", "string", "source topic"}, {"partition", "int", "source partition"}, {"offset", "int", "source offset"},
		{"bytes", "int", "size of the record value"}, {"encoding", "string", "confluent, single-object or json"}}},
	{EventRequestDecoded, StageIngest, "The record decoded into a request (Avro or JSON); validation follows.", []AttrSpec{
		{"task_type", "string", "declared task type"}, {"priority", "string", "interactive, batch or background"},
		{"messages", "int", "number of messages"}, {"tools", "int", "number of tools"}, {"stream", "bool", "streaming requested"}}},
	{EventRequestValidated, StageIngest, "The decoded request passed validation (ids, roles, tools, limits); duration_us is the validation's.", []AttrSpec{
		{"deadline_ms", "int", "the request's time budget, 0 for the worker's default"}, {"max_tokens", "int", "the request's max_tokens, 0 if unset"},
		{"has_budget", "bool", "the request carries its own budget_usd"}, {"response_format", "string", "text, json or json_schema"}}},
	{EventRequestRejected, StageIngest, "The request decoded but failed validation; it goes to the DLQ. A record that does not decode, or carries no request_id, has no request to audit: the DLQ record alone tells of it.", []AttrSpec{
		{"reason", "string", "reason code, e.g. truncated or validation:tenant_id"}}},
	{EventRequestCancelled, StageRespond, "The caller cancelled the request (an llm.cancels record, e.g. the HTTP client of the gateway went away): the router drops it unrouted, or the worker abandons its provider call; it ends in an error response of code cancelled.", []AttrSpec{
		{"reason", "string", "why, as the cancel record says, e.g. client_disconnected"}, {"source", "string", "who asked, e.g. gateway/<instance>"},
		{"at", "string", "route (never routed) or dispatch (a provider call was abandoned or never started)"}}},
	{EventPolicyApplied, StageRoute, "The tenant policy the router applies to the request: the tenant's own entry or the default entry (an own entry identical to the default one reads as default). Not emitted when neither exists.", []AttrSpec{
		{"entry", "string", "tenant or default"}, {"allowed_models", "int", "size of allowed_models, 0 for any"},
		{"allowed_providers", "int", "size of allowed_providers, 0 for any"}, {"regions", "int", "size of regions, 0 for any"},
		{"on_violation", "string", "reject or reroute (empty means reject)"}, {"degrade", "bool", "a lesser model may serve when the primary cannot"},
		{"allow_premium_fallback", "bool", "the chain may hold pricier models"},
		{"daily_usd", "float", "the daily budget, 0 for none"}, {"monthly_usd", "float", "the monthly budget, 0 for none"}}},
	{EventRouteClassified, StageRoute, "The request was classified into a complexity tier (docs/classifier.md).", []AttrSpec{
		{"tier", "string", "simple, standard, complex or long-context"}, {"source", "string", "rule:<name>, model or fallback:size"},
		{"confidence", "float", "1 for rules, the model's probability of the tier otherwise"},
		{"est_input_tokens", "int", "estimated prompt tokens"},
		{"features", "string", "the classifier's features as name=value pairs (counts only, never prompt text)"}}},
	{EventPolicyUserModel, StageRoute, "The request named its own model: honoured, rerouted by the tenant's policy, or refused.", []AttrSpec{
		{"requested", "string", "the model the request named"}, {"outcome", "string", "honoured, rerouted or rejected"},
		{"violation", "string", "the policy violation or refusal reason, empty when honoured"}}},
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
	{EventBudgetReserved, StageRoute, "The routed request's estimated cost was reserved against its tenant's budget (router.Ledger), checked and reserved in one step; provider and model are the first hop.", []AttrSpec{
		{"est_cost_usd", "float", "the amount reserved"}}},
	{EventBudgetRefused, StageRoute, "The route fit the tenant's budget when decided, but concurrent requests reserved the rest first: the request ends in error budget_exceeded.", []AttrSpec{
		{"est_cost_usd", "float", "the amount that no longer fits"}}},
	{EventWorkEnqueued, StageRoute, "The routed request was published to a provider's work topic.", []AttrSpec{
		{"topic", "string", "work topic"}, {"hop", "int", "0 for the first provider"}}},
	{EventWorkReceived, StageDispatch, "A provider worker consumed the routed request.", []AttrSpec{
		{"hop", "int", "fallback depth"}, {"queue_ms", "float", "time since the request was created"},
		{"attempts_so_far", "int", "attempts made by earlier hops"}}},
	{EventFallbackReceived, StageDispatch, "A provider worker consumed a fallback hop (hop > 0): the request failed or was refused on the step before.", []AttrSpec{
		{"hop", "int", "fallback depth"}, {"from_provider", "string", "provider of the last attempt before this hop"},
		{"from_model", "string", "its model"}, {"last_error", "string", "its error code or refusal reason"},
		{"partial_chars", "int", "streamed text this hop continues"}, {"attempts_so_far", "int", "attempts made by earlier hops"}}},
	{EventDeadlineExceeded, StageDispatch, "The request's deadline passed before a provider answered.", []AttrSpec{
		{"deadline_ms", "int", "the request's time budget"}}},
	{EventAttemptStarted, StageProvider, "A provider call started.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"stream", "bool", "streaming call"}, {"hedge", "bool", "the call is a hedge"},
		{"timeout_ms", "int", "the call's total bound (the model's timeout or the time left to the deadline)"}}},
	{EventLimitWaited, StageProvider, "The call waited at least a millisecond for our own limits of the provider's key (requests or tokens per minute, calls in flight) before it went out; duration_us is the wait.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"wait_ms", "float", "time spent waiting"},
		{"tokens", "int", "tokens the call counts against tokens per minute"}, {"in_flight", "int", "calls holding a slot once this one got its own"}}},
	{EventBreakerProbe, StageProvider, "The provider model's breaker was half-open and let this call through as one of its probes: its outcome closes or reopens the breaker.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"hedge", "bool", "the call is a hedge"}}},
	{EventFirstByte, StageProvider, "The first byte of a non-streamed answer arrived (the adapter's measure); duration_us is the time from sending.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"ttfb_ms", "float", "time to first byte"}}},
	{EventFirstToken, StageProvider, "The first token of the answer arrived.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"ttft_ms", "float", "time to first token"}}},
	{EventAttemptSucceeded, StageProvider, "A provider call returned a complete answer.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"finish_reason", "string", "canonical finish reason"},
		{"input_tokens", "int", "prompt tokens"}, {"output_tokens", "int", "completion tokens"}}},
	{EventPromptCacheHit, StageProvider, "The provider read part of the prompt from its prompt cache (usage cached tokens > 0).", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"cached_tokens", "int", "prompt tokens read from the cache"},
		{"input_tokens", "int", "prompt tokens in all"}, {"cached_ratio", "float", "cached_tokens / input_tokens"}}},
	{EventPromptCacheWrite, StageProvider, "The provider wrote part of the prompt to its prompt cache (usage cache write tokens > 0), billed at a premium by some providers.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"cache_write_tokens", "int", "prompt tokens written to the cache"}, {"input_tokens", "int", "prompt tokens in all"}}},
	{EventAttemptFailed, StageProvider, "A provider call failed.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"error_kind", "string", "error taxonomy kind"},
		{"status", "int", "HTTP status, 0 if none"}, {"retryable", "bool", "whether another provider may succeed"},
		{"streamed_chars", "int", "text this attempt streamed before it failed"}}},
	{EventAnswerTooLarge, StageProvider, "The answer outgrew worker.max_answer_bytes and the call was cut: it fails as malformed and is never continued.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"limit_bytes", "int", "the cap"}, {"stream", "bool", "the call was streamed"}}},
	{EventAttemptBilled, StageProvider, "The cost of one provider call that went out (local refusals make none): from the usage it reported, or, for a cancelled hedge loser (primary or hedge) or a cut stream without usage, from an estimate of what the provider processed; $0 for a failure without usage.", []AttrSpec{
		{"attempt_id", "string", "attempt id"}, {"cost_usd", "float", "the call's cost"}, {"outcome", "string", "ok, error, timeout or cancelled"},
		{"input_tokens", "int", "prompt tokens billed"}, {"output_tokens", "int", "completion tokens billed"},
		{"cached_tokens", "int", "prompt tokens read from the cache"}, {"estimated", "bool", "the tokens are an estimate, not the provider's usage"},
		{"hedge", "bool", "the call was a hedge"}}},
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
	{EventRetryExhausted, StageDispatch, "A retryable failure that the hop does not retry: its calls are used up, or the wait it would need is too long; the request goes down the chain or ends.", []AttrSpec{
		{"tries", "int", "calls made in the hop"}, {"max_attempts", "int", "retry.max_attempts"},
		{"reason", "string", "max_attempts, retry_after_too_long, cooldown_too_long, deadline or streamed_tool_calls"}, {"error_kind", "string", "the last failure"}}},
	{EventRetryRecovered, StageDispatch, "A call retried within the hop answered: the retries absorbed the failure.", []AttrSpec{
		{"tries", "int", "calls made in the hop"}, {"retries", "int", "retries scheduled before the answer"}}},
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
	{EventFallbackAnswered, StageDispatch, "A fallback hop (hop > 0) answered: the chain saved the request.", []AttrSpec{
		{"hop", "int", "fallback depth"}, {"attempts", "int", "attempts made across the chain"}}},
	{EventStreamStarted, StageStream, "The request's first stream chunk was published; duration_us is the time from the attempt's start.", []AttrSpec{
		{"attempt_id", "string", "the attempt streaming"}, {"since_created_ms", "float", "time from the request's creation"}, {"hedge", "bool", "the attempt is a hedge"}}},
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
	{EventToolCallCorrected, StageRespond, "After corrective retries the model returned tool calls that fit their schemas.", []AttrSpec{
		{"corrections", "int", "corrective retries made"}, {"calls", "int", "tool calls in the answer"}}},
	{EventToolCallGaveUp, StageRespond, "The tool calls still broke their schemas after the corrective retries; the request ends in error invalid_tool_call.", []AttrSpec{
		{"corrections", "int", "corrective retries made"}, {"invalid", "int", "invalid calls in the last answer"}}},
	{EventContentFiltered, StageRespond, "The provider stopped the answer with its content filter; the response is degraded.", []AttrSpec{
		{"finish_reason", "string", "the canonical finish reason"}, {"output_tokens", "int", "tokens produced before the stop"}}},
	{EventAnswerTruncated, StageRespond, "The answer stopped at its token limit (finish reason length): whole as far as it goes, but cut.", []AttrSpec{
		{"output_tokens", "int", "completion tokens"}, {"max_tokens", "int", "the request's max_tokens, 0 if unset (the provider's default applied)"}}},
	{EventCostComputed, StageRespond, "The cost of the answer was computed from the price table.", []AttrSpec{
		{"cost_usd", "float", "cost of all attempts"}, {"input_tokens", "int", "prompt tokens the provider counted"}, {"output_tokens", "int", "completion tokens"},
		{"est_input_tokens", "int", "the router's estimate of the prompt tokens"},
		{"estimate_error", "float", "(estimate - actual) / actual input tokens; empty when the provider reported none"}}},
	{EventResponseDegraded, StageRespond, "The response is marked degraded: whole, but not what was asked for.", []AttrSpec{
		{"reason", "string", "primary_unhealthy, over_budget, invalid_tool_call or content_filtered"}}},
	{EventResponseError, StageRespond, "The request ends in an error response.", []AttrSpec{
		{"code", "string", "the error code (a routing refusal, an error kind, deadline_exceeded, attempt_budget_exhausted, budget_exceeded, invalid_tool_call, ...)"},
		{"retryable", "bool", "the same request may succeed later"}, {"attempts", "int", "provider calls made"}}},
	{EventBudgetSettled, StageRespond, "A response settled its budget reservation with its actual cost (the router replica that reserved it reads llm.responses).", []AttrSpec{
		{"cost_usd", "float", "the actual cost"}, {"status", "string", "the response's status"}, {"replica", "string", "the router replica"}}},
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
