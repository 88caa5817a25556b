package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/switchyard-llm/switchyard/analytics"
	"github.com/switchyard-llm/switchyard/gateway"
	"github.com/switchyard-llm/switchyard/internal/config"
	"github.com/switchyard-llm/switchyard/internal/promtest"
	"github.com/switchyard-llm/switchyard/router"
)

// kfakeConfig is the demo config on an in-process Kafka, with a tenant budget so that the
// router runs its spend view too.
func kfakeConfig(t *testing.T) *config.Config {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	text := strings.ReplaceAll(demoYAML, "{{SIM}}", "http://127.0.0.1:1")
	cfg, err := config.Parse([]byte(text), func(k string) (string, bool) {
		switch k {
		case "SWITCHYARD_KAFKA_BROKERS":
			return strings.Join(cluster.ListenAddrs(), ","), true
		case "SWITCHYARD_CLICKHOUSE_ADDR":
			return "", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Routing.Tenants == nil {
		cfg.Routing.Tenants = map[string]router.TenantPolicy{}
	}
	p := cfg.Routing.Tenants["acme"]
	p.Budget = router.Budget{DailyUSD: 10}
	cfg.Routing.Tenants["acme"] = p
	return cfg
}

// recorder is a registry that remembers what was registered on it.
type recorder struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func (r *recorder) Register(c prometheus.Collector) error {
	err := r.Registry.Register(c)
	if err == nil {
		r.collectors = append(r.collectors, c)
	}
	return err
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}\}$`)
)

// family is a metric's name, type and label names, as the README table lists them.
type family struct{ name, typ, labels string }

func familyOf(desc *prometheus.Desc, typ string) family {
	s := desc.String()
	labels := strings.Split(descLabels.FindStringSubmatch(s)[1], ",")
	if labels[0] == "" {
		labels = nil
	}
	slices.Sort(labels)
	return family{name: descName.FindStringSubmatch(s)[1], typ: typ, labels: strings.Join(labels, ", ")}
}

// families lists what the registered collectors define: vectors by their type, other
// collectors by the metrics they collect.
func families(t *testing.T, cs []prometheus.Collector) map[family]bool {
	t.Helper()
	out := map[family]bool{}
	for _, c := range cs {
		vecType := ""
		switch c.(type) {
		case *prometheus.CounterVec:
			vecType = "counter"
		case *prometheus.GaugeVec:
			vecType = "gauge"
		case *prometheus.HistogramVec:
			vecType = "histogram"
		}
		if vecType != "" {
			ch := make(chan *prometheus.Desc, 16)
			c.Describe(ch)
			close(ch)
			for d := range ch {
				out[familyOf(d, vecType)] = true
			}
			continue
		}
		ch := make(chan prometheus.Metric, 256)
		go func() { c.Collect(ch); close(ch) }()
		for m := range ch {
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				t.Fatal(err)
			}
			typ := "untyped"
			switch {
			case pb.Counter != nil:
				typ = "counter"
			case pb.Gauge != nil:
				typ = "gauge"
			case pb.Histogram != nil:
				typ = "histogram"
			}
			out[familyOf(m.Desc(), typ)] = true
		}
	}
	return out
}

// readmeFamilies parses the table of README.md's "## Metrics" section.
func readmeFamilies(t *testing.T) map[family]bool {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n## Metrics\n")
	if start < 0 {
		t.Fatal("README.md has no ## Metrics section")
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| ([a-z]+) \\|\\s*([a-z_, ]*?)\\s*\\|")
	out := map[family]bool{}
	for _, line := range strings.Split(section, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := strings.Split(strings.TrimSpace(m[3]), ", ")
		if labels[0] == "" {
			labels = nil
		}
		slices.Sort(labels)
		out[family{name: m[1], typ: m[2], labels: strings.Join(labels, ", ")}] = true
	}
	return out
}

// TestMetricsREADMETableMatchesTheRoles builds the router and worker roles (and the analytics
// sink's collector) on a fresh registry and compares every metric they register, with its
// type and label names, with README.md's table, both ways.
func TestMetricsREADMETableMatchesTheRoles(t *testing.T) {
	cfg := kfakeConfig(t)
	reg := &recorder{Registry: prometheus.NewRegistry()}
	app, err := NewApp(cfg, AppOptions{Logger: testLogger(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Gateway.Addr = "127.0.0.1:0"
	cfg.Gateway.Keys = []config.GatewayKey{{Name: "k", SHA256: gateway.HashKey("sk-metrics"), Tenant: "t"}}
	if err := app.Start(ctx, []string{RoleRouter, RoleWorker, RoleGateway}, nil); err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	reg.MustRegister(sinkCollector{stats: func() analytics.Stats { return analytics.Stats{} }})

	got, want := families(t, reg.collectors), readmeFamilies(t)
	if len(want) == 0 {
		t.Fatal("no rows parsed from the README table")
	}
	for f := range got {
		if !want[f] {
			t.Errorf("registered but not in README.md's table (or listed differently): | `%s` | %s | %s |", f.name, f.typ, f.labels)
		}
	}
	for f := range want {
		if !got[f] {
			t.Errorf("in README.md's table but not registered: | `%s` | %s | %s |", f.name, f.typ, f.labels)
		}
	}
}

// TestHealthAndReadyz: /readyz answers 503 naming every role before the consumers poll and
// join, 200 once they do; /healthz is 503 before the run loops start, 200 while they run.
func TestHealthAndReadyz(t *testing.T) {
	cfg := kfakeConfig(t)
	reg := prometheus.NewRegistry()
	app, err := NewApp(cfg, AppOptions{Logger: testLogger(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctx, []string{RoleRouter, RoleWorker}, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(metricsMux(reg, &app.health))
	defer srv.Close()
	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if err := json.Unmarshal(data, &body); err != nil {
			t.Fatalf("%s: %v: %s", path, err, data)
		}
		return resp.StatusCode, body
	}

	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable || body["ready"] != false {
		t.Fatalf("/readyz before Run: %d %v", code, body)
	}
	var names []string
	for _, r := range body["roles"].([]any) {
		r := r.(map[string]any)
		names = append(names, r["role"].(string))
		if r["ready"] != false {
			t.Errorf("role %v ready before its consumer polls", r)
		}
	}
	slices.Sort(names)
	wantNames := []string{RoleRouter}
	for _, p := range cfg.Providers {
		wantNames = append(wantNames, RoleWorker+":"+p.Name)
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Fatalf("/readyz roles %v, want %v", names, wantNames)
	}
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz before Run: %d", code)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	deadline := time.Now().Add(45 * time.Second)
	for {
		code, body = get("/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never became ready: %v", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/healthz"); code != http.StatusOK || body["live"] != true {
		t.Fatalf("/healthz while running: %d %v", code, body)
	}
	stop()
	<-done
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz after the run loops returned: %d", code)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz after stop: %d", code)
	}
}

// TestMetricsSinkStats: the sink's Stats as counters.
func TestMetricsSinkStats(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(sinkCollector{stats: func() analytics.Stats {
		return analytics.Stats{Records: 10, RequestRows: 4, AttemptRows: 5, AuditRows: 6, DecodeErrors: 1, InvalidRecords: 2, DeadLetters: 3, RejectedRows: 0, Commits: 2}
	}})
	want := `
# HELP switchyard_sink_dead_letters_total Records written to the sink's dead-letter topic (rejected rows and skipped records).
# TYPE switchyard_sink_dead_letters_total counter
switchyard_sink_dead_letters_total 3
# HELP switchyard_sink_skipped_records_total Records skipped, by reason (undecodable, invalid: no idempotency key); each is dead-lettered.
# TYPE switchyard_sink_skipped_records_total counter
switchyard_sink_skipped_records_total{reason="invalid"} 2
switchyard_sink_skipped_records_total{reason="undecodable"} 1
# HELP switchyard_sink_rows_total Rows the analytics sink inserted into ClickHouse, by table (duplicates included).
# TYPE switchyard_sink_rows_total counter
switchyard_sink_rows_total{table="llm_attempts"} 5
switchyard_sink_rows_total{table="llm_audit_events"} 6
switchyard_sink_rows_total{table="llm_bodies"} 0
switchyard_sink_rows_total{table="llm_requests"} 4
`
	if err := promtest.GatherAndCompare(reg, want, "switchyard_sink_dead_letters_total", "switchyard_sink_skipped_records_total", "switchyard_sink_rows_total"); err != nil {
		t.Fatal(err)
	}
}
