package toolschema

import (
	"hash/maphash"
	"sync"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Cache keeps compiled Sets by the tools' content, so that a worker compiles a tool list once
// rather than per request (compiling costs tens of microseconds; a check costs a few). It holds at
// most its size in entries and drops an arbitrary one when full. Safe for concurrent use.
type Cache struct {
	seed maphash.Seed
	size int
	mu   sync.Mutex
	m    map[uint64]cached
}

type cached struct {
	tools []schemas.Tool // compared on a hit: a hash collision must not validate against the wrong schema
	set   *Set
	err   error
}

// NewCache returns a cache of up to size compiled tool lists (default 1024 when size <= 0).
func NewCache(size int) *Cache {
	if size <= 0 {
		size = 1024
	}
	return &Cache{seed: maphash.MakeSeed(), size: size, m: make(map[uint64]cached, size)}
}

// Compile returns the compiled Set for tools, from the cache when the same list was compiled
// before. Compile errors are cached too.
func (c *Cache) Compile(tools []schemas.Tool) (*Set, error) {
	var h maphash.Hash
	h.SetSeed(c.seed)
	for i := range tools {
		_, _ = h.WriteString(tools[i].Name)
		_ = h.WriteByte(0)
		_, _ = h.WriteString(tools[i].Parameters)
		_ = h.WriteByte(0)
	}
	key := h.Sum64()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && sameTools(e.tools, tools) {
		return e.set, e.err
	}
	set, err := Compile(tools)
	c.mu.Lock()
	if len(c.m) >= c.size {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	own := make([]schemas.Tool, len(tools))
	copy(own, tools)
	c.m[key] = cached{tools: own, set: set, err: err}
	c.mu.Unlock()
	return set, err
}

func sameTools(a, b []schemas.Tool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Parameters != b[i].Parameters {
			return false
		}
	}
	return true
}
