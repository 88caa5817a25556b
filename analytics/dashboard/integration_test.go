package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/switchyard-llm/switchyard/analytics"
)

// The integration tests run against the real ClickHouse named by SWITCHYARD_CLICKHOUSE_TEST_ADDR
// (or SWITCHYARD_CLICKHOUSE_ADDR), each in its own database, and render the page in headless
// Chromium. Without them they skip; with SWITCHYARD_REQUIRE_SERVICES=1 (make test) they fail.

var updatePNG = flag.Bool("update-dashboard-png", false, "write docs/dashboard.png from the headless Chromium run of TestDashboardInChromium")

func requireServices() bool { return os.Getenv("SWITCHYARD_REQUIRE_SERVICES") == "1" }

var shared struct {
	once sync.Once
	conn driver.Conn
	err  error
}

func clickhouseConn(t *testing.T) driver.Conn {
	t.Helper()
	addr := os.Getenv("SWITCHYARD_CLICKHOUSE_TEST_ADDR")
	if addr == "" {
		addr = os.Getenv("SWITCHYARD_CLICKHOUSE_ADDR")
	}
	if addr == "" {
		if requireServices() {
			t.Fatal("SWITCHYARD_REQUIRE_SERVICES=1 but SWITCHYARD_CLICKHOUSE_TEST_ADDR is unset")
		}
		t.Skip("set SWITCHYARD_CLICKHOUSE_TEST_ADDR (e.g. 127.0.0.1:9000) to run the dashboard against ClickHouse")
	}
	shared.once.Do(func() {
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second, MaxOpenConns: 8})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = conn.Ping(ctx)
		}
		shared.conn, shared.err = conn, err
	})
	if shared.err != nil {
		t.Fatalf("ClickHouse at %s: %v", addr, shared.err)
	}
	return shared.conn
}

// seededDatabase migrates a fresh database (dropped at the end) and inserts seed's rows.
func seededDatabase(t *testing.T, conn driver.Conn, now time.Time) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := "switchyard_dashboard_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop %s: %v", db, err)
		}
	})
	ctx := context.Background()
	if err := analytics.Migrate(ctx, conn, db); err != nil {
		t.Fatal(err)
	}
	seed(t, conn, db, now)
	return db
}

type seedAttempt struct {
	provider, model, outcome, code string
	hop                            int32
	hedge                          uint8
}

type seedRequest struct {
	id, tenant, provider, model, status, degraded, errCode string
	ago                                                    time.Duration // created this long before the current hour began, plus a minute
	cost                                                   float64
	in, out, cached                                        int64
	total, ttft                                            float64
	fallback                                               int32
	hedged                                                 uint8
	attempts                                               []seedAttempt
}

// seedRequests: six requests over the three hours before the current one, and one 30 hours old
// that since=6h excludes. Costs are sums of powers of two, so every sum is exact.
func seedRequests() []seedRequest {
	ok := func(p, m string) seedAttempt { return seedAttempt{provider: p, model: m, outcome: "ok"} }
	return []seedRequest{
		{id: "d1", tenant: "acme", provider: "openai", model: "gpt-4o", status: "ok", ago: 3 * time.Hour, cost: 0.5,
			in: 1000, out: 200, total: 100, ttft: 10, attempts: []seedAttempt{ok("openai", "gpt-4o")}},
		{id: "d2", tenant: "acme", provider: "openai", model: "gpt-4o", status: "ok", ago: 2 * time.Hour, cost: 0.25,
			in: 1000, out: 100, cached: 500, total: 200, ttft: 20,
			attempts: []seedAttempt{{"openai", "gpt-4o", "error", "rate_limited", 0, 0}, ok("openai", "gpt-4o")}},
		{id: "d3", tenant: "acme", provider: "anthropic", model: "claude", status: "ok", ago: 2 * time.Hour, cost: 1,
			in: 2000, out: 400, total: 300, ttft: 30, fallback: 1,
			attempts: []seedAttempt{{"openai", "gpt-4o", "timeout", "first_token_timeout", 0, 0}, {"anthropic", "claude", "ok", "", 1, 0}}},
		{id: "d4", tenant: "beta", provider: "anthropic", model: "claude", status: "degraded", degraded: "over_budget", ago: time.Hour,
			cost: 0.125, in: 500, out: 50, total: 400, attempts: []seedAttempt{ok("anthropic", "claude")}},
		{id: "d5", tenant: "beta", provider: "openai", model: "gpt-4o", status: "error", errCode: "unavailable", ago: time.Hour, total: 50,
			attempts: []seedAttempt{{"openai", "gpt-4o", "error", "unavailable", 0, 0}, {"openai", "gpt-4o", "error", "unavailable", 0, 0}}},
		{id: "d6", tenant: "beta", provider: "groq", model: "llama", status: "ok", ago: time.Hour, cost: 0.0625,
			in: 800, out: 100, total: 500, ttft: 40, hedged: 1,
			attempts: []seedAttempt{{"openai", "gpt-4o", "cancelled", "", 0, 0}, {"groq", "llama", "ok", "", 0, 1}}},
		{id: "d-old", tenant: "acme", provider: "openai", model: "gpt-4o", status: "ok", ago: 30 * time.Hour, cost: 8,
			in: 99, out: 99, total: 9999, ttft: 9999, attempts: []seedAttempt{ok("openai", "gpt-4o")}},
	}
}

func seed(t *testing.T, conn driver.Conn, db string, now time.Time) {
	t.Helper()
	ctx := context.Background()
	hour := now.UTC().Truncate(time.Hour)
	req, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".llm_requests (request_id, tenant_id, status, provider, model, "+
		"input_tokens, output_tokens, cached_tokens, cost_usd, queue_ms, ttft_ms, total_ms, fallback_depth, hedged, degraded_reason, "+
		"error_code, attempts, created_at, created_at_ms, completed_at, completed_at_ms, version)")
	if err != nil {
		t.Fatal(err)
	}
	att, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".llm_attempts (attempt_id, request_id, tenant_id, provider, model, "+
		"outcome, error_code, started_at, started_at_us, duration_ms, hedge, hop)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range seedRequests() {
		created := hour.Add(-r.ago + time.Minute)
		done := created.Add(time.Second)
		if err := req.Append(r.id, r.tenant, r.status, r.provider, r.model, r.in, r.out, r.cached, r.cost, 1.0, r.ttft, r.total,
			r.fallback, r.hedged, r.degraded, r.errCode, uint32(len(r.attempts)), created, created.UnixMilli(), done, done.UnixMilli(),
			uint64(done.UnixMilli())); err != nil {
			t.Fatal(err)
		}
		for j, a := range r.attempts {
			if err := att.Append(fmt.Sprintf("%s-a%d", r.id, j), r.id, r.tenant, a.provider, a.model, a.outcome, a.code,
				created, created.UnixMicro()+int64(j), 1.0, a.hedge, a.hop); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := req.Send(); err != nil {
		t.Fatal(err)
	}
	if err := att.Send(); err != nil {
		t.Fatal(err)
	}
}

// startDashboard serves the dashboard for db on a loopback port until the test ends.
func startDashboard(t *testing.T, conn driver.Conn, db string) string {
	t.Helper()
	q, err := NewClickHouseQuerier(conn, db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Querier: q, Premium: &Premium{Model: "premium", InputPerMTok: 4, OutputPerMTok: 16}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv.URL()
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestTimeseriesOnServer checks the dashboard's own query on the real server: hour buckets, the
// window, and the exact answered-request latency quantiles.
func TestTimeseriesOnServer(t *testing.T) {
	conn := clickhouseConn(t)
	now := time.Now().UTC()
	base := startDashboard(t, conn, seededDatabase(t, conn, now))
	code, body := httpGet(t, base+"api/timeseries?since=6h&bucket=hour")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var got struct {
		Bucket string `json:"bucket"`
		Series Table  `json:"series"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	hour := now.Truncate(time.Hour)
	at := func(d time.Duration) string { return hour.Add(-d).Format(time.RFC3339) }
	// d1 | d2, d3 | d4 (degraded), d5 (error), d6; d-old is outside the window.
	want := fmt.Sprintf(`[["%s",1,0,0,0.5,100,100],["%s",2,0,0,1.25,300,300],["%s",3,1,1,0.1875,500,500]]`, at(3*time.Hour), at(2*time.Hour), at(time.Hour))
	if rows, _ := json.Marshal(got.Series.Rows); string(rows) != want || got.Bucket != "hour" {
		t.Errorf("timeseries (bucket %s):\n got %s\nwant %s", got.Bucket, rows, want)
	}
	code, body = httpGet(t, base+"api/timeseries?since=6h&bucket=hour&tenant=beta")
	if code != http.StatusOK || !strings.Contains(string(body), `"rows":[["`+at(time.Hour)+`",3,1,1,0.1875,500,500]]`) {
		t.Errorf("tenant beta: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"api/summary?since=soon"); code != http.StatusBadRequest || !strings.Contains(string(body), `"error"`) {
		t.Errorf("bad since: %d %s", code, body)
	}
}

// chromium finds the headless browser, or skips (fails under SWITCHYARD_REQUIRE_SERVICES=1).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if requireServices() {
		t.Fatal("SWITCHYARD_REQUIRE_SERVICES=1 but neither chromium nor chromium-headless-shell is on PATH (bash deploy/test-deps.sh installs it)")
	}
	t.Skip("chromium not found: apt-get install chromium (or run bash deploy/test-deps.sh)")
	return ""
}

// runChromium runs headless Chromium on url with the given extra flags and returns its stdout.
// The virtual time budget lets the page's fetches and scripts finish before the DOM is dumped
// or the screenshot taken.
func runChromium(t *testing.T, bin, url string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	home := t.TempDir()
	args := append([]string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + filepath.Join(home, "profile"), "--virtual-time-budget=10000"}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.String())
	}
	return string(out)
}

var (
	rowRE  = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	cellRE = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
)

// tableRows returns the body rows of the table inside the element with id, cells joined by "|".
func tableRows(t *testing.T, dom, id string) []string {
	t.Helper()
	i := strings.Index(dom, `id="`+id+`"`)
	if i < 0 {
		t.Errorf("no element #%s in the DOM", id)
		return nil
	}
	end := strings.Index(dom[i:], "</table>")
	if end < 0 {
		t.Errorf("#%s holds no table: %.300s", id, dom[i:])
		return nil
	}
	var rows []string
	for _, m := range rowRE.FindAllStringSubmatch(dom[i:i+end], -1) {
		var cells []string
		for _, c := range cellRE.FindAllStringSubmatch(m[1], -1) {
			cells = append(cells, c[1])
		}
		if len(cells) > 0 {
			rows = append(rows, strings.Join(cells, "|"))
		}
	}
	return rows
}

// TestDashboardInChromium renders the page over seeded data in headless Chromium and checks what
// its scripts drew: the exact figures in the tables, the KPI cards, the SVG charts, and an empty
// error box. With -update-dashboard-png it also writes docs/dashboard.png.
func TestDashboardInChromium(t *testing.T) {
	conn := clickhouseConn(t)
	bin := chromium(t)
	now := time.Now().UTC()
	base := startDashboard(t, conn, seededDatabase(t, conn, now))
	url := base + "?since=6h&bucket=hour"

	var dom string
	for try := 0; try < 3; try++ { // a loaded machine may need more than one virtual-time budget
		if dom = runChromium(t, bin, url, "--dump-dom"); strings.Contains(dom, `data-state="ready"`) {
			break
		}
	}
	if !strings.Contains(dom, `data-state="ready"`) {
		t.Fatalf("the page never reached data-state=ready:\n%.3000s", dom)
	}
	if !strings.Contains(dom, `<div id="error" role="alert"></div>`) {
		i := strings.Index(dom, `id="error"`)
		t.Errorf("the error box is not empty: %.400s", dom[max(i, 0):])
	}
	for _, c := range []struct {
		id   string
		want []string
	}{
		// provider | requests | errors | input | output | cached tokens | cost | share of 1.9375
		{"table-cost-provider", []string{
			"anthropic|2|0|2500|450|0|1.125000|58.1%",
			"openai|3|1|2000|300|500|0.750000|38.7%",
			"groq|1|0|800|100|0|0.062500|3.2%",
		}},
		{"table-cost-tenant", []string{
			"acme|3|0|4000|700|500|1.750000|90.3%",
			"beta|3|1|1300|150|0|0.187500|9.7%",
		}},
		{"table-cost-model", []string{
			"anthropic|claude|2|0|2500|450|0|1.125000|58.1%",
			"openai|gpt-4o|3|1|2000|300|500|0.750000|38.7%",
			"groq|llama|1|0|800|100|0|0.062500|3.2%",
		}},
		// exact quantiles of the answered requests: claude 300, 400 (TTFT only d3's 30)
		{"table-latency", []string{
			"anthropic|claude|2|400.0|400.0|400.0|1|30.0|30.0|30.0",
			"groq|llama|1|500.0|500.0|500.0|1|40.0|40.0|40.0",
			"openai|gpt-4o|2|200.0|200.0|200.0|2|20.0|20.0|20.0",
		}},
		// requests | ok | degraded | error | fallback | hedged | cache | error, fallback, hedge rates
		{"table-request-outcomes", []string{
			"anthropic|claude|2|1|1|0|1|0|0|0.0%|50.0%|0.0%",
			"groq|llama|1|1|0|0|0|1|0|0.0%|0.0%|100.0%",
			"openai|gpt-4o|3|2|0|1|0|0|0|33.3%|0.0%|0.0%",
		}},
		// attempts | ok | failed | hedge | retry | rates (d2's and d5's second attempts are retries)
		{"table-attempt-outcomes", []string{
			"anthropic|claude|2|2|0|0|0|0.0%|0.0%|0.0%",
			"groq|llama|1|1|0|1|0|0.0%|100.0%|0.0%",
			"openai|gpt-4o|7|2|4|0|2|57.1%|0.0%|28.6%",
		}},
		{"table-error-kinds", []string{
			"openai|error|unavailable|2|7|28.6%",
			"openai|error|rate_limited|1|7|14.3%",
			"openai|timeout|first_token_timeout|1|7|14.3%",
		}},
		{"table-degraded", []string{"over_budget|1|6|16.7%"}},
	} {
		if got := tableRows(t, dom, c.id); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("#%s rows:\n got %q\nwant %q", c.id, got, c.want)
		}
	}
	// Savings: premium at $4 in / $16 out per Mtok: acme (3500 × 4 + 500 × 4 + 700 × 16) / 1e6.
	if got := tableRows(t, dom, "table-savings"); len(got) != 2 || !strings.HasPrefix(got[0], "acme|3|1.750000|0.027200|") || !strings.HasPrefix(got[1], "beta|3|0.187500|") {
		t.Errorf("#table-savings rows %q", got)
	}
	for _, want := range []string{
		`<div class="label">Requests</div><div class="value">6</div>`,
		`<div class="label">Cost</div><div class="value">$1.937500</div>`,
		`<div class="label">Errors</div><div class="value">1</div>`,
		`<div class="label">Degraded</div><div class="value">1</div>`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the KPI cards lack %s", want)
		}
	}
	// Charts: three line charts with drawn series, and bars for provider, model, tenant, latency.
	for s, min := range map[string]int{`<svg class="line-chart"`: 3, `<polyline class="series"`: 3, `<svg class="bar-chart"`: 4, `<rect class="bar"`: 3 + 3 + 2 + 9} {
		if n := strings.Count(dom, s); n < min {
			t.Errorf("%d × %s in the DOM, want at least %d", n, s, min)
		}
	}
	if strings.Contains(dom, `class="empty"`) {
		t.Error("a chart says it has no data")
	}

	png := filepath.Join(t.TempDir(), "dashboard.png")
	runChromium(t, bin, url, "--hide-scrollbars", "--window-size=1400,1000", "--screenshot="+png)
	img, err := os.ReadFile(png)
	if err != nil || len(img) < 10000 || string(img[1:4]) != "PNG" {
		t.Fatalf("screenshot: %v, %d bytes", err, len(img))
	}
	if *updatePNG {
		if err := os.WriteFile("../../docs/dashboard.png", img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("wrote docs/dashboard.png")
	}
}
