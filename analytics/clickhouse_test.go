package analytics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/switchyard-llm/switchyard/schemas"
	"math"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Integration tests run against a real ClickHouse server named by SWITCHYARD_CLICKHOUSE_ADDR
// (host:port of the native protocol, e.g. 127.0.0.1:9000). Without it they skip, unless
// SWITCHYARD_REQUIRE_SERVICES=1 (set by `make test`), where they fail. All tests of the package
// share one connection; each test works in its own database, dropped afterwards.

var shared struct {
	once    sync.Once
	conn    driver.Conn
	version string
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.conn != nil {
		_ = shared.conn.Close()
	}
	os.Exit(code)
}

func requireServices() bool { return os.Getenv("SWITCHYARD_REQUIRE_SERVICES") == "1" }

func clickhouseConn(tb testing.TB) driver.Conn {
	tb.Helper()
	addr := os.Getenv("SWITCHYARD_CLICKHOUSE_ADDR")
	if addr == "" {
		if requireServices() {
			tb.Fatal("SWITCHYARD_REQUIRE_SERVICES=1 but SWITCHYARD_CLICKHOUSE_ADDR is not set: cannot run the ClickHouse integration tests")
		}
		tb.Skip("ClickHouse integration test skipped: set SWITCHYARD_CLICKHOUSE_ADDR=host:port (native protocol, e.g. 127.0.0.1:9000) to run it")
	}
	shared.once.Do(func() {
		conn, err := clickhouse.Open(&clickhouse.Options{
			Addr:         []string{addr},
			DialTimeout:  5 * time.Second,
			MaxOpenConns: 8,
		})
		if err != nil {
			shared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := conn.QueryRow(ctx, "SELECT version()").Scan(&shared.version); err != nil {
			shared.err = err
			_ = conn.Close()
			return
		}
		shared.conn = conn
	})
	if shared.err != nil {
		tb.Fatalf("ClickHouse at %s (SWITCHYARD_CLICKHOUSE_ADDR): %v", addr, shared.err)
	}
	tb.Logf("ClickHouse server version %s at %s", shared.version, addr)
	return shared.conn
}

// testDatabase returns a fresh database name, dropped when the test ends.
func testDatabase(tb testing.TB, conn driver.Conn) string {
	tb.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "switchyard_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			tb.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

func migrated(tb testing.TB) (driver.Conn, string) {
	tb.Helper()
	conn := clickhouseConn(tb)
	db := testDatabase(tb, conn)
	if err := Migrate(context.Background(), conn, db); err != nil {
		tb.Fatal(err)
	}
	return conn, db
}

func queryUint(tb testing.TB, conn driver.Conn, q string) uint64 {
	tb.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

func queryFloat(tb testing.TB, conn driver.Conn, q string) float64 {
	tb.Helper()
	var f float64
	if err := conn.QueryRow(context.Background(), q).Scan(&f); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return f
}

func TestMigrateIdempotent(t *testing.T) {
	conn := clickhouseConn(t)
	ctx := context.Background()
	db := testDatabase(t, conn)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := Migrate(ctx, conn, db); err != nil {
			t.Fatal(err)
		}
	}
	// Raw count, not FINAL: the second run must not have recorded anything again.
	if n := queryUint(t, conn, "SELECT toUInt64(count()) FROM "+db+".schema_migrations"); n != uint64(len(ms)) {
		t.Errorf("schema_migrations has %d rows after two runs, want %d", n, len(ms))
	}

	rows, err := conn.Query(ctx, "SELECT name, engine, partition_key, sorting_key FROM system.tables WHERE database = ? ORDER BY name", db)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var name, engine, part, sort string
		if err := rows.Scan(&name, &engine, &part, &sort); err != nil {
			t.Fatal(err)
		}
		got[name] = strings.Join([]string{engine, part, sort}, " | ")
	}
	rows.Close()
	want := map[string]string{
		"schema_migrations": "ReplacingMergeTree |  | version",
		"llm_requests":      "ReplacingMergeTree | toYYYYMM(created_at) | tenant_id, toDate(created_at), request_id",
		"llm_attempts":      "ReplacingMergeTree | toYYYYMM(started_at) | tenant_id, toDate(started_at), request_id, attempt_id",
		"llm_audit_events":  "ReplacingMergeTree | toYYYYMM(ts) | tenant_id, toDate(ts), request_id, event_id",
		"llm_bodies":        "ReplacingMergeTree | toYYYYMMDD(created_at) | tenant_id, toDate(created_at), request_id",
		"v_bodies":          "View |  | ",
		"v_requests":        "View |  | ", "v_attempts": "View |  | ", "v_audit_events": "View |  | ",
		"v_cost_hourly": "View |  | ", "v_latency_hourly": "View |  | ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tables:\n got %v\nwant %v", got, want)
	}
}

func TestMigrateResumesInterruptedMigration(t *testing.T) {
	conn := clickhouseConn(t)
	ctx := context.Background()
	db := testDatabase(t, conn)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	// A crash after the first two statements of 0001: tables exist, nothing is recorded.
	for _, stmt := range ms[0].Statements[:2] {
		if err := conn.Exec(ctx, withDatabase(stmt, db)); err != nil {
			t.Fatal(err)
		}
	}
	if err := Migrate(ctx, conn, db); err != nil {
		t.Fatalf("re-running an interrupted migration: %v", err)
	}
	if n := queryUint(t, conn, "SELECT toUInt64(count()) FROM system.tables WHERE database = '"+db+"' AND name LIKE 'v_%'"); n != 6 {
		t.Errorf("views after resume: %d, want 6", n)
	}
}

func TestMigrateRejectsEditedMigration(t *testing.T) {
	conn, db := migrated(t)
	ctx := context.Background()
	// INSERT ... SELECT, not VALUES: clickhouse-go's Exec of INSERT ... VALUES hangs on 18.16 (the
	// server waits for a data block the driver never sends). Data goes through PrepareBatch.
	if err := conn.Exec(ctx, "INSERT INTO "+db+".schema_migrations (version, name, checksum) SELECT 1, '0001_init.sql', 'deadbeef'"); err != nil {
		t.Fatal(err)
	}
	err := Migrate(ctx, conn, db)
	if err == nil || !strings.Contains(err.Error(), "migrations are immutable") {
		t.Fatalf("got %v, want a checksum mismatch error", err)
	}
	if err := Migrate(ctx, conn, "bad-name"); err == nil {
		t.Fatal("bad database name accepted")
	}
}

// TestRedeliveryDeduplicates inserts the same batch twice, as the sink does after a crash between
// insert and commit, plus a reprocessed outcome and a stale one, and checks that the analyst views
// and queries show each request, attempt and event once, with exact aggregates.
func TestRedeliveryDeduplicates(t *testing.T) {
	conn, db := migrated(t)
	ctx := context.Background()
	f := newFixture("req", 6)

	// Request req-0 was reprocessed and ended later on another provider: that outcome must win.
	// It carries the first attempt again (copied along the chain) and one new attempt.
	re := f.responses[0]
	re.Provider, re.Model, re.CostUSD, re.CompletedAt = "mistral", "mistral-large", 0.25, re.CompletedAt+1000
	re.Attempts = []attemptT{re.Attempts[0], {AttemptID: "att-req-0-2", Provider: "mistral", Model: "mistral-large",
		Outcome: "ok", StartedAt: re.Attempts[0].StartedAt + 2e6, DurationMS: 300, CostUSD: 0.0625, Hop: 2}}
	// A stale outcome of req-1 (completed earlier) is ingested after the real one: it must lose.
	stale := f.responses[1]
	stale.Provider, stale.CostUSD, stale.CompletedAt = "groq", 8, stale.CompletedAt-1000

	req, att, aud := f.rows()
	insertAll := func(req []RequestRow, att []AttemptRow, aud []AuditRow) {
		t.Helper()
		sql := func(table string, cols []string) string {
			return fmt.Sprintf("INSERT INTO %s.%s (%s)", db, table, strings.Join(cols, ", "))
		}
		if err := insertRows(ctx, conn, sql("llm_requests", requestColumns), req); err != nil {
			t.Fatal(err)
		}
		if err := insertRows(ctx, conn, sql("llm_attempts", attemptColumns), att); err != nil {
			t.Fatal(err)
		}
		if err := insertRows(ctx, conn, sql("llm_audit_events", auditColumns), aud); err != nil {
			t.Fatal(err)
		}
	}
	insertAll(req, att, aud)
	insertAll(req, att, aud) // the re-delivery
	insertAll([]RequestRow{NewRequestRow(re)}, NewAttemptRows(re), nil)
	insertAll([]RequestRow{NewRequestRow(stale)}, NewAttemptRows(stale), nil)

	f.responses[0] = re // the expected final state
	wantCost := f.costByProvider()

	checkViews := func(when string) {
		t.Helper()
		for _, c := range []struct {
			q    string
			want uint64
		}{
			{"SELECT toUInt64(count()) FROM " + db + ".v_requests", 6},
			{"SELECT toUInt64(uniqExact(request_id)) FROM " + db + ".v_requests", 6},
			{"SELECT toUInt64(count()) FROM " + db + ".v_attempts", 13},
			{"SELECT toUInt64(count()) FROM " + db + ".v_audit_events", 12},
			{"SELECT toUInt64(count()) FROM " + db + ".v_requests WHERE request_id = 'req-0' AND provider = 'mistral' AND attempts = 2", 1},
			{"SELECT toUInt64(count()) FROM " + db + ".v_requests WHERE provider = 'groq'", 0},
			{"SELECT toUInt64(sum(requests)) FROM " + db + ".v_cost_hourly", 6},
		} {
			if got := queryUint(t, conn, c.q); got != c.want {
				t.Errorf("%s: %s = %d, want %d", when, c.q, got, c.want)
			}
		}
		// Exact float sums: every cost is a sum of powers of two.
		var wantTotal float64
		for _, c := range wantCost {
			wantTotal += c.CostUSD
		}
		if got := queryFloat(t, conn, "SELECT sum(cost_usd) FROM "+db+".v_requests"); got != wantTotal {
			t.Errorf("%s: request cost %v, want %v", when, got, wantTotal)
		}
		if got := queryFloat(t, conn, "SELECT sum(total_cost_usd) FROM "+db+".v_cost_hourly"); got != wantTotal {
			t.Errorf("%s: hourly rollup cost %v, want %v", when, got, wantTotal)
		}
		// 6 requests × (0.125 + 0.25) in their two attempts, plus req-0's third attempt.
		if got := queryFloat(t, conn, "SELECT sum(cost_usd) FROM "+db+".v_attempts"); got != 6*0.375+0.0625 {
			t.Errorf("%s: attempt cost %v, want %v", when, got, 6*0.375+0.0625)
		}
		costs, err := CostByProvider(ctx, conn, db)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]ProviderCost{}
		for _, c := range costs {
			got[c.Provider] = c
		}
		if !reflect.DeepEqual(got, wantCost) {
			t.Errorf("%s: CostByProvider\n got %+v\nwant %+v", when, got, wantCost)
		}
		for i := 1; i < len(costs); i++ {
			if costs[i-1].CostUSD < costs[i].CostUSD {
				t.Errorf("%s: CostByProvider not sorted by cost: %+v", when, costs)
			}
		}
	}
	checkViews("before merge")

	// Answered requests: openai req-4 (500 ms); anthropic req-1 (200) and req-3 (400); mistral
	// req-0 (100). req-2 and req-5 are errors and do not count.
	lat, err := LatencyByProvider(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}
	type q struct {
		requests uint64
		p50, p99 float64
	}
	wantLat := map[string]q{"anthropic": {2, 300, 398}, "mistral": {1, 100, 100}, "openai": {1, 500, 500}}
	if len(lat) != len(wantLat) {
		t.Fatalf("LatencyByProvider: %+v", lat)
	}
	for _, l := range lat {
		w := wantLat[l.Provider]
		if l.Requests != w.requests || math.Abs(l.P50TotalMS-w.p50) > 1e-9 || math.Abs(l.P99TotalMS-w.p99) > 1e-9 ||
			l.P50TTFTMS != 250.25 || l.P50QueueMS != 12.5 {
			t.Errorf("LatencyByProvider %s: got %+v, want %+v", l.Provider, l, w)
		}
	}

	// After a forced merge the tables themselves hold one row per key: the sorting keys collapse
	// what they should, not only FINAL at read time.
	for table, want := range map[string]uint64{"llm_requests": 6, "llm_attempts": 13, "llm_audit_events": 12} {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+db+"."+table+" FINAL"); err != nil {
			t.Fatal(err)
		}
		if got := queryUint(t, conn, "SELECT toUInt64(count()) FROM "+db+"."+table); got != want {
			t.Errorf("%s after OPTIMIZE FINAL: %d rows, want %d", table, got, want)
		}
	}
	checkViews("after merge")
}

// BenchmarkInsert measures the sink's insert path (one PrepareBatch/Append/Send per table, as a
// flush does) for batches of 5000 rows.
func BenchmarkInsert(b *testing.B) {
	conn, db := migrated(b)
	ctx := context.Background()
	const batchRows = 5000
	f := newFixture("bench", batchRows)
	req, att, aud := f.rows()
	att, aud = att[:batchRows], aud[:batchRows]
	sql := func(table string, cols []string) string {
		return fmt.Sprintf("INSERT INTO %s.%s (%s)", db, table, strings.Join(cols, ", "))
	}
	for _, bc := range []struct {
		name string
		fn   func() error
	}{
		{"llm_requests", func() error { return insertRows(ctx, conn, sql("llm_requests", requestColumns), req) }},
		{"llm_attempts", func() error { return insertRows(ctx, conn, sql("llm_attempts", attemptColumns), att) }},
		{"llm_audit_events", func() error { return insertRows(ctx, conn, sql("llm_audit_events", auditColumns), aud) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := bc.fn(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batchRows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

type attemptT = schemas.Attempt
