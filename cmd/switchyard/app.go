package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/anthropic"
	"github.com/switchyard-llm/switchyard/adapters/gemini"
	"github.com/switchyard-llm/switchyard/adapters/openai"
	"github.com/switchyard-llm/switchyard/analytics"
	"github.com/switchyard-llm/switchyard/analytics/dashboard"
	"github.com/switchyard-llm/switchyard/consumers"
	"github.com/switchyard-llm/switchyard/consumers/roles"
	"github.com/switchyard-llm/switchyard/internal/config"
	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/resilience"
	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Roles a process can run.
const (
	RoleRouter    = "router"
	RoleWorker    = "worker"
	RoleAnalytics = "analytics"
	RoleGateway   = "gateway"
)

// allRoles run by default; knownRoles are every role a process can run (the gateway needs
// keys in the config, so it runs only when asked for).
var (
	allRoles   = []string{RoleRouter, RoleWorker, RoleAnalytics}
	knownRoles = []string{RoleRouter, RoleWorker, RoleAnalytics, RoleGateway}
)

// App is a set of running roles built from one config. demo, run and the integration tests all
// start the pipeline through it.
type App struct {
	cfg    *config.Config
	log    *slog.Logger
	codec  *schemas.Codec
	router *router.Router
	reg    prometheus.Registerer
	// kafkaOpts are added to every Kafka client (kfake seeds in the demo, dialers in tests).
	kafkaOpts []kgo.Opt

	// guard is the workers' resilience state (nil without the worker role), for views.
	guard *roles.Guard
	// metrics are the roles' request-path metrics, shared by every role of the process.
	metrics *roles.Metrics
	// health is what /healthz and /readyz report.
	health health
	// cancels are the cancelled requests, read from llm.cancels by routers and workers.
	cancels *roles.Cancels
	// gatewayAddr is where the gateway role listens, once it does.
	gatewayAddr string

	mu      sync.Mutex
	closers []func()
	runners []func(context.Context) error
}

// AppOptions are what the caller supplies beyond the config.
type AppOptions struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	KafkaOpts  []kgo.Opt
	// Registry overrides the registry client built from the config (the demo's srfake).
	Registry *sr.Client
	// HTTPClient is used for provider calls. Default: a tuned keep-alive client.
	HTTPClient *http.Client
}

// NewApp validates the pieces every role shares: the codec (and registry) and the router.
func NewApp(cfg *config.Config, o AppOptions) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	reg := o.Registry
	if reg == nil && cfg.SchemaRegistry.URL != "" {
		var err error
		reg, err = sr.NewClient(sr.URLs(cfg.SchemaRegistry.URL))
		if err != nil {
			return nil, fmt.Errorf("schema registry: %w", err)
		}
	}
	codec, err := schemas.NewCodec(schemas.CodecOptions{Registry: reg, OutputFormat: schemas.OutputFormat(cfg.OutputFormat)})
	if err != nil {
		return nil, err
	}
	rt, err := router.New(cfg.Routing)
	if err != nil {
		return nil, err
	}
	return &App{cfg: cfg, log: o.Logger, codec: codec, router: rt, reg: o.Registerer, kafkaOpts: o.KafkaOpts,
		metrics: roles.NewMetrics(o.Registerer)}, nil
}

// Codec is the app's codec (for load generators and verifiers sharing its registry).
func (a *App) Codec() *schemas.Codec { return a.codec }

func (a *App) topics() roles.Topics {
	t := a.cfg.Topics()
	return roles.Topics{Requests: t.Requests, Responses: t.Responses, Stream: t.Stream,
		Audit: t.Audit, DLQ: t.DLQ, Work: t.Work}
}

// Prepare registers the schemas and creates the topics.
func (a *App) Prepare(ctx context.Context) error {
	if err := a.codec.Register(ctx); err != nil {
		return fmt.Errorf("register schemas: %w", err)
	}
	if !*a.cfg.Kafka.CreateTopics {
		return nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(a.cfg.Kafka.Brokers...)}, a.kafkaOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	t := a.cfg.Topics()
	parts, rf := int32(a.cfg.Kafka.Partitions), int16(a.cfg.Kafka.ReplicationFactor)
	specs := []producers.TopicSpec{
		{Name: t.Requests, Partitions: parts, ReplicationFactor: rf},
		{Name: t.Responses, Partitions: parts, ReplicationFactor: rf},
		{Name: t.Stream, Partitions: parts, ReplicationFactor: rf},
		{Name: t.Audit, Partitions: parts, ReplicationFactor: rf},
		{Name: t.DLQ, Partitions: parts, ReplicationFactor: rf},
		{Name: t.SinkDLQ, Partitions: parts, ReplicationFactor: rf},
		// Cancels matter for minutes: a day's retention leaves room for a late reader.
		{Name: t.Cancels, Partitions: parts, ReplicationFactor: rf, Configs: map[string]string{"retention.ms": "86400000"}},
		{Name: t.Health, Partitions: 1, ReplicationFactor: rf, Configs: map[string]string{"cleanup.policy": "compact"}},
		// One partition: a replica's flush (its totals, then its checkpoint) lands in order.
		{Name: t.Spend, Partitions: 1, ReplicationFactor: rf, Configs: map[string]string{"cleanup.policy": "compact"}},
	}
	for _, p := range a.cfg.Providers {
		specs = append(specs, producers.TopicSpec{Name: t.Work(p.Name), Partitions: parts, ReplicationFactor: rf})
	}
	ectx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := producers.EnsureTopics(ectx, kadm.NewClient(cl), specs...); err != nil {
		if errors.Is(err, producers.ErrTopicMismatch) {
			a.log.Warn("existing topics differ from the config", "err", err)
			return nil
		}
		return fmt.Errorf("create topics: %w", err)
	}
	return nil
}

// Start builds and starts the given roles; they run until ctx ends. Wait returns when they stop.
func (a *App) Start(ctx context.Context, roles []string, httpClient *http.Client) error {
	for _, r := range roles {
		if !slices.Contains(knownRoles, r) {
			return fmt.Errorf("unknown role %q (roles: %s)", r, strings.Join(knownRoles, ", "))
		}
	}
	if slices.Contains(roles, RoleRouter) || slices.Contains(roles, RoleWorker) {
		if err := a.startCancelTail(); err != nil {
			return err
		}
	}
	if slices.Contains(roles, RoleRouter) {
		if err := a.startRouter(); err != nil {
			return err
		}
	}
	if slices.Contains(roles, RoleWorker) {
		if err := a.startWorkers(httpClient); err != nil {
			return err
		}
	}
	if slices.Contains(roles, RoleGateway) {
		if err := a.startGateway(ctx); err != nil {
			return err
		}
	}
	if slices.Contains(roles, RoleAnalytics) {
		if a.cfg.ClickHouse.Addr == "" {
			a.log.Info("analytics role skipped: no clickhouse.addr configured")
		} else if err := a.startAnalytics(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) startRouter() error {
	role := &roles.RouterRole{Codec: a.codec, Router: a.router, Topics: a.topics(), Logger: a.log, Metrics: a.metrics, Cancels: a.cancels}
	ready, err := a.startRouterState(role)
	if err != nil {
		return err
	}
	c, err := consumers.New(consumers.Config{
		Brokers:     a.cfg.Kafka.Brokers,
		Group:       a.group("switchyard-router"),
		Topics:      []string{a.cfg.Topics().Requests},
		ClientID:    a.cfg.Kafka.ClientID + "-router",
		InstanceID:  a.instanceID("router"),
		Concurrency: a.cfg.Router.Concurrency,
		MaxInFlight: a.cfg.Router.MaxInFlight,
		Handler:     role.Handle,
		OnPanic:     role.OnPanic,
		Logger:      a.log.With("role", RoleRouter),
		Registerer:  a.reg,
		ExtraOpts:   append(a.groupOpts(), a.replyPartitioner()),
	})
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	role.Client = c.Client()
	// Ready once the shared state is read and the consumer polls as a member of its group.
	a.health.addCheck(RoleRouter, func() (bool, string) {
		for _, ch := range ready {
			if !chanReady(ch) {
				return false, "reading provider health and tenant spend"
			}
		}
		return consumerReady(c)
	})
	// The router routes only once the shared state is read: a replica that routed before
	// reading llm.spend would admit requests against budgets it cannot see yet.
	a.add(func(ctx context.Context) error {
		for _, ch := range ready {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return c.Run(ctx)
	}, c.Close)
	return nil
}

// startRouterState starts the router's views of shared state, each with its own Kafka client:
// provider health from llm.provider.health, always; tenant spend through llm.spend (settled
// from llm.responses) when some tenant has a budget. It installs them in the router and the
// role, and returns what the router must wait for.
func (a *App) startRouterState(role *roles.RouterRole) ([]<-chan struct{}, error) {
	t := a.cfg.Topics()
	log := a.log.With("role", RoleRouter)
	health := router.NewHealthTable(router.DefaultHealthTTL, nil)
	tail, err := roles.NewHealthTail(roles.HealthTailConfig{Brokers: a.cfg.Kafka.Brokers, ExtraOpts: a.kafkaOpts,
		Topic: t.Health, Codec: a.codec, Table: health, Logger: log})
	if err != nil {
		return nil, err
	}
	a.router.SetHealth(health)
	a.add(tail.Run, tail.Close)
	ready := []<-chan struct{}{tail.Ready()}
	if len(a.router.Budgets()) == 0 {
		return ready, nil
	}
	// TenantBudget: the tenant's entry, else the "default" one (a cap per tenant, not a pool).
	ledger, err := router.NewLedger(router.LedgerConfig{ReplicaID: a.replicaID(), Limits: a.router.TenantBudget})
	if err != nil {
		return nil, err
	}
	spend, err := roles.NewSpendSync(roles.SpendSyncConfig{Brokers: a.cfg.Kafka.Brokers, ExtraOpts: a.kafkaOpts,
		SpendTopic: t.Spend, ResponsesTopic: t.Responses, AuditTopic: t.Audit, Codec: a.codec, Ledger: ledger, Logger: log, Registerer: a.reg})
	if err != nil {
		return nil, err
	}
	a.router.SetBudgets(ledger)
	role.Budgets = ledger
	a.add(spend.Run, spend.Close)
	log.Info("budgets shared through the spend topic", "topic", t.Spend, "replica", ledger.ReplicaID())
	return append(ready, spend.Ready()), nil
}

// replicaID names this router replica in llm.spend: the static instance id when one is set
// (a restart then takes its state back), else host and process id (unique; a restarted process
// starts afresh, and its former totals still count under the former id).
func (a *App) replicaID() string {
	if id := a.instanceID("router"); id != "" {
		return strings.ReplaceAll(id, "|", "_")
	}
	return strings.ReplaceAll(producers.DefaultInstanceID(), "|", "_")
}

func (a *App) startWorkers(httpClient *http.Client) error {
	serve := a.cfg.Worker.Providers
	if len(serve) == 0 {
		for _, p := range a.cfg.Providers {
			serve = append(serve, p.Name)
		}
	}
	// One guard and one adapter per provider for the whole process: a hedge to another
	// provider goes through that provider's breaker, cool-down and limits, whichever worker
	// sends it.
	settings := make(map[string]resilience.Settings, len(a.cfg.Providers))
	peers := make(map[string]adapters.Adapter, len(a.cfg.Providers))
	var probes []roles.Probe
	for _, p := range a.cfg.Providers {
		settings[p.Name] = p.Resilience
		client := httpClient
		if client == nil {
			client = resilience.NewHTTPClient(p.Resilience.Timeouts.Connect)
		} else {
			client = &http.Client{Transport: resilience.Transport(client.Transport)}
		}
		ad, err := buildAdapter(p, client)
		if err != nil {
			return err
		}
		peers[p.Name] = ad
		if hc := p.Resilience.HealthCheck; hc.Model != "" && slices.Contains(serve, p.Name) {
			probes = append(probes, roles.Probe{Provider: p.Name, Adapter: ad, Settings: hc})
		}
	}
	guard := roles.NewGuard(roles.GuardConfig{Settings: settings, Registerer: a.reg})
	windows := func(provider, version string) int {
		if m, ok := a.router.Model(version); ok && m.Provider == provider {
			return m.ContextWindow
		}
		return 0
	}
	var healthClient *kgo.Client
	for _, name := range serve {
		p, _ := a.cfg.Provider(name)
		role := &roles.WorkerRole{
			Provider: p.Name, Adapter: peers[p.Name], Codec: a.codec, Prices: a.router, Topics: a.topics(),
			Logger: a.log.With("role", RoleWorker, "provider", p.Name), DefaultDeadline: a.cfg.Worker.DefaultDeadline,
			Guard: guard, Peers: func(name string) adapters.Adapter { return peers[name] }, Windows: windows,
			AttemptBudget: a.cfg.Worker.AttemptBudget, ToolCallRetries: *a.cfg.Worker.ToolCallRetries,
			ContentFilterFallback: a.cfg.Worker.ContentFilter == "fallback", MaxAnswerBytes: a.cfg.Worker.MaxAnswerBytes,
			Metrics: a.metrics, Cancels: a.cancels,
		}
		concurrency := a.cfg.Worker.Concurrency
		if n := p.Resilience.Limits.PartitionInFlight; n > 0 {
			concurrency = n
		}
		c, err := consumers.New(consumers.Config{
			Brokers:      a.cfg.Kafka.Brokers,
			Group:        a.group("switchyard-worker-" + p.Name),
			Topics:       []string{a.cfg.Topics().Work(p.Name)},
			ClientID:     a.cfg.Kafka.ClientID + "-worker-" + p.Name,
			InstanceID:   a.instanceID("worker-" + p.Name),
			Concurrency:  concurrency,
			MaxInFlight:  a.cfg.Worker.MaxInFlight,
			DrainTimeout: a.cfg.Worker.DrainTimeout,
			Handler:      role.Handle,
			OnPanic:      role.OnPanic,
			Logger:       a.log.With("role", RoleWorker, "provider", p.Name),
			Registerer:   a.reg, // series are told apart by their group, switchyard-worker-<provider>
			ExtraOpts:    append(a.groupOpts(), a.replyPartitioner()),
		})
		if err != nil {
			return fmt.Errorf("worker %s: %w", p.Name, err)
		}
		role.Client = c.Client()
		if healthClient == nil {
			healthClient = c.Client()
		}
		a.health.addCheck(RoleWorker+":"+p.Name, func() (bool, string) { return consumerReady(c) })
		a.add(c.Run, c.Close)
	}
	if healthClient != nil {
		t := a.cfg.Topics()
		reporter := roles.NewHealthReporter(roles.HealthReporterConfig{
			Client: healthClient, Codec: a.codec, HealthTopic: t.Health, AuditTopic: t.Audit, Guard: guard,
			Source: a.replicaID(), Interval: a.cfg.Worker.HealthInterval, Probes: probes,
			Logger: a.log.With("role", RoleWorker),
		})
		a.add(reporter.Run, func() {})
	}
	a.guard = guard
	return nil
}

// group is a consumer group id: the topic prefix goes before it too, so that two environments
// sharing a cluster (e.g. "staging." and "prod.") never share a group.
func (a *App) group(name string) string { return a.cfg.Kafka.TopicPrefix + name }

// instanceID is this process's static member id in one role's group, or "" (dynamic).
func (a *App) instanceID(role string) string {
	if a.cfg.Kafka.InstanceID == "" {
		return ""
	}
	return a.cfg.Kafka.InstanceID + "-" + role
}

// replyPartitioner routes responses and stream chunks to the reply partition their request
// names (producers.HeaderReplyPartition), for the gateway instance that awaits them.
func (a *App) replyPartitioner() kgo.Opt {
	t := a.cfg.Topics()
	return kgo.RecordPartitioner(producers.ReplyPartitioner(t.Responses, t.Stream))
}

// startCancelTail starts reading llm.cancels into the process's Cancels, once.
func (a *App) startCancelTail() error {
	if a.cancels != nil {
		return nil
	}
	a.cancels = roles.NewCancels(0, nil)
	tail, err := roles.NewCancelTail(roles.CancelTailConfig{Brokers: a.cfg.Kafka.Brokers, ExtraOpts: a.kafkaOpts,
		Topic: a.cfg.Topics().Cancels, Codec: a.codec, Cancels: a.cancels, Logger: a.log})
	if err != nil {
		return err
	}
	a.add(tail.Run, tail.Close)
	return nil
}

// groupOpts are the options of every consumer-group client.
func (a *App) groupOpts() []kgo.Opt {
	return append([]kgo.Opt{kgo.SessionTimeout(a.cfg.Kafka.SessionTimeout)}, a.kafkaOpts...)
}

// breakerStates returns the breakers of this process that are not closed, "provider/model" →
// state (nil without the worker role).
func (a *App) breakerStates() map[string]string {
	if a.guard == nil {
		return nil
	}
	out := map[string]string{}
	for _, b := range a.guard.Breakers.Snapshot() {
		if b.State != resilience.StateClosed {
			out[b.Provider+"/"+b.Model] = b.State.String()
		}
	}
	return out
}

// buildAdapter names the concrete adapters: the only place that does.
func buildAdapter(p config.Provider, httpClient *http.Client) (adapters.Adapter, error) {
	var key adapters.Secret
	var err error
	switch {
	case p.APIKeyEnv != "":
		key, err = adapters.SecretFromEnv(p.APIKeyEnv)
	case p.APIKeyFile != "":
		key, err = adapters.SecretFromFile(p.APIKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", p.Name, err)
	}
	switch p.Kind {
	case "anthropic":
		return anthropic.New(anthropic.Config{Name: p.Name, BaseURL: p.BaseURL, APIKey: key, HTTPClient: httpClient, Headers: p.Headers})
	case "gemini":
		return gemini.New(gemini.Config{Name: p.Name, BaseURL: p.BaseURL, APIKey: key, HTTPClient: httpClient, Headers: p.Headers})
	}
	if flavor, ok := openAIFlavors[p.Kind]; ok {
		return openai.New(openai.Config{Name: p.Name, Flavor: flavor, BaseURL: p.BaseURL, APIKey: key, HTTPClient: httpClient, Headers: p.Headers})
	}
	return nil, fmt.Errorf("provider %s: unknown kind %q", p.Name, p.Kind)
}

// openAIFlavors maps the config kinds that speak Chat Completions to the adapter's flavors.
var openAIFlavors = map[string]openai.Flavor{
	"openai": openai.FlavorOpenAI, "groq": openai.FlavorGroq, "xai": openai.FlavorXAI,
	"mistral": openai.FlavorMistral, "deepseek": openai.FlavorDeepSeek, "together": openai.FlavorTogether,
	"ollama": openai.FlavorOllama, "vllm": openai.FlavorVLLM, "openai-compatible": openai.FlavorGeneric,
}

func (a *App) startAnalytics(ctx context.Context) error {
	conn, err := openClickHouse(ctx, a.cfg)
	if err != nil {
		return err
	}
	if err := analytics.Migrate(ctx, conn, a.cfg.ClickHouse.Database); err != nil {
		conn.Close()
		return fmt.Errorf("clickhouse migrate: %w", err)
	}
	// The dashboard binds before the sink starts, so a taken port fails the start at once. It
	// shares the sink's connection pool; its own bounds (query timeout, concurrency, cache) keep
	// it from crowding out the inserts.
	var dash *dashboard.Server
	if addr := a.cfg.Analytics.DashboardAddr; addr != "" {
		q, err := dashboard.NewClickHouseQuerier(conn, a.cfg.ClickHouse.Database)
		if err != nil {
			conn.Close()
			return err
		}
		o := dashboard.Options{Querier: q, Logger: a.log.With("role", RoleAnalytics, "component", "dashboard")}
		if name, p, ok := premiumModel(a.cfg.Routing, time.Now()); ok {
			o.Premium = &dashboard.Premium{Model: name, InputPerMTok: p.InputPerMTok, CachedInputPerMTok: p.CachedInputPerMTok, OutputPerMTok: p.OutputPerMTok}
		}
		h, err := dashboard.New(o)
		if err == nil {
			dash, err = dashboard.Listen(addr, h)
		}
		if err != nil {
			conn.Close()
			return fmt.Errorf("analytics.dashboard_addr: %w", err)
		}
	}
	t := a.cfg.Topics()
	sink, err := analytics.NewSink(analytics.SinkConfig{
		Brokers:         a.cfg.Kafka.Brokers,
		Group:           a.group("switchyard-analytics"),
		ResponsesTopic:  t.Responses,
		AuditTopic:      t.Audit,
		DeadLetterTopic: t.SinkDLQ,
		// Dead letters in the same format as every other output (llm.dlq's schema).
		EncodeDeadLetter: func(d schemas.DeadLetter) ([]byte, []kgo.RecordHeader, error) {
			v, err := a.codec.Encode(schemas.TypeDeadLetter, &d)
			return v, []kgo.RecordHeader{{Key: "content-type", Value: []byte(a.codec.ContentType())}}, err
		},
		Conn:          conn,
		Database:      a.cfg.ClickHouse.Database,
		BatchRows:     a.cfg.Analytics.BatchRows,
		FlushInterval: a.cfg.Analytics.FlushInterval,
		StoreBodies:   a.cfg.Analytics.StoreBodies,
		BodyTTL:       a.cfg.Analytics.BodyTTL,
		Decode:        a.decodeForSink,
		Logger:        a.log.With("role", RoleAnalytics),
		ExtraOpts:     a.kafkaOpts,
	})
	if err != nil {
		if dash != nil {
			dash.Close()
		}
		conn.Close()
		return err
	}
	a.watchSink(sink)
	if dash == nil {
		a.add(sink.Run, func() { sink.Close(); conn.Close() })
		return nil
	}
	a.add(sink.Run, sink.Close)
	a.add(dash.Run, func() { dash.Close(); conn.Close() }) // closers run in order: conn last
	a.log.Info("analytics dashboard", "url", dash.URL())
	return nil
}

// watchSink registers the analytics sink's metrics (its Stats) and its readiness: a sink exists
// only once the ClickHouse schema is migrated, and is ready once it joined its group.
func (a *App) watchSink(s *analytics.Sink) {
	if a.reg != nil {
		if err := a.reg.Register(sinkCollector{stats: s.Stats}); err != nil {
			a.log.Warn("analytics sink metrics not registered", "err", err)
		}
	}
	a.health.addCheck(RoleAnalytics, func() (bool, string) {
		if !s.Joined() {
			return false, "migrated; not joined to its group yet"
		}
		return true, "migrated and joined"
	})
}

func (a *App) decodeForSink(topic string, value []byte, headers []kgo.RecordHeader) (any, error) {
	ct := ""
	for _, h := range headers {
		if strings.EqualFold(h.Key, "content-type") {
			ct = string(h.Value)
		}
	}
	if topic == a.cfg.Topics().Responses {
		var r schemas.Response
		return &r, a.codec.Decode(schemas.TypeResponse, value, ct, &r)
	}
	var e schemas.AuditEvent
	return &e, a.codec.Decode(schemas.TypeAuditEvent, value, ct, &e)
}

func openClickHouse(ctx context.Context, cfg *config.Config) (clickhouse.Conn, error) {
	opts := &clickhouse.Options{
		Addr:        []string{cfg.ClickHouse.Addr},
		Auth:        clickhouse.Auth{Username: cfg.ClickHouse.Username},
		DialTimeout: 10 * time.Second,
	}
	if cfg.ClickHouse.PasswordEnv != "" {
		pw, err := adapters.SecretFromEnv(cfg.ClickHouse.PasswordEnv)
		if err != nil {
			return nil, fmt.Errorf("clickhouse password: %w", err)
		}
		opts.Auth.Password = pw.Reveal()
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.ClickHouse.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.ClickHouse.Addr, err)
	}
	return conn, nil
}

func (a *App) add(run func(context.Context) error, closer func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.runners = append(a.runners, run)
	a.closers = append(a.closers, closer)
}

// Run runs every started role until ctx ends or one fails; then stops them all.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	runners := slices.Clone(a.runners)
	a.mu.Unlock()
	errc := make(chan error, len(runners))
	a.health.running.Add(int64(len(runners)))
	a.health.started.Store(true)
	for _, run := range runners {
		go func() {
			err := run(ctx)
			a.health.running.Add(-1)
			a.health.exited.Add(1)
			if err != nil && ctx.Err() == nil {
				cancel()
			}
			errc <- err
		}()
	}
	var errs []error
	for range runners {
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	a.Close()
	return errors.Join(errs...)
}

// Close releases everything; safe to call more than once.
func (a *App) Close() {
	a.mu.Lock()
	closers := a.closers
	a.closers = nil
	a.mu.Unlock()
	for _, c := range closers {
		c()
	}
}

// deleteTopics deletes every topic whose name starts with prefix (tests and benchmarks clean
// up their runs with it: a broker holding thousands of stale partitions gets slower for all).
func deleteTopics(ctx context.Context, brokers []string, opts []kgo.Opt, prefix string) error {
	if prefix == "" {
		return errors.New("refusing to delete topics without a prefix")
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return err
	}
	var names []string
	for _, t := range topics.Names() {
		if strings.HasPrefix(t, prefix) {
			names = append(names, t)
		}
	}
	if len(names) == 0 {
		return nil
	}
	resp, err := adm.DeleteTopics(ctx, names...)
	if err != nil {
		return err
	}
	return resp.Error()
}
