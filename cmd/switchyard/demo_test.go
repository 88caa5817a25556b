package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The demo on in-process Kafka: every request reaches an outcome, every poison record reaches
// the DLQ, and the summary JSON has the documented fields.
func TestDemoSummary(t *testing.T) {
	t.Setenv("SWITCHYARD_CLICKHOUSE_ADDR", "")
	path := filepath.Join(t.TempDir(), "summary.json")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := dispatch(ctx, []string{"demo", "--requests", "600", "--rate", "0", "--latency", "1ms", "--jitter", "1ms",
		"--poison-every", "50", "--summary-json", path, "--live=false", "--gateway-addr", "127.0.0.1:0"}, &out, os.Stderr)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"requests", "ok", "errors", "dlq", "lost", "p50_ms", "p99_ms", "cost_usd", "by_provider"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("summary lacks %q: %s", k, data)
		}
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Requests != 600 || s.Lost != 0 || s.OK+s.Errors+s.DLQ != 600 {
		t.Errorf("requests %d ok %d errors %d dlq %d lost %d", s.Requests, s.OK, s.Errors, s.DLQ, s.Lost)
	}
	if s.DLQ != 12 || s.PoisonSent != 12 {
		t.Errorf("dlq %d, poison sent %d, want 12 each (reasons %v)", s.DLQ, s.PoisonSent, s.DLQReasons)
	}
	if s.OK < 500 || s.CostUSD <= 0 || s.P50MS <= 0 || s.P99MS < s.P50MS {
		t.Errorf("ok %d cost %v p50 %v p99 %v", s.OK, s.CostUSD, s.P50MS, s.P99MS)
	}
	// Traffic on all four wire formats, tool calls included, and every returned call valid.
	for _, p := range []string{"openai", "anthropic", "gemini", "groq", "xai"} {
		if ps := s.ByProvider[p]; ps == nil || ps.OK == 0 || ps.CostUSD <= 0 {
			t.Errorf("provider %s: %+v", p, ps)
		}
	}
	for _, p := range []string{"openai", "anthropic", "gemini"} {
		if ps := s.ByProvider[p]; ps == nil || ps.ToolCalls == 0 {
			t.Errorf("provider %s returned no tool calls: %+v", p, ps)
		}
	}
	if s.ToolCalls == 0 || s.InvalidTools != 0 {
		t.Errorf("tool calls %d, invalid %d", s.ToolCalls, s.InvalidTools)
	}
	if !strings.Contains(out.String(), "outcomes  ok") {
		t.Errorf("no progress output:\n%s", out.String())
	}
}
