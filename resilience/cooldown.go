package resilience

import (
	"sync"
	"time"
)

// Cooldowns remember, per provider, a time before which no call may go to it: the end of a
// Retry-After the provider sent, a short pause after a bare 429, or a long one after it
// refused our key. Rate limits and quotas belong to the key, so a cool-down covers every model
// of the provider.
type Cooldowns struct {
	now func() time.Time

	mu sync.RWMutex
	m  map[string]cooldown
}

type cooldown struct {
	until  time.Time
	reason string
}

// NewCooldowns returns an empty set; now nil means time.Now.
func NewCooldowns(now func() time.Time) *Cooldowns {
	if now == nil {
		now = time.Now
	}
	return &Cooldowns{now: now, m: map[string]cooldown{}}
}

// Set keeps the provider's calls back until the given time, with a reason (ReasonRetryAfter,
// ReasonRateLimited or ReasonAuth). A cool-down is only ever extended, never shortened, so
// two workers' answers cannot cut one another's wait.
func (c *Cooldowns) Set(provider string, until time.Time, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[provider]; ok && !old.until.Before(until) {
		return
	}
	c.m[provider] = cooldown{until: until, reason: reason}
}

// Check returns a Rejection while the provider cools down, else nil.
func (c *Cooldowns) Check(provider string) *Rejection {
	c.mu.RLock()
	cd, ok := c.m[provider]
	c.mu.RUnlock()
	if !ok || !c.now().Before(cd.until) {
		return nil
	}
	return &Rejection{Provider: provider, Reason: cd.reason, Until: cd.until}
}

// Until returns the end of the provider's cool-down and its reason, or a zero time.
func (c *Cooldowns) Until(provider string) (time.Time, string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cd := c.m[provider]
	if !c.now().Before(cd.until) {
		return time.Time{}, ""
	}
	return cd.until, cd.reason
}
