package resilience

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait before retry n (1 for the first retry): a random duration in [d/2, d]
// with d = min(base·2^(n-1), max). The jitter keeps the workers that failed together from
// retrying together.
func Backoff(n int, base, maxWait time.Duration) time.Duration {
	if n < 1 || base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
