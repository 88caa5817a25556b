package consumers

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// entry is one record handed to a tracker.
type entry struct {
	rec  *kgo.Record
	done bool
}

// partition tracks the records of one assignment of one partition. A new
// assignment of the same partition gets a new partition value; an old one is
// fenced forever.
//
// The window (order) holds every record from the lowest unfinished one to
// the newest polled one: queued, running, and completed behind an
// unfinished one. Each counts against MaxInFlight until the completed prefix
// passes it, so memory stays bounded even when one record is stuck.
type partition struct {
	c      *Consumer
	key    tp
	ctx    context.Context // handlers' context; cancelled by the fence
	cancel context.CancelFunc
	m      topicMetrics

	mu sync.Mutex
	// hwm is the partition's high watermark as of its latest fetch with records (-1 before
	// the first); next is the offset after the newest record enqueued. Both feed lag.
	hwm, next int64
	fenced    bool
	paused    bool
	order     []*entry // the window, in offset order
	queue     []*entry // not started yet, in offset order
	running   int      // handler goroutines working for this tracker
}

func (c *Consumer) newPartition(k tp) *partition {
	ctx, cancel := context.WithCancel(c.hardCtx)
	return &partition{
		c:      c,
		key:    k,
		ctx:    ctx,
		cancel: cancel,
		m:      c.m.forTopic(k.topic),
		hwm:    -1,
	}
}

// fetched records the high watermark a fetch of the partition reported.
func (p *partition) fetched(hwm int64) {
	p.mu.Lock()
	p.hwm = max(p.hwm, hwm)
	p.mu.Unlock()
}

// lag is the number of records between the partition's commit point (its oldest unfinished
// record, or the offset after the newest enqueued one when all are done) and the high
// watermark of its latest fetch; 0 before the first fetch with records.
func (p *partition) lag() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hwm < 0 || p.fenced {
		return 0
	}
	at := p.next
	if len(p.order) > 0 {
		at = p.order[0].rec.Offset
	}
	return max(p.hwm-at, 0)
}

// enqueue appends polled records (in offset order) and starts handlers up to
// Concurrency. It reports false, taking nothing, if the tracker is fenced or
// the consumer is draining.
func (p *partition) enqueue(recs []*kgo.Record) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fenced || p.c.draining.Load() {
		return false
	}
	for _, r := range recs {
		e := &entry{rec: r}
		p.order = append(p.order, e)
		p.queue = append(p.queue, e)
	}
	if n := len(recs); n > 0 {
		p.next = recs[n-1].Offset + 1
	}
	for w := int64(len(p.order)); ; {
		m := p.c.st.maxWindow.Load()
		if w <= m || p.c.st.maxWindow.CompareAndSwap(m, w) {
			break
		}
	}
	for p.running < p.c.cfg.Concurrency && len(p.queue) > 0 {
		e := p.popLocked()
		p.running++
		p.c.active.Add(1)
		go p.c.work(p, e)
	}
	p.maybePauseLocked()
	return true
}

// maybePauseLocked pauses fetching for a partition whose window is full:
// it has enough work, so the poll budget goes to the other partitions.
func (p *partition) maybePauseLocked() {
	if !p.paused && len(p.order) >= p.c.pauseAt {
		p.paused = true
		p.c.cl.PauseFetchPartitions(map[string][]int32{p.key.topic: {p.key.partition}})
	}
}

func (p *partition) resumeLocked() {
	if p.paused {
		p.paused = false
		p.c.cl.ResumeFetchPartitions(map[string][]int32{p.key.topic: {p.key.partition}})
	}
}

func (p *partition) popLocked() *entry {
	e := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	return e
}

// complete records the outcome of e and returns the next entry this worker
// should run, or nil if the worker should exit.
//
// The fence check and the mark happen under p.mu, the lock the fence takes:
// a handler that finishes after the fence can never mark.
func (p *partition) complete(e *entry, ok bool) *entry {
	p.mu.Lock()
	next, passed := p.completeLocked(e, ok)
	p.mu.Unlock()
	p.c.release(passed)
	return next
}

func (p *partition) completeLocked(e *entry, ok bool) (next *entry, passed int) {
	if p.fenced {
		if ok {
			p.c.st.fencedCompletions.Add(1)
			p.m.fenced.Inc()
		}
		p.running--
		return nil, 0
	}
	if ok {
		e.done = true
		// Advance the contiguous completed prefix and mark its end.
		var last *kgo.Record
		for passed < len(p.order) && p.order[passed].done {
			last = p.order[passed].rec
			p.order[passed] = nil
			passed++
		}
		p.order = p.order[passed:]
		if len(p.order) <= p.c.resumeAt {
			p.resumeLocked()
		}
		if last != nil {
			p.c.mark(last)
			p.c.st.marks.Add(1)
		}
		// Counted after the mark, so whoever sees the count also sees the mark.
		p.c.st.completed.Add(1)
		p.m.completed.Inc()
	}
	// !ok without a fence means the consumer is abandoning in-flight
	// work and fences next: stop here.
	if !ok || p.c.draining.Load() || len(p.queue) == 0 {
		p.running--
		return nil, passed
	}
	return p.popLocked(), passed
}

// fence stops the tracker for good: no mark after this returns, queued
// records are dropped (never started), handlers' contexts are cancelled,
// and the window's records stop counting against MaxInFlight.
func (p *partition) fence() {
	p.mu.Lock()
	p.fenced = true
	dropped := len(p.order)
	p.queue = nil
	p.order = nil
	p.resumeLocked()
	p.mu.Unlock()
	p.cancel()
	p.c.release(dropped)
}

// dropQueued stops the records that have not started (shutdown). They stay
// in the window as unfinished, so the completed prefix stops before them.
func (p *partition) dropQueued() {
	p.mu.Lock()
	p.queue = nil
	p.mu.Unlock()
}
