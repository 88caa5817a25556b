package consumers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/consumers"
)

// TestCommitNeverPassesUnfinished runs handlers with random latency,
// concurrently within partitions, while a watcher compares the committed
// offsets with the records that have finished: a committed offset C on a
// partition requires every offset below C to have finished.
func TestCommitNeverPassesUnfinished(t *testing.T) {
	t.Parallel()
	const (
		partitions   = 6
		perPartition = 300
		maxInFlight  = 40 // below partitions × concurrency, so the global bound binds
	)
	e := newEnv(t, partitions, "in")
	e.produce("in", partitions, perPartition)

	l := newLedger()
	cfg := e.config("g-invariant", []string{"in"}, func(ctx context.Context, r *kgo.Record) error {
		l.begin(r)
		err := sleepCtx(ctx, randDur(time.Millisecond, 50*time.Millisecond))
		l.end(r, err == nil)
		return err
	})
	cfg.Concurrency = 8
	cfg.MaxInFlight = maxInFlight
	c := start(t, cfg)

	var (
		violations []string
		samples    int
		lastCommit = make(map[int32]int64)
	)
	waitFor(t, 60*time.Second, "every record processed and committed", func() bool {
		got, err := e.committed("g-invariant", "in")
		if err != nil {
			return false
		}
		samples++
		for p, off := range got {
			// Read after the commit was fetched: anything the
			// commit covers had finished before it was sent.
			if low := l.lowestUnfinished(p); off > low {
				violations = append(violations, fmt.Sprintf("partition %d: committed %d > lowest unfinished %d", p, off, low))
			}
			if off < lastCommit[p] {
				violations = append(violations, fmt.Sprintf("partition %d: commit went back from %d to %d", p, lastCommit[p], off))
			}
			lastCommit[p] = off
		}
		if in := c.Stats().InFlight; in > maxInFlight {
			violations = append(violations, fmt.Sprintf("in flight %d > MaxInFlight", in))
		}
		return len(violations) > 0 || allCommitted(got, partitions, perPartition)
	})
	if len(violations) > 0 {
		t.Fatalf("invariant violated:\n%s", strings.Join(violations, "\n"))
	}
	if err := c.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if n := l.finishedCount(); n != partitions*perPartition {
		t.Fatalf("%d distinct records finished, want %d", n, partitions*perPartition)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range int32(partitions) {
		if m := l.maxRun[p]; m > cfg.Concurrency || m < 2 {
			t.Errorf("partition %d: max concurrent handlers %d, want 2..%d", p, m, cfg.Concurrency)
		}
	}
	if l.maxTotal > maxInFlight {
		t.Errorf("max concurrent handlers overall %d > MaxInFlight %d", l.maxTotal, maxInFlight)
	}
	st := c.Stats()
	if st.NonOwnedCommits != 0 || st.Completed < partitions*perPartition || st.InFlight != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("%d commit samples, stats %+v", samples, st)
}

// TestRetriesSameRecordUntilSuccess: a record that fails transiently is
// retried (the same record, never skipped) and the partition commits past it
// only after it succeeded.
func TestRetriesSameRecordUntilSuccess(t *testing.T) {
	t.Parallel()
	const (
		records  = 30
		poison   = 7
		failures = 3
	)
	e := newEnv(t, 1, "in")
	e.produce("in", 1, records)

	l := newLedger()
	var failing atomic.Bool
	failing.Store(true)
	cfg := e.config("g-retry", []string{"in"}, func(ctx context.Context, r *kgo.Record) error {
		n := l.begin(r)
		if r.Offset == poison && n <= failures {
			l.end(r, false)
			if n == failures {
				failing.Store(false)
			}
			return errors.New("transient")
		}
		l.end(r, true)
		return nil
	})
	cfg.RetryBackoff = consumers.Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	c := start(t, cfg)

	waitFor(t, 30*time.Second, "committed to the end", func() bool {
		got, err := e.committed("g-retry", "in")
		if err != nil {
			return false
		}
		if failing.Load() && got[0] > poison {
			t.Fatalf("committed %d past the failing record %d", got[0], poison)
		}
		return got[0] == records
	})
	if got := l.attemptsOf(0, poison); got != failures+1 {
		t.Fatalf("failing record attempted %d times, want %d", got, failures+1)
	}
	for o := range int64(records) {
		if o != poison && l.attemptsOf(0, o) != 1 {
			t.Fatalf("record %d attempted %d times, want 1", o, l.attemptsOf(0, o))
		}
	}
	st := c.Stats()
	if st.Retries != failures || st.HandlerErrors != failures {
		t.Fatalf("stats %+v: want %d retries and handler errors", st, failures)
	}
}

// TestPanicCallsOnPanicAndPartitionContinues: a handler that panics on every
// attempt for one record does not crash the process; OnPanic (here: a stand-in
// for dead-lettering) is called with the value and stack, and since it
// returns nil the partition moves on and commits to the end.
func TestPanicCallsOnPanicAndPartitionContinues(t *testing.T) {
	t.Parallel()
	const records = 20
	e := newEnv(t, 2, "in")
	e.produce("in", 2, records)

	type call struct {
		partition int32
		offset    int64
		value     any
		stack     string
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	l := newLedger()
	cfg := e.config("g-panic", []string{"in"}, func(ctx context.Context, r *kgo.Record) error {
		l.begin(r)
		if r.Partition == 0 && r.Offset == 3 {
			panic("boom")
		}
		l.end(r, true)
		return nil
	})
	cfg.OnPanic = func(ctx context.Context, r *kgo.Record, v any, stack []byte) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{r.Partition, r.Offset, v, string(stack)})
		return nil // dead-lettered and acknowledged
	}
	c := start(t, cfg)

	waitFor(t, 30*time.Second, "both partitions committed to the end", func() bool {
		got, err := e.committed("g-panic", "in")
		return err == nil && allCommitted(got, 2, records)
	})
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("OnPanic called %d times, want 1: %+v", len(calls), calls)
	}
	if got := calls[0]; got.partition != 0 || got.offset != 3 || got.value != "boom" || !strings.Contains(got.stack, "consumer_test.go") {
		t.Fatalf("OnPanic got partition %d offset %d value %v, stack mentioning the handler: %v",
			got.partition, got.offset, got.value, strings.Contains(got.stack, "consumer_test.go"))
	}
	if st := c.Stats(); st.Panics != 1 || st.Retries != 0 {
		t.Fatalf("stats %+v: want 1 panic, 0 retries", st)
	}
}

// TestPanicWithoutOnPanicIsRetried: with no OnPanic, a panic is a retryable
// error; the record is retried, not skipped.
func TestPanicWithoutOnPanicIsRetried(t *testing.T) {
	t.Parallel()
	const records = 10
	e := newEnv(t, 1, "in")
	e.produce("in", 1, records)
	l := newLedger()
	c := start(t, e.config("g-panic-retry", []string{"in"}, func(ctx context.Context, r *kgo.Record) error {
		if l.begin(r) == 1 && r.Offset == 4 {
			panic(errors.New("first attempt explodes"))
		}
		l.end(r, true)
		return nil
	}))
	waitFor(t, 30*time.Second, "committed to the end", func() bool {
		got, err := e.committed("g-panic-retry", "in")
		return err == nil && got[0] == records
	})
	if n := l.attemptsOf(0, 4); n != 2 {
		t.Fatalf("panicking record attempted %d times, want 2", n)
	}
	if st := c.Stats(); st.Panics != 1 || st.Retries != 1 {
		t.Fatalf("stats %+v: want 1 panic and 1 retry", st)
	}
}

// TestRebalanceFencesRevokedPartitions: consumer A is busy on all
// partitions, each holding one record that only finishes when cancelled or
// released, when B joins and takes half of the partitions; later B leaves
// while busy and A gets them back (fresh trackers). Some handlers ignore
// their context, so they finish after the revoke. Neither member may commit
// a partition it does not own (checked on every commit request each sends),
// and every record must be processed by the end (duplicates allowed).
func TestRebalanceFencesRevokedPartitions(t *testing.T) {
	t.Parallel()
	const (
		partitions   = 12
		perPartition = 300
		held         = 100 // offset A holds on every partition
		group        = "g-rebalance"
	)
	e := newEnv(t, partitions, "in")
	e.produce("in", partitions, perPartition)

	l := newLedger()
	release := make(chan struct{})
	var aCancelled atomic.Int64
	handler := func(isA bool) consumers.Handler {
		return func(ctx context.Context, r *kgo.Record) error {
			l.begin(r)
			if isA && r.Offset == held {
				select {
				case <-ctx.Done():
					aCancelled.Add(1)
					l.end(r, false)
					return ctx.Err()
				case <-release:
				}
			}
			d := randDur(5*time.Millisecond, 30*time.Millisecond)
			if r.Offset%5 == 0 {
				time.Sleep(d) // a late finisher: ignores the revoke
				l.end(r, true)
				return nil
			}
			err := sleepCtx(ctx, d)
			l.end(r, err == nil)
			return err
		}
	}
	a := start(t, e.config(group, []string{"in"}, handler(true)))
	waitFor(t, 30*time.Second, "A to hold a record on every partition", func() bool {
		for p := range int32(partitions) {
			if l.attemptsOf(p, held) == 0 {
				return false
			}
		}
		return true
	})
	b := start(t, e.config(group, []string{"in"}, handler(false)))
	waitFor(t, 30*time.Second, "the revoke to cancel A's held records", func() bool {
		return aCancelled.Load() > 0
	})
	// The revoke's statistics are updated when its callback returns.
	waitFor(t, 30*time.Second, "A's revoke to finish", func() bool { return a.Stats().Revoked > 0 })
	close(release)
	waitFor(t, 30*time.Second, "B to be busy", func() bool { return b.Stats().Completed >= 200 })
	b.Close() // leaves while busy: A gets the partitions back

	waitFor(t, 60*time.Second, "every record processed and committed", func() bool {
		got, err := e.committed(group, "in")
		return err == nil && allCommitted(got, partitions, perPartition)
	})
	if err := a.stop(t); err != nil {
		t.Errorf("A Run: %v", err)
	}
	if n := l.finishedCount(); n != partitions*perPartition {
		t.Fatalf("%d distinct records finished, want %d", n, partitions*perPartition)
	}
	sa, sb := a.Stats(), b.Stats()
	t.Logf("A: %+v", sa)
	t.Logf("B: %+v", sb)
	t.Logf("A handlers cancelled by the revoke: %d", aCancelled.Load())
	if sb.Assigned == 0 {
		t.Fatal("no partitions moved from A to B")
	}
	if sa.Assigned <= partitions {
		t.Fatalf("A assigned %d partitions in total: B's never came back", sa.Assigned)
	}
	if sa.NonOwnedCommits != 0 || sb.NonOwnedCommits != 0 {
		t.Fatalf("commits for non-owned partitions: A %d, B %d", sa.NonOwnedCommits, sb.NonOwnedCommits)
	}
}

// TestBudgetSpreadsAcrossPartitions: with a deep backlog on every partition
// and slow handlers, the poll budget must not pile up on the partitions that
// come first in a fetch: every partition runs handlers at the same time and
// no partition holds more than 8×Concurrency records.
func TestBudgetSpreadsAcrossPartitions(t *testing.T) {
	t.Parallel()
	const (
		partitions   = 12
		perPartition = 400
		concurrency  = 4
	)
	e := newEnv(t, partitions, "in")
	e.produce("in", partitions, perPartition)
	l := newLedger()
	cfg := e.config("g-spread", []string{"in"}, func(ctx context.Context, r *kgo.Record) error {
		l.begin(r)
		err := sleepCtx(ctx, 30*time.Millisecond)
		l.end(r, err == nil)
		return err
	})
	cfg.Concurrency = concurrency
	c := start(t, cfg)
	// Each partition needs 100 rounds of 30 ms; if the budget piled up
	// on a few partitions, the others would not start for seconds.
	waitFor(t, 20*time.Second, "handlers running on every partition at once", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		busy := 0
		for p := range int32(partitions) {
			if l.running[p] > 0 {
				busy++
			}
		}
		return busy == partitions
	})
	if done := l.finishedCount(); done > partitions*perPartition/2 {
		t.Fatalf("only reached all partitions after %d of %d records", done, partitions*perPartition)
	}
	if w := c.Stats().MaxWindow; w >= 8*concurrency {
		t.Fatalf("a partition held %d records, want < %d", w, 8*concurrency)
	}
}

// TestStuckPartitionDoesNotStarveOthers: a record that keeps failing holds
// its partition's commit point, but with a small MaxInFlight the other
// partitions still finish (the stuck partition is paused once its window is
// full), the budget is never exceeded, and the partition completes once the
// record succeeds.
func TestStuckPartitionDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	const (
		partitions   = 4
		perPartition = 200
		maxInFlight  = 64
		group        = "g-stuck"
	)
	e := newEnv(t, partitions, "in")
	e.produce("in", partitions, perPartition)
	var stuck atomic.Bool
	stuck.Store(true)
	cfg := e.config(group, []string{"in"}, func(ctx context.Context, r *kgo.Record) error {
		if r.Partition == 0 && r.Offset == 2 && stuck.Load() {
			return errors.New("output topic unavailable")
		}
		return sleepCtx(ctx, time.Millisecond)
	})
	cfg.Concurrency = 4
	cfg.MaxInFlight = maxInFlight
	c := start(t, cfg)

	waitFor(t, 30*time.Second, "healthy partitions to commit to the end", func() bool {
		if in := c.Stats().InFlight; in > maxInFlight {
			t.Fatalf("in flight %d > MaxInFlight %d", in, maxInFlight)
		}
		got, err := e.committed(group, "in")
		if err != nil {
			return false
		}
		if got[0] > 2 {
			t.Fatalf("partition 0 committed %d past its failing record", got[0])
		}
		return got[1] == perPartition && got[2] == perPartition && got[3] == perPartition
	})
	stuck.Store(false)
	waitFor(t, 30*time.Second, "the stuck partition to finish", func() bool {
		got, err := e.committed(group, "in")
		return err == nil && got[0] == perPartition
	})
	if st := c.Stats(); st.Retries == 0 || st.NonOwnedCommits != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCrashedConsumerWorkIsReprocessed: A's handler never finishes one
// record per partition; A is stopped without drain. Its commits stop before
// the stuck records, and B in the same group processes them (no loss).
func TestCrashedConsumerWorkIsReprocessed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		stop func(t *testing.T, r *running)
	}{
		{"close", func(t *testing.T, r *running) { r.Close() }},
		{"cancel-tiny-drain", func(t *testing.T, r *running) { _ = r.stop(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const (
				partitions   = 3
				perPartition = 10
				stuck        = 4
			)
			e := newEnv(t, partitions, "in")
			e.produce("in", partitions, perPartition)
			group := "g-crash-" + tc.name

			la := newLedger()
			cfgA := e.config(group, []string{"in"}, func(ctx context.Context, r *kgo.Record) error {
				la.begin(r)
				if r.Offset == stuck {
					<-ctx.Done() // never finishes on its own
					la.end(r, false)
					return ctx.Err()
				}
				la.end(r, true)
				return nil
			})
			cfgA.DrainTimeout = time.Millisecond
			a := start(t, cfgA)
			waitFor(t, 30*time.Second, "A to finish everything but the stuck records", func() bool {
				return la.finishedCount() == partitions*(perPartition-1)
			})
			tc.stop(t, a)

			got, err := e.committed(group, "in")
			if err != nil {
				t.Fatal(err)
			}
			for p := range int32(partitions) {
				if got[p] > stuck {
					t.Fatalf("partition %d committed %d past the unfinished record %d", p, got[p], stuck)
				}
			}

			lb := newLedger()
			b := start(t, e.config(group, []string{"in"}, func(ctx context.Context, r *kgo.Record) error {
				lb.begin(r)
				lb.end(r, true)
				return nil
			}))
			waitFor(t, 30*time.Second, "B to commit to the end", func() bool {
				got, err := e.committed(group, "in")
				return err == nil && allCommitted(got, partitions, perPartition)
			})
			for p := range int32(partitions) {
				if lb.attemptsOf(p, stuck) == 0 {
					t.Fatalf("partition %d: B never processed the record A abandoned", p)
				}
			}
			if st := b.Stats(); st.NonOwnedCommits != 0 {
				t.Fatalf("B stats %+v", st)
			}
		})
	}
}

// TestGracefulStopDrainsInFlight: cancelling Run's context lets running
// handlers finish (within DrainTimeout) and commits their work.
func TestGracefulStopDrainsInFlight(t *testing.T) {
	t.Parallel()
	const records = 8
	e := newEnv(t, 1, "in")
	e.produce("in", 1, records)
	l := newLedger()
	var started atomic.Int64
	cfg := e.config("g-drain", []string{"in"}, func(ctx context.Context, r *kgo.Record) error {
		l.begin(r)
		started.Add(1)
		time.Sleep(300 * time.Millisecond) // ignores ctx on purpose: drain must wait
		l.end(r, true)
		return nil
	})
	cfg.Concurrency = records
	cfg.DrainTimeout = 10 * time.Second
	c := start(t, cfg)
	waitFor(t, 30*time.Second, "all records running", func() bool { return started.Load() == records })
	if err := c.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got, err := e.committed("g-drain", "in")
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != records {
		t.Fatalf("committed %d after a graceful stop, want %d", got[0], records)
	}
	if st := c.Stats(); st.FencedCompletions != 0 || st.Completed != records {
		t.Fatalf("stats %+v", st)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	_, err := consumers.New(consumers.Config{
		Brokers:      []string{""},
		Topics:       []string{"a", "a", ""},
		Concurrency:  -1,
		MaxInFlight:  -2,
		RetryBackoff: consumers.Backoff{Min: time.Second, Max: time.Millisecond},
		DrainTimeout: -time.Second,
	})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{
		"Brokers[0]", "Group: required", "Topics[1]: duplicate", "Topics[2]: empty",
		"Handler: required", "Concurrency", "MaxInFlight", "RetryBackoff: Min", "DrainTimeout",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestCloseIdempotentAndRunAfterClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, "in")
	c, err := consumers.New(e.config("g-close", []string{"in"}, func(context.Context, *kgo.Record) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(c.Close)
	}
	wg.Wait()
	c.Close()
	if err := c.Run(context.Background()); !errors.Is(err, consumers.ErrClosed) {
		t.Fatalf("Run after Close: %v, want ErrClosed", err)
	}
}

func TestMetricsRegistered(t *testing.T) {
	t.Parallel()
	const records = 5
	e := newEnv(t, 1, "in")
	e.produce("in", 1, records)
	reg := prometheus.NewRegistry()
	cfg := e.config("g-metrics", []string{"in"}, func(context.Context, *kgo.Record) error { return nil })
	cfg.Registerer = reg
	c := start(t, cfg)
	waitFor(t, 30*time.Second, "records completed", func() bool { return c.Stats().Completed == records })

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var v float64
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				v = float64(m.GetHistogram().GetSampleCount())
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "partition" {
					t.Errorf("metric %s has a partition label", mf.GetName())
				}
			}
			got[mf.GetName()] += v
		}
	}
	for name, want := range map[string]float64{
		"switchyard_consumer_records_consumed_total":   records,
		"switchyard_consumer_records_completed_total":  records,
		"switchyard_consumer_handler_duration_seconds": records,
		"switchyard_consumer_records_in_flight":        0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if got["switchyard_consumer_partitions_total"] < 1 {
		t.Errorf("no partitions_total: %v", got)
	}
}
