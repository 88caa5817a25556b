package config

import (
	"errors"
	"os"
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
