package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The analytics issue's "done": the demo writes to the real ClickHouse, and `switchyard report`
// then shows its real numbers. The report's cost section must add up to what the demo's own
// summary counted from the response topic, request for request and cent for cent.
func TestDemoThenReportOnClickHouse(t *testing.T) {
	_, ch := realServices(t)
	db := fmt.Sprintf("switchyard_demo%d", time.Now().UnixNano())
	t.Setenv("SWITCHYARD_CLICKHOUSE_ADDR", ch)
	t.Setenv("SWITCHYARD_CLICKHOUSE_DATABASE", db)
	t.Cleanup(func() { dropDatabase(t, ch, db) })

	dir := t.TempDir()
	summaryPath := filepath.Join(dir, "summary.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var demoOut bytes.Buffer
	if err := dispatch(ctx, []string{"demo", "--requests", "300", "--rate", "0", "--latency", "1ms",
		"--summary-json", summaryPath, "--live=false", "--gateway-addr", "127.0.0.1:0"}, &demoOut, os.Stderr); err != nil {
		t.Fatalf("demo: %v\n%s", err, demoOut.String())
	}
	var s Summary
	data, err := os.ReadFile(summaryPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	answered := s.OK + s.Errors
	if s.Lost != 0 || answered == 0 {
		t.Fatalf("demo: lost %d, answered %d", s.Lost, answered)
	}

	// The demo waits until ClickHouse holds every outcome of its run before it prints them and
	// stops; the view is deduplicated (FINAL).
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rows uint64
	var cost float64
	if err := conn.QueryRow(ctx, "SELECT count(), sum(cost_usd) FROM "+db+".v_requests").Scan(&rows, &cost); err != nil {
		t.Fatal(err)
	}
	// The summary's cost is rounded to the micro-dollar.
	if int(rows) != answered || math.Abs(cost-s.CostUSD) > 1e-6 {
		t.Fatalf("ClickHouse holds %d requests costing $%.9f; the demo answered %d for $%.9f", rows, cost, answered, s.CostUSD)
	}

	// The report, with the demo's routing table (for budgets and the premium model).
	cfgPath := filepath.Join(dir, "demo.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(demoYAML, "{{SIM}}", "http://127.0.0.1:8400")), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := dispatch(ctx, []string{"report", "--config", cfgPath, "--since", "1h"}, &out, os.Stderr); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	report := out.String()
	t.Logf("report:\n%s", report)
	reqs, usd := costSection(t, report)
	t.Logf("cost section: %d requests, $%.6f; demo: %d answered, $%.6f", reqs, usd, answered, s.CostUSD)
	if reqs != answered || math.Abs(usd-s.CostUSD) > 1e-6*float64(answered) {
		t.Errorf("report's cost section: %d requests for $%.6f; the demo answered %d for $%.6f", reqs, usd, answered, s.CostUSD)
	}
	for p, ps := range s.ByProvider {
		if ps.OK > 0 && !strings.Contains(report, " "+p+" ") {
			t.Errorf("provider %s (%d answers) is missing from the report", p, ps.OK)
		}
	}
	for _, section := range []string{"Latency and time to first token", "Request outcomes", "Budget burn", "Savings"} {
		if !strings.Contains(report, section) {
			t.Errorf("report lacks its %q section", section)
		}
	}
}

// costSection sums the requests and total_cost_usd columns of the report's first table, "Cost by
// day, tenant, provider and model".
func costSection(t *testing.T, report string) (requests int, usd float64) {
	t.Helper()
	lines := strings.Split(report, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "Cost by day") {
			start = i
			break
		}
	}
	if start < 0 || start+1 >= len(lines) {
		t.Fatalf("no cost section in the report")
	}
	header := strings.Fields(lines[start+1])
	reqCol, costCol := -1, -1
	for i, h := range header {
		switch h {
		case "requests":
			reqCol = i
		case "total_cost_usd":
			costCol = i
		}
	}
	if reqCol < 0 || costCol < 0 {
		t.Fatalf("cost section header %q lacks requests or total_cost_usd", lines[start+1])
	}
	for _, l := range lines[start+2:] {
		f := strings.Fields(l)
		if len(f) == 0 {
			break
		}
		if len(f) != len(header) {
			t.Fatalf("cost row %q does not match its header", l)
		}
		n, err := strconv.Atoi(f[reqCol])
		if err != nil {
			t.Fatalf("cost row %q: %v", l, err)
		}
		c, err := strconv.ParseFloat(f[costCol], 64)
		if err != nil {
			t.Fatalf("cost row %q: %v", l, err)
		}
		requests += n
		usd += c
	}
	return requests, usd
}
