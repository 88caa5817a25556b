package schemas

import (
	"encoding/binary"
	"testing"

	"github.com/hamba/avro/v2"
)

func ptr[T any](v T) *T { return &v }

// sampleRequest is the fixed Request of the golden files: every field set, one key per map so
// that the Avro bytes are deterministic.
func sampleRequest() *Request {
	return &Request{
		RequestID: "req-0001",
		TenantID:  "tenant-a",
		UserID:    "user-42",
		CreatedAt: 1_700_000_000_123,
		TaskType:  "code",
		Priority:  PriorityBatch,
		Messages: []Message{
			{Role: RoleSystem, Content: "You are terse.", Parts: []ContentPart{}, ToolCalls: []ToolCall{}},
			{Role: RoleUser, Content: "Wie spät ist es in 東京? <b>&</b>", Parts: []ContentPart{}, ToolCalls: []ToolCall{}},
			{Role: RoleAssistant, Parts: []ContentPart{}, ToolCalls: []ToolCall{{ID: "call_1", Name: "clock", Arguments: `{"tz":"Asia/Tokyo"}`}}},
			{Role: RoleTool, Content: `{"time":"09:00"}`, Parts: []ContentPart{}, ToolCalls: []ToolCall{}, ToolCallID: "call_1", Name: "clock"},
		},
		Tools: []Tool{{Name: "clock", Description: "Current time in a zone.",
			Parameters: `{"type":"object","properties":{"tz":{"type":"string"}},"required":["tz"]}`}},
		ToolChoice:       "auto",
		ResponseFormat:   ResponseFormat{Type: ResponseFormatJSONSchema, Name: "answer", Schema: `{"type":"object"}`},
		Model:            "gpt-4o-mini",
		AllowedProviders: []string{"openai", "anthropic"},
		MaxTokens:        512,
		Temperature:      ptr(0.25),
		Stream:           true,
		BudgetUSD:        ptr(0.05),
		DeadlineMS:       30_000,
		Metadata:         map[string]string{"trace": "abc123"},
	}
}

func sampleAttempt(hop int32) Attempt {
	return Attempt{AttemptID: "req-0001/0", Provider: "openai", Model: "gpt-4o-mini-2024-07-18", Outcome: "timeout",
		ErrorCode: "first_token_timeout", StartedAt: 1_700_000_000_200_000, DurationMS: 1500.5, TTFTMS: 0,
		InputTokens: 120, OutputTokens: 0, CachedTokens: 64, CostUSD: 0.0001, Hedge: hop > 0, Hop: hop}
}

// samples returns a fully populated value of every type, as Decode returns it (empty slices
// and maps are non-nil).
func samples() map[Type]any {
	return map[Type]any{
		TypeRequest: sampleRequest(),
		TypeResponse: &Response{
			RequestID: "req-0001", TenantID: "tenant-a", UserID: "user-42", TaskType: "code", Priority: "batch",
			Status: StatusDegraded, Provider: "anthropic", Model: "claude-3-5-haiku-20241022", Content: "It is 09:00.",
			ToolCalls: []ResponseToolCall{{ID: "t1", Name: "clock", Arguments: `{"tz":"UTC"}`, Raw: `{"tz":"UTC"}`, Valid: true},
				{ID: "t2", Name: "clock", Arguments: `{}`, Raw: `{tz:`, Valid: false, ValidationError: "unexpected end"}},
			FinishReason:  "stop",
			Usage:         Usage{InputTokens: 120, OutputTokens: 7, CachedTokens: 64, ReasoningTokens: 3},
			CostUSD:       0.000123,
			Latency:       Latency{QueueMS: 3.5, TTFTMS: 210.25, TotalMS: 1800},
			Attempts:      []Attempt{sampleAttempt(0), sampleAttempt(1)},
			FallbackDepth: 1, Hedged: true, CacheHit: false, DegradedReason: "fallback",
			Error:     &ErrorInfo{Code: "partial", Message: "tool call invalid", Retryable: false},
			CreatedAt: 1_700_000_000_123, CompletedAt: 1_700_000_001_923,
		},
		TypeStreamChunk: &StreamChunk{RequestID: "req-0001", Seq: 7, Kind: "delta", Provider: "openai", Model: "gpt-4o-mini",
			AttemptID: "req-0001/0", Delta: "Hallo 世界", FinishReason: "", TS: 1_700_000_000_500_123},
		TypeAuditEvent: &AuditEvent{EventID: "req-0001/0/route.decided/1", RequestID: "req-0001", TenantID: "tenant-a",
			TS: 1_700_000_000_124_000, Type: "route.decided", Stage: "route", Provider: "openai", Model: "gpt-4o-mini",
			DurationUS: 42, Attrs: map[string]string{"tier": "small", "reason": "cheapest"}},
		TypeDeadLetter: &DeadLetter{DLQID: "llm.requests/3/1234", RequestID: "", TenantID: "", Reason: ReasonTruncated,
			Detail: "input ends inside a varint at offset 17", Stage: "ingest", SourceTopic: "llm.requests",
			SourcePartition: 3, SourceOffset: 1234, TS: 1_700_000_000_999, Payload: []byte{0xC3, 0x01, 0xFF, 0x00},
			PayloadSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		TypeWorkItem: &WorkItem{Request: *sampleRequest(), Provider: "openai", Model: "gpt-4o-mini-2024-07-18",
			Fallbacks: []RouteStep{{Provider: "anthropic", Model: "claude-3-5-haiku-20241022"}, {Provider: "sim", Model: "sim-ok"}},
			Hop:       1, Tier: "small", RouteReason: "cost", EstimatedInputTokens: 130, EstimatedCostUSD: 0.0002,
			Attempts: []Attempt{sampleAttempt(0)}, RoutedAt: 1_700_000_000_130},
	}
}

// newValue returns a new *T for t's Go type.
func newValue(t Type) any {
	switch t {
	case TypeRequest:
		return &Request{}
	case TypeResponse:
		return &Response{}
	case TypeStreamChunk:
		return &StreamChunk{}
	case TypeAuditEvent:
		return &AuditEvent{}
	case TypeDeadLetter:
		return &DeadLetter{}
	case TypeWorkItem:
		return &WorkItem{}
	}
	return nil
}

func mustCodec(t testing.TB, opts CodecOptions) *Codec {
	t.Helper()
	c, err := NewCodec(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// singleObject frames an Avro body written with the current schema of t.
func singleObject(t Type, body []byte) []byte {
	out := []byte{0xC3, 0x01}
	out = binary.LittleEndian.AppendUint64(out, Fingerprint(t))
	return append(out, body...)
}

// rawBody encodes v with t's schema through hamba's default config, which checks nothing
// (e.g. lets invalid UTF-8 through), to craft bad input.
func rawBody(tb testing.TB, t Type, v any) []byte {
	tb.Helper()
	b, err := avro.Marshal(Schema(t), v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// avroLong appends the Avro (zig-zag varint) encoding of n.
func avroLong(b []byte, n int64) []byte { return binary.AppendVarint(b, n) }

func avroString(b []byte, s string) []byte { return append(avroLong(b, int64(len(s))), s...) }

// craftRequest builds the Avro body of a minimal valid Request field by field; override
// replaces the encoding of the named top-level fields with raw bytes.
func craftRequest(override map[string][]byte) []byte {
	message := avroString(nil, "user")
	message = avroString(message, "hi")
	message = avroLong(message, 0) // parts
	message = avroLong(message, 0) // tool_calls
	message = avroString(message, "")
	message = avroString(message, "")
	fields := []struct {
		name string
		enc  []byte
	}{
		{"request_id", avroString(nil, "r1")},
		{"tenant_id", avroString(nil, "t1")},
		{"user_id", avroString(nil, "")},
		{"created_at", avroLong(nil, 1_700_000_000_000)},
		{"task_type", avroString(nil, "chat")},
		{"priority", avroString(nil, "interactive")},
		{"messages", append(append(avroLong(nil, 1), message...), 0)},
		{"tools", avroLong(nil, 0)},
		{"tool_choice", avroString(nil, "")},
		{"response_format", avroString(avroString(avroString(nil, "text"), ""), "")},
		{"model", avroString(nil, "")},
		{"allowed_providers", avroLong(nil, 0)},
		{"max_tokens", avroLong(nil, 0)},
		{"temperature", avroLong(nil, 0)},
		{"stream", []byte{0}},
		{"budget_usd", avroLong(nil, 0)},
		{"deadline_ms", avroLong(nil, 0)},
		{"metadata", avroLong(nil, 0)},
	}
	var out []byte
	for _, f := range fields {
		if o, ok := override[f.name]; ok {
			out = append(out, o...)
			continue
		}
		out = append(out, f.enc...)
	}
	return out
}
