package consumers_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/consumers"
	"github.com/switchyard-llm/switchyard/producers"
)

// env is one kfake cluster plus a plain client for producing test input and
// reading committed offsets.
type env struct {
	t       testing.TB
	cluster *kfake.Cluster
	cl      *kgo.Client
	adm     *kadm.Client
}

func newEnv(t testing.TB, partitions int32, topics ...string) *env {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	opts := append(producers.ProducerOpts(),
		kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{t: t, cluster: cluster, cl: cl, adm: kadm.NewClient(cl)}
}

// produce writes perPartition records to every partition of topic; values
// are "p/o".
func (e *env) produce(topic string, partitions int32, perPartition int) {
	e.t.Helper()
	var recs []*kgo.Record
	for o := range perPartition {
		for p := range partitions {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d/%d", p, o)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(recs) > 0 {
		n := min(len(recs), 5000)
		if err := producers.ProduceAll(ctx, e.cl, recs[:n]...); err != nil {
			e.t.Fatalf("produce input: %v", err)
		}
		recs = recs[n:]
	}
}

// committed returns the group's committed offsets for topic (missing
// partitions are absent).
func (e *env) committed(group, topic string) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := e.adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64)
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.Topic == topic && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// config is the baseline consumer config for tests: short commit interval
// and heartbeats so tests observe commits and rebalances quickly.
func (e *env) config(group string, topics []string, h consumers.Handler) consumers.Config {
	return consumers.Config{
		Brokers:        e.cluster.ListenAddrs(),
		Group:          group,
		Topics:         topics,
		Handler:        h,
		CommitInterval: 100 * time.Millisecond,
		RetryBackoff:   consumers.Backoff{Min: 5 * time.Millisecond, Max: 50 * time.Millisecond},
		Logger:         testLogger(),
		ExtraOpts: []kgo.Opt{
			kgo.HeartbeatInterval(100 * time.Millisecond),
			kgo.FetchMaxWait(200 * time.Millisecond),
		},
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("CONSUMERS_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// running is a consumer whose Run goroutine the test owns.
type running struct {
	*consumers.Consumer
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, cfg consumers.Config) *running {
	t.Helper()
	c, err := consumers.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Consumer: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		c.Close()
		<-r.done
		r.done <- nil // let a later stop() return
	})
	return r
}

// stop cancels Run and returns its error.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancel")
		return nil
	}
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ledger records what handlers did, per partition and offset.
type ledger struct {
	mu       sync.Mutex
	finished map[int32]map[int64]int // successful completions
	attempts map[int32]map[int64]int
	running  map[int32]int
	maxRun   map[int32]int
	total    int
	maxTotal int
}

func newLedger() *ledger {
	return &ledger{
		finished: make(map[int32]map[int64]int),
		attempts: make(map[int32]map[int64]int),
		running:  make(map[int32]int),
		maxRun:   make(map[int32]int),
	}
}

func bump(m map[int32]map[int64]int, p int32, o int64) {
	if m[p] == nil {
		m[p] = make(map[int64]int)
	}
	m[p][o]++
}

func (l *ledger) begin(r *kgo.Record) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	bump(l.attempts, r.Partition, r.Offset)
	l.running[r.Partition]++
	l.maxRun[r.Partition] = max(l.maxRun[r.Partition], l.running[r.Partition])
	l.total++
	l.maxTotal = max(l.maxTotal, l.total)
	return l.attempts[r.Partition][r.Offset]
}

// end must be called before the handler returns; ok marks success.
func (l *ledger) end(r *kgo.Record, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running[r.Partition]--
	l.total--
	if ok {
		bump(l.finished, r.Partition, r.Offset)
	}
}

// lowestUnfinished returns, for partition p, the lowest offset that has not
// finished yet (offsets start at 0 and are contiguous in these tests).
func (l *ledger) lowestUnfinished(p int32) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := int64(0)
	for l.finished[p][o] > 0 {
		o++
	}
	return o
}

func (l *ledger) finishedCount() (distinct int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.finished {
		distinct += len(m)
	}
	return distinct
}

func (l *ledger) attemptsOf(p int32, o int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attempts[p][o]
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func randDur(lo, hi time.Duration) time.Duration {
	return lo + rand.N(hi-lo+1)
}

// allCommitted reports whether every partition committed want.
func allCommitted(got map[int32]int64, partitions int32, want int64) bool {
	for p := range partitions {
		if got[p] != want {
			return false
		}
	}
	return true
}
