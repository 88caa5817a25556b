// Package adapters is the provider contract of Switchyard: the small interface every provider
// adapter implements, the canonical call and result shapes, one error taxonomy shared by all
// providers, and the Secret type that keeps API keys out of logs and error strings.
//
// Provider packages live below it (adapters/openai, and later adapters/anthropic and
// adapters/gemini); each keeps its wire types private and converts between the canonical shapes
// here and its provider's JSON. adapters/sim is the provider simulator used by every test, and
// adapters/adaptertest is the conformance suite every adapter passes.
//
// This package imports no project package other than schemas (the wire contract); it must never
// import Kafka, ClickHouse or routing code.
package adapters

import (
	"context"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Adapter calls one provider. Implementations are safe for concurrent use and never retry on
// their own: retries, hedging and fallback are the caller's policy, driven by the error Kind.
type Adapter interface {
	// Name is the provider name as configured (e.g. "openai", "sim"); it is the Provider of every
	// Error the adapter returns.
	Name() string
	// Capabilities reports what the provider supports, so the router can avoid sending a call
	// the provider cannot serve.
	Capabilities() Capabilities
	// Complete sends call and waits for the whole answer. It returns either a Result or an error
	// that KindOf classifies; never a truncated answer as a success.
	Complete(ctx context.Context, call *Call) (*Result, error)
}

// Streamer is implemented by adapters that can stream; callers check it with a type assertion.
//
// Stream calls onDelta synchronously, in order, for each piece of content or tool call as it
// arrives, and returns the assembled Result once the provider has signalled a clean end of the
// stream. A stream that is cut, malformed or ends without the provider's end marker returns an
// Error of Kind Malformed, even though deltas were already delivered: callers must treat
// delivered deltas as provisional until Stream returns a nil error. If onDelta returns an error,
// the stream is abandoned and that error is returned unchanged.
type Streamer interface {
	Stream(ctx context.Context, call *Call, onDelta func(Delta) error) (*Result, error)
}

// Tool choice values with a fixed meaning. Any other non-empty ToolChoice names the one tool the
// model must call.
const (
	ToolChoiceAuto     = "auto"     // the model decides (the provider's default when tools are given)
	ToolChoiceNone     = "none"     // the model must not call a tool
	ToolChoiceRequired = "required" // the model must call at least one tool
)

// Canonical finish reasons, whatever the provider calls them.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
	FinishError         = "error"
)

// Call is one provider call in canonical form. Adapters do not modify it.
type Call struct {
	// RequestID is the Switchyard request id. Adapters send it only as the
	// X-Switchyard-Request-Id header (which the simulator counts calls by), never inside the
	// provider payload.
	RequestID string
	// Model is the provider's model name, already resolved by the router.
	Model string
	// Messages in order; roles are system, developer, user, assistant and tool.
	Messages []schemas.Message
	// Tools in canonical form (JSON Schema parameters as JSON text).
	Tools []schemas.Tool
	// ToolChoice is "", ToolChoiceAuto, ToolChoiceNone, ToolChoiceRequired or a tool name.
	ToolChoice string
	// ResponseFormat asks for text (zero value), "json" or "json_schema".
	ResponseFormat schemas.ResponseFormat
	// MaxTokens caps the output; 0 leaves the provider's default.
	MaxTokens int
	// Temperature, when set, is passed as is.
	Temperature *float64
}

// Result is a complete answer.
type Result struct {
	Content   string
	ToolCalls []schemas.ToolCall
	// FinishReason is one of FinishStop, FinishLength, FinishToolCalls, FinishContentFilter or
	// FinishError.
	FinishReason string
	Usage        schemas.Usage
	// Model as the provider reported it (often a pinned version of the requested name).
	Model string
	// ResponseID is the provider's id for this answer (e.g. "chatcmpl-..."), for audit.
	ResponseID string
	// TTFT is the time from sending the request to the first byte of the response body
	// (Complete) or to the first content or tool-call token (Stream).
	TTFT time.Duration
}

// Delta is one streamed piece: content text, a tool-call fragment, or both.
type Delta struct {
	Content  string
	ToolCall *ToolCallDelta
}

// ToolCallDelta is a fragment of a tool call. Index identifies the call within the answer; ID and
// Name arrive with the first fragment of a call, Arguments are JSON text fragments to be
// concatenated in order.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// Capabilities declares what a provider (as configured) supports.
type Capabilities struct {
	Streaming     bool // implements Streamer
	Tools         bool // accepts tools and returns tool calls
	ParallelTools bool // may return several tool calls in one answer
	JSONMode      bool // ResponseFormat "json"
	JSONSchema    bool // ResponseFormat "json_schema"
	Prefill       bool // a final assistant message is continued as the start of the answer
	Images        bool // accepts image content parts
	MaxContext    int  // context window in tokens, 0 if unknown
	MaxOutput     int  // output token cap, 0 if unknown
}

// ModelCapabler is implemented by adapters whose models differ (a context window, a missing
// feature); callers check it with a type assertion, or use CapabilitiesFor.
type ModelCapabler interface {
	// ModelCapabilities reports what model supports through this adapter; for a model it does
	// not know it returns the adapter's Capabilities.
	ModelCapabilities(model string) Capabilities
}

// CapabilitiesFor returns what a supports for model.
func CapabilitiesFor(a Adapter, model string) Capabilities {
	if mc, ok := a.(ModelCapabler); ok {
		return mc.ModelCapabilities(model)
	}
	return a.Capabilities()
}
