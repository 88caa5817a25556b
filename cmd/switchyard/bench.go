package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/producers"
)

type benchFlags struct {
	brokers        string
	throughputN    int
	latencyN       int
	rate           float64
	simLatency     time.Duration
	out            string
	targets        string
	maxOutstanding int
	cpuProfile     string
	brokerNote     string
	repeat         int
}

// runBench measures the whole pipeline end to end: the highest throughput with zero loss, and
// the latency at a fixed open-loop rate beside the bare Kafka floor for the same three hops.
// Figures go to a Markdown report with the command and versions.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	var f benchFlags
	fs.StringVar(&f.brokers, "brokers", envOr("SWITCHYARD_TEST_KAFKA", "127.0.0.1:9092"), "real Kafka brokers")
	fs.StringVar(&f.targets, "targets", "kfake,kafka", "where to run: kfake (in-process), kafka (the real broker), or both")
	fs.IntVar(&f.throughputN, "requests", 30000, "requests in the throughput run")
	fs.IntVar(&f.latencyN, "latency-requests", 10000, "requests in the latency run")
	fs.Float64Var(&f.rate, "rate", 1000, "open-loop rate of the latency run (req/s)")
	fs.IntVar(&f.maxOutstanding, "max-outstanding", 8192, "produces in flight in the throughput run")
	fs.DurationVar(&f.simLatency, "sim-latency", 0, "simulated provider latency (subtracted from added latency)")
	fs.StringVar(&f.out, "out", "", "write the report (Markdown) to this file")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the last throughput run to this file (.<target> appended)")
	fs.StringVar(&f.brokerNote, "broker-note", "", "how the real broker runs (JVM flags, storage), for the report")
	fs.IntVar(&f.repeat, "repeat", 3, "repetitions per target; the report gives the median and the range")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(stderr, "error")
	cmdline := "switchyard bench " + strings.Join(args, " ")
	var results []benchResult
	for _, target := range strings.Split(f.targets, ",") {
		target = strings.TrimSpace(target)
		var brokers []string
		var broker string
		var cluster *kfake.Cluster
		switch target {
		case "kfake":
			var err error
			if cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(12)); err != nil {
				return err
			}
			brokers, broker = cluster.ListenAddrs(), "kfake (in-process)"
		case "kafka":
			brokers = strings.Split(f.brokers, ",")
			v, err := brokerVersion(ctx, brokers)
			if err != nil {
				return fmt.Errorf("real broker %s: %w (start it with `make services`)", f.brokers, err)
			}
			broker = "Apache Kafka " + v
		default:
			return fmt.Errorf("unknown target %q", target)
		}
		fmt.Fprintf(stdout, "== %s\n", broker)
		r, err := benchTarget(ctx, f, brokers, target, broker, log, stdout)
		if cluster != nil {
			cluster.Close()
		}
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	report := benchReport(cmdline, f, results)
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, report)
	if f.out != "" {
		if err := os.WriteFile(f.out, []byte(report), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "report written to", f.out)
	}
	return nil
}

type benchResult struct {
	Target, Broker string
	Runs           []benchRun
}

// benchRun is one repetition of the floor, latency and throughput measurements.
type benchRun struct {
	Floor           latencyFigures
	Latency         Summary
	Throughput      Summary
	PeakRSSMB       float64
	CPUPerRequestUS float64
}

type latencyFigures struct{ P50, P99, P999 float64 }

func benchTarget(ctx context.Context, f benchFlags, brokers []string, target, broker string, log *slog.Logger, stdout io.Writer) (benchResult, error) {
	res := benchResult{Target: target, Broker: broker}
	prefix := fmt.Sprintf("bench%d.", time.Now().UnixNano())

	defer func() {
		if err := deleteTopics(context.Background(), brokers, nil, prefix); err != nil {
			fmt.Fprintf(stdout, "cleanup: delete topics %s*: %v\n", prefix, err)
		}
	}()
	// On kfake the pipeline shares the floor's in-process cluster.
	s, err := startStack(ctx, stackOptions{Brokers: brokers, TopicPrefix: prefix, Partitions: 12,
		SimLatency: f.simLatency, NoClickHouse: true}, log)
	if err != nil {
		return res, err
	}
	defer s.close()
	// Warm up: the consumer groups join, the connections open and the broker's JIT compiles its
	// hot paths before anything is measured.
	fmt.Fprintln(stdout, "warm-up: 10000 unmeasured requests ...")
	warm := s.startLoad(LoadConfig{Requests: 500, Rate: 500, Encodings: []string{"single-object"}})
	if err := waitLedger(ctx, warm, 2*time.Minute); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	warm = s.startLoad(LoadConfig{Requests: 9500, MaxOutstanding: 1024, Encodings: []string{"single-object"}})
	if err := waitLedger(ctx, warm, 5*time.Minute); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}

	for rep := 1; rep <= max(f.repeat, 1); rep++ {
		fmt.Fprintf(stdout, "-- run %d of %d\n", rep, max(f.repeat, 1))
		run, err := benchOnce(ctx, f, s, brokers, fmt.Sprintf("%sfloor%d.", prefix, rep), target, stdout)
		if err != nil {
			return res, err
		}
		res.Runs = append(res.Runs, run)
	}
	return res, nil
}

func waitLedger(ctx context.Context, l *Ledger, timeout time.Duration) error {
	select {
	case <-l.Done():
		if s := l.Summary(); s.Lost > 0 {
			return fmt.Errorf("%d requests lost", s.Lost)
		}
		return nil
	case <-time.After(timeout):
		s := l.Summary()
		return fmt.Errorf("timed out after %s: %d of %d outcomes", timeout, s.OK+s.Errors+s.DLQ, s.Requests)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kafkaFloor measures the same three hops the pipeline makes (request topic, work topic,
// response topic, each produced and consumed) with nothing but franz-go forwarding records,
// using the pipeline's producer settings (acks=all, idempotent, lz4) without linger.
func kafkaFloor(ctx context.Context, brokers []string, prefix string, rate float64, n int) (latencyFigures, error) {
	topics := []string{prefix + "a", prefix + "b", prefix + "c"}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return latencyFigures{}, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopics(ctx, 12, 1, nil, topics...); err != nil {
		return latencyFigures{}, err
	}
	defer adm.DeleteTopics(context.Background(), topics...)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // stop the forwarders first, then wait for them
		wg.Wait()
	}()
	forward := func(from, to string) error {
		cl, err := kgo.NewClient(append(producers.ProducerOpts(), kgo.ProducerLinger(0), kgo.SeedBrokers(brokers...),
			kgo.ConsumeTopics(from), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachRecord(func(r *kgo.Record) {
					cl.Produce(ctx, &kgo.Record{Topic: to, Key: r.Key, Value: r.Value}, nil)
				})
			}
		}()
		return nil
	}
	if err := forward(topics[0], topics[1]); err != nil {
		return latencyFigures{}, err
	}
	if err := forward(topics[1], topics[2]); err != nil {
		return latencyFigures{}, err
	}
	sink, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics[2]),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return latencyFigures{}, err
	}
	defer sink.Close()
	prod, err := kgo.NewClient(append(producers.ProducerOpts(), kgo.ProducerLinger(0), kgo.SeedBrokers(brokers...))...)
	if err != nil {
		return latencyFigures{}, err
	}
	defer prod.Close()

	// Warm-up: unmeasured records until the first one has made all three hops (metadata,
	// connections and fetch sessions are then in place), then a few hundred more.
	var seen atomic.Int64
	lat := make([]float64, 0, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		measured := 0
		for measured < n && ctx.Err() == nil {
			fs := sink.PollFetches(ctx)
			now := time.Now().UnixNano()
			fs.EachRecord(func(r *kgo.Record) {
				seen.Add(1)
				if sent := int64(binary.BigEndian.Uint64(r.Value)); sent > 0 {
					lat = append(lat, float64(now-sent)/1e6)
					measured++
				}
			})
		}
	}()
	produce := func(i int, sentAt int64) {
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(sentAt))
		prod.Produce(ctx, &kgo.Record{Topic: topics[0], Key: []byte(strconv.Itoa(i)), Value: v}, nil)
	}
	warmDeadline := time.Now().Add(time.Minute)
	for i := 0; seen.Load() == 0; i++ {
		if time.Now().After(warmDeadline) {
			return latencyFigures{}, fmt.Errorf("floor: no record made the three hops within a minute")
		}
		produce(-1-i, 0)
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; i < 300; i++ {
		produce(-1-i, 0)
		time.Sleep(time.Duration(float64(time.Second) / rate))
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		produce(i, due.UnixNano())
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cancel()
		<-done
		return latencyFigures{}, fmt.Errorf("floor: timed out with %d of %d records", len(lat), n)
	}
	slices.Sort(lat)
	return latencyFigures{P50: quantile(lat, 0.5), P99: quantile(lat, 0.99), P999: quantile(lat, 0.999)}, nil
}

// benchOnce measures the three-hop floor, the latency at a fixed rate and the throughput once,
// on a warmed stack.
func benchOnce(ctx context.Context, f benchFlags, s *stack, brokers []string, floorPrefix, target string, stdout io.Writer) (benchRun, error) {
	var run benchRun
	// The floor runs after the warm-up too, on the same warmed broker.
	fmt.Fprintf(stdout, "floor: three bare Kafka hops at %.0f req/s ...\n", f.rate)
	floor, err := kafkaFloor(ctx, brokers, floorPrefix, f.rate, f.latencyN)
	if err != nil {
		return run, fmt.Errorf("floor: %w", err)
	}
	run.Floor = floor
	fmt.Fprintf(stdout, "  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n", floor.P50, floor.P99, floor.P999)

	fmt.Fprintf(stdout, "latency: %d requests at %.0f req/s (open loop) ...\n", f.latencyN, f.rate)
	lat := s.startLoad(LoadConfig{Requests: f.latencyN, Rate: f.rate, Encodings: []string{"single-object"}})
	if err := waitLedger(ctx, lat, 5*time.Minute); err != nil {
		return run, err
	}
	run.Latency = lat.Summary()
	fmt.Fprintf(stdout, "  p50 %.2f ms  p99 %.2f ms  lost %d  (queue before the provider call: p50 %.2f ms  p99 %.2f ms)\n",
		run.Latency.P50MS, run.Latency.P99MS, run.Latency.Lost, run.Latency.QueueP50MS, run.Latency.QueueP99MS)

	fmt.Fprintf(stdout, "throughput: %d requests as fast as they go ...\n", f.throughputN)
	resetPeakRSS()
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile + "." + target) // the last run's profile
		if err != nil {
			return run, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return run, err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuTime()
	thr := s.startLoad(LoadConfig{Requests: f.throughputN, MaxOutstanding: f.maxOutstanding, Encodings: []string{"single-object"}})
	if err := waitLedger(ctx, thr, 10*time.Minute); err != nil {
		return run, err
	}
	run.Throughput = thr.Summary()
	run.CPUPerRequestUS = (cpuTime() - cpu0).Seconds() * 1e6 / float64(f.throughputN)
	run.PeakRSSMB = peakRSSMB()
	fmt.Fprintf(stdout, "  %.0f req/s  lost %d  cpu %.0f µs/request  peak RSS %.0f MB\n",
		run.Throughput.ThroughputRPS, run.Throughput.Lost, run.CPUPerRequestUS, run.PeakRSSMB)
	return run, nil
}

func brokerVersion(ctx context.Context, brokers []string) (string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	vs, err := kadm.NewClient(cl).ApiVersions(ctx)
	if err != nil {
		return "", err
	}
	out := ""
	vs.Each(func(v kadm.BrokerApiVersions) {
		if v.Err == nil {
			out = v.VersionGuess()
		}
	})
	if out == "" {
		return "", fmt.Errorf("no broker answered ApiVersions")
	}
	return out, nil
}

func benchReport(cmdline string, f benchFlags, rs []benchResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nGenerated by `make bench` (`%s`) on %s.\n\n", cmdline, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "- Machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&b, "- franz-go %s; the provider simulator answers after %s; 12 partitions per topic; every role, the load generator\n"+
		"  and the verifier run in one process (and kfake too, on the kfake rows), so the figures include their CPU.\n",
		moduleVersion("github.com/twmb/franz-go"), f.simLatency)
	if f.brokerNote != "" {
		fmt.Fprintf(&b, "- The real broker: %s.\n", f.brokerNote)
	}
	fmt.Fprintf(&b, "- Latency is measured from each request's intended send time (open loop) to the moment the verifier\n"+
		"  reads its response; with a 0 ms simulator it is all pipeline overhead (three Kafka hops, decode, route, HTTP\n"+
		"  call to the simulator, encode, awaited acks).\n\n")
	fmt.Fprintf(&b, "Each figure is the median of %d runs on the same warmed stack, with the range in brackets.\n\n", max(f.repeat, 1))
	b.WriteString("| broker | Kafka floor p50 / p99 (3 hops) | pipeline p50 / p99 at " + strconv.FormatFloat(f.rate, 'f', 0, 64) +
		" req/s | added over floor, p50 | max throughput, zero loss | CPU per request | peak RSS |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		lost := 0
		for _, run := range r.Runs {
			lost += run.Latency.Lost + run.Throughput.Lost
		}
		col := func(get func(benchRun) float64, format string) string {
			vs := make([]float64, len(r.Runs))
			for i, run := range r.Runs {
				vs[i] = get(run)
			}
			slices.Sort(vs)
			if len(vs) == 1 {
				return fmt.Sprintf(format, vs[0])
			}
			return fmt.Sprintf(format+" ["+format+"–"+format+"]", vs[len(vs)/2], vs[0], vs[len(vs)-1])
		}
		fmt.Fprintf(&b, "| %s | %s / %s ms | %s / %s ms | %s ms | %s req/s (lost %d in all runs) | %s µs | %s MB |\n", r.Broker,
			col(func(x benchRun) float64 { return x.Floor.P50 }, "%.2f"), col(func(x benchRun) float64 { return x.Floor.P99 }, "%.1f"),
			col(func(x benchRun) float64 { return x.Latency.P50MS }, "%.2f"), col(func(x benchRun) float64 { return x.Latency.P99MS }, "%.1f"),
			col(func(x benchRun) float64 { return x.Latency.P50MS - x.Floor.P50 }, "%+.2f"),
			col(func(x benchRun) float64 { return x.Throughput.ThroughputRPS }, "%.0f"), lost,
			col(func(x benchRun) float64 { return x.CPUPerRequestUS }, "%.0f"), col(func(x benchRun) float64 { return x.PeakRSSMB }, "%.0f"))
	}
	b.WriteString("\nThroughput is measured closed-loop (the generator keeps up to " + strconv.Itoa(f.maxOutstanding) +
		" produces in flight) and counts\nterminal outcomes per second over the whole run; its latency figures are queueing, not overhead.\n")
	b.WriteString(`
Reading the figures:
- Each request costs the pipeline about eighteen Kafka records (request, work item, response and
  some fifteen audit events: docs/audit-events.md), all produced with acks=all and awaited before
  the input offset is marked. The previous run of this file, before the resilience and analytics
  work, measured thirteen records per request (ten audit events), 5209 req/s on the real broker and
  269 µs of CPU per request; since then each call also passes the breaker, limits, watchdog and
  more metrics. How the cost splits between those is not measured yet.
- The real broker shares the two cores with this process. On this VM its data directory must
  be on tmpfs for stable figures: with the data on the virtual disk, writes stall for hundreds
  of milliseconds now and then, and the broker's own three-hop floor shows p99 of 200-800 ms.
  ` + "`make bench`" + ` therefore starts a separate broker on tmpfs (port 19092) and warms its JIT with
  one unreported pass first: a cold broker answers several times slower for its first minute.
- Bar (docs: BENCHMARKS.md): >= 5,000 req/s end to end, p99 <= 10 ms at 1,000 req/s on the real
  broker. The rows above say where this build stands against it.
`)
	return b.String()
}

func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return "unknown"
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// resetPeakRSS clears the kernel's peak-RSS mark of this process (Linux: clear_refs 5).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return math.NaN()
}

func cpuTime() time.Duration {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses): utime is the 14th field overall.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
}
