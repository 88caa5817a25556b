package analytics

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

func TestNewRequestRow(t *testing.T) {
	ok := sampleResponse("req-1", "acme", "openai", "gpt-4o-2024-08-06")
	errResp := ok
	errResp.Status = schemas.StatusError
	errResp.Error = &schemas.ErrorInfo{Code: "rate_limited", Message: "slow down, key sk-secret", Retryable: true}
	early := ok
	early.CreatedAt = -1 // one millisecond before the epoch
	early.CompletedAt = -1

	tests := []struct {
		name string
		in   schemas.Response
		want RequestRow
	}{
		{"ok", ok, RequestRow{
			RequestID: "req-1", TenantID: "acme", UserID: "user-7", TaskType: "chat", Priority: "interactive",
			Status: "ok", Provider: "openai", Model: "gpt-4o-2024-08-06", FinishReason: "stop",
			InputTokens: 1200, OutputTokens: 300, CachedTokens: 1000, ReasoningTokens: 40,
			CostUSD: 0.375, QueueMS: 12.5, TTFTMS: 250.25, TotalMS: 1500.75, FallbackDepth: 1,
			Hedged: 1, CacheHit: 0, Attempts: 2,
			CreatedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), CreatedAtMS: 1741064767891,
			CompletedAt: time.Date(2025, 3, 4, 5, 6, 9, 0, time.UTC), CompletedAtMS: 1741064769391,
			Version: 1741064769391,
		}},
		{"error fields", errResp, func() RequestRow {
			r := NewRequestRow(ok)
			r.Status, r.ErrorCode, r.ErrorRetryable = "error", "rate_limited", 1
			return r
		}()},
		{"before epoch clamps DateTime, keeps source value", early, func() RequestRow {
			r := NewRequestRow(ok)
			r.CreatedAt, r.CreatedAtMS = time.Unix(0, 0).UTC(), -1
			r.CompletedAt, r.CompletedAtMS, r.Version = time.Unix(0, 0).UTC(), -1, 0
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewRequestRow(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("NewRequestRow:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNewAttemptRows(t *testing.T) {
	r := sampleResponse("req-1", "acme", "openai", "gpt-4o")
	r.Attempts[1].AttemptID = "" // a producer that forgot the id
	got := NewAttemptRows(r)
	want := []AttemptRow{
		{
			AttemptID: "att-req-1-0", RequestID: "req-1", TenantID: "acme", Provider: "anthropic",
			Model: "claude-sonnet-4-5", Outcome: "timeout", ErrorCode: "first_token_timeout",
			StartedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), StartedAtUS: 1741064767900000,
			DurationMS: 800, TTFTMS: 0, InputTokens: 1200, CostUSD: 0.125, Hedge: 0, Hop: 0,
		},
		{
			AttemptID: "derived:req-1:1:openai:gpt-4o:1741064768700001", RequestID: "req-1", TenantID: "acme",
			Provider: "openai", Model: "gpt-4o", Outcome: "ok",
			StartedAt: time.Date(2025, 3, 4, 5, 6, 8, 0, time.UTC), StartedAtUS: 1741064768700001,
			DurationMS: 690.5, TTFTMS: 250.25, InputTokens: 1200, OutputTokens: 300, CachedTokens: 1000,
			CostUSD: 0.25, Hedge: 1, Hop: 1,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NewAttemptRows:\n got %+v\nwant %+v", got, want)
	}
	// The derived id depends only on the attempt, so a later response carrying the same attempt
	// maps it to the same id.
	later := r
	later.Attempts = append(later.Attempts, schemas.Attempt{AttemptID: "att-x", Hop: 2})
	if again := NewAttemptRows(later); again[1].AttemptID != got[1].AttemptID {
		t.Errorf("derived attempt id not stable: %q vs %q", again[1].AttemptID, got[1].AttemptID)
	}
	if rows := NewAttemptRows(schemas.Response{RequestID: "r"}); len(rows) != 0 {
		t.Errorf("no attempts: got %d rows", len(rows))
	}
}

func TestNewAuditRow(t *testing.T) {
	ev := sampleAudit("ev-1", "req-1", "acme", 0)
	got := NewAuditRow(ev)
	want := AuditRow{
		EventID: "ev-1", RequestID: "req-1", TenantID: "acme",
		TS: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), TSUS: 1741064767123456,
		Type: "route.decided", Stage: "router", Provider: "openai", Model: "gpt-4o", DurationUS: 1500,
		Attrs: `{"chain":"openai,anthropic","reason":"cheapest \"fit\"","tier":"standard"}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NewAuditRow:\n got %+v\nwant %+v", got, want)
	}
	ev.Attrs = nil
	if got := NewAuditRow(ev).Attrs; got != "{}" {
		t.Errorf("nil attrs: got %q, want {}", got)
	}
}

func TestDateTimeClamps(t *testing.T) {
	tests := []struct {
		sec  int64
		want int64
	}{{-5, 0}, {0, 0}, {1700000000, 1700000000}, {1 << 40, 1<<32 - 1}}
	for _, tt := range tests {
		if got := dateTime(tt.sec).Unix(); got != tt.want {
			t.Errorf("dateTime(%d) = %d, want %d", tt.sec, got, tt.want)
		}
	}
	if got := floorDiv(-1, 1000); got != -1 {
		t.Errorf("floorDiv(-1, 1000) = %d, want -1", got)
	}
	if got := floorDiv(1999, 1000); got != 1 {
		t.Errorf("floorDiv(1999, 1000) = %d, want 1", got)
	}
}

// TestRowsMatchDDL checks, without a server, that each row type, its column list and its values()
// agree with each other and with the CREATE TABLE in migrations/0001_init.sql: struct field i is
// column i (by name), values()[i] is field i, and the Go type is the one clickhouse-go needs for
// the column's ClickHouse type. Every column without a DEFAULT is inserted.
func TestRowsMatchDDL(t *testing.T) {
	ddl := parseDDL(t)
	goType := map[string]reflect.Type{
		"String": reflect.TypeFor[string](), "Int64": reflect.TypeFor[int64](), "Int32": reflect.TypeFor[int32](),
		"UInt64": reflect.TypeFor[uint64](), "UInt32": reflect.TypeFor[uint32](), "UInt8": reflect.TypeFor[uint8](),
		"Float64": reflect.TypeFor[float64](), "DateTime('UTC')": reflect.TypeFor[time.Time](),
	}
	check := func(table string, row any, values []any, columns []string) {
		t.Helper()
		cols := ddl[table]
		if cols == nil {
			t.Fatalf("table %s not in 0001_init.sql", table)
		}
		rv := reflect.Indirect(reflect.ValueOf(row))
		if rv.NumField() != len(columns) || len(values) != len(columns) {
			t.Fatalf("%s: %d fields, %d values, %d columns", table, rv.NumField(), len(values), len(columns))
		}
		inserted := map[string]bool{}
		for i, col := range columns {
			f := rv.Type().Field(i)
			if got := snake(f.Name); got != col {
				t.Errorf("%s: field %d is %s (%s), column %d is %s", table, i, f.Name, got, i, col)
			}
			if !reflect.DeepEqual(values[i], rv.Field(i).Interface()) {
				t.Errorf("%s: values()[%d] = %v, field %s = %v", table, i, values[i], f.Name, rv.Field(i).Interface())
			}
			ct, ok := cols[col]
			if !ok {
				t.Errorf("%s: column %s not in DDL", table, col)
				continue
			}
			if want := goType[ct.typ]; f.Type != want {
				t.Errorf("%s.%s: ClickHouse %s needs Go %v, field has %v", table, col, ct.typ, want, f.Type)
			}
			inserted[col] = true
		}
		for col, ct := range cols {
			if !inserted[col] && !ct.hasDefault {
				t.Errorf("%s.%s has no DEFAULT and is not inserted", table, col)
			}
		}
	}
	req := distinctFields[RequestRow]()
	att := distinctFields[AttemptRow]()
	aud := distinctFields[AuditRow]()
	check("llm_requests", req, req.values(), requestColumns)
	check("llm_attempts", att, att.values(), attemptColumns)
	check("llm_audit_events", aud, aud.values(), auditColumns)
}

// distinctFields returns a T whose fields all hold different values, so that a values() that
// swaps two fields of the same type is caught.
func distinctFields[T any]() *T {
	var v T
	rv := reflect.ValueOf(&v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(rv.Type().Field(i).Name)
		case reflect.Int32, reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Uint8, reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(i + 1))
		case reflect.Float64:
			f.SetFloat(float64(i) + 0.5)
		case reflect.Struct:
			f.Set(reflect.ValueOf(time.Unix(int64(i)*1000, 0).UTC()))
		}
	}
	return &v
}

var snakeToken = regexp.MustCompile(`USD|TTFT|MS|US|ID|TS|[A-Z][a-z]+`)

// snake turns a Go field name into its column name: CreatedAtMS → created_at_ms.
func snake(name string) string {
	parts := snakeToken.FindAllString(name, -1)
	if strings.Join(parts, "") != name {
		return "?" + name
	}
	return strings.ToLower(strings.Join(parts, "_"))
}

type ddlColumn struct {
	typ        string
	hasDefault bool
}

// parseDDL reads the column definitions of every CREATE TABLE in 0001_init.sql.
func parseDDL(t *testing.T) map[string]map[string]ddlColumn {
	t.Helper()
	body, err := migrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]ddlColumn{}
	create := regexp.MustCompile(`(?s)CREATE TABLE IF NOT EXISTS \$\{database\}\.(\w+)\s*\((.*?)\n\)\s*\nENGINE`)
	colDef := regexp.MustCompile(`^\s*(\w+) (\S+(?:\('UTC'\))?)( DEFAULT .*)?,?$`)
	for _, m := range create.FindAllStringSubmatch(string(body), -1) {
		cols := map[string]ddlColumn{}
		for _, line := range strings.Split(strings.TrimSpace(m[2]), "\n") {
			c := colDef.FindStringSubmatch(line)
			if c == nil {
				t.Fatalf("%s: cannot parse column line %q", m[1], line)
			}
			cols[c[1]] = ddlColumn{typ: strings.TrimSuffix(c[2], ","), hasDefault: c[3] != ""}
		}
		out[m[1]] = cols
	}
	if len(out) != 3 {
		t.Fatalf("parsed %d tables from 0001_init.sql, want 3", len(out))
	}
	return out
}
