package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/switchyard-llm/switchyard/analytics"
	"github.com/switchyard-llm/switchyard/internal/config"
	"github.com/switchyard-llm/switchyard/router"
)

func TestReportPremiumModelAndBudgets(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	tbl := router.Table{
		Models: []router.Model{
			{Name: "cheap", Price: router.Price{InputPerMTok: 0.15, OutputPerMTok: 0.6}},
			{Name: "big", Price: router.Price{InputPerMTok: 2.5, OutputPerMTok: 10}},
			{Name: "repriced", Price: router.Price{InputPerMTok: 1, OutputPerMTok: 1}},
		},
		Prices: []router.PriceEntry{
			{Model: "repriced", EffectiveFrom: now.AddDate(0, -1, 0), Price: router.Price{InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.3}},
			{Model: "repriced", EffectiveFrom: now.AddDate(0, 1, 0), Price: router.Price{InputPerMTok: 99, OutputPerMTok: 99}}, // not yet
		},
		Tenants: map[string]router.TenantPolicy{
			"default": {Budget: router.Budget{DailyUSD: 5}},
			"acme":    {Budget: router.Budget{DailyUSD: 100}},
			"zeta":    {},
		},
	}
	name, p, ok := premiumModel(tbl, now)
	if !ok || name != "repriced" || p.InputPerMTok != 3 || p.OutputPerMTok != 15 || p.CachedInputPerMTok != 0.3 {
		t.Errorf("premiumModel = %s %+v %v, want repriced at 3/15/0.3", name, p, ok)
	}
	if _, _, ok := premiumModel(router.Table{}, now); ok {
		t.Error("premiumModel found a model in an empty table")
	}
	tenants, daily, def := reportBudgets(tbl)
	if !reflect.DeepEqual(tenants, []string{"acme", "zeta"}) || !reflect.DeepEqual(daily, []float64{100, 0}) || def != 5 {
		t.Errorf("reportBudgets = %v %v %v", tenants, daily, def)
	}
}

func TestReportPrintsAlignedTables(t *testing.T) {
	res := &analytics.Result{
		Columns: []string{"provider", "requests", "total_cost_usd", "p50_total_ms", "error_rate"},
		Rows: [][]any{
			{"openai", uint64(12), 1.5, 250.26, 0.125},
			{"anthropic-long", uint64(3), 0.0001, 9.0, 0.0},
		},
	}
	var b bytes.Buffer
	printResult(&b, res)
	want := "  provider        requests  total_cost_usd  p50_total_ms  error_rate\n" +
		"  openai                12        1.500000         250.3       12.5%\n" +
		"  anthropic-long         3        0.000100           9.0        0.0%\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestReportOnServer runs `switchyard report`'s queries against the real ClickHouse server
// (SWITCHYARD_CLICKHOUSE_TEST_ADDR) over one seeded request and checks the printed figures.
func TestReportOnServer(t *testing.T) {
	addr := os.Getenv("SWITCHYARD_CLICKHOUSE_TEST_ADDR")
	if addr == "" {
		if os.Getenv("SWITCHYARD_REQUIRE_SERVICES") == "1" {
			t.Fatal("SWITCHYARD_REQUIRE_SERVICES=1 but SWITCHYARD_CLICKHOUSE_TEST_ADDR is unset")
		}
		t.Skip("set SWITCHYARD_CLICKHOUSE_TEST_ADDR (e.g. 127.0.0.1:9000) to run the report against ClickHouse")
	}
	ctx := context.Background()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rb := make([]byte, 6)
	_, _ = rand.Read(rb)
	db := "switchyard_report_test_" + hex.EncodeToString(rb)
	t.Cleanup(func() { _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	if err := analytics.Migrate(ctx, conn, db); err != nil {
		t.Fatal(err)
	}
	created := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".llm_requests (request_id, tenant_id, status, provider, model, input_tokens, output_tokens, cost_usd, total_ms, ttft_ms, created_at, version)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id, tenant string
		created    time.Time
	}{{"rep-1", "acme", created}, {"rep-old", "acme", created.AddDate(0, 0, -3)}, {"rep-2", "beta", created}} {
		if err := batch.Append(r.id, r.tenant, "ok", "openai", "gpt-4o", int64(1000), int64(500), 0.5, 250.0, 40.0, r.created, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{ClickHouse: config.ClickHouse{Database: db}, Routing: router.Table{
		Models:  []router.Model{{Name: "gpt-4o", Price: router.Price{InputPerMTok: 2.5, OutputPerMTok: 10}}},
		Tenants: map[string]router.TenantPolicy{"acme": {Budget: router.Budget{DailyUSD: 2}}},
	}}
	var out bytes.Buffer
	if err := writeReport(ctx, conn, cfg, time.Now().Add(-24*time.Hour), "acme", &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	got := strings.Join(strings.Fields(out.String()), " ") // compare figures, not padding
	for _, want := range []string{
		"tenant acme",
		"Cost by day, tenant, provider and model",
		// one acme request in the window (rep-old is older, rep-2 is beta's): 1000 in, 500 out, $0.5
		"acme       openai    gpt-4o         1       0                1000                  500                    0        0.500000",
		// premium cost (1000 × 2.5 + 500 × 10) / 1e6 = 0.0075: routing cost more here
		"acme 1 0.500000 0.007500 -0.492500 -6566.7%",
		// daily budget 2: burn 25 %
		"0.500000          2.000000  25.0%",
	} {
		if want = strings.Join(strings.Fields(want), " "); !strings.Contains(got, want) {
			t.Errorf("report does not contain %q", want)
		}
	}
	if strings.Contains(got, "beta") {
		t.Error("--tenant acme report shows tenant beta")
	}
}
