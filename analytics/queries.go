package analytics

import (
	"context"
	"embed"
	"fmt"
	"math"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed queries/*.sql
var queryFS embed.FS

// AnalystQuery returns the analyst query queries/<name>.sql with ${database} replaced by database
// (DefaultDatabase when empty), ready to run on either server generation.
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
