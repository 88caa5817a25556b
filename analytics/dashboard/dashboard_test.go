package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/analytics"
)

var testNow = time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC)

// fakeQuerier answers from canned results and records every call.
type fakeQuerier struct {
	mu      sync.Mutex
	results map[string]*analytics.Result
	calls   map[string]int
	params  map[string]analytics.Params
	block   chan struct{} // when set, Query waits for it (or ctx)
	err     error
}

func (f *fakeQuerier) Query(ctx context.Context, name string, p analytics.Params) (*analytics.Result, error) {
	f.mu.Lock()
	f.calls[name]++
	f.params[name] = p
	block, err := f.block, f.err
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	r, ok := f.results[name]
	if !ok {
		return nil, errors.New("no canned result for " + name)
	}
	return r, nil
}

func (f *fakeQuerier) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func day(d int) time.Time { return time.Date(2025, 3, d, 0, 0, 0, 0, time.UTC) }

// newFake returns the pack's results for a small known data set: two tenants, three models.
func newFake() *fakeQuerier {
	res := func(name string, cols, types []string, rows ...[]any) *analytics.Result {
		return &analytics.Result{Query: name, Columns: cols, Types: types, Rows: rows}
	}
	return &fakeQuerier{
		calls:  map[string]int{},
		params: map[string]analytics.Params{},
		results: map[string]*analytics.Result{
			TimeseriesQuery: res(TimeseriesQuery,
				[]string{"bucket", "requests", "errors", "degraded", "total_cost_usd", "p50_total_ms", "p95_total_ms"},
				[]string{"DateTime('UTC')", "UInt64", "UInt64", "UInt64", "Float64", "Float64", "Float64"},
				[]any{testNow.Add(-2 * time.Hour), uint64(4), uint64(1), uint64(0), 1.5, 100.0, 300.0},
				[]any{testNow.Add(-time.Hour), uint64(2), uint64(2), uint64(0), 0.0, math.NaN(), math.NaN()}),
			"cost_by_tenant_day": res("cost_by_tenant_day",
				[]string{"day", "tenant_id", "provider", "model", "requests", "errors", "total_input_tokens", "total_output_tokens", "total_cached_tokens", "total_cost_usd"},
				[]string{"Date", "String", "String", "String", "UInt64", "UInt64", "Int64", "Int64", "Int64", "Float64"},
				[]any{day(4), "acme", "openai", "gpt-4o", uint64(4), uint64(0), int64(4000), int64(500), int64(500), 1.75},
				[]any{day(4), "acme", "anthropic", "claude", uint64(1), uint64(0), int64(2000), int64(400), int64(0), 1.0},
				[]any{day(5), "acme", "anthropic", "claude", uint64(1), uint64(0), int64(500), int64(50), int64(0), 0.125},
				[]any{day(5), "beta", "groq", "llama", uint64(2), uint64(0), int64(900), int64(110), int64(0), 0.09375},
				[]any{day(5), "beta", "openai", "gpt-4o", uint64(1), uint64(1), int64(0), int64(0), int64(0), 0.0}),
			"latency_quantiles": res("latency_quantiles",
				[]string{"provider", "model", "requests", "p50_total_ms", "p95_total_ms", "p99_total_ms", "ttft_requests", "p50_ttft_ms", "p95_ttft_ms", "p99_ttft_ms"},
				[]string{"String", "String", "UInt64", "Float64", "Float64", "Float64", "UInt64", "Float64", "Float64", "Float64"},
				[]any{"anthropic", "claude", uint64(2), 400.0, 400.0, 400.0, uint64(0), math.NaN(), math.NaN(), math.NaN()}),
			"request_outcomes": res("request_outcomes",
				[]string{"provider", "model", "requests", "ok_requests", "degraded_requests", "error_requests", "fallback_requests", "hedged_requests", "cache_hit_requests", "error_rate", "fallback_rate", "hedge_rate"},
				nil,
				[]any{"anthropic", "claude", uint64(2), uint64(1), uint64(1), uint64(0), uint64(1), uint64(0), uint64(0), 0.0, 0.5, 0.0},
				[]any{"openai", "gpt-4o", uint64(5), uint64(4), uint64(0), uint64(1), uint64(0), uint64(1), uint64(1), 0.2, 0.0, 0.2},
				[]any{"groq", "llama", uint64(2), uint64(1), uint64(1), uint64(0), uint64(0), uint64(1), uint64(0), 0.0, 0.0, 0.5}),
			"attempt_outcomes": res("attempt_outcomes",
				[]string{"provider", "model", "attempts", "ok_attempts", "failed_attempts", "hedge_attempts", "retry_attempts", "error_rate", "hedge_rate", "retry_rate"},
				nil,
				[]any{"openai", "gpt-4o", uint64(10), uint64(6), uint64(3), uint64(0), uint64(2), 0.3, 0.0, 0.2},
				[]any{"groq", "llama", uint64(2), uint64(2), uint64(0), uint64(1), uint64(0), 0.0, 0.5, 0.0}),
			"error_kinds": res("error_kinds",
				[]string{"provider", "outcome", "error_code", "kind_attempts", "provider_attempts", "rate"}, nil,
				[]any{"openai", "error", "unavailable", uint64(2), uint64(10), 0.2}),
			"degraded_share": res("degraded_share",
				[]string{"degraded_reason", "degraded_requests", "all_requests", "share"}, nil,
				[]any{"over_budget", uint64(1), uint64(9), 1.0 / 9}),
			"savings_vs_premium": res("savings_vs_premium",
				[]string{"tenant_id", "requests", "actual_cost_usd", "premium_cost_usd", "savings_usd", "savings_share"}, nil,
				[]any{"acme", uint64(6), 2.875, 3.5, 0.625, 0.625 / 3.5},
				[]any{"beta", uint64(3), 0.09375, 0.125, 0.03125, 0.25}),
		},
	}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestHandler(t *testing.T, q Querier, mod func(*Options)) (*Handler, *clock) {
	t.Helper()
	c := &clock{t: testNow}
	o := Options{Querier: q, Now: c.now}
	if mod != nil {
		mod(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h, c
}

func get(t *testing.T, h http.Handler, target string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, body
}

func TestSummaryBreakdownsAndTotals(t *testing.T) {
	fq := newFake()
	h, _ := newTestHandler(t, fq, func(o *Options) {
		o.Premium = &Premium{Model: "claude-sonnet", InputPerMTok: 3, OutputPerMTok: 15}
	})
	code, body := get(t, h, "/api/summary?since=24h&tenant=acme")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var s struct {
		Summary
		Totals struct {
			Totals
			SavingsUSD float64 `json:"savings_usd"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	// The queries got the window, the tenant and the hour bucket (24h ≤ 72h).
	wantSince := testNow.Add(-24 * time.Hour)
	for _, name := range append([]string{TimeseriesQuery, "savings_vs_premium"}, packQueries...) {
		p := fq.params[name]
		if p["since"] != wantSince || p["tenant"] != "acme" {
			t.Errorf("%s params %v: want since %v, tenant acme", name, p, wantSince)
		}
	}
	if fq.params[TimeseriesQuery]["step"] != 3600 || s.Bucket != "hour" {
		t.Errorf("step %v, bucket %q: want 3600, hour", fq.params[TimeseriesQuery]["step"], s.Bucket)
	}
	if got := fq.params["savings_vs_premium"]["premium_cached_input_per_mtok"]; got != 3.0 {
		t.Errorf("cached premium rate %v: want the input rate 3 when the model has none", got)
	}
	if s.Since != "2025-03-04T12:00:00Z" || s.Tenant != "acme" {
		t.Errorf("since %q tenant %q", s.Since, s.Tenant)
	}

	rows := func(tb Table) string { b, _ := json.Marshal(tb.Rows); return string(b) }
	// Sums over days: anthropic 1 + 0.125; openai 1.75 + 0; groq 0.09375; all 2.96875.
	const all = 2.96875
	for _, c := range []struct {
		name string
		got  Table
		want string
	}{
		{"provider", s.CostByProvider, `[["openai",5,1,4000,500,500,1.75,` + js(1.75/all) + `],["anthropic",2,0,2500,450,0,1.125,` + js(1.125/all) + `],["groq",2,0,900,110,0,0.09375,` + js(0.09375/all) + `]]`},
		{"tenant", s.CostByTenant, `[["acme",6,0,6500,950,500,2.875,` + js(2.875/all) + `],["beta",3,1,900,110,0,0.09375,` + js(0.09375/all) + `]]`},
		{"model", s.CostByModel, `[["openai","gpt-4o",5,1,4000,500,500,1.75,` + js(1.75/all) + `],["anthropic","claude",2,0,2500,450,0,1.125,` + js(1.125/all) + `],["groq","llama",2,0,900,110,0,0.09375,` + js(0.09375/all) + `]]`},
	} {
		if got := rows(c.got); got != c.want {
			t.Errorf("cost by %s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	if want := []string{"provider", "model", "requests", "errors", "total_input_tokens", "total_output_tokens", "total_cached_tokens", "total_cost_usd", "cost_share"}; !reflect.DeepEqual(s.CostByModel.Columns, want) {
		t.Errorf("cost by model columns %v", s.CostByModel.Columns)
	}
	// NaN quantiles become null; DateTime an RFC 3339 string.
	if got := rows(s.Latency); got != `[["anthropic","claude",2,400,400,400,0,null,null,null]]` {
		t.Errorf("latency rows %s", got)
	}
	if got := rows(s.Timeseries); got != `[["2025-03-05T10:00:00Z",4,1,0,1.5,100,300],["2025-03-05T11:00:00Z",2,2,0,0,null,null]]` {
		t.Errorf("timeseries rows %s", got)
	}
	tt := s.Totals
	if tt.Requests != 9 || tt.Errors != 1 || tt.Degraded != 2 || tt.Fallbacks != 1 || tt.Hedged != 2 || tt.CacheHits != 1 ||
		tt.CostUSD != all || tt.Attempts != 12 || tt.FailedAttempts != 3 || tt.RetryAttempts != 2 || tt.SavingsUSD != 0.65625 {
		t.Errorf("totals %+v", tt)
	}
	if tt.ErrorRate != 1.0/9 || tt.DegradedShare != 2.0/9 || tt.HedgeRate != 2.0/9 || tt.AttemptErrorRate != 0.25 || tt.RetryRate != 2.0/12 {
		t.Errorf("rates %+v", tt)
	}
	if s.Savings == nil || len(s.Savings.Rows) != 2 || s.Premium == nil || s.Premium.Model != "claude-sonnet" {
		t.Errorf("savings %+v premium %+v", s.Savings, s.Premium)
	}
}

func js(f float64) string { b, _ := json.Marshal(f); return string(b) }

func TestSummaryWithoutPremiumSkipsSavings(t *testing.T) {
	fq := newFake()
	h, _ := newTestHandler(t, fq, nil)
	code, body := get(t, h, "/api/summary?since=7d&bucket=auto")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var s map[string]any
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	if s["savings"] != nil || s["totals"].(map[string]any)["savings_usd"] != nil {
		t.Errorf("savings without a premium model: %v / %v", s["savings"], s["totals"].(map[string]any)["savings_usd"])
	}
	if fq.count("savings_vs_premium") != 0 {
		t.Error("savings_vs_premium ran without a premium model")
	}
	// 7 days > 72h: day buckets.
	if s["bucket"] != "day" || fq.params[TimeseriesQuery]["step"] != 86400 {
		t.Errorf("bucket %v step %v: want day, 86400", s["bucket"], fq.params[TimeseriesQuery]["step"])
	}
	if fq.params[TimeseriesQuery]["tenant"] != "" {
		t.Errorf("tenant %q: want '' (every tenant)", fq.params[TimeseriesQuery]["tenant"])
	}
}

func TestBadParametersAre400(t *testing.T) {
	fq := newFake()
	h, _ := newTestHandler(t, fq, nil)
	for _, c := range []struct{ query, wantErr string }{
		{"since=yesterday", "not a duration"},
		{"since=-1h", "must be > 0"},
		{"since=0s", "must be > 0"},
		{"since=0d", "not a duration"},
		{"since=401d", "more than 400 days"},
		{"since=10000h", "more than 400 days"},
		{"since=2025-03-06T00:00:00Z", "in the future"},
		{"since=2020-01-01T00:00:00Z", "more than 400 days ago"},
		{"bucket=week", "is not minute, hour, day or auto"},
		{"since=2d&bucket=minute", "more than 1500"},
		{"since=90d&bucket=hour", "more than 1500"},
		{"tenant=" + strings.Repeat("a", 129), "longer than 128"},
		{"tenant=a%00b", "non-printable"},
		{"tennant=acme", `unknown parameter "tennant"`},
		{"since=1h&since=2h", "given 2 times"},
	} {
		for _, path := range []string{"/api/summary", "/api/timeseries", "/api/queries/latency_quantiles"} {
			code, body := get(t, h, path+"?"+c.query)
			var e errorBody
			if code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, c.wantErr) {
				t.Errorf("%s?%s: %d %s; want 400 with an error containing %q", path, c.query, code, body, c.wantErr)
			}
		}
	}
	if n := len(fq.calls); n != 0 {
		t.Errorf("invalid requests ran %d queries", n)
	}
	// The accepted forms.
	if code, body := get(t, h, "/api/timeseries"); code != http.StatusOK || fq.params[TimeseriesQuery]["since"] != testNow.Add(-24*time.Hour) {
		t.Errorf("no parameters: %d %s, since %v; want the last 24h", code, body, fq.params[TimeseriesQuery]["since"])
	}
	for _, q := range []string{"since=90m", "since=7d", "since=2025-03-05T00:00:00Z", "tenant=acme&bucket=day", "bucket=minute", "since=400d&bucket=day", "bucket=hour"} {
		if code, body := get(t, h, "/api/timeseries?"+q); code != http.StatusOK {
			t.Errorf("?%s: %d %s", q, code, body)
		}
	}
}

func TestCacheRunsEachQueryOncePerTTL(t *testing.T) {
	fq := newFake()
	fq.block = make(chan struct{})
	h, clk := newTestHandler(t, fq, func(o *Options) { o.CacheTTL = 2 * time.Second })
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 20 {
		wg.Go(func() {
			if code, _ := get(t, h, "/api/summary?since=6h"); code == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	// Every request waits on the one computation; let it finish once they are all queued.
	deadline := time.Now().Add(5 * time.Second)
	for fq.count(TimeseriesQuery) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(fq.block)
	wg.Wait()
	if ok.Load() != 20 {
		t.Fatalf("%d of 20 requests succeeded", ok.Load())
	}
	if n := fq.count("cost_by_tenant_day"); n != 1 {
		t.Errorf("20 concurrent requests ran cost_by_tenant_day %d times: want 1", n)
	}
	get(t, h, "/api/summary?since=6h")
	clk.add(1999 * time.Millisecond)
	get(t, h, "/api/summary?since=6h")
	if n := fq.count("cost_by_tenant_day"); n != 1 {
		t.Errorf("within the TTL: %d runs, want 1", n)
	}
	get(t, h, "/api/summary?since=6h&tenant=acme") // other parameters: another entry
	if n := fq.count("cost_by_tenant_day"); n != 2 {
		t.Errorf("other parameters: %d runs, want 2", n)
	}
	clk.add(time.Millisecond)
	get(t, h, "/api/summary?since=6h")
	if n := fq.count("cost_by_tenant_day"); n != 3 {
		t.Errorf("after the TTL: %d runs, want 3", n)
	}
}

func TestQueryFailuresAreNotCached(t *testing.T) {
	fq := newFake()
	fq.err = errors.New("code: 81, message: Database switchyard doesn't exist")
	h, _ := newTestHandler(t, fq, nil)
	code, body := get(t, h, "/api/summary")
	var e errorBody
	if code != http.StatusBadGateway || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "doesn't exist") {
		t.Fatalf("%d %s: want 502 with the server's error", code, body)
	}
	fq.mu.Lock()
	fq.err = nil
	fq.mu.Unlock()
	if code, body := get(t, h, "/api/summary"); code != http.StatusOK {
		t.Fatalf("after recovery: %d %s (an error was cached)", code, body)
	}
}

func TestQueryTimeoutIs504(t *testing.T) {
	fq := newFake()
	fq.block = make(chan struct{}) // never closed: every query runs into its timeout
	h, _ := newTestHandler(t, fq, func(o *Options) { o.QueryTimeout = 50 * time.Millisecond })
	start := time.Now()
	code, body := get(t, h, "/api/queries/error_kinds")
	if code != http.StatusGatewayTimeout || !strings.Contains(string(body), "deadline exceeded") {
		t.Errorf("%d %s: want 504", code, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timed-out request took %s", d)
	}
}

func TestQueryEndpoint(t *testing.T) {
	fq := newFake()
	h, _ := newTestHandler(t, fq, nil)
	code, body := get(t, h, "/api/queries/degraded_share?since=1h&tenant=beta")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var tb Table
	if err := json.Unmarshal(body, &tb); err != nil {
		t.Fatal(err)
	}
	if want := `{"columns":["degraded_reason","degraded_requests","all_requests","share"],"rows":[["over_budget",1,9,` + js(1.0/9) + `]]}`; string(body) != want {
		t.Errorf("got %s\nwant %s", body, want)
	}
	if p := fq.params["degraded_share"]; p["tenant"] != "beta" || p["since"] != testNow.Add(-time.Hour) {
		t.Errorf("params %v", p)
	}
	for _, name := range []string{"savings_vs_premium", "budget_burn", "cost_by_provider", "nope"} {
		if code, body := get(t, h, "/api/queries/"+name); code != http.StatusNotFound {
			t.Errorf("%s: %d %s, want 404", name, code, body)
		}
	}
	code, body = get(t, h, "/api/queries")
	if code != http.StatusOK || string(body) != `{"queries":["timeseries","cost_by_tenant_day","latency_quantiles","request_outcomes","attempt_outcomes","error_kinds","degraded_share"]}` {
		t.Errorf("list: %d %s", code, body)
	}
	if code, _ := get(t, h, "/api/nothing"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
}

func TestPageAndAssetsAreSelfContained(t *testing.T) {
	h, _ := newTestHandler(t, newFake(), func(o *Options) { o.RefreshInterval = 3 * time.Second })
	code, page := get(t, h, "/")
	if code != http.StatusOK || !strings.Contains(string(page), `data-refresh-ms="3000"`) || !strings.Contains(string(page), `<div id="error" role="alert"></div>`) {
		t.Fatalf("index: %d\n%s", code, page)
	}
	for _, asset := range []string{"/static/app.js", "/static/style.css"} {
		if code, body := get(t, h, asset); code != http.StatusOK || len(body) < 500 {
			t.Errorf("%s: %d, %d bytes", asset, code, len(body))
		}
	}
	// Offline: no asset refers to another origin.
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := staticFS.ReadFile(path)
		for _, ref := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(string(b), ref) {
				t.Errorf("%s refers to %q: the page must load nothing from elsewhere", path, ref)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAutoBucket(t *testing.T) {
	for since, want := range map[string]string{"1h": "minute", "3h": "minute", "6h": "hour", "72h": "hour", "7d": "day"} {
		f, err := parseFilters(url.Values{"since": {since}}, testNow)
		if err != nil || f.bucket != want {
			t.Errorf("since=%s: bucket %q (%v), want %s", since, f.bucket, err, want)
		}
	}
}

func TestParseSinceForms(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"90m", testNow.Add(-90 * time.Minute)},
		{"24h", testNow.Add(-24 * time.Hour)},
		{"7d", testNow.AddDate(0, 0, -7)},
		{"2025-03-05T01:02:03+01:00", time.Date(2025, 3, 5, 0, 2, 3, 0, time.UTC)},
	} {
		f, err := parseFilters(url.Values{"since": {c.in}}, testNow)
		if err != nil || !f.since.Equal(c.want) || f.since.Location() != time.UTC {
			t.Errorf("since=%s: %v %v, want %v", c.in, f.since, err, c.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "Querier is required") {
		t.Errorf("no querier: %v", err)
	}
	if _, err := New(Options{Querier: newFake(), QueryTimeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
	if _, err := NewClickHouseQuerier(nil, "x"); err == nil {
		t.Error("nil connection accepted")
	}
}
