package router

import (
	"sync"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// DefaultHealthTTL is how long a health record counts after its timestamp. Publishers (health
// checkers, circuit breakers) must restate a status well within it, e.g. every TTL/3; a
// publisher that dies stops keeping a provider out of the pool one TTL after its last word.
const DefaultHealthTTL = 60 * time.Second

// HealthTable is the routers' view of llm.provider.health: the latest status of each provider
// (model "") and of each single model, by the record's own timestamp, so a record replayed or
// delivered late never overrides a newer one. It implements HealthView. It is safe for
// concurrent use.
type HealthTable struct {
	ttl time.Duration
	now func() time.Time

	mu sync.RWMutex
	m  map[healthKey]schemas.ProviderHealth
}

type healthKey struct{ provider, model string }

// NewHealthTable returns an empty table. ttl <= 0 means DefaultHealthTTL; now nil means
// time.Now.
func NewHealthTable(ttl time.Duration, now func() time.Time) *HealthTable {
	if ttl <= 0 {
		ttl = DefaultHealthTTL
	}
	if now == nil {
		now = time.Now
	}
	return &HealthTable{ttl: ttl, now: now, m: map[healthKey]schemas.ProviderHealth{}}
}

// HealthKey is the llm.provider.health record key of a provider's model ("" for the whole
// provider).
func HealthKey(provider, model string) string { return provider + "|" + model }

// Apply takes a health record and reports whether it changed the table: a record older than
// the one held for its provider and model is ignored, as is one without a provider.
func (h *HealthTable) Apply(rec schemas.ProviderHealth) bool {
	if rec.Provider == "" {
		return false
	}
	k := healthKey{rec.Provider, rec.Model}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.m[k]; ok && old.TS > rec.TS {
		return false
	}
	h.m[k] = rec
	return true
}

// Forget drops what is known of a provider's model (a tombstone on the topic).
func (h *HealthTable) Forget(provider, model string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, healthKey{provider, model})
}

// Unhealthy implements HealthView: the model is out when a fresh record marks it, or its whole
// provider, unhealthy. Records older than the TTL count as unknown, and unknown is healthy; so
// do records dated more than a TTL ahead (a publisher with a wrong clock cannot pin a status).
func (h *HealthTable) Unhealthy(provider, model string) (string, bool) {
	now := h.now()
	lo, hi := now.Add(-h.ttl).UnixMilli(), now.Add(h.ttl).UnixMilli()
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := func(rec schemas.ProviderHealth, ok bool) bool {
		return ok && rec.Status == schemas.HealthUnhealthy && rec.TS >= lo && rec.TS <= hi
	}
	if rec, ok := h.m[healthKey{provider, ""}]; out(rec, ok) {
		return reasonOr(rec.Reason), true
	}
	if model == "" {
		return "", false
	}
	if rec, ok := h.m[healthKey{provider, model}]; out(rec, ok) {
		return reasonOr(rec.Reason), true
	}
	return "", false
}

func reasonOr(r string) string {
	if r == "" {
		return "unhealthy"
	}
	return r
}
