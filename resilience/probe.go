package resilience

import (
	"slices"
	"strconv"
	"time"
)

// ProbeWindow judges a provider's health from its recent health-check probes: unhealthy when
// more than MaxErrorRate of the window failed, or when the window's median latency is above
// MaxLatency (if set). Until the window is full it judges the probes it has. Not safe for
// concurrent use: one probe loop owns it.
type ProbeWindow struct {
	s       HealthCheckSettings
	ok      []bool
	lat     []time.Duration
	n       int
	scratch []time.Duration
}

// NewProbeWindow returns an empty window for (defaulted) settings.
func NewProbeWindow(s HealthCheckSettings) *ProbeWindow {
	return &ProbeWindow{s: s, ok: make([]bool, s.Window), lat: make([]time.Duration, s.Window)}
}

// Record adds a probe's outcome and returns the verdict: healthy, or not with a reason
// ("probe_errors: 3/5 failed" or "probe_latency: median 2.1s over 1s").
func (p *ProbeWindow) Record(ok bool, latency time.Duration) (healthy bool, reason string) {
	i := p.n % len(p.ok)
	p.ok[i], p.lat[i] = ok, latency
	p.n++
	size := min(p.n, len(p.ok))
	failed := 0
	p.scratch = p.scratch[:0]
	for j := range size {
		if !p.ok[j] {
			failed++
			continue
		}
		p.scratch = append(p.scratch, p.lat[j])
	}
	if float64(failed) > p.s.MaxErrorRate*float64(size) {
		return false, "probe_errors: " + strconv.Itoa(failed) + "/" + strconv.Itoa(size) + " failed"
	}
	if p.s.MaxLatency > 0 && len(p.scratch) > 0 {
		slices.Sort(p.scratch)
		if med := p.scratch[len(p.scratch)/2]; med > p.s.MaxLatency {
			return false, "probe_latency: median " + med.Round(time.Millisecond).String() + " over " + p.s.MaxLatency.String()
		}
	}
	return true, ""
}
