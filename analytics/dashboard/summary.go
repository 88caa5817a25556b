package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/switchyard-llm/switchyard/analytics"
)

// Table is a query result in JSON: column names and rows of JSON values (NaN and infinities
// become null, DateTime an RFC 3339 UTC string, Date "2006-01-02").
type Table struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// Totals are the headline figures of the window.
type Totals struct {
	Requests         uint64   `json:"requests"`
	Errors           uint64   `json:"errors"`
	Degraded         uint64   `json:"degraded"`
	Fallbacks        uint64   `json:"fallbacks"`
	Hedged           uint64   `json:"hedged"`
	CacheHits        uint64   `json:"cache_hits"`
	CostUSD          float64  `json:"cost_usd"`
	ErrorRate        float64  `json:"error_rate"`
	DegradedShare    float64  `json:"degraded_share"`
	FallbackRate     float64  `json:"fallback_rate"`
	HedgeRate        float64  `json:"hedge_rate"`
	Attempts         uint64   `json:"attempts"`
	FailedAttempts   uint64   `json:"failed_attempts"`
	RetryAttempts    uint64   `json:"retry_attempts"`
	AttemptErrorRate float64  `json:"attempt_error_rate"`
	RetryRate        float64  `json:"retry_rate"`
	SavingsUSD       *float64 `json:"savings_usd"` // nil without a premium model
}

// Summary is everything the page shows, from one request.
type Summary struct {
	GeneratedAt     string   `json:"generated_at"`
	Since           string   `json:"since"`
	Tenant          string   `json:"tenant"`
	Bucket          string   `json:"bucket"`
	Totals          Totals   `json:"totals"`
	Timeseries      Table    `json:"timeseries"`
	CostByTenant    Table    `json:"cost_by_tenant"`
	CostByProvider  Table    `json:"cost_by_provider"`
	CostByModel     Table    `json:"cost_by_model"`
	Latency         Table    `json:"latency"`
	RequestOutcomes Table    `json:"request_outcomes"`
	AttemptOutcomes Table    `json:"attempt_outcomes"`
	ErrorKinds      Table    `json:"error_kinds"`
	Degraded        Table    `json:"degraded"`
	Savings         *Table   `json:"savings"` // nil without a premium model
	Premium         *Premium `json:"premium"`
}

// packQueries are the analyst queries the endpoints run with just since and tenant.
var packQueries = []string{"cost_by_tenant_day", "latency_quantiles", "request_outcomes", "attempt_outcomes", "error_kinds", "degraded_share"}

// params returns the parameters of query name for filters f, or false when the dashboard cannot
// run it (savings without a premium model; the pack's budget and all-time queries).
func (h *Handler) params(name string, f filters) (analytics.Params, bool) {
	p := analytics.Params{"since": f.since, "tenant": f.tenant}
	switch {
	case name == TimeseriesQuery:
		p["step"] = f.step()
	case name == "savings_vs_premium":
		if h.o.Premium == nil {
			return nil, false
		}
		cached := h.o.Premium.CachedInputPerMTok
		if cached == 0 {
			cached = h.o.Premium.InputPerMTok
		}
		p["premium_input_per_mtok"], p["premium_cached_input_per_mtok"], p["premium_output_per_mtok"] = h.o.Premium.InputPerMTok, cached, h.o.Premium.OutputPerMTok
	case !slices.Contains(packQueries, name):
		return nil, false
	}
	return p, true
}

// queryNames lists what /api/queries/{name} runs.
func (h *Handler) queryNames() []string {
	names := append([]string{TimeseriesQuery}, packQueries...)
	if h.o.Premium != nil {
		names = append(names, "savings_vs_premium")
	}
	return names
}

func (h *Handler) queryList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"queries": h.queryNames()})
}

// query serves one query's result as a Table.
func (h *Handler) query(ctx context.Context, f filters, r *http.Request) (any, error) {
	name := r.PathValue("name")
	p, ok := h.params(name, f)
	if !ok {
		return nil, fmt.Errorf("query %q (queries: %v): %w", name, h.queryNames(), errNotFound)
	}
	res, err := h.run(ctx, name, p)
	if err != nil {
		return nil, err
	}
	return toTable(res), nil
}

func (h *Handler) timeseries(ctx context.Context, f filters, _ *http.Request) (any, error) {
	p, _ := h.params(TimeseriesQuery, f)
	res, err := h.run(ctx, TimeseriesQuery, p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"since": f.since.Format(time.RFC3339), "bucket": f.bucket, "series": toTable(res)}, nil
}

// summary runs every query of the page (concurrently, within the handler's bound) and derives
// the breakdowns and totals.
func (h *Handler) summary(ctx context.Context, f filters, _ *http.Request) (any, error) {
	names := []string{TimeseriesQuery}
	names = append(names, packQueries...)
	if h.o.Premium != nil {
		names = append(names, "savings_vs_premium")
	}
	results := make([]*analytics.Result, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		p, _ := h.params(name, f)
		wg.Go(func() { results[i], errs[i] = h.run(ctx, name, p) })
	}
	wg.Wait()
	res := map[string]*analytics.Result{}
	for i, name := range names {
		if errs[i] != nil {
			return nil, errs[i]
		}
		res[name] = results[i]
	}
	s := &Summary{
		GeneratedAt:     h.o.Now().UTC().Format(time.RFC3339),
		Since:           f.since.Format(time.RFC3339),
		Tenant:          f.tenant,
		Bucket:          f.bucket,
		Timeseries:      toTable(res[TimeseriesQuery]),
		Latency:         toTable(res["latency_quantiles"]),
		RequestOutcomes: toTable(res["request_outcomes"]),
		AttemptOutcomes: toTable(res["attempt_outcomes"]),
		ErrorKinds:      toTable(res["error_kinds"]),
		Degraded:        toTable(res["degraded_share"]),
		Premium:         h.o.Premium,
	}
	cost := res["cost_by_tenant_day"]
	s.CostByTenant = breakdown(cost, "tenant_id")
	s.CostByProvider = breakdown(cost, "provider")
	s.CostByModel = breakdown(cost, "provider", "model")
	s.Totals = totals(cost, res["request_outcomes"], res["attempt_outcomes"])
	if sv, ok := res["savings_vs_premium"]; ok {
		t := toTable(sv)
		s.Savings = &t
		var saved float64
		for _, v := range column(sv, "savings_usd") {
			saved += num(v)
		}
		s.Totals.SavingsUSD = &saved
	}
	return s, nil
}

// breakdown sums cost_by_tenant_day's rows by the key columns: requests, errors, tokens and cost,
// plus each group's share of the cost; most expensive first.
func breakdown(r *analytics.Result, keys ...string) Table {
	sums := []string{"requests", "errors", "total_input_tokens", "total_output_tokens", "total_cached_tokens", "total_cost_usd"}
	type group struct {
		key  []string
		vals []float64
	}
	var groups []*group
	index := map[string]*group{}
	var all float64
	for _, row := range r.Rows {
		var key []string
		for _, k := range keys {
			key = append(key, fmt.Sprint(row[colIndex(r, k)]))
		}
		id := fmt.Sprint(key)
		g := index[id]
		if g == nil {
			g = &group{key: key, vals: make([]float64, len(sums))}
			index[id] = g
			groups = append(groups, g)
		}
		for i, c := range sums {
			g.vals[i] += num(row[colIndex(r, c)])
		}
		all += num(row[colIndex(r, "total_cost_usd")])
	}
	slices.SortStableFunc(groups, func(a, b *group) int {
		if c := cmp.Compare(b.vals[len(sums)-1], a.vals[len(sums)-1]); c != 0 {
			return c
		}
		return slices.Compare(a.key, b.key)
	})
	t := Table{Columns: append(append(slices.Clone(keys), sums...), "cost_share"), Rows: [][]any{}}
	for _, g := range groups {
		row := make([]any, 0, len(t.Columns))
		for _, k := range g.key {
			row = append(row, k)
		}
		for i, c := range sums {
			if c == "total_cost_usd" {
				row = append(row, jsonValue(g.vals[i], "Float64"))
			} else {
				row = append(row, int64(g.vals[i]))
			}
		}
		share := 0.0
		if all > 0 {
			share = g.vals[len(sums)-1] / all
		}
		t.Rows = append(t.Rows, append(row, share))
	}
	return t
}

func totals(cost, outcomes, attempts *analytics.Result) Totals {
	var t Totals
	for _, v := range column(cost, "total_cost_usd") {
		t.CostUSD += num(v)
	}
	sum := func(r *analytics.Result, c string) uint64 {
		var n uint64
		for _, v := range column(r, c) {
			n += uint64(num(v))
		}
		return n
	}
	t.Requests, t.Errors, t.Degraded = sum(outcomes, "requests"), sum(outcomes, "error_requests"), sum(outcomes, "degraded_requests")
	t.Fallbacks, t.Hedged, t.CacheHits = sum(outcomes, "fallback_requests"), sum(outcomes, "hedged_requests"), sum(outcomes, "cache_hit_requests")
	t.Attempts, t.FailedAttempts, t.RetryAttempts = sum(attempts, "attempts"), sum(attempts, "failed_attempts"), sum(attempts, "retry_attempts")
	ratio := func(a, b uint64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	t.ErrorRate, t.DegradedShare = ratio(t.Errors, t.Requests), ratio(t.Degraded, t.Requests)
	t.FallbackRate, t.HedgeRate = ratio(t.Fallbacks, t.Requests), ratio(t.Hedged, t.Requests)
	t.AttemptErrorRate, t.RetryRate = ratio(t.FailedAttempts, t.Attempts), ratio(t.RetryAttempts, t.Attempts)
	return t
}

func colIndex(r *analytics.Result, name string) int {
	return slices.Index(r.Columns, name)
}

// column returns the values of column name (none when the result lacks it).
func column(r *analytics.Result, name string) []any {
	i := colIndex(r, name)
	if i < 0 {
		return nil
	}
	out := make([]any, len(r.Rows))
	for j, row := range r.Rows {
		out[j] = row[i]
	}
	return out
}

// num converts a numeric result value to float64 (0 for anything else).
func num(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	case uint64:
		return float64(v)
	case uint32:
		return float64(v)
	case uint16:
		return float64(v)
	case uint8:
		return float64(v)
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	case int:
		return float64(v)
	}
	return 0
}

func toTable(r *analytics.Result) Table {
	t := Table{Columns: r.Columns, Rows: make([][]any, 0, len(r.Rows))}
	if t.Columns == nil {
		t.Columns = []string{}
	}
	for _, row := range r.Rows {
		out := make([]any, len(row))
		for i, v := range row {
			typ := ""
			if i < len(r.Types) {
				typ = r.Types[i]
			}
			out[i] = jsonValue(v, typ)
		}
		t.Rows = append(t.Rows, out)
	}
	return t
}

// jsonValue makes v encodable and unambiguous in JSON.
func jsonValue(v any, typ string) any {
	switch v := v.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
	case float32:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil
		}
	case time.Time:
		if typ == "Date" {
			return v.UTC().Format("2006-01-02")
		}
		return v.UTC().Format(time.RFC3339)
	}
	return v
}
