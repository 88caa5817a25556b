package router

import (
	"strings"
	"sync"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// DefaultHealthTTL is how long a health record counts after its timestamp. Publishers (health
// checkers, circuit breakers) must restate a status well within it, e.g. every TTL/3; a
// publisher that dies stops keeping a provider out of the pool one TTL after its last word.
const DefaultHealthTTL = 60 * time.Second

// HealthTable is the routers' view of llm.provider.health: the latest status of each provider
// (model "") and of each single model from each source (a worker's breakers, its probe loop, an
// operator), by the record's own timestamp, so a record replayed or delivered late never
// overrides a newer one. A model is out of the pool while any source's fresh record says so:
// one worker's open breaker is not undone by another's probe that happened to pass. It
// implements HealthView. It is safe for concurrent use.
type HealthTable struct {
	ttl time.Duration
	now func() time.Time

	mu sync.RWMutex
	m  map[healthKey]schemas.ProviderHealth
}

type healthKey struct{ provider, model, source string }

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

// HealthKey is the llm.provider.health record key of a source's word on a provider's model
// ("" for the whole provider): "<provider>|<model>|<source>", so that compaction keeps the
// latest record of each source.
func HealthKey(provider, model, source string) string { return provider + "|" + model + "|" + source }

// SplitHealthKey parses a HealthKey; a key without a source ("<provider>|<model>") has source "".
func SplitHealthKey(k string) (provider, model, source string, ok bool) {
	provider, rest, ok := strings.Cut(k, "|")
	if !ok {
		return "", "", "", false
	}
	model, source, _ = strings.Cut(rest, "|")
	return provider, model, source, true
}

// Apply takes a health record and reports whether it changed the table: a record older than
// the one held for its provider and model is ignored, as is one without a provider.
func (h *HealthTable) Apply(rec schemas.ProviderHealth) bool {
	if rec.Provider == "" {
		return false
	}
	k := healthKey{rec.Provider, rec.Model, rec.Source}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.m[k]; ok && old.TS > rec.TS {
		return false
	}
	h.m[k] = rec
	return true
}

// Forget drops what a source said of a provider's model (a tombstone on the topic).
func (h *HealthTable) Forget(provider, model, source string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, healthKey{provider, model, source})
}

// Unhealthy implements HealthView: the model is out when a fresh record marks it, or its whole
// provider, unhealthy. Records older than the TTL count as unknown, and unknown is healthy; so
// do records dated more than a TTL ahead (a publisher with a wrong clock cannot pin a status).
func (h *HealthTable) Unhealthy(provider, model string) (string, bool) {
	now := h.now()
	lo, hi := now.Add(-h.ttl).UnixMilli(), now.Add(h.ttl).UnixMilli()
	h.mu.RLock()
	defer h.mu.RUnlock()
	// A handful of records per provider: a scan is cheaper than an index to keep.
	for k, rec := range h.m {
		if k.provider == provider && (k.model == "" || k.model == model) &&
			rec.Status == schemas.HealthUnhealthy && rec.TS >= lo && rec.TS <= hi {
			return reasonOr(rec.Reason), true
		}
	}
	return "", false
}

func reasonOr(r string) string {
	if r == "" {
		return "unhealthy"
	}
	return r
}
