package schemas

// The Go shapes of the Avro records in this folder. Field tags name the Avro field (avro) and the
// JSON field (json); both layouts are the same, so a JSON request reads like its Avro twin.
// Time fields carry Unix milliseconds or microseconds as the schema's logical type says; they
// are kept as int64 so that a value survives every encoding unchanged.

// Request is an LLM request as upstream systems publish it on llm.requests.
type Request struct {
	RequestID        string            `avro:"request_id" json:"request_id"`
	TenantID         string            `avro:"tenant_id" json:"tenant_id"`
	UserID           string            `avro:"user_id" json:"user_id"`
	CreatedAt        int64             `avro:"created_at" json:"created_at"` // Unix ms
	TaskType         string            `avro:"task_type" json:"task_type"`
	Priority         string            `avro:"priority" json:"priority"`
	Messages         []Message         `avro:"messages" json:"messages"`
	Tools            []Tool            `avro:"tools" json:"tools"`
	ToolChoice       string            `avro:"tool_choice" json:"tool_choice"`
	ResponseFormat   ResponseFormat    `avro:"response_format" json:"response_format"`
	Model            string            `avro:"model" json:"model"`
	AllowedProviders []string          `avro:"allowed_providers" json:"allowed_providers"`
	MaxTokens        int32             `avro:"max_tokens" json:"max_tokens"`
	Temperature      *float64          `avro:"temperature" json:"temperature"`
	Stream           bool              `avro:"stream" json:"stream"`
	BudgetUSD        *float64          `avro:"budget_usd" json:"budget_usd"`
	DeadlineMS       int64             `avro:"deadline_ms" json:"deadline_ms"` // from CreatedAt
	Metadata         map[string]string `avro:"metadata" json:"metadata"`
}

// Message is one turn of a conversation.
type Message struct {
	Role       string        `avro:"role" json:"role"`
	Content    string        `avro:"content" json:"content"`
	Parts      []ContentPart `avro:"parts" json:"parts"`
	ToolCalls  []ToolCall    `avro:"tool_calls" json:"tool_calls"`
	ToolCallID string        `avro:"tool_call_id" json:"tool_call_id"`
	Name       string        `avro:"name" json:"name"`
}

// Text returns the message's text: Content, or the text parts joined by newlines.
func (m *Message) Text() string {
	if len(m.Parts) == 0 {
		return m.Content
	}
	var n int
	for i := range m.Parts {
		n += len(m.Parts[i].Text) + 1
	}
	b := make([]byte, 0, n)
	for i := range m.Parts {
		if m.Parts[i].Type != PartText {
			continue
		}
		if len(b) > 0 {
			b = append(b, '\n')
		}
		b = append(b, m.Parts[i].Text...)
	}
	return string(b)
}

// Content part types.
const (
	PartText  = "text"
	PartImage = "image"
)

// ContentPart is one piece of multi-part message content: text, or an image given by URL or by
// base64 data with its media type.
type ContentPart struct {
	Type      string `avro:"type" json:"type"` // PartText or PartImage
	Text      string `avro:"text" json:"text"`
	URL       string `avro:"url" json:"url"`
	MediaType string `avro:"media_type" json:"media_type"`
	Data      string `avro:"data" json:"data"` // standard base64
}

// ToolCall is a call to a tool made by the assistant in an earlier turn.
type ToolCall struct {
	ID        string `avro:"id" json:"id"`
	Name      string `avro:"name" json:"name"`
	Arguments string `avro:"arguments" json:"arguments"` // JSON text
	// Signature is opaque provider state returned with the call (Gemini's thoughtSignature),
	// to be sent back unchanged with the call in later turns.
	Signature string `avro:"signature" json:"signature"`
}

// Tool is the canonical tool definition; adapters compile it to each provider's format.
type Tool struct {
	Name        string `avro:"name" json:"name"`
	Description string `avro:"description" json:"description"`
	Parameters  string `avro:"parameters" json:"parameters"` // JSON Schema as JSON text
}

// ResponseFormat asks for plain text, any JSON, or JSON matching a schema.
type ResponseFormat struct {
	Type   string `avro:"type" json:"type"` // text, json, json_schema
	Name   string `avro:"name" json:"name"`
	Schema string `avro:"schema" json:"schema"` // JSON text, for json_schema
}

// Response is the terminal outcome of one request, on llm.responses.
type Response struct {
	RequestID      string             `avro:"request_id" json:"request_id"`
	TenantID       string             `avro:"tenant_id" json:"tenant_id"`
	UserID         string             `avro:"user_id" json:"user_id"`
	TaskType       string             `avro:"task_type" json:"task_type"`
	Priority       string             `avro:"priority" json:"priority"`
	Status         string             `avro:"status" json:"status"` // StatusOK, StatusError, StatusDegraded
	Provider       string             `avro:"provider" json:"provider"`
	Model          string             `avro:"model" json:"model"`
	Content        string             `avro:"content" json:"content"`
	ToolCalls      []ResponseToolCall `avro:"tool_calls" json:"tool_calls"`
	FinishReason   string             `avro:"finish_reason" json:"finish_reason"`
	Usage          Usage              `avro:"usage" json:"usage"`
	CostUSD        float64            `avro:"cost_usd" json:"cost_usd"`
	Latency        Latency            `avro:"latency" json:"latency"`
	Attempts       []Attempt          `avro:"attempts" json:"attempts"`
	FallbackDepth  int32              `avro:"fallback_depth" json:"fallback_depth"`
	Hedged         bool               `avro:"hedged" json:"hedged"`
	CacheHit       bool               `avro:"cache_hit" json:"cache_hit"`
	DegradedReason string             `avro:"degraded_reason" json:"degraded_reason"`
	Error          *ErrorInfo         `avro:"error" json:"error"`
	CreatedAt      int64              `avro:"created_at" json:"created_at"`     // Unix ms
	CompletedAt    int64              `avro:"completed_at" json:"completed_at"` // Unix ms
}

// Response statuses.
const (
	StatusOK       = "ok"
	StatusError    = "error"
	StatusDegraded = "degraded"
)

// ResponseToolCall is a tool call returned by a provider, validated against the request's tool
// schema, with the provider's raw text kept beside the validated arguments.
type ResponseToolCall struct {
	ID              string `avro:"id" json:"id"`
	Name            string `avro:"name" json:"name"`
	Arguments       string `avro:"arguments" json:"arguments"`
	Raw             string `avro:"raw" json:"raw"`
	Valid           bool   `avro:"valid" json:"valid"`
	ValidationError string `avro:"validation_error" json:"validation_error"`
	Signature       string `avro:"signature" json:"signature"`
}

// Usage counts tokens as the provider reported them.
type Usage struct {
	InputTokens     int64 `avro:"input_tokens" json:"input_tokens"`
	OutputTokens    int64 `avro:"output_tokens" json:"output_tokens"`
	CachedTokens    int64 `avro:"cached_tokens" json:"cached_tokens"`
	ReasoningTokens int64 `avro:"reasoning_tokens" json:"reasoning_tokens"`
	// CacheWriteTokens are input tokens written to the prompt cache (Anthropic's
	// cache_creation_input_tokens), billed at a premium by some providers.
	CacheWriteTokens int64 `avro:"cache_write_tokens" json:"cache_write_tokens"`
}

// Latency splits the request's time into queueing, time to first token and total.
type Latency struct {
	QueueMS float64 `avro:"queue_ms" json:"queue_ms"`
	TTFTMS  float64 `avro:"ttft_ms" json:"ttft_ms"`
	TotalMS float64 `avro:"total_ms" json:"total_ms"`
}

// Attempt is one call to one provider on behalf of a request.
type Attempt struct {
	AttemptID    string  `avro:"attempt_id" json:"attempt_id"`
	Provider     string  `avro:"provider" json:"provider"`
	Model        string  `avro:"model" json:"model"`
	Outcome      string  `avro:"outcome" json:"outcome"` // ok, error, timeout, cancelled, rejected
	ErrorCode    string  `avro:"error_code" json:"error_code"`
	StartedAt    int64   `avro:"started_at" json:"started_at"` // Unix µs
	DurationMS   float64 `avro:"duration_ms" json:"duration_ms"`
	TTFTMS       float64 `avro:"ttft_ms" json:"ttft_ms"`
	InputTokens  int64   `avro:"input_tokens" json:"input_tokens"`
	OutputTokens int64   `avro:"output_tokens" json:"output_tokens"`
	CachedTokens int64   `avro:"cached_tokens" json:"cached_tokens"`
	CostUSD      float64 `avro:"cost_usd" json:"cost_usd"`
	Hedge        bool    `avro:"hedge" json:"hedge"`
	Hop          int32   `avro:"hop" json:"hop"`
}

// ErrorInfo describes why a request ended in error.
type ErrorInfo struct {
	Code      string `avro:"code" json:"code"`
	Message   string `avro:"message" json:"message"`
	Retryable bool   `avro:"retryable" json:"retryable"`
}

// StreamChunk is one piece of a streamed answer, on llm.responses.stream.
type StreamChunk struct {
	RequestID    string         `avro:"request_id" json:"request_id"`
	Seq          int32          `avro:"seq" json:"seq"`
	Kind         string         `avro:"kind" json:"kind"` // delta, provider_switch, done, error
	Provider     string         `avro:"provider" json:"provider"`
	Model        string         `avro:"model" json:"model"`
	AttemptID    string         `avro:"attempt_id" json:"attempt_id"`
	Delta        string         `avro:"delta" json:"delta"`
	ToolCall     *ToolCallDelta `avro:"tool_call" json:"tool_call"`
	FinishReason string         `avro:"finish_reason" json:"finish_reason"`
	// Mode, for Kind provider_switch: StreamContinue or StreamRestart.
	Mode string `avro:"mode" json:"mode"`
	TS   int64  `avro:"ts" json:"ts"` // Unix µs
}

// Stream chunk kinds and provider-switch modes.
const (
	ChunkDelta          = "delta"
	ChunkToolCall       = "tool_call"
	ChunkProviderSwitch = "provider_switch"
	ChunkDone           = "done"
	ChunkError          = "error"
	// StreamContinue: the text streamed so far stands; the next provider continues it.
	StreamContinue = "continue"
	// StreamRestart: drop what was streamed so far; the answer starts again.
	StreamRestart = "restart"
)

// ToolCallDelta is a fragment of a streamed tool call: Index identifies the call within the
// answer; ID and Name arrive with its first fragment; Arguments are JSON text fragments to be
// concatenated in order.
type ToolCallDelta struct {
	Index     int32  `avro:"index" json:"index"`
	ID        string `avro:"id" json:"id"`
	Name      string `avro:"name" json:"name"`
	Arguments string `avro:"arguments" json:"arguments"`
}

// AuditEvent is one decision or observation about one request, on llm.audit.
type AuditEvent struct {
	EventID    string            `avro:"event_id" json:"event_id"`
	RequestID  string            `avro:"request_id" json:"request_id"`
	TenantID   string            `avro:"tenant_id" json:"tenant_id"`
	TS         int64             `avro:"ts" json:"ts"` // Unix µs
	Type       string            `avro:"type" json:"type"`
	Stage      string            `avro:"stage" json:"stage"`
	Provider   string            `avro:"provider" json:"provider"`
	Model      string            `avro:"model" json:"model"`
	DurationUS int64             `avro:"duration_us" json:"duration_us"`
	Attrs      map[string]string `avro:"attrs" json:"attrs"`
}

// DeadLetter is a record that could not be processed, on llm.dlq.
type DeadLetter struct {
	DLQID           string `avro:"dlq_id" json:"dlq_id"`
	RequestID       string `avro:"request_id" json:"request_id"`
	TenantID        string `avro:"tenant_id" json:"tenant_id"`
	Reason          string `avro:"reason" json:"reason"`
	Detail          string `avro:"detail" json:"detail"`
	Stage           string `avro:"stage" json:"stage"`
	SourceTopic     string `avro:"source_topic" json:"source_topic"`
	SourcePartition int32  `avro:"source_partition" json:"source_partition"`
	SourceOffset    int64  `avro:"source_offset" json:"source_offset"`
	TS              int64  `avro:"ts" json:"ts"` // Unix ms
	Payload         []byte `avro:"payload" json:"payload"`
	PayloadSHA256   string `avro:"payload_sha256" json:"payload_sha256"`
}

// WorkItem is a routed request on llm.work.<provider>.
type WorkItem struct {
	Request              Request     `avro:"request" json:"request"`
	Provider             string      `avro:"provider" json:"provider"`
	Model                string      `avro:"model" json:"model"`
	Fallbacks            []RouteStep `avro:"fallbacks" json:"fallbacks"`
	Hop                  int32       `avro:"hop" json:"hop"`
	Tier                 string      `avro:"tier" json:"tier"`
	RouteReason          string      `avro:"route_reason" json:"route_reason"`
	EstimatedInputTokens int64       `avro:"estimated_input_tokens" json:"estimated_input_tokens"`
	EstimatedCostUSD     float64     `avro:"estimated_cost_usd" json:"estimated_cost_usd"`
	Attempts             []Attempt   `avro:"attempts" json:"attempts"`
	RoutedAt             int64       `avro:"routed_at" json:"routed_at"` // Unix ms
	// Partial is the answer text earlier attempts streamed before they failed: the next
	// attempt continues it (assistant prefill) or starts again (StreamChunk.Mode).
	Partial string `avro:"partial" json:"partial"`
	// StreamSeq is the next StreamChunk.Seq of the request: chunks before it are published.
	StreamSeq int32 `avro:"stream_seq" json:"stream_seq"`
}

// RouteStep names one provider and pinned model of a fallback chain.
type RouteStep struct {
	Provider string `avro:"provider" json:"provider"`
	Model    string `avro:"model" json:"model"`
}

// SpendState is one router replica's cumulative spend of one tenant in one budget period, on
// the compacted topic llm.spend, keyed "<tenant>|<period>|<replica_id>". A record whose Period
// is SpendCheckpoint carries the replica's llm.responses positions instead of totals.
type SpendState struct {
	TenantID        string             `avro:"tenant_id" json:"tenant_id"`
	Period          string             `avro:"period" json:"period"` // YYYY-MM-DD, YYYY-MM or SpendCheckpoint
	ReplicaID       string             `avro:"replica_id" json:"replica_id"`
	ReservedUSD     float64            `avro:"reserved_usd" json:"reserved_usd"`
	SpentUSD        float64            `avro:"spent_usd" json:"spent_usd"`
	Reservations    []SpendReservation `avro:"reservations" json:"reservations"`
	ResponseOffsets map[string]int64   `avro:"response_offsets" json:"response_offsets"`
	UpdatedAt       int64              `avro:"updated_at" json:"updated_at"` // Unix ms
}

// SpendCheckpoint is the Period of a replica's checkpoint record on llm.spend.
const SpendCheckpoint = "checkpoint"

// SpendReservation is an outstanding reservation: a routed request not settled yet.
type SpendReservation struct {
	RequestID string  `avro:"request_id" json:"request_id"`
	USD       float64 `avro:"usd" json:"usd"`
	TS        int64   `avro:"ts" json:"ts"` // Unix ms
}

// ProviderHealth is the health of a provider (Model "") or of one of its models, on the
// compacted topic llm.provider.health, keyed "<provider>|<model>".
type ProviderHealth struct {
	Provider string `avro:"provider" json:"provider"`
	Model    string `avro:"model" json:"model"`
	Status   string `avro:"status" json:"status"` // HealthHealthy or HealthUnhealthy
	Reason   string `avro:"reason" json:"reason"`
	TS       int64  `avro:"ts" json:"ts"` // Unix ms
	Source   string `avro:"source" json:"source"`
}

// Cancel asks the pipeline to stop work on a request, on llm.cancels.
type Cancel struct {
	RequestID string `avro:"request_id" json:"request_id"`
	TenantID  string `avro:"tenant_id" json:"tenant_id"`
	Reason    string `avro:"reason" json:"reason"`
	Source    string `avro:"source" json:"source"`
	TS        int64  `avro:"ts" json:"ts"` // Unix ms
}

// Health statuses.
const (
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)
