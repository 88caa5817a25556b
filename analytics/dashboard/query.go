package dashboard

import (
	"context"
	_ "embed"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/switchyard-llm/switchyard/analytics"
)

// Querier runs one named query with its parameters. The ClickHouse implementation
// (NewClickHouseQuerier) runs the analyst query pack (analytics/queries/*.sql) and the dashboard's
// own TimeseriesQuery; tests substitute a fake.
type Querier interface {
	Query(ctx context.Context, name string, p analytics.Params) (*analytics.Result, error)
}

// TimeseriesQuery is the name of the dashboard's one query outside the analyst pack (timeseries.sql):
// requests, errors, degraded answers, cost and p50/p95 latency per hour or day. Parameters: since,
// tenant and step (bucket length in seconds, an int).
const TimeseriesQuery = "timeseries"

//go:embed timeseries.sql
var timeseriesSQL string

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

type clickhouseQuerier struct {
	conn     driver.Conn
	database string
}

// NewClickHouseQuerier runs queries on conn in database (the analytics tables and v_* views,
// created by analytics.Migrate). database must be a bare identifier.
func NewClickHouseQuerier(conn driver.Conn, database string) (Querier, error) {
	if conn == nil {
		return nil, fmt.Errorf("dashboard: no ClickHouse connection")
	}
	if database == "" {
		database = analytics.DefaultDatabase
	}
	if !identifier.MatchString(database) {
		return nil, fmt.Errorf("dashboard: database name %q is not an identifier", database)
	}
	return &clickhouseQuerier{conn: conn, database: database}, nil
}

func (q *clickhouseQuerier) Query(ctx context.Context, name string, p analytics.Params) (*analytics.Result, error) {
	if name != TimeseriesQuery {
		return analytics.RunQuery(ctx, q.conn, name, q.database, p)
	}
	sql, err := analytics.BindQuery(strings.ReplaceAll(timeseriesSQL, "${database}", q.database), p)
	if err != nil {
		return nil, fmt.Errorf("dashboard: query %s: %w", name, err)
	}
	rows, err := q.conn.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("dashboard: query %s: %w", name, err)
	}
	defer rows.Close()
	res := &analytics.Result{
		Query:   name,
		Columns: []string{"bucket", "requests", "errors", "degraded", "total_cost_usd", "p50_total_ms", "p95_total_ms"},
		Types:   []string{"DateTime('UTC')", "UInt64", "UInt64", "UInt64", "Float64", "Float64", "Float64"},
	}
	for rows.Next() {
		var (
			bucket                   time.Time
			requests, errs, degraded uint64
			cost, p50, p95           float64
		)
		if err := rows.Scan(&bucket, &requests, &errs, &degraded, &cost, &p50, &p95); err != nil {
			return nil, fmt.Errorf("dashboard: query %s: %w", name, err)
		}
		res.Rows = append(res.Rows, []any{bucket.UTC(), requests, errs, degraded, cost, p50, p95})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dashboard: query %s: %w", name, err)
	}
	return res, nil
}
