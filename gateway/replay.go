package gateway

import (
	"sync"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// replayCache keeps the answers to calls made with an Idempotency-Key for a while, so that a
// client retrying such a call (after a timeout on its side, say) gets the same answer instead
// of a second request. Bounded in entries; the oldest go first.
type replayCache struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	byID  map[string]*schemas.Response
	order []replayEntry
}

type replayEntry struct {
	id string
	at time.Time
}

func newReplayCache(ttl time.Duration, max int) *replayCache {
	return &replayCache{ttl: ttl, max: max, byID: map[string]*schemas.Response{}}
}

func (c *replayCache) put(id string, resp *schemas.Response) {
	if resp == nil {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if _, ok := c.byID[id]; !ok {
		c.order = append(c.order, replayEntry{id, now})
	}
	c.byID[id] = resp
}

func (c *replayCache) get(id string) (*schemas.Response, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(time.Now())
	r, ok := c.byID[id]
	return r, ok
}

func (c *replayCache) expire(now time.Time) {
	n := 0
	for n < len(c.order) && (now.Sub(c.order[n].at) > c.ttl || len(c.order)-n > c.max) {
		delete(c.byID, c.order[n].id)
		n++
	}
	if n > 0 {
		c.order = append(c.order[:0], c.order[n:]...)
	}
}
