// Package config reads Switchyard's YAML configuration, applies environment overrides and
// validates it once, listing every problem field by field. Only cmd/switchyard builds clients
// from it; other packages take the typed pieces they need.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-llm/switchyard/resilience"
	"github.com/switchyard-llm/switchyard/router"
)

// Config is the whole configuration file.
type Config struct {
	Kafka          Kafka          `yaml:"kafka"`
	SchemaRegistry SchemaRegistry `yaml:"schema_registry"`
	// OutputFormat is how outputs are encoded: auto (Confluent framing with a registry, else Avro
	// single-object encoding), confluent, single-object or json. Default auto.
	OutputFormat string     `yaml:"output_format"`
	ClickHouse   ClickHouse `yaml:"clickhouse"`
	Providers    []Provider `yaml:"providers"`
	// Routing is the routing table: models, rules (per task type and tier), versioned prices
	// and tenant policies; validated by router.Table.Validate (docs/routing.md).
	Routing   router.Table `yaml:"routing"`
	Router    RouterRole   `yaml:"router"`
	Worker    WorkerRole   `yaml:"worker"`
	Analytics Analytics    `yaml:"analytics"`
	Gateway   Gateway      `yaml:"gateway"`
	Metrics   Metrics      `yaml:"metrics"`
}

// Kafka is where the topics live.
type Kafka struct {
	// Brokers are the seed brokers. Default ["127.0.0.1:9092"]. Env SWITCHYARD_KAFKA_BROKERS (comma-separated).
	Brokers []string `yaml:"brokers"`
	// ClientID prefixes the Kafka client ids. Default "switchyard".
	ClientID string `yaml:"client_id"`
	// TopicPrefix is put before every topic name, e.g. "staging." gives "staging.llm.requests".
	// Default "". Env SWITCHYARD_TOPIC_PREFIX.
	TopicPrefix string `yaml:"topic_prefix"`
	// Partitions is the partition count of topics Switchyard creates. Default 12.
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of topics Switchyard creates. Default 1 (a single local broker); use 3 in production.
	ReplicationFactor int `yaml:"replication_factor"`
	// CreateTopics creates missing topics at start. Default true.
	CreateTopics *bool `yaml:"create_topics"`
	// SessionTimeout is how long the group coordinator waits for a silent member (a crashed
	// process) before giving its partitions to others. Default 45s (Kafka's); the broker bounds
	// it by group.min/max.session.timeout.ms (6s to 30m by default).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// InstanceID makes this process a static member of its consumer groups (KIP-345): restarted
	// within the session timeout, it gets its partitions back without a rebalance. Each group
	// member's id is InstanceID plus the role ("-router", "-worker-<provider>"), so it must be
	// unique per process. Default "" (dynamic membership). Env SWITCHYARD_INSTANCE_ID.
	InstanceID string `yaml:"instance_id"`
}

// SchemaRegistry is an optional Confluent-compatible schema registry.
type SchemaRegistry struct {
	// URL of the registry, e.g. http://127.0.0.1:8081. Empty means no registry: outputs use Avro
	// single-object encoding. Default "". Env SWITCHYARD_SCHEMA_REGISTRY_URL.
	URL string `yaml:"url"`
}

// ClickHouse is the analytics store.
type ClickHouse struct {
	// Addr is the native-protocol address. Default "" (analytics off); the example uses
	// 127.0.0.1:9000. Env SWITCHYARD_CLICKHOUSE_ADDR.
	Addr string `yaml:"addr"`
	// Database holds the tables. Default "switchyard". Env SWITCHYARD_CLICKHOUSE_DATABASE.
	Database string `yaml:"database"`
	// Username. Default "default".
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable holding the password (never the password
	// itself). Default "" (no password).
	PasswordEnv string `yaml:"password_env"`
}

// Provider is one LLM provider endpoint and its credentials.
type Provider struct {
	// Name identifies the provider in routing, topics (llm.work.<name>) and events.
	Name string `yaml:"name"`
	// Kind selects the adapter and wire format: openai, anthropic, gemini, or an
	// OpenAI-compatible server: groq, xai, mistral, deepseek, together, ollama, vllm, or
	// openai-compatible for any other (its base_url is required). Each compatible kind carries
	// that provider's known quirks (docs/providers-openai-compatible.md).
	Kind string `yaml:"kind"`
	// BaseURL of the API. Default: the kind's public endpoint (e.g. https://api.openai.com/v1,
	// https://api.anthropic.com, https://generativelanguage.googleapis.com; Ollama
	// http://127.0.0.1:11434/v1, vLLM http://127.0.0.1:8000/v1). Required for openai-compatible.
	BaseURL string `yaml:"base_url"`
	// Headers are extra static HTTP headers sent on every call (e.g. OpenAI-Organization). They
	// are not secret: keys go in api_key_env or api_key_file. Default none.
	Headers map[string]string `yaml:"headers"`
	// APIKeyEnv names the environment variable holding the API key. Default "" (no key).
	APIKeyEnv string `yaml:"api_key_env"`
	// APIKeyFile is a file holding the API key; used when APIKeyEnv is empty. Default "".
	APIKeyFile string `yaml:"api_key_file"`
	// Timeout bounds one provider call from start to last byte. Default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConcurrency bounds the calls in flight to this provider from one worker. Default 256.
	MaxConcurrency int `yaml:"max_concurrency"`
	// Resilience configures the provider's circuit breakers, retries, limits, per-phase
	// timeouts, hedging and health probes (docs/resilience.md). Every field has a default.
	Resilience resilience.Settings `yaml:"resilience"`
}

// RouterRole tunes the router consumer group.
type RouterRole struct {
	// Concurrency is the records in flight per partition. Default 8.
	Concurrency int `yaml:"concurrency"`
	// MaxInFlight is the records in flight per process. Default 2048.
	MaxInFlight int `yaml:"max_in_flight"`
}

// WorkerRole tunes the provider worker groups.
type WorkerRole struct {
	// Providers lists the providers this process serves; empty means every configured one.
	Providers []string `yaml:"providers"`
	// Concurrency is the records in flight per partition. Default 8.
	Concurrency int `yaml:"concurrency"`
	// MaxInFlight is the records in flight per process and provider. Default 2048.
	MaxInFlight int `yaml:"max_in_flight"`
	// DefaultDeadline applies to requests whose deadline_ms is 0. Default 120s.
	DefaultDeadline time.Duration `yaml:"default_deadline"`
	// DrainTimeout bounds a graceful shutdown. Default 15s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// AttemptBudget caps the provider calls made for one request across the whole chain
	// (retries, hedges, fallbacks and tool-call corrections included). Default 6.
	AttemptBudget int `yaml:"attempt_budget"`
	// ToolCallRetries is how many times an answer whose tool calls fail their schema is asked
	// again, with a corrective message naming the errors, before the request ends in error.
	// 0 to 2. Default 1.
	ToolCallRetries *int `yaml:"tool_call_retries"`
	// ContentFilter is what a provider's content-filter refusal of the prompt leads to: fail
	// (an error response and a DLQ record: the input is at fault) or fallback (try the next
	// provider of the chain). Default fail.
	ContentFilter string `yaml:"content_filter"`
	// MaxAnswerBytes caps an answer (content and tool calls): a larger one fails its attempt
	// as malformed, so every response fits a Kafka record (the broker's message.max.bytes is
	// 1 MiB by default). Default 524288 (512 KiB).
	MaxAnswerBytes int `yaml:"max_answer_bytes"`
	// HealthInterval is how often each worker restates its breakers' verdicts on
	// llm.provider.health (well within the routers' 60 s health TTL). Default 5s.
	HealthInterval time.Duration `yaml:"health_interval"`
}

// Analytics tunes the ClickHouse sink.
type Analytics struct {
	// BatchRows flushes a batch at this many rows. Default 5000.
	BatchRows int `yaml:"batch_rows"`
	// FlushInterval flushes a batch at least this often. Default 1s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// StoreBodies stores each answer (a response's content, redacted: emails, phone numbers,
	// card numbers and API-key-looking tokens become placeholders) in llm_bodies. Prompts are
	// never stored: they are not on the topics the sink reads. Default false.
	StoreBodies bool `yaml:"store_bodies"`
	// BodyTTL is how long stored answers are kept; older days are dropped hourly. At least 1h.
	// Default 168h (7 days).
	BodyTTL time.Duration `yaml:"body_ttl"`
	// DashboardAddr serves the analytics dashboard (docs/dashboard.md: charts and breakdowns read
	// from ClickHouse) on this host:port while the analytics role runs. Default "" (off), like
	// metrics.addr: it shows every tenant's spend, so it is opt-in, and a default port would clash
	// between analytics replicas on one host. The example config and the demo use 127.0.0.1:8090.
	DashboardAddr string `yaml:"dashboard_addr"`
}

// Gateway is the OpenAI-compatible HTTP front door (role gateway; docs/gateway.md).
type Gateway struct {
	// Addr is the listen address. Default 127.0.0.1:8080. Env SWITCHYARD_GATEWAY_ADDR.
	Addr string `yaml:"addr"`
	// Keys are the bearer keys it accepts, each stored as its SHA-256 (`switchyard gateway
	// hash-key` prints it) with the tenant its calls are billed to.
	Keys []GatewayKey `yaml:"keys"`
	// ReplyPartition is the partition of llm.responses and llm.responses.stream this instance
	// reads its replies from; -1 (default) picks one from the instance id's hash. Give each
	// instance its own (0, 1, ...) to spread the reading evenly.
	ReplyPartition *int `yaml:"reply_partition"`
	// MaxInFlight bounds the calls waiting for their outcome; one more gets 429 with
	// Retry-After. Default 1024.
	MaxInFlight int `yaml:"max_in_flight"`
	// DefaultDeadline applies to calls without X-Switchyard-Deadline-Ms. Default 120s.
	DefaultDeadline time.Duration `yaml:"default_deadline"`
	// DefaultTaskType and DefaultPriority fill calls without X-Switchyard-Task-Type and
	// X-Switchyard-Priority. Defaults chat and interactive.
	DefaultTaskType string `yaml:"default_task_type"`
	DefaultPriority string `yaml:"default_priority"`
	// MaxBodyBytes bounds a request body. Default 4 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// IdempotencyTTL is how long answers to calls with an Idempotency-Key are replayed. Default 10m.
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`
}

// GatewayKey is one accepted bearer key.
type GatewayKey struct {
	// Name labels the key in logs and metadata.
	Name string `yaml:"name"`
	// SHA256 is the hex SHA-256 of the key.
	SHA256 string `yaml:"sha256"`
	// Tenant is the tenant_id of the key's calls.
	Tenant string `yaml:"tenant"`
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	// Addr serves /metrics, /healthz and /readyz. Default "" (off). Env SWITCHYARD_METRICS_ADDR.
	Addr string `yaml:"addr"`
}

// Load reads a YAML file, applies the environment overrides and defaults, and validates.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, os.LookupEnv)
}

// Parse is Load without the file: data is YAML; lookup reads the environment.
func Parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF and means "all defaults".
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.applyEnv(lookup)
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyEnv(lookup func(string) (string, bool)) {
	if v, ok := lookup("SWITCHYARD_KAFKA_BROKERS"); ok && v != "" {
		c.Kafka.Brokers = splitList(v)
	}
	if v, ok := lookup("SWITCHYARD_INSTANCE_ID"); ok {
		c.Kafka.InstanceID = v
	}
	if v, ok := lookup("SWITCHYARD_TOPIC_PREFIX"); ok {
		c.Kafka.TopicPrefix = v
	}
	if v, ok := lookup("SWITCHYARD_SCHEMA_REGISTRY_URL"); ok {
		c.SchemaRegistry.URL = v
	}
	if v, ok := lookup("SWITCHYARD_OUTPUT_FORMAT"); ok && v != "" {
		c.OutputFormat = v
	}
	if v, ok := lookup("SWITCHYARD_CLICKHOUSE_ADDR"); ok {
		c.ClickHouse.Addr = v
	}
	if v, ok := lookup("SWITCHYARD_CLICKHOUSE_DATABASE"); ok && v != "" {
		c.ClickHouse.Database = v
	}
	if v, ok := lookup("SWITCHYARD_METRICS_ADDR"); ok {
		c.Metrics.Addr = v
	}
	if v, ok := lookup("SWITCHYARD_GATEWAY_ADDR"); ok && v != "" {
		c.Gateway.Addr = v
	}
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (c *Config) applyDefaults() {
	if len(c.Kafka.Brokers) == 0 {
		c.Kafka.Brokers = []string{"127.0.0.1:9092"}
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	if c.Kafka.ClientID == "" {
		c.Kafka.ClientID = "switchyard"
	}
	def(&c.Kafka.Partitions, 12)
	def(&c.Kafka.ReplicationFactor, 1)
	defD(&c.Kafka.SessionTimeout, 45*time.Second)
	if c.Kafka.CreateTopics == nil {
		t := true
		c.Kafka.CreateTopics = &t
	}
	if c.OutputFormat == "" {
		c.OutputFormat = "auto"
	}
	if c.ClickHouse.Database == "" {
		c.ClickHouse.Database = "switchyard"
	}
	if c.ClickHouse.Username == "" {
		c.ClickHouse.Username = "default"
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		defD(&p.Timeout, 60*time.Second)
		def(&p.MaxConcurrency, 256)
		p.Resilience = p.Resilience.WithDefaults(p.Timeout, p.MaxConcurrency)
	}
	def(&c.Router.Concurrency, 8)
	def(&c.Router.MaxInFlight, 2048)
	def(&c.Worker.Concurrency, 8)
	def(&c.Worker.MaxInFlight, 2048)
	defD(&c.Worker.DefaultDeadline, 120*time.Second)
	defD(&c.Worker.DrainTimeout, 15*time.Second)
	def(&c.Worker.AttemptBudget, 6)
	def(&c.Worker.MaxAnswerBytes, 512<<10)
	if c.Worker.ToolCallRetries == nil {
		one := 1
		c.Worker.ToolCallRetries = &one
	}
	if c.Worker.ContentFilter == "" {
		c.Worker.ContentFilter = "fail"
	}
	defD(&c.Worker.HealthInterval, 5*time.Second)
	def(&c.Analytics.BatchRows, 5000)
	defD(&c.Analytics.FlushInterval, time.Second)
	defD(&c.Analytics.BodyTTL, 7*24*time.Hour)
	g := &c.Gateway
	if g.Addr == "" {
		g.Addr = "127.0.0.1:8080"
	}
	if g.ReplyPartition == nil {
		auto := -1
		g.ReplyPartition = &auto
	}
	def(&g.MaxInFlight, 1024)
	defD(&g.DefaultDeadline, 120*time.Second)
	defD(&g.IdempotencyTTL, 10*time.Minute)
	if g.DefaultTaskType == "" {
		g.DefaultTaskType = "chat"
	}
	if g.DefaultPriority == "" {
		g.DefaultPriority = "interactive"
	}
	if g.MaxBodyBytes == 0 {
		g.MaxBodyBytes = 4 << 20
	}
}

var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// headerName is an HTTP header name (an RFC 9110 token).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// ProviderKinds are the adapter kinds this build knows.
var ProviderKinds = []string{"openai", "anthropic", "gemini", "groq", "xai", "mistral", "deepseek", "together", "ollama", "vllm", "openai-compatible"}

// Validate lists every problem, field by field, joined into one error.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for i, b := range c.Kafka.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			add("kafka.brokers[%d]: %q is not host:port", i, b)
		}
	}
	if c.Kafka.Partitions < 1 {
		add("kafka.partitions: must be >= 1")
	}
	if c.Kafka.SessionTimeout < 6*time.Second || c.Kafka.SessionTimeout > 30*time.Minute {
		add("kafka.session_timeout: %s is outside Kafka's default bounds 6s..30m", c.Kafka.SessionTimeout)
	}
	if id := c.Kafka.InstanceID; id != "" && !regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`).MatchString(id) {
		add("kafka.instance_id: %q may hold only letters, digits, '.', '_' and '-'", id)
	}
	if c.Kafka.ReplicationFactor < 1 {
		add("kafka.replication_factor: must be >= 1")
	}
	if c.Kafka.TopicPrefix != "" && !regexp.MustCompile(`^[A-Za-z0-9._-]+$`).MatchString(c.Kafka.TopicPrefix) {
		add("kafka.topic_prefix: %q may hold only letters, digits, '.', '_' and '-'", c.Kafka.TopicPrefix)
	}
	if u := c.SchemaRegistry.URL; u != "" && !isHTTPURL(u) {
		add("schema_registry.url: %q is not an http(s) URL", u)
	}
	if !slices.Contains([]string{"auto", "confluent", "single-object", "json"}, c.OutputFormat) {
		add("output_format: %q is not one of auto, confluent, single-object, json", c.OutputFormat)
	}
	if c.OutputFormat == "confluent" && c.SchemaRegistry.URL == "" {
		add("output_format: confluent needs schema_registry.url")
	}
	if a := c.ClickHouse.Addr; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			add("clickhouse.addr: %q is not host:port", a)
		}
	}
	if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(c.ClickHouse.Database) {
		add("clickhouse.database: %q is not a valid identifier", c.ClickHouse.Database)
	}
	names := map[string]bool{}
	if len(c.Providers) == 0 {
		add("providers: at least one provider is required")
	}
	for i, p := range c.Providers {
		f := fmt.Sprintf("providers[%d]", i)
		switch {
		case !providerName.MatchString(p.Name):
			add("%s.name: %q must be lower-case letters, digits, '_' or '-' (it names a topic)", f, p.Name)
		case names[p.Name]:
			add("%s.name: duplicate provider %q", f, p.Name)
		}
		names[p.Name] = true
		if !slices.Contains(ProviderKinds, p.Kind) {
			add("%s.kind: %q is not one of %s", f, p.Kind, strings.Join(ProviderKinds, ", "))
		}
		switch {
		case p.BaseURL == "" && p.Kind == "openai-compatible":
			add("%s.base_url: required for kind openai-compatible", f)
		case p.BaseURL != "" && !isHTTPURL(p.BaseURL):
			add("%s.base_url: %q is not an http(s) URL", f, p.BaseURL)
		}
		for k, v := range p.Headers {
			if !headerName.MatchString(k) || strings.ContainsAny(v, "\r\n\x00") {
				add("%s.headers: %q is not a valid header name and value", f, k)
			}
		}
		if p.APIKeyEnv != "" && p.APIKeyFile != "" {
			add("%s: set api_key_env or api_key_file, not both", f)
		}
		if p.Timeout < 0 {
			add("%s.timeout: must be > 0", f)
		}
		if p.MaxConcurrency < 0 {
			add("%s.max_concurrency: must be > 0", f)
		}
		errs = append(errs, p.Resilience.Validate(f+".resilience")...)
	}
	if err := c.Routing.Validate(names); err != nil {
		errs = append(errs, err)
	}
	for i, p := range c.Worker.Providers {
		if !names[p] {
			add("worker.providers[%d]: unknown provider %q", i, p)
		}
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"router.concurrency", c.Router.Concurrency}, {"router.max_in_flight", c.Router.MaxInFlight},
		{"worker.concurrency", c.Worker.Concurrency}, {"worker.max_in_flight", c.Worker.MaxInFlight},
		{"worker.attempt_budget", c.Worker.AttemptBudget}, {"worker.max_answer_bytes", c.Worker.MaxAnswerBytes},
		{"analytics.batch_rows", c.Analytics.BatchRows}} {
		if v.n < 1 {
			add("%s: must be >= 1", v.name)
		}
	}
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"worker.default_deadline", c.Worker.DefaultDeadline}, {"worker.drain_timeout", c.Worker.DrainTimeout},
		{"worker.health_interval", c.Worker.HealthInterval},
		{"analytics.flush_interval", c.Analytics.FlushInterval}} {
		if v.d <= 0 {
			add("%s: must be > 0", v.name)
		}
	}
	if c.Analytics.BodyTTL < time.Hour {
		add("analytics.body_ttl: %s is below 1h", c.Analytics.BodyTTL)
	}
	if a := c.Analytics.DashboardAddr; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil {
			add("analytics.dashboard_addr: %q is not host:port", a)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			add("analytics.dashboard_addr: %q: port %q is not a number within 0..65535", a, port)
		}
	}
	if n := *c.Worker.ToolCallRetries; n < 0 || n > 2 {
		add("worker.tool_call_retries: %d is not within 0..2", n)
	}
	if c.Worker.ContentFilter != "fail" && c.Worker.ContentFilter != "fallback" {
		add("worker.content_filter: %q is not fail or fallback", c.Worker.ContentFilter)
	}
	if a := c.Metrics.Addr; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			add("metrics.addr: %q is not host:port", a)
		}
	}
	errs = append(errs, c.Gateway.validate()...)
	if len(errs) == 0 {
		return nil
	}
	return &Error{Problems: errs}
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (g *Gateway) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(g.Addr); err != nil {
		add("gateway.addr: %q is not host:port", g.Addr)
	}
	seen := map[string]bool{}
	for i, k := range g.Keys {
		f := fmt.Sprintf("gateway.keys[%d]", i)
		switch {
		case !hexSHA256.MatchString(k.SHA256):
			add("%s.sha256: not 64 lower-case hex digits (the SHA-256 of the key; `switchyard gateway hash-key` prints it)", f)
		case seen[k.SHA256]:
			add("%s.sha256: the same key is listed twice", f)
		}
		seen[k.SHA256] = true
		if k.Tenant == "" {
			add("%s.tenant: required", f)
		}
		if k.Name == "" {
			add("%s.name: required (it labels the key in logs)", f)
		}
	}
	if *g.ReplyPartition < -1 {
		add("gateway.reply_partition: %d is below -1 (auto)", *g.ReplyPartition)
	}
	if g.MaxInFlight < 1 {
		add("gateway.max_in_flight: must be >= 1")
	}
	if g.DefaultDeadline <= 0 || g.IdempotencyTTL <= 0 {
		add("gateway.default_deadline and gateway.idempotency_ttl: must be > 0")
	}
	if !slices.Contains([]string{"interactive", "batch", "background"}, g.DefaultPriority) {
		add("gateway.default_priority: %q is not one of interactive, batch, background", g.DefaultPriority)
	}
	if g.MaxBodyBytes < 1024 {
		add("gateway.max_body_bytes: %d is below 1024", g.MaxBodyBytes)
	}
	return errs
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Error is an invalid configuration: every problem found, one per line.
type Error struct{ Problems []error }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration (" + strconv.Itoa(len(e.Problems)) + " problems):")
	for _, p := range e.Problems {
		for _, line := range strings.Split(p.Error(), "\n") {
			b.WriteString("\n  - " + line)
		}
	}
	return b.String()
}

// Topics are the topic names after the prefix.
type Topics struct {
	Requests, Responses, Stream, Audit, DLQ, Health string
	// Spend is the compacted topic of the router replicas' tenant spend (docs/budgets.md).
	Spend string
	// SinkDLQ receives what the ClickHouse sink cannot store (docs/analytics.md).
	SinkDLQ string
	// Cancels carries callers' cancellations of requests (docs/gateway.md).
	Cancels string
	prefix  string
}

// Work is the work topic of a provider.
func (t Topics) Work(provider string) string { return t.prefix + "llm.work." + provider }

// Topics returns the topic names for this configuration.
func (c *Config) Topics() Topics {
	p := c.Kafka.TopicPrefix
	return Topics{
		Requests: p + "llm.requests", Responses: p + "llm.responses", Stream: p + "llm.responses.stream",
		Audit: p + "llm.audit", DLQ: p + "llm.dlq", Health: p + "llm.provider.health", Spend: p + "llm.spend", SinkDLQ: p + "llm.sink.dlq", Cancels: p + "llm.cancels", prefix: p,
	}
}

// Provider returns the provider with the given name.
func (c *Config) Provider(name string) (Provider, bool) {
	for _, p := range c.Providers {
		if p.Name == name {
			return p, true
		}
	}
	return Provider{}, false
}

// ParsePartial builds a config from the defaults and the environment alone, for commands that
// need only the Kafka or ClickHouse addresses (produce, consume, migrate, report). Providers
// and routing stay empty and are not validated.
func ParsePartial(lookup func(string) (string, bool)) (*Config, error) {
	var c Config
	c.applyEnv(lookup)
	c.applyDefaults()
	err := c.Validate()
	var ce *Error
	if errors.As(err, &ce) {
		var keep []error
		for _, p := range ce.Problems {
			msg := p.Error()
			if !strings.HasPrefix(msg, "providers") && !strings.HasPrefix(msg, "routing.") {
				keep = append(keep, p)
			}
		}
		if len(keep) > 0 {
			return nil, &Error{Problems: keep}
		}
	}
	return &c, nil
}
