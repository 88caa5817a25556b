package analytics

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// The row types below are the columns the sink inserts, one field per column, in the Go type the
// column's ClickHouse type needs (clickhouse-go converts nothing: String→string, DateTime→time.Time,
// Int64→int64, UInt8→uint8, ...). Booleans are UInt8 because 18.16 has no Bool type.

// RequestRow is one row of llm_requests: the outcome of one request.
type RequestRow struct {
	RequestID       string
	TenantID        string
	UserID          string
	TaskType        string
	Priority        string
	Status          string
	Provider        string
	Model           string
	FinishReason    string
	InputTokens     int64
	OutputTokens    int64
	CachedTokens    int64
	ReasoningTokens int64
	CostUSD         float64
	QueueMS         float64
	TTFTMS          float64
	TotalMS         float64
	FallbackDepth   int32
	Hedged          uint8
	CacheHit        uint8
	DegradedReason  string
	ErrorCode       string
	ErrorRetryable  uint8
	Attempts        uint32
	CreatedAt       time.Time // seconds, UTC; partition and sorting key
	CreatedAtMS     int64
	CompletedAt     time.Time
	CompletedAtMS   int64
	Version         uint64 // ReplacingMergeTree version: completed_at_ms, so the latest outcome wins
}

// AttemptRow is one row of llm_attempts: one call to one provider.
type AttemptRow struct {
	AttemptID    string
	RequestID    string
	TenantID     string
	Provider     string
	Model        string
	Outcome      string
	ErrorCode    string
	StartedAt    time.Time // seconds, UTC; partition and sorting key
	StartedAtUS  int64
	DurationMS   float64
	TTFTMS       float64
	InputTokens  int64
	OutputTokens int64
	CachedTokens int64
	CostUSD      float64
	Hedge        uint8
	Hop          int32
}

// AuditRow is one row of llm_audit_events.
type AuditRow struct {
	EventID    string
	RequestID  string
	TenantID   string
	TS         time.Time // seconds, UTC; partition and sorting key
	TSUS       int64
	Type       string
	Stage      string
	Provider   string
	Model      string
	DurationUS int64
	Attrs      string // JSON object, keys sorted
}

// NewRequestRow maps a response to its llm_requests row. Content and tool calls are not stored:
// the tables hold measurements, never prompts or answers.
func NewRequestRow(r schemas.Response) RequestRow {
	row := RequestRow{
		RequestID:       r.RequestID,
		TenantID:        r.TenantID,
		UserID:          r.UserID,
		TaskType:        r.TaskType,
		Priority:        r.Priority,
		Status:          r.Status,
		Provider:        r.Provider,
		Model:           r.Model,
		FinishReason:    r.FinishReason,
		InputTokens:     r.Usage.InputTokens,
		OutputTokens:    r.Usage.OutputTokens,
		CachedTokens:    r.Usage.CachedTokens,
		ReasoningTokens: r.Usage.ReasoningTokens,
		CostUSD:         r.CostUSD,
		QueueMS:         r.Latency.QueueMS,
		TTFTMS:          r.Latency.TTFTMS,
		TotalMS:         r.Latency.TotalMS,
		FallbackDepth:   r.FallbackDepth,
		Hedged:          b2u(r.Hedged),
		CacheHit:        b2u(r.CacheHit),
		DegradedReason:  r.DegradedReason,
		Attempts:        uint32(min(len(r.Attempts), math.MaxUint32)),
		CreatedAt:       dateTime(floorDiv(r.CreatedAt, 1e3)),
		CreatedAtMS:     r.CreatedAt,
		CompletedAt:     dateTime(floorDiv(r.CompletedAt, 1e3)),
		CompletedAtMS:   r.CompletedAt,
		Version:         uint64(max(r.CompletedAt, 0)),
	}
	if r.Error != nil {
		row.ErrorCode = r.Error.Code
		row.ErrorRetryable = b2u(r.Error.Retryable)
	}
	return row
}

// NewAttemptRows maps the attempts of a response to llm_attempts rows. An attempt without an
// attempt_id gets one derived from its own fields (request, hop, provider, model, start time), so
// that its copies in later responses of the same request still collapse to one row; an empty id
// would instead collapse every id-less attempt of the request into one.
func NewAttemptRows(r schemas.Response) []AttemptRow {
	rows := make([]AttemptRow, 0, len(r.Attempts))
	for _, a := range r.Attempts {
		id := a.AttemptID
		if id == "" {
			id = derivedAttemptID(r.RequestID, a)
		}
		rows = append(rows, AttemptRow{
			AttemptID:    id,
			RequestID:    r.RequestID,
			TenantID:     r.TenantID,
			Provider:     a.Provider,
			Model:        a.Model,
			Outcome:      a.Outcome,
			ErrorCode:    a.ErrorCode,
			StartedAt:    dateTime(floorDiv(a.StartedAt, 1e6)),
			StartedAtUS:  a.StartedAt,
			DurationMS:   a.DurationMS,
			TTFTMS:       a.TTFTMS,
			InputTokens:  a.InputTokens,
			OutputTokens: a.OutputTokens,
			CachedTokens: a.CachedTokens,
			CostUSD:      a.CostUSD,
			Hedge:        b2u(a.Hedge),
			Hop:          a.Hop,
		})
	}
	return rows
}

func derivedAttemptID(requestID string, a schemas.Attempt) string {
	return strings.Join([]string{"derived", requestID, strconv.Itoa(int(a.Hop)), a.Provider, a.Model,
		strconv.FormatInt(a.StartedAt, 10)}, ":")
}

// NewAuditRow maps an audit event to its llm_audit_events row. attrs becomes a JSON object with
// sorted keys (deterministic, so copies are byte-identical); an empty map becomes "{}".
func NewAuditRow(e schemas.AuditEvent) AuditRow {
	attrs := "{}"
	if len(e.Attrs) > 0 {
		// Marshalling a map[string]string cannot fail; invalid UTF-8 is replaced, not rejected.
		b, _ := json.Marshal(e.Attrs)
		attrs = string(b)
	}
	return AuditRow{
		EventID:    e.EventID,
		RequestID:  e.RequestID,
		TenantID:   e.TenantID,
		TS:         dateTime(floorDiv(e.TS, 1e6)),
		TSUS:       e.TS,
		Type:       e.Type,
		Stage:      e.Stage,
		Provider:   e.Provider,
		Model:      e.Model,
		DurationUS: e.DurationUS,
		Attrs:      attrs,
	}
}

// BodyRow is one row of llm_bodies: a response's answer after redaction. Written only when the
// sink stores bodies (SinkConfig.StoreBodies).
type BodyRow struct {
	RequestID    string
	TenantID     string
	Provider     string
	Model        string
	CreatedAt    time.Time // seconds, UTC; partition (one per day) and sorting key
	ResponseBody string
	Redactions   uint32
	Version      uint64 // as RequestRow.Version: the latest outcome wins
}

// NewBodyRow maps a response to its llm_bodies row, redacting the answer (see Redact), and reports
// false when there is nothing to store (no content). Tool calls are not stored.
func NewBodyRow(r schemas.Response) (BodyRow, bool) {
	if r.Content == "" {
		return BodyRow{}, false
	}
	body, n := Redact(r.Content)
	return BodyRow{
		RequestID:    r.RequestID,
		TenantID:     r.TenantID,
		Provider:     r.Provider,
		Model:        r.Model,
		CreatedAt:    dateTime(floorDiv(r.CreatedAt, 1e3)),
		ResponseBody: body,
		Redactions:   uint32(min(n, math.MaxUint32)),
		Version:      uint64(max(r.CompletedAt, 0)),
	}, true
}

// Column lists, in the order of each row's values(). Every INSERT names its columns explicitly
// (18.16 requires it, and it keeps ingested_at on its DEFAULT).
var (
	requestColumns = []string{
		"request_id", "tenant_id", "user_id", "task_type", "priority", "status", "provider", "model",
		"finish_reason", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens",
		"cost_usd", "queue_ms", "ttft_ms", "total_ms", "fallback_depth", "hedged", "cache_hit",
		"degraded_reason", "error_code", "error_retryable", "attempts", "created_at", "created_at_ms",
		"completed_at", "completed_at_ms", "version",
	}
	attemptColumns = []string{
		"attempt_id", "request_id", "tenant_id", "provider", "model", "outcome", "error_code",
		"started_at", "started_at_us", "duration_ms", "ttft_ms", "input_tokens", "output_tokens",
		"cached_tokens", "cost_usd", "hedge", "hop",
	}
	auditColumns = []string{
		"event_id", "request_id", "tenant_id", "ts", "ts_us", "type", "stage", "provider", "model",
		"duration_us", "attrs",
	}
	bodyColumns = []string{
		"request_id", "tenant_id", "provider", "model", "created_at", "response_body", "redactions", "version",
	}
)

func (r *BodyRow) values() []any {
	return []any{r.RequestID, r.TenantID, r.Provider, r.Model, r.CreatedAt, r.ResponseBody, r.Redactions, r.Version}
}

func (r *RequestRow) values() []any {
	return []any{
		r.RequestID, r.TenantID, r.UserID, r.TaskType, r.Priority, r.Status, r.Provider, r.Model,
		r.FinishReason, r.InputTokens, r.OutputTokens, r.CachedTokens, r.ReasoningTokens,
		r.CostUSD, r.QueueMS, r.TTFTMS, r.TotalMS, r.FallbackDepth, r.Hedged, r.CacheHit,
		r.DegradedReason, r.ErrorCode, r.ErrorRetryable, r.Attempts, r.CreatedAt, r.CreatedAtMS,
		r.CompletedAt, r.CompletedAtMS, r.Version,
	}
}

func (r *AttemptRow) values() []any {
	return []any{
		r.AttemptID, r.RequestID, r.TenantID, r.Provider, r.Model, r.Outcome, r.ErrorCode,
		r.StartedAt, r.StartedAtUS, r.DurationMS, r.TTFTMS, r.InputTokens, r.OutputTokens,
		r.CachedTokens, r.CostUSD, r.Hedge, r.Hop,
	}
}

func (r *AuditRow) values() []any {
	return []any{
		r.EventID, r.RequestID, r.TenantID, r.TS, r.TSUS, r.Type, r.Stage, r.Provider, r.Model,
		r.DurationUS, r.Attrs,
	}
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// floorDiv divides rounding toward negative infinity, so -1 ms is in second -1, not second 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// dateTime converts Unix seconds to a DateTime value. DateTime is a UInt32 of seconds, so values
// outside [1970, 2106) are clamped: the driver would otherwise wrap them silently into a wrong
// month (and a wrong partition). The exact source value is kept in the *_ms / *_us column.
func dateTime(sec int64) time.Time {
	return time.Unix(min(max(sec, 0), math.MaxUint32), 0).UTC()
}
