package analytics

import (
	"context"
	"embed"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed queries/*.sql
var queryFS embed.FS

// placeholder matches ${name} in the embedded SQL. ${database} is an identifier (see
// withDatabase); every other placeholder is a query parameter bound by BindQuery.
var placeholder = regexp.MustCompile(`\$\{([a-z_][a-z0-9_]*)\}`)

// paramsLine is the header line of a query file that lists its parameters: "-- params: a, b".
var paramsLine = regexp.MustCompile(`(?m)^--\s*params:\s*(.*)$`)

// AnalystQuery returns the analyst query queries/<name>.sql with ${database} replaced by database
// (DefaultDatabase when empty), ready to run on either server generation once its parameters are
// bound (BindQuery); the two original queries take none.
func AnalystQuery(name, database string) (string, error) {
	if database == "" {
		database = DefaultDatabase
	}
	if err := validDatabase(database); err != nil {
		return "", err
	}
	body, err := queryFS.ReadFile("queries/" + name + ".sql")
	if err != nil {
		return "", fmt.Errorf("analytics: query %q: %w", name, err)
	}
	stmts := SplitStatements(string(body))
	if len(stmts) != 1 {
		return "", fmt.Errorf("analytics: query %q: want one statement, file has %d", name, len(stmts))
	}
	return withDatabase(stmts[0], database), nil
}

// QueryParams returns the parameters queries/<name>.sql declares on its "-- params:" header line,
// in the order declared (nil when it takes none).
func QueryParams(name string) ([]string, error) {
	body, err := queryFS.ReadFile("queries/" + name + ".sql")
	if err != nil {
		return nil, fmt.Errorf("analytics: query %q: %w", name, err)
	}
	m := paramsLine.FindSubmatch(body)
	if m == nil {
		return nil, nil
	}
	var out []string
	for _, p := range strings.Split(string(m[1]), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// QueryNames lists the embedded analyst queries (file names without .sql), sorted.
func QueryNames() []string {
	entries, _ := queryFS.ReadDir("queries") // embedded: cannot fail
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".sql"))
	}
	sort.Strings(out)
	return out
}

// Params are the values of a query's ${name} placeholders. Supported types, and the literal each
// becomes: string → a quoted, escaped string; time.Time → toDateTime(<unix seconds>, 'UTC');
// int, int64, uint64 → a decimal integer; float64 → a decimal number (finite only); []string and
// []float64 → an array literal (the SQL casts it to its type, so an empty array is typed too).
// 18.16 has no server-side query parameters, so values are rendered as literals here, and the same
// rendering is what chdb_check.py runs.
type Params map[string]any

// BindQuery replaces every ${name} placeholder of sql (except ${database}) with the literal of
// p[name]. A placeholder without a value, or a value without a placeholder, is an error.
func BindQuery(sql string, p Params) (string, error) {
	used := map[string]bool{}
	var errs []string
	out := placeholder.ReplaceAllStringFunc(sql, func(m string) string {
		name := m[2 : len(m)-1]
		if name == "database" {
			return m
		}
		used[name] = true
		v, ok := p[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("no value for ${%s}", name))
			return m
		}
		lit, err := sqlLiteral(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("${%s}: %v", name, err))
			return m
		}
		return lit
	})
	for name := range p {
		if !used[name] {
			errs = append(errs, fmt.Sprintf("parameter %q is not used by the query", name))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return "", fmt.Errorf("analytics: bind query: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

func sqlLiteral(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return quoteString(v), nil
	case time.Time:
		return fmt.Sprintf("toDateTime(%d, 'UTC')", min(max(v.Unix(), 0), math.MaxUint32)), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float64:
		return floatLiteral(v)
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = quoteString(s)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case []float64:
		parts := make([]string, len(v))
		for i, f := range v {
			lit, err := floatLiteral(f)
			if err != nil {
				return "", err
			}
			parts[i] = lit
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("unsupported parameter type %T", v)
}

func floatLiteral(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%v is not a finite number", f)
	}
	// 'f' never writes an exponent, which both server generations parse the same way; a
	// negative literal is parenthesised so that "x * -1" cannot become "x * - 1"-style surprises.
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if f < 0 {
		s = "(" + s + ")"
	}
	return s, nil
}

// quoteString renders s as a ClickHouse string literal: backslash and quote are escaped, which is
// all the lexer needs on both server generations (other bytes, newlines included, are literal).
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Result is the outcome of one analyst query: column names and types as the server reports them,
// and the rows with one Go value per column (string, integer types, float64, time.Time, ...).
type Result struct {
	Query   string   `json:"query"`
	Columns []string `json:"columns"`
	Types   []string `json:"types"`
	Rows    [][]any  `json:"rows"`
}

// RunQuery binds p into queries/<name>.sql for database and runs it.
func RunQuery(ctx context.Context, conn driver.Conn, name, database string, p Params) (*Result, error) {
	q, err := AnalystQuery(name, database)
	if err != nil {
		return nil, err
	}
	if q, err = BindQuery(q, p); err != nil {
		return nil, fmt.Errorf("analytics: query %s: %w", name, err)
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("analytics: query %s: %w", name, err)
	}
	defer rows.Close()
	res := &Result{Query: name, Columns: rows.Columns()}
	cts := rows.ColumnTypes()
	for _, ct := range cts {
		res.Types = append(res.Types, ct.DatabaseTypeName())
	}
	for rows.Next() {
		dest := make([]any, len(cts))
		for i, ct := range cts {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("analytics: query %s: %w", name, err)
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = reflect.ValueOf(d).Elem().Interface()
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: query %s: %w", name, err)
	}
	return res, nil
}

// FormatValue renders one result value the same way for every engine, so that results from the
// server and from chdb (JSON) can be compared exactly: integers in decimal, floats in the shortest
// form that round-trips ('g'), NaN as "nan", dates as 2006-01-02 and times as 2006-01-02 15:04:05
// (UTC).
func FormatValue(v any) string {
	switch v := v.(type) {
	case float64:
		return formatFloat(v)
	case float32:
		return formatFloat(float64(v))
	case time.Time:
		t := v.UTC()
		if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
			return t.Format("2006-01-02")
		}
		return t.Format("2006-01-02 15:04:05")
	case string:
		return v
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64) string {
	if math.IsNaN(f) {
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Strings returns the rows with every value rendered by FormatValue.
func (r *Result) Strings() [][]string {
	out := make([][]string, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = make([]string, len(row))
		for j, v := range row {
			out[i][j] = FormatValue(v)
		}
	}
	return out
}

// ProviderCost is one row of queries/cost_by_provider.sql.
type ProviderCost struct {
	Provider     string  `json:"provider"`
	Model        string  `json:"model"`
	Requests     uint64  `json:"requests"`
	Errors       uint64  `json:"errors"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CachedTokens int64   `json:"cached_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

// CostByProvider returns cost and token totals by provider and model over deduplicated requests,
// most expensive first.
func CostByProvider(ctx context.Context, conn driver.Conn, database string) ([]ProviderCost, error) {
	q, err := AnalystQuery("cost_by_provider", database)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("analytics: cost by provider: %w", err)
	}
	defer rows.Close()
	var out []ProviderCost
	for rows.Next() {
		var c ProviderCost
		if err := rows.Scan(&c.Provider, &c.Model, &c.Requests, &c.Errors, &c.InputTokens, &c.OutputTokens, &c.CachedTokens, &c.CostUSD); err != nil {
			return nil, fmt.Errorf("analytics: cost by provider: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: cost by provider: %w", err)
	}
	return out, nil
}

// ProviderLatency is one row of queries/latency_by_provider.sql, in milliseconds. A quantile with
// no values to estimate (no request of the group measured a first token) is 0, not NaN, so the
// result encodes as JSON.
type ProviderLatency struct {
	Provider   string  `json:"provider"`
	Model      string  `json:"model"`
	Requests   uint64  `json:"requests"`
	P50TotalMS float64 `json:"p50_total_ms"`
	P99TotalMS float64 `json:"p99_total_ms"`
	P50TTFTMS  float64 `json:"p50_ttft_ms"`
	P99TTFTMS  float64 `json:"p99_ttft_ms"`
	P50QueueMS float64 `json:"p50_queue_ms"`
	P99QueueMS float64 `json:"p99_queue_ms"`
}

// LatencyByProvider returns latency quantiles by provider and model over deduplicated requests
// that produced an answer.
func LatencyByProvider(ctx context.Context, conn driver.Conn, database string) ([]ProviderLatency, error) {
	q, err := AnalystQuery("latency_by_provider", database)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("analytics: latency by provider: %w", err)
	}
	defer rows.Close()
	var out []ProviderLatency
	for rows.Next() {
		var l ProviderLatency
		if err := rows.Scan(&l.Provider, &l.Model, &l.Requests, &l.P50TotalMS, &l.P99TotalMS,
			&l.P50TTFTMS, &l.P99TTFTMS, &l.P50QueueMS, &l.P99QueueMS); err != nil {
			return nil, fmt.Errorf("analytics: latency by provider: %w", err)
		}
		for _, f := range []*float64{&l.P50TotalMS, &l.P99TotalMS, &l.P50TTFTMS, &l.P99TTFTMS, &l.P50QueueMS, &l.P99QueueMS} {
			if math.IsNaN(*f) {
				*f = 0
			}
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: latency by provider: %w", err)
	}
	return out, nil
}
