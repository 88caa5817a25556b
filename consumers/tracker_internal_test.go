package consumers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// trackerHarness drives one tracker directly, with handlers the test
// releases one by one, and records every mark.
type trackerHarness struct {
	t     *testing.T
	c     *Consumer
	mu    sync.Mutex
	gates map[int64]chan struct{}
	marks []int64
}

func newTrackerHarness(t *testing.T) *trackerHarness {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	h := &trackerHarness{t: t, gates: make(map[int64]chan struct{})}
	c, err := New(Config{
		Brokers: cluster.ListenAddrs(),
		Group:   "g",
		Topics:  []string{"t"},
		Handler: func(ctx context.Context, r *kgo.Record) error {
			// Ignores ctx on purpose: a late finisher after a revoke.
			<-h.gate(r.Offset)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.mark = func(rs ...*kgo.Record) {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, r := range rs {
			h.marks = append(h.marks, r.Offset)
		}
	}
	h.c = c
	return h
}

func (h *trackerHarness) gate(o int64) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gates[o] == nil {
		h.gates[o] = make(chan struct{})
	}
	return h.gates[o]
}

func (h *trackerHarness) assign() *partition {
	k := tp{"t", 0}
	h.c.onAssigned(context.Background(), h.c.cl, map[string][]int32{"t": {0}})
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.parts[k]
}

func (h *trackerHarness) enqueue(p *partition, offsets ...int64) {
	var recs []*kgo.Record
	for _, o := range offsets {
		recs = append(recs, &kgo.Record{Topic: "t", Partition: 0, Offset: o})
	}
	h.c.acquire(len(recs))
	if !p.enqueue(recs) {
		h.t.Fatal("enqueue refused")
	}
}

// finish releases the handler of offset o and waits until its completion
// was processed.
func (h *trackerHarness) finish(o int64) {
	before := h.c.st.completed.Load() + h.c.st.fencedCompletions.Load()
	close(h.gate(o))
	deadline := time.Now().Add(5 * time.Second)
	for h.c.st.completed.Load()+h.c.st.fencedCompletions.Load() == before {
		if time.Now().After(deadline) {
			h.t.Fatalf("completion of offset %d not processed", o)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *trackerHarness) wantMarks(want ...int64) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.marks) != len(want) {
		h.t.Fatalf("marks %v, want %v", h.marks, want)
	}
	for i := range want {
		if h.marks[i] != want[i] {
			h.t.Fatalf("marks %v, want %v", h.marks, want)
		}
	}
}

// TestTrackerMarksContiguousPrefixAndFences walks the revoke race step by
// step: out-of-order completions mark only the contiguous prefix; after the
// fence, late completions never mark; a new assignment of the same partition
// starts a fresh tracker that old handlers cannot touch.
func TestTrackerMarksContiguousPrefixAndFences(t *testing.T) {
	h := newTrackerHarness(t)
	p := h.assign()
	h.enqueue(p, 10, 11, 12, 13, 14, 15)

	h.finish(12)
	h.finish(11)
	h.wantMarks() // 10 is unfinished: nothing may be marked
	h.finish(10)
	h.wantMarks(12) // 10..12 complete: mark the highest of the prefix only
	h.finish(14)
	h.wantMarks(12) // 13 still holds the prefix
	if got := h.c.Stats().InFlight; got != 3 {
		t.Fatalf("in flight %d, want 3 (13, 14 behind it, 15)", got)
	}

	// Revoke: the fence comes first; 13 and 15 finish afterwards.
	h.c.onRevoked(context.Background(), h.c.cl, map[string][]int32{"t": {0}})
	if p.ctx.Err() == nil {
		t.Fatal("revoke did not cancel the handlers' context")
	}
	h.finish(13)
	h.finish(15)
	h.wantMarks(12)
	st := h.c.Stats()
	if st.FencedCompletions != 2 || st.InFlight != 0 || st.Revoked != 1 {
		t.Fatalf("stats after revoke %+v", st)
	}

	// The partition comes back: fresh tracker; the old one stays fenced.
	p2 := h.assign()
	if p2 == nil || p2 == p {
		t.Fatal("re-assignment did not create a fresh tracker")
	}
	h.enqueue(p2, 16, 17)
	h.finish(17)
	h.finish(16)
	h.wantMarks(12, 17)
	if st := h.c.Stats(); st.Marks != 2 || st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestTrackerRoutingAfterFenceIsDropped: records routed to a fenced tracker
// are refused (the poll loop counts them stale and releases their budget).
func TestTrackerRoutingAfterFenceIsDropped(t *testing.T) {
	h := newTrackerHarness(t)
	p := h.assign()
	h.c.onLost(context.Background(), h.c.cl, map[string][]int32{"t": {0}})
	if p.enqueue([]*kgo.Record{{Topic: "t", Offset: 1}}) {
		t.Fatal("fenced tracker accepted records")
	}
	if st := h.c.Stats(); st.Lost != 1 {
		t.Fatalf("stats %+v", st)
	}
	h.c.mu.Lock()
	owned := h.c.owned[tp{"t", 0}]
	h.c.mu.Unlock()
	if owned {
		t.Fatal("lost partition still owned")
	}
}

func TestBackoffBounds(t *testing.T) {
	c := &Consumer{cfg: Config{RetryBackoff: Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}}}
	for attempt := 1; attempt < 100; attempt++ {
		d := c.backoff(attempt)
		ceil := min(100*time.Millisecond<<min(attempt-1, 20), 5*time.Second)
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, ceil/2, ceil)
		}
	}
}
