package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/analytics"
	"github.com/switchyard-llm/switchyard/gateway"
	"github.com/switchyard-llm/switchyard/internal/config"
	"github.com/switchyard-llm/switchyard/schemas"
)

//go:embed demo.yaml
var demoYAML string

type demoFlags struct {
	requests    int
	rate        float64
	summaryJSON string
	latency     time.Duration
	jitter      time.Duration
	poisonEvery int
	streamEvery int
	toolsEvery  int
	timeout     time.Duration
	logLevel    string
	live        bool
	dashboard   string
	gateway     string
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	var f demoFlags
	fs.IntVar(&f.requests, "requests", 0, "exit after this many terminal outcomes (0: run until interrupted)")
	fs.Float64Var(&f.rate, "rate", 1000, "requests per second sent by the load generator (0: as fast as possible)")
	fs.StringVar(&f.summaryJSON, "summary-json", "", "write the final summary as JSON to this file")
	fs.DurationVar(&f.latency, "latency", 20*time.Millisecond, "simulated provider latency")
	fs.DurationVar(&f.jitter, "jitter", 10*time.Millisecond, "uniform jitter added to the simulated latency")
	fs.IntVar(&f.poisonEvery, "poison-every", 100, "make every n-th record a poison record for the DLQ (0: none)")
	fs.IntVar(&f.streamEvery, "stream-every", 10, "make every n-th request a streaming one (0: none)")
	fs.IntVar(&f.toolsEvery, "tools-every", 8, "make every n-th request offer tools and ask for a call (0: none)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "with --requests: give up waiting for outcomes after this long")
	fs.StringVar(&f.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	fs.BoolVar(&f.live, "live", isTerminal(stdout), "redraw a live view (default when stdout is a terminal)")
	fs.StringVar(&f.dashboard, "dashboard-addr", "127.0.0.1:8090", "serve the analytics dashboard here while the demo runs, with ClickHouse (empty: off)")
	fs.StringVar(&f.gateway, "gateway-addr", "127.0.0.1:8080", "serve the OpenAI-compatible gateway here while the demo runs (key "+demoGatewayKey+"; empty: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(stderr, f.logLevel)
	s, err := startStack(ctx, stackOptions{SimLatency: f.latency, SimJitter: f.jitter, DashboardAddr: f.dashboard, GatewayAddr: f.gateway}, log)
	if err != nil {
		return err
	}
	defer s.close()
	runID := fmt.Sprintf("run-%d", time.Now().UnixNano())
	ledger := s.startLoad(LoadConfig{RunID: runID, Requests: f.requests, Rate: f.rate, PoisonEvery: f.poisonEvery, StreamEvery: f.streamEvery, ToolsEvery: f.toolsEvery})
	fmt.Fprintf(stdout, "Switchyard demo: in-process Kafka (kfake) %s, schema registry (srfake), provider simulator %s\n",
		strings.Join(s.cluster.ListenAddrs(), ","), s.simURL)
	if s.app.gatewayAddr != "" {
		fmt.Fprintf(stdout, "gateway: http://%s/v1 (OpenAI-compatible; key %s), e.g.\n  curl -s http://%s/v1/chat/completions -H 'Authorization: Bearer %s' -d '{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}'\n",
			s.app.gatewayAddr, demoGatewayKey, s.app.gatewayAddr, demoGatewayKey)
	}
	if s.cfg.ClickHouse.Addr != "" {
		fmt.Fprintf(stdout, "analytics: writing to ClickHouse %s, database %s\n", s.cfg.ClickHouse.Addr, s.cfg.ClickHouse.Database)
		if a := s.cfg.Analytics.DashboardAddr; a != "" {
			fmt.Fprintf(stdout, "dashboard: http://%s/ (while the demo runs)\n", a)
		}
	} else {
		fmt.Fprintln(stdout, "analytics: off (set SWITCHYARD_CLICKHOUSE_ADDR=127.0.0.1:9000 to write to ClickHouse)")
	}
	summary, err := s.wait(ctx, ledger, f, stdout)
	if err != nil {
		return err
	}
	if s.cfg.ClickHouse.Addr != "" {
		s.printClickHouse(ctx, stdout, runID, summary.OK+summary.Errors)
	}
	if f.summaryJSON != "" {
		if err := writeJSON(f.summaryJSON, summary); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "summary written to", f.summaryJSON)
	}
	if summary.Lost > 0 {
		return fmt.Errorf("%d requests lost", summary.Lost)
	}
	return nil
}

// stackOptions say how to assemble a whole pipeline in one process: for the demo, the
// benchmark and tests.
type stackOptions struct {
	// Brokers of a real Kafka cluster; empty starts an in-process kfake cluster.
	Brokers []string
	// TopicPrefix isolates a run's topics on a shared broker.
	TopicPrefix string
	Partitions  int
	SimLatency  time.Duration
	SimJitter   time.Duration
	// NoClickHouse turns analytics off even when SWITCHYARD_CLICKHOUSE_ADDR is set.
	NoClickHouse bool
	// DashboardAddr serves the analytics dashboard (with ClickHouse only); empty: off.
	DashboardAddr string
	// GatewayAddr serves the OpenAI-compatible gateway with the key demoGatewayKey; empty: off.
	GatewayAddr string
}

// demoGatewayKey is the bearer key of the demo's gateway (tenant acme).
const demoGatewayKey = "sk-switchyard-demo"

// stack is a running pipeline with its simulator, load generator and verifier.
type stack struct {
	cfg     *config.Config
	cluster *kfake.Cluster // nil on a real broker
	reg     *srfake.Registry
	simSrv  *sim.Server
	simURL  string
	app     *App
	codecs  map[string]*schemas.Codec // per input encoding
	ledgers ledgers
	runCtx  context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	log     *slog.Logger
}

// startLoad sends traffic in the background and returns the ledger that tracks its outcomes.
func (d *stack) startLoad(load LoadConfig) *Ledger {
	l := NewLedger(load.Requests)
	d.ledgers.add(l)
	load.Topic = d.cfg.Topics().Requests
	if load.RunID == "" {
		load.RunID = fmt.Sprintf("run-%d", time.Now().UnixNano())
	}
	if len(load.Encodings) == 0 {
		load.Encodings = []string{"json", "single-object", "confluent"}
	}
	gen := newGenerator(load, d.codecs)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		prod, err := kgo.NewClient(kgo.SeedBrokers(d.cfg.Kafka.Brokers...), kgo.ProducerLinger(time.Millisecond))
		if err != nil {
			d.log.Error("load generator", "err", err)
			return
		}
		defer prod.Close()
		if err := runLoad(d.runCtx, prod, gen, l); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("load generator", "err", err)
		}
	}()
	return l
}

func startStack(ctx context.Context, o stackOptions, log *slog.Logger) (*stack, error) {
	d := &stack{log: log}
	var err error
	if d.simSrv, err = sim.NewServer(sim.Config{Latency: sim.Latency{Base: o.SimLatency, Jitter: o.SimJitter}}); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	if d.simURL, err = d.simSrv.Start("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	cfgText := strings.ReplaceAll(demoYAML, "{{SIM}}", d.simURL)
	if d.cfg, err = config.Parse([]byte(cfgText), os.LookupEnv); err != nil {
		d.close()
		return nil, fmt.Errorf("demo config: %w", err)
	}
	if o.Partitions > 0 {
		d.cfg.Kafka.Partitions = o.Partitions
	}
	if o.NoClickHouse {
		d.cfg.ClickHouse.Addr = ""
	}
	d.cfg.Analytics.DashboardAddr = o.DashboardAddr
	d.cfg.Kafka.TopicPrefix = o.TopicPrefix
	if len(o.Brokers) > 0 {
		d.cfg.Kafka.Brokers = o.Brokers
	} else {
		if d.cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(d.cfg.Kafka.Partitions)); err != nil {
			d.close()
			return nil, fmt.Errorf("kfake: %w", err)
		}
		d.cfg.Kafka.Brokers = d.cluster.ListenAddrs()
	}
	d.reg = srfake.New()
	regClient, err := sr.NewClient(sr.URLs(d.reg.URL()))
	if err != nil {
		d.close()
		return nil, err
	}
	if d.app, err = NewApp(d.cfg, AppOptions{Logger: log, Registry: regClient}); err != nil {
		d.close()
		return nil, err
	}
	if err := d.app.Prepare(ctx); err != nil {
		d.close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	roles := allRoles
	if o.GatewayAddr != "" {
		d.cfg.Gateway.Addr = o.GatewayAddr
		d.cfg.Gateway.Keys = []config.GatewayKey{{Name: "demo", Tenant: "acme", SHA256: gateway.HashKey(demoGatewayKey)}}
		roles = append(slices.Clone(allRoles), RoleGateway)
	}
	if err := d.app.Start(runCtx, roles, nil); err != nil {
		d.close()
		if o.GatewayAddr != "" {
			return nil, fmt.Errorf("%w (--gateway-addr \"\" turns the demo's gateway off)", err)
		}
		return nil, err
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.app.Run(runCtx); err != nil {
			log.Error("pipeline stopped", "err", err)
		}
	}()

	d.codecs = map[string]*schemas.Codec{"confluent": d.app.Codec()}
	for _, format := range []string{"json", "single-object"} {
		c, err := schemas.NewCodec(schemas.CodecOptions{OutputFormat: schemas.OutputFormat(format)})
		if err != nil {
			d.close()
			return nil, err
		}
		d.codecs[format] = c
	}
	t := d.cfg.Topics()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := verify(runCtx, d.cfg.Kafka.Brokers, nil, d.app.Codec(), t.Responses, t.DLQ, &d.ledgers, log); err != nil {
			log.Error("verifier", "err", err)
		}
	}()
	d.runCtx = runCtx
	return d, nil
}

// wait shows progress until the ledger is done, the timeout passes or ctx ends.
func (d *stack) wait(ctx context.Context, l *Ledger, f demoFlags, w io.Writer) (Summary, error) {
	var timeout <-chan time.Time
	if f.requests > 0 {
		timeout = time.After(f.timeout)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	view := &liveView{w: w, live: f.live, target: f.requests, breakers: d.app.breakerStates}
	for {
		select {
		case <-l.Done():
			s := l.Summary()
			s.Breakers = d.app.breakerStates()
			view.draw(s, true)
			return s, nil
		case <-timeout:
			s := l.Summary()
			view.draw(s, true)
			return s, fmt.Errorf("timed out after %s with %d of %d outcomes", f.timeout, s.OK+s.Errors+s.DLQ, f.requests)
		case <-ctx.Done():
			s := l.Summary()
			view.draw(s, true)
			return s, nil
		case <-tick.C:
			view.draw(l.Summary(), false)
		}
	}
}

// printClickHouse waits (up to a minute) until the sink has stored every outcome of this run,
// so that what the demo leaves in ClickHouse is whole, then prints cost by provider from there.
func (d *stack) printClickHouse(ctx context.Context, w io.Writer, runID string, outcomes int) {
	conn, err := openClickHouse(ctx, d.cfg)
	if err != nil {
		fmt.Fprintln(w, "clickhouse:", err)
		return
	}
	defer conn.Close()
	q := "SELECT count() FROM " + d.cfg.ClickHouse.Database + ".v_requests WHERE request_id LIKE '" + runID + "/%'"
	deadline := time.Now().Add(time.Minute)
	for {
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			fmt.Fprintln(w, "clickhouse:", err)
			return
		}
		if int(n) >= outcomes {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			fmt.Fprintf(w, "clickhouse: only %d of this run's %d outcomes stored after a minute\n", n, outcomes)
			break
		}
		time.Sleep(d.cfg.Analytics.FlushInterval)
	}
	rows, err := analytics.CostByProvider(ctx, conn, d.cfg.ClickHouse.Database)
	if err != nil {
		fmt.Fprintln(w, "clickhouse:", err)
		return
	}
	fmt.Fprintln(w, "\nFrom ClickHouse (all runs so far), cost by provider and model:")
	fmt.Fprintf(w, "  %-10s %-26s %10s %12s\n", "provider", "model", "requests", "cost USD")
	for _, r := range rows {
		fmt.Fprintf(w, "  %-10s %-26s %10d %12.6f\n", r.Provider, r.Model, r.Requests, r.CostUSD)
	}
}

func (d *stack) close() {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	if d.app != nil {
		d.app.Close()
	}
	if d.reg != nil {
		d.reg.Close()
	}
	if d.cluster != nil {
		d.cluster.Close()
	}
	if d.simSrv != nil {
		d.simSrv.Close()
	}
}

// liveView draws progress: redrawn in place on a terminal, a line every few seconds otherwise.
type liveView struct {
	w        io.Writer
	live     bool
	target   int
	breakers func() map[string]string
	lines    int
	lastDraw time.Time
	lastDone int
	lastAt   time.Time
	rate     float64
}

func (v *liveView) draw(s Summary, final bool) {
	now := time.Now()
	done := s.OK + s.Errors + s.DLQ
	if !v.lastAt.IsZero() {
		if dt := now.Sub(v.lastAt).Seconds(); dt > 0 {
			v.rate = float64(done-v.lastDone) / dt
		}
	}
	v.lastDone, v.lastAt = done, now
	if !v.live && !final && now.Sub(v.lastDraw) < 2*time.Second {
		return
	}
	v.lastDraw = now
	var b strings.Builder
	if v.target > 0 {
		width := 30
		filled := min(width, done*width/max(v.target, 1))
		fmt.Fprintf(&b, "progress  [%s%s] %d / %d   elapsed %.1fs\n", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, v.target, s.ElapsedS)
	} else {
		fmt.Fprintf(&b, "progress  %d outcomes   elapsed %.1fs   (Ctrl-C to stop)\n", done, s.ElapsedS)
	}
	pending := s.Requests - done - s.SendFailed
	if final {
		fmt.Fprintf(&b, "outcomes  ok %d (%d after a fallback)  error %d  dlq %d  lost %d  duplicates %d\n", s.OK, s.Fallbacks, s.Errors, s.DLQ, s.Lost, s.Duplicates)
	} else {
		fmt.Fprintf(&b, "outcomes  ok %d (%d after a fallback)  error %d  dlq %d  in flight %d  duplicates %d\n", s.OK, s.Fallbacks, s.Errors, s.DLQ, max(pending, 0), s.Duplicates)
	}
	fmt.Fprintf(&b, "guard     %d failed attempts behind the outcomes, %d hedged   breakers %s\n", s.FailedAttempts, s.Hedged, v.breakerLine())
	fmt.Fprintf(&b, "rate      %.0f req/s now, %.0f avg   latency p50 %.1f ms  p99 %.1f ms  max %.1f ms   cost $%.6f\n",
		v.rate, s.ThroughputRPS, s.P50MS, s.P99MS, s.MaxMS, s.CostUSD)
	fmt.Fprintf(&b, "%-10s %9s %8s %12s\n", "provider", "ok", "errors", "cost USD")
	provs := make([]string, 0, len(s.ByProvider))
	for p := range s.ByProvider {
		provs = append(provs, p)
	}
	sort.Strings(provs)
	for _, p := range provs {
		ps := s.ByProvider[p]
		name := p
		if name == "" {
			name = "(none)"
		}
		fmt.Fprintf(&b, "%-10s %9d %8d %12.6f\n", name, ps.OK, ps.Errors, ps.CostUSD)
	}
	if len(s.DLQReasons) > 0 || len(s.ErrorCodes) > 0 {
		fmt.Fprintf(&b, "dlq reasons %v   error codes %v\n", s.DLQReasons, s.ErrorCodes)
	}
	out := b.String()
	if v.live && v.lines > 0 {
		fmt.Fprintf(v.w, "\033[%dA\033[J", v.lines)
	}
	fmt.Fprint(v.w, out)
	if !v.live {
		fmt.Fprintln(v.w)
	}
	v.lines = strings.Count(out, "\n")
}

// breakerLine names the breakers that are not closed, or says all are.
func (v *liveView) breakerLine() string {
	if v.breakers == nil {
		return "-"
	}
	states := v.breakers()
	if len(states) == 0 {
		return "all closed"
	}
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + states[k]
	}
	return strings.Join(parts, ", ")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
