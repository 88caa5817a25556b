package analytics

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// The query pack is checked on seeded data with hand-computed results, on the ClickHouse server
// (TestQueryPackOnServer) and through chdb on the current engine (TestSQLOnCurrentClickHouse): the
// same bound SQL text, the same rows, the same expected strings (FormatValue).

var (
	packDay1  = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	packDay2  = time.Date(2025, 3, 5, 10, 0, 0, 0, time.UTC)
	packSince = time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)
)

type packAttempt struct {
	provider, model, outcome, code string
	hop                            int32
	hedge                          bool
}

// packResponses is the seeded data: nine requests from 2025-03-04 on, and one older request (r0,
// expensive) that ${since} must exclude. Costs are sums of powers of two, so float sums are exact.
func packResponses() []schemas.Response {
	type req struct {
		id, tenant, provider, model, status, degraded, errCode string
		day                                                    time.Time
		cost                                                   float64
		in, out, cached                                        int64
		total, ttft                                            float64
		fallback                                               int32
		hedged, cache                                          bool
		attempts                                               []packAttempt
	}
	ok := func(p, m string) packAttempt { return packAttempt{provider: p, model: m, outcome: "ok"} }
	reqs := []req{
		{id: "r0", tenant: "acme", provider: "openai", model: "gpt-4o", status: "ok", day: packDay1.AddDate(0, 0, -2), cost: 8,
			in: 99, out: 99, total: 9999, ttft: 9999, attempts: []packAttempt{ok("openai", "gpt-4o")}},
		{id: "r1", tenant: "acme", provider: "openai", model: "gpt-4o", status: "ok", day: packDay1, cost: 0.5,
			in: 1000, out: 200, total: 100, ttft: 10, attempts: []packAttempt{ok("openai", "gpt-4o")}},
		{id: "r2", tenant: "acme", provider: "openai", model: "gpt-4o", status: "ok", day: packDay1, cost: 0.25,
			in: 1000, out: 100, cached: 500, total: 200, ttft: 20,
			attempts: []packAttempt{{"openai", "gpt-4o", "error", "rate_limited", 0, false}, ok("openai", "gpt-4o")}},
		{id: "r3", tenant: "acme", provider: "anthropic", model: "claude", status: "ok", day: packDay1, cost: 1,
			in: 2000, out: 400, total: 300, ttft: 30, fallback: 1,
			attempts: []packAttempt{{"openai", "gpt-4o", "timeout", "first_token_timeout", 0, false}, {"anthropic", "claude", "ok", "", 1, false}}},
		{id: "r4", tenant: "acme", provider: "anthropic", model: "claude", status: "degraded", degraded: "primary_unhealthy", day: packDay2,
			cost: 0.125, in: 500, out: 50, total: 400, attempts: []packAttempt{ok("anthropic", "claude")}},
		{id: "r5", tenant: "beta", provider: "openai", model: "gpt-4o", status: "error", errCode: "unavailable", day: packDay2, total: 50,
			attempts: []packAttempt{{"openai", "gpt-4o", "error", "unavailable", 0, false}, {"openai", "gpt-4o", "error", "unavailable", 0, false}}},
		{id: "r6", tenant: "beta", provider: "groq", model: "llama", status: "ok", day: packDay2, cost: 0.0625,
			in: 800, out: 100, total: 500, ttft: 40, hedged: true,
			attempts: []packAttempt{{"openai", "gpt-4o", "cancelled", "", 0, false}, {"groq", "llama", "ok", "", 0, true}}},
		{id: "r7", tenant: "beta", provider: "groq", model: "llama", status: "degraded", degraded: "over_budget", day: packDay2,
			cost: 0.03125, in: 100, out: 10, total: 600, ttft: 50, attempts: []packAttempt{ok("groq", "llama")}},
		{id: "r8", tenant: "acme", provider: "openai", model: "gpt-4o", status: "ok", day: packDay1, cost: 0.5,
			in: 1000, out: 100, total: 700, ttft: 70, cache: true, attempts: []packAttempt{ok("openai", "gpt-4o")}},
		{id: "r9", tenant: "acme", provider: "openai", model: "gpt-4o", status: "ok", day: packDay1, cost: 0.5,
			in: 1000, out: 100, total: 800, attempts: []packAttempt{ok("openai", "gpt-4o")}},
	}
	var out []schemas.Response
	for i, r := range reqs {
		created := r.day.Add(time.Duration(i) * time.Second)
		resp := schemas.Response{
			RequestID: r.id, TenantID: r.tenant, UserID: "u", TaskType: "chat", Priority: "interactive",
			Status: r.status, Provider: r.provider, Model: r.model, Content: "answer " + r.id,
			Usage:   schemas.Usage{InputTokens: r.in, OutputTokens: r.out, CachedTokens: r.cached},
			CostUSD: r.cost, Latency: schemas.Latency{QueueMS: 1, TTFTMS: r.ttft, TotalMS: r.total},
			FallbackDepth: r.fallback, Hedged: r.hedged, CacheHit: r.cache, DegradedReason: r.degraded,
			CreatedAt: created.UnixMilli(), CompletedAt: created.UnixMilli() + int64(r.total),
		}
		if r.errCode != "" {
			resp.Error = &schemas.ErrorInfo{Code: r.errCode}
		}
		for j, a := range r.attempts {
			resp.Attempts = append(resp.Attempts, schemas.Attempt{
				AttemptID: fmt.Sprintf("%s-a%d", r.id, j), Provider: a.provider, Model: a.model, Outcome: a.outcome,
				ErrorCode: a.code, StartedAt: created.UnixMicro() + int64(j), DurationMS: 1, Hop: a.hop, Hedge: a.hedge,
			})
		}
		out = append(out, resp)
	}
	return out
}

type packCase struct {
	name, query string
	params      Params
	want        [][]string
}

func packCases() []packCase {
	all := Params{"since": packSince, "tenant": ""}
	with := func(extra Params) Params {
		p := Params{"since": packSince, "tenant": ""}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	// Runtime float arithmetic, in the order the SQL evaluates it.
	div := func(a, b float64) string { return FormatValue(a / b) }
	premium := func(in, cached, out float64) float64 { return (in*500 + cached*250 + out*2000) / 1000000 }
	acmePremium, betaPremium := premium(6000, 500, 950), premium(900, 0, 110)
	acmeActual, betaActual := 2.875, 0.09375
	return []packCase{
		{"cost_by_tenant_day", "cost_by_tenant_day", all, [][]string{
			{"2025-03-04", "acme", "openai", "gpt-4o", "4", "0", "4000", "500", "500", "1.75"},
			{"2025-03-04", "acme", "anthropic", "claude", "1", "0", "2000", "400", "0", "1"},
			{"2025-03-05", "acme", "anthropic", "claude", "1", "0", "500", "50", "0", "0.125"},
			{"2025-03-05", "beta", "groq", "llama", "2", "0", "900", "110", "0", "0.09375"},
			{"2025-03-05", "beta", "openai", "gpt-4o", "1", "1", "0", "0", "0", "0"},
		}},
		{"cost_by_tenant_day@beta", "cost_by_tenant_day", Params{"since": packSince, "tenant": "beta"}, [][]string{
			{"2025-03-05", "beta", "groq", "llama", "2", "0", "900", "110", "0", "0.09375"},
			{"2025-03-05", "beta", "openai", "gpt-4o", "1", "1", "0", "0", "0", "0"},
		}},
		{"latency_quantiles", "latency_quantiles", all, [][]string{
			{"anthropic", "claude", "2", "400", "400", "400", "1", "30", "30", "30"},
			{"groq", "llama", "2", "600", "600", "600", "2", "50", "50", "50"},
			{"openai", "gpt-4o", "4", "700", "800", "800", "3", "20", "70", "70"},
		}},
		{"request_outcomes", "request_outcomes", all, [][]string{
			{"anthropic", "claude", "2", "1", "1", "0", "1", "0", "0", "0", "0.5", "0"},
			{"groq", "llama", "2", "1", "1", "0", "0", "1", "0", "0", "0", "0.5"},
			{"openai", "gpt-4o", "5", "4", "0", "1", "0", "0", "1", "0.2", "0", "0"},
		}},
		{"attempt_outcomes", "attempt_outcomes", all, [][]string{
			{"anthropic", "claude", "2", "2", "0", "0", "0", "0", "0", "0"},
			{"groq", "llama", "2", "2", "0", "1", "0", "0", "0.5", "0"},
			{"openai", "gpt-4o", "9", "4", "4", "0", "2", div(4, 9), "0", div(2, 9)},
		}},
		{"error_kinds", "error_kinds", all, [][]string{
			{"openai", "error", "unavailable", "2", "9", div(2, 9)},
			{"openai", "error", "rate_limited", "1", "9", div(1, 9)},
			{"openai", "timeout", "first_token_timeout", "1", "9", div(1, 9)},
		}},
		{"degraded_share", "degraded_share", all, [][]string{
			{"over_budget", "1", "9", div(1, 9)},
			{"primary_unhealthy", "1", "9", div(1, 9)},
		}},
		{"budget_burn", "budget_burn", with(Params{"budget_tenants": []string{"acme"}, "budget_daily_usd": []float64{2}, "default_daily_usd": 0.0625}), [][]string{
			{"2025-03-04", "acme", "5", "2.75", "2", "1.375", "1"},
			{"2025-03-05", "acme", "1", "0.125", "2", "0.0625", "0"},
			{"2025-03-05", "beta", "3", "0.09375", "0.0625", "1.5", "1"},
		}},
		{"budget_burn@nobudgets", "budget_burn", with(Params{"budget_tenants": []string{}, "budget_daily_usd": []float64{}, "default_daily_usd": 0.0}), [][]string{
			{"2025-03-04", "acme", "5", "2.75", "0", "0", "0"},
			{"2025-03-05", "acme", "1", "0.125", "0", "0", "0"},
			{"2025-03-05", "beta", "3", "0.09375", "0", "0", "0"},
		}},
		{"savings_vs_premium", "savings_vs_premium", with(Params{"premium_input_per_mtok": 500.0, "premium_cached_input_per_mtok": 250.0, "premium_output_per_mtok": 2000.0}), [][]string{
			{"acme", "6", "2.875", FormatValue(acmePremium), FormatValue(acmePremium - acmeActual), div(acmePremium-acmeActual, acmePremium)},
			{"beta", "3", "0.09375", FormatValue(betaPremium), FormatValue(betaPremium - betaActual), div(betaPremium-betaActual, betaPremium)},
		}},
	}
}

// packInserts renders the seeded rows as INSERT statements (for chdb), each table twice: the
// pack must read deduplicated data.
func packInserts(t *testing.T) []string {
	t.Helper()
	var req []RequestRow
	var att []AttemptRow
	for _, r := range packResponses() {
		req = append(req, NewRequestRow(r))
		att = append(att, NewAttemptRows(r)...)
	}
	render := func(table string, cols []string, rows [][]any) string {
		var tuples []string
		for _, row := range rows {
			lits := make([]string, len(row))
			for i, v := range row {
				switch x := v.(type) {
				case uint8:
					v = uint64(x)
				case uint32:
					v = uint64(x)
				case int32:
					v = int64(x)
				}
				lit, err := sqlLiteral(v)
				if err != nil {
					t.Fatalf("%s: %v", table, err)
				}
				lits[i] = lit
			}
			tuples = append(tuples, "("+strings.Join(lits, ", ")+")")
		}
		return fmt.Sprintf("INSERT INTO ${database}.%s (%s) VALUES %s", table, strings.Join(cols, ", "), strings.Join(tuples, ", "))
	}
	var reqVals, attVals [][]any
	for i := range req {
		reqVals = append(reqVals, req[i].values())
	}
	for i := range att {
		attVals = append(attVals, att[i].values())
	}
	r, a := render("llm_requests", requestColumns, reqVals), render("llm_attempts", attemptColumns, attVals)
	return []string{r, a, r, a}
}

// boundPackQueries returns each case's SQL with its parameters bound and ${database} in place.
func boundPackQueries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range packCases() {
		body, err := queryFS.ReadFile("queries/" + c.query + ".sql")
		if err != nil {
			t.Fatal(err)
		}
		stmts := SplitStatements(string(body))
		q, err := BindQuery(stmts[0], c.params)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		out[c.name] = q
	}
	return out
}

func TestQueryPackOnServer(t *testing.T) {
	conn, db := migrated(t)
	ctx := context.Background()
	var req []RequestRow
	var att []AttemptRow
	for _, r := range packResponses() {
		req = append(req, NewRequestRow(r))
		att = append(att, NewAttemptRows(r)...)
	}
	for range 2 { // a re-delivery: every row twice
		if err := insertRows(ctx, conn, fmt.Sprintf("INSERT INTO %s.llm_requests (%s)", db, strings.Join(requestColumns, ", ")), req); err != nil {
			t.Fatal(err)
		}
		if err := insertRows(ctx, conn, fmt.Sprintf("INSERT INTO %s.llm_attempts (%s)", db, strings.Join(attemptColumns, ", ")), att); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range packCases() {
		res, err := RunQuery(ctx, conn, c.query, db, c.params)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := res.Strings(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s on %s:\n got %q\nwant %q", c.name, shared.version, got, c.want)
		}
	}
}

// TestQueryPackDeclaresParams: every query's "-- params:" line names exactly the placeholders its
// SQL uses, and every query of the pack has a test case.
func TestQueryPackDeclaresParams(t *testing.T) {
	tested := map[string]bool{}
	for _, c := range packCases() {
		tested[c.query] = true
	}
	for _, name := range QueryNames() {
		declared, err := QueryParams(name)
		if err != nil {
			t.Fatal(err)
		}
		q, err := AnalystQuery(name, "db")
		if err != nil {
			t.Fatal(err)
		}
		used := map[string]bool{}
		for _, m := range placeholder.FindAllStringSubmatch(q, -1) {
			used[m[1]] = true
		}
		decl := map[string]bool{}
		for _, p := range declared {
			decl[p] = true
		}
		if !reflect.DeepEqual(used, decl) && (len(used) > 0 || len(decl) > 0) {
			t.Errorf("%s: declares %v, uses %v", name, declared, used)
		}
		if len(declared) > 0 && !tested[name] {
			t.Errorf("%s: no case in packCases", name)
		}
	}
}

func TestBindQuery(t *testing.T) {
	got, err := BindQuery("SELECT ${a}, ${b}, ${c}, ${d}, ${e}, ${database}.t WHERE x = ${a}", Params{
		"a": `it's \ ok`, "b": time.Unix(1700000000, 0), "c": -1.5, "d": []string{"x", "y'"}, "e": []float64{},
	})
	want := `SELECT 'it\'s \\ ok', toDateTime(1700000000, 'UTC'), (-1.5), ['x', 'y\''], [], ${database}.t WHERE x = 'it\'s \\ ok'`
	if err != nil || got != want {
		t.Fatalf("got %q, %v\nwant %q", got, err, want)
	}
	if _, err := BindQuery("SELECT ${a}", Params{"b": 1}); err == nil || !strings.Contains(err.Error(), "no value for ${a}") ||
		!strings.Contains(err.Error(), `"b" is not used`) {
		t.Errorf("missing and unused parameters: %v", err)
	}
}
