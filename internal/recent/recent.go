// Package recent keeps values by key for a while: each entry lives for a TTL after it was first
// put, and at most a fixed number of entries are kept (the oldest go first). The gateway's
// idempotency replays and the roles' cancelled request ids use it.
package recent

import "time"

// Map is a bounded map of recent entries. It is not safe for concurrent use: callers lock.
type Map[V any] struct {
	ttl   time.Duration
	max   int
	byKey map[string]V
	order []entry // keys in the order they were first put
}

type entry struct {
	key string
	at  time.Time
}

// New returns an empty map keeping entries for ttl, at most max of them.
func New[V any](ttl time.Duration, max int) *Map[V] {
	return &Map[V]{ttl: ttl, max: max, byKey: map[string]V{}}
}

// Put stores v under key; an entry already there keeps its age and gets the new value.
func (m *Map[V]) Put(key string, v V, now time.Time) {
	m.expire(now)
	if _, ok := m.byKey[key]; !ok {
		m.order = append(m.order, entry{key, now})
	}
	m.byKey[key] = v
}

// Get returns the value under key, if it is still kept.
func (m *Map[V]) Get(key string, now time.Time) (V, bool) {
	m.expire(now)
	v, ok := m.byKey[key]
	return v, ok
}

// expire drops the entries older than the TTL, and the oldest beyond max.
func (m *Map[V]) expire(now time.Time) {
	n := 0
	for n < len(m.order) && (now.Sub(m.order[n].at) > m.ttl || len(m.order)-n > m.max) {
		delete(m.byKey, m.order[n].key)
		n++
	}
	if n > 0 {
		m.order = append(m.order[:0], m.order[n:]...)
	}
}
