package gateway

import (
	"sync"
	"time"

	"github.com/switchyard-llm/switchyard/internal/recent"
	"github.com/switchyard-llm/switchyard/schemas"
)

// replayCache keeps the answers to calls made with an Idempotency-Key for a while, so that a
// client retrying such a call (after a timeout on its side, say) gets the same answer instead
// of a second request. Bounded in entries; the oldest go first.
type replayCache struct {
	mu   sync.Mutex
	byID *recent.Map[*schemas.Response]
}

func newReplayCache(ttl time.Duration, max int) *replayCache {
	return &replayCache{byID: recent.New[*schemas.Response](ttl, max)}
}

func (c *replayCache) put(id string, resp *schemas.Response) {
	if resp == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID.Put(id, resp, time.Now())
}

func (c *replayCache) get(id string) (*schemas.Response, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID.Get(id, time.Now())
}
