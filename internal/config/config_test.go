package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestExampleConfigIsValid(t *testing.T) {
	data, err := os.ReadFile("../../switchyard.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	// The example is wired to the local defaults of DESIGN.md.
	if got := c.Kafka.Brokers; len(got) != 1 || got[0] != "127.0.0.1:9092" {
		t.Errorf("brokers %v", got)
	}
	if c.ClickHouse.Addr != "127.0.0.1:9000" {
		t.Errorf("clickhouse %q", c.ClickHouse.Addr)
	}
	for _, p := range c.Providers {
		if !strings.HasPrefix(p.BaseURL, "http://127.0.0.1:8400/") {
			t.Errorf("provider %s not on the simulator: %s", p.Name, p.BaseURL)
		}
	}
	if c.Topics().Work("groq") != "llm.work.groq" {
		t.Errorf("work topic %q", c.Topics().Work("groq"))
	}
	// The example shows every routing field: prices, tiers, regions and a tenant policy.
	rt := c.Routing
	if len(rt.Prices) == 0 || rt.Prices[0].EffectiveFrom.IsZero() || rt.Prices[0].InputPerMTok <= 0 {
		t.Errorf("prices %+v", rt.Prices)
	}
	if len(rt.Default.Tiers) == 0 || rt.Models[0].Region == "" {
		t.Errorf("tiers %+v, region %q", rt.Default.Tiers, rt.Models[0].Region)
	}
	if d, ok := rt.Tenants["default"]; !ok || d.OnViolation != "reject" || d.Degrade == nil || !*d.Degrade || d.AllowPremiumFallback {
		t.Errorf("tenants.default %+v", d)
	}
}

func TestEnvOverridesAndDefaults(t *testing.T) {
	yml := `
providers: [{name: p, kind: openai, base_url: "http://x:1/v1"}]
routing:
  models: [{name: m, provider: p, version: m-2025-01-01, context_window: 100, max_output_tokens: 10, price: {input_per_mtok: 1, output_per_mtok: 1}}]
  default: {model: m}
`
	c, err := Parse([]byte(yml), env(map[string]string{
		"SWITCHYARD_KAFKA_BROKERS":   "a:1, b:2",
		"SWITCHYARD_CLICKHOUSE_ADDR": "ch:9000",
		"SWITCHYARD_TOPIC_PREFIX":    "dev.",
		"SWITCHYARD_INSTANCE_ID":     "host-7",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Kafka.Brokers, ",") != "a:1,b:2" || c.ClickHouse.Addr != "ch:9000" || c.Topics().Requests != "dev.llm.requests" ||
		c.Kafka.InstanceID != "host-7" {
		t.Fatalf("overrides not applied: %+v %+v %+v", c.Kafka, c.ClickHouse, c.Topics())
	}
	if c.Kafka.Partitions != 12 || c.Worker.Concurrency != 8 || c.Providers[0].Timeout != 60*time.Second || c.OutputFormat != "auto" {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestInvalidConfigListsEveryProblem(t *testing.T) {
	yml := `
kafka: {brokers: ["nohostport"], partitions: -1, instance_id: "a b"}
output_format: xml
clickhouse: {addr: "bad", database: "1bad"}
providers:
  - {name: "Bad Name", kind: anthropicx, base_url: "ftp://x"}
  - {name: ok, kind: openai, base_url: "http://x/v1", api_key_env: A, api_key_file: /f}
  - {name: local, kind: openai-compatible, headers: {"Bad Header": "x"}}
  - {name: claude, kind: anthropic}
routing:
  models: [{name: m, provider: ghost, version: v, context_window: 10, max_output_tokens: 5}]
  default: {model: nope}
worker: {providers: [zzz]}
`
	_, err := Parse([]byte(yml), env(nil))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`kafka.brokers[0]: "nohostport" is not host:port`,
		"kafka.partitions: must be >= 1",
		`kafka.instance_id: "a b"`,
		`output_format: "xml"`,
		`clickhouse.addr: "bad"`,
		`clickhouse.database: "1bad"`,
		`providers[0].name: "Bad Name"`,
		`providers[0].kind: "anthropicx"`,
		`providers[0].base_url: "ftp://x"`,
		"providers[1]: set api_key_env or api_key_file, not both",
		"providers[2].base_url: required for kind openai-compatible",
		`providers[2].headers: "Bad Header"`,
		`routing.models[0].provider: unknown provider "ghost"`,
		"routing.models[0].price",
		`routing.default.model: unknown model "nope"`,
		`worker.providers[0]: unknown provider "zzz"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "providers[3]") {
		t.Errorf("anthropic without base_url must take the default endpoint:\n%s", msg)
	}
}

func TestUnknownKeyIsAnError(t *testing.T) {
	_, err := Parse([]byte("kafka: {brokerz: [a:1]}\n"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "brokerz") {
		t.Fatalf("want unknown-field error naming brokerz, got %v", err)
	}
}

func TestRoutingPolicyFields(t *testing.T) {
	yml := `
providers: [{name: p, kind: openai, base_url: "http://x:1/v1"}, {name: q, kind: groq, base_url: "http://x:1/v1"}]
routing:
  models:
    - {name: m, provider: p, version: m-2025-01-01, region: eu, context_window: 1000, max_output_tokens: 100, price: {input_per_mtok: 1, output_per_mtok: 2}}
    - {name: f, provider: q, version: f-latest, allow_floating: true, region: us, context_window: 1000, max_output_tokens: 100}
  prices:
    - {model: f, effective_from: 2025-01-01, input_per_mtok: 0.5, output_per_mtok: 1, cached_input_per_mtok: 0.1, cache_write_per_mtok: 0.6, batch_input_per_mtok: 0.25, batch_output_per_mtok: 0.5}
    - {model: f, effective_from: 2025-07-01, input_per_mtok: 0.4, output_per_mtok: 0.8}
  default:
    model: m
    fallbacks: [f]
    tiers:
      simple: {model: f, fallbacks: [m]}
  tasks:
    code: {model: m, tiers: {complex: {model: m}}}
  tenants:
    default: {on_violation: reroute}
    acme:
      allowed_providers: [p]
      allowed_models: [m]
      regions: [eu]
      on_violation: reject
      budget: {daily_usd: 10, monthly_usd: 200}
      degrade: false
      allow_premium_fallback: true
`
	c, err := Parse([]byte(yml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	rt := c.Routing
	if rt.Models[0].Region != "eu" || !rt.Models[1].AllowFloating {
		t.Errorf("models %+v", rt.Models)
	}
	if len(rt.Prices) != 2 || !rt.Prices[0].EffectiveFrom.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		rt.Prices[0].BatchInputPerMTok != 0.25 || rt.Prices[0].CacheWritePerMTok != 0.6 || rt.Prices[1].InputPerMTok != 0.4 {
		t.Errorf("prices %+v", rt.Prices)
	}
	if rt.Default.Tiers["simple"].Model != "f" || rt.Tasks["code"].Tiers["complex"].Model != "m" {
		t.Errorf("tiers %+v %+v", rt.Default, rt.Tasks)
	}
	a := rt.Tenants["acme"]
	if a.OnViolation != "reject" || a.Budget.DailyUSD != 10 || a.Budget.MonthlyUSD != 200 || a.Degrade == nil || *a.Degrade ||
		!a.AllowPremiumFallback || a.Regions[0] != "eu" || a.AllowedModels[0] != "m" || a.AllowedProviders[0] != "p" {
		t.Errorf("tenant %+v", a)
	}
	if rt.Tenants["default"].OnViolation != "reroute" {
		t.Errorf("default tenant %+v", rt.Tenants["default"])
	}
}

func TestRoutingPolicyProblemsListed(t *testing.T) {
	yml := `
providers: [{name: p, kind: openai, base_url: "http://x:1/v1"}]
routing:
  models:
    - {name: m, provider: p, version: gpt-4o, context_window: 1000, max_output_tokens: 100, price: {input_per_mtok: 1, output_per_mtok: 2, batch_input_per_mtok: -1}}
    - {name: n, provider: p, version: n-2025-01-01, context_window: 1000, max_output_tokens: 100}
  prices:
    - {model: ghost, effective_from: 2025-01-01, input_per_mtok: 1, output_per_mtok: 1}
    - {model: m, input_per_mtok: 1, output_per_mtok: 1}
  default: {model: m, tiers: {huge: {model: m}, simple: {model: zzz}}}
  tenants:
    acme: {allowed_providers: [nope], allowed_models: [zzz], regions: [mars], on_violation: shrug, budget: {daily_usd: -1}}
`
	_, err := Parse([]byte(yml), env(nil))
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, want := range []string{
		`routing.models[0].version: "gpt-4o" is a floating alias`,
		"routing.models[0].price.batch_input_per_mtok: must be >= 0",
		"routing.models[1].price: required",
		`routing.prices[0].model: unknown model "ghost"`,
		"routing.prices[1].effective_from: required",
		`routing.default.tiers: unknown tier "huge"`,
		`routing.default.tiers.simple.model: unknown model "zzz"`,
		`routing.tenants.acme.allowed_providers[0]: unknown provider "nope"`,
		`routing.tenants.acme.allowed_models[0]: unknown model "zzz"`,
		`routing.tenants.acme.regions[0]: no model is in region "mars"`,
		`routing.tenants.acme.on_violation: "shrug"`,
		"routing.tenants.acme.budget.daily_usd: must be >= 0",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

// Every routing field appears in the example, so the example stays the reference it claims to be.
func TestExampleShowsEveryRoutingField(t *testing.T) {
	data, err := os.ReadFile("../../switchyard.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ.PkgPath() == "time" {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && !strings.Contains(text, name+":") {
				t.Errorf("switchyard.example.yaml does not show %s.%s (%s)", typ.Name(), f.Name, name)
			}
			walk(f.Type)
		}
	}
	routing, _ := reflect.TypeFor[Config]().FieldByName("Routing")
	walk(routing.Type)
}

// The resilience, worker and analytics settings are validated like the rest: every problem,
// with its field path.
func TestResilienceWorkerAnalyticsProblemsListed(t *testing.T) {
	yml := `
providers:
  - name: p
    kind: openai
    resilience:
      breaker: {failure_ratio: 2}
      retry: {max_attempts: 11, backoff_base: 2s, backoff_max: 1s}
      timeouts: {stall: -1s}
      hedge: {quantile: 1.5, priorities: [urgent]}
      models:
        m1: {timeouts: {first_token: -5s}}
routing:
  models: [{name: m, provider: p, version: m-2025-01-01, context_window: 1000, max_output_tokens: 100, price: {input_per_mtok: 1, output_per_mtok: 1}}]
  default: {model: m}
worker: {attempt_budget: -1, tool_call_retries: 3, content_filter: ignore, max_answer_bytes: -5}
analytics: {dashboard_addr: "nohostport"}
`
	_, err := Parse([]byte(yml), env(nil))
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{
		"providers[0].resilience.breaker.failure_ratio: 2 is not within (0, 1]",
		"providers[0].resilience.retry.max_attempts: 11 is not within 1..10",
		"providers[0].resilience.retry.backoff_max: 1s is below retry.backoff_base 2s",
		"providers[0].resilience.timeouts.stall: must not be negative",
		"providers[0].resilience.hedge.quantile: 1.5",
		`providers[0].resilience.hedge.priorities: "urgent"`,
		`providers[0].resilience.models["m1"].timeouts.first_token: must not be negative`,
		"worker.attempt_budget: must be >= 1",
		"worker.tool_call_retries: 3 is not within 0..2",
		`worker.content_filter: "ignore" is not fail or fallback`,
		"worker.max_answer_bytes: must be >= 1",
		"analytics.dashboard_addr",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

// Defaults: a provider without a resilience block gets every default, its timeout as the
// attempts' total bound.
func TestResilienceDefaults(t *testing.T) {
	yml := `
providers: [{name: p, kind: openai, timeout: 7s}]
routing:
  models: [{name: m, provider: p, version: m-2025-01-01, context_window: 1000, max_output_tokens: 100, price: {input_per_mtok: 1, output_per_mtok: 1}}]
  default: {model: m}
`
	cfg, err := Parse([]byte(yml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Providers[0].Resilience
	if r.Timeouts.Total != 7*time.Second || r.Breaker.ConsecutiveFailures != 5 || r.Retry.MaxAttempts != 2 ||
		r.Limits.Concurrency != 256 || !r.Hedge.On() || r.Hedge.MaxRate != 0.05 || r.HealthCheck.Model != "" {
		t.Errorf("resilience defaults %+v", r)
	}
	w := cfg.Worker
	if w.AttemptBudget != 6 || *w.ToolCallRetries != 1 || w.ContentFilter != "fail" || w.MaxAnswerBytes != 512<<10 || w.HealthInterval != 5*time.Second {
		t.Errorf("worker defaults %+v", w)
	}
}
