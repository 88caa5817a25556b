package dashboard

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// filters are an endpoint's validated query parameters.
type filters struct {
	sinceRaw string    // as given (normalized to the default when absent): the cache key
	since    time.Time // first instant included
	tenant   string    // "" for every tenant
	bucket   string    // minute, hour or day (auto resolved)
}

const (
	defaultSince = "24h"
	// maxWindow bounds how far back a query may look.
	maxWindow    = 400 * 24 * time.Hour
	maxTenantLen = 128
	// maxBuckets bounds the points of a time series (e.g. minutes over at most 25 hours).
	maxBuckets = 1500
)

// knownParams are the query parameters any endpoint accepts; anything else is a 400, so a typo
// ("tennant=") is not silently ignored.
var knownParams = []string{"since", "tenant", "bucket"}

// parseFilters reads since, tenant and bucket:
//   - since: a duration before now ("90m", "24h", "7d": a Go duration or whole days) or an RFC 3339
//     instant; default 24h; at most 400 days back, not in the future.
//   - tenant: one tenant id (printable, at most 128 bytes); absent or empty for every tenant.
//   - bucket: minute, hour, day or auto (default: minutes for windows up to 3h, hours up to 72h,
//     else days); at most 1500 buckets in the window.
func parseFilters(q url.Values, now time.Time) (filters, error) {
	for k, v := range q {
		if !slices.Contains(knownParams, k) {
			return filters{}, badRequestf("unknown parameter %q (known: %s)", k, strings.Join(knownParams, ", "))
		}
		if len(v) > 1 {
			return filters{}, badRequestf("parameter %q given %d times", k, len(v))
		}
	}
	f := filters{sinceRaw: strings.TrimSpace(q.Get("since")), tenant: q.Get("tenant")}
	if f.sinceRaw == "" {
		f.sinceRaw = defaultSince
	}
	var err error
	if f.since, err = parseSince(f.sinceRaw, now); err != nil {
		return filters{}, err
	}
	if len(f.tenant) > maxTenantLen {
		return filters{}, badRequestf("tenant: longer than %d bytes", maxTenantLen)
	}
	for _, r := range f.tenant {
		if !unicode.IsPrint(r) {
			return filters{}, badRequestf("tenant: %q has a non-printable character", f.tenant)
		}
	}
	window := now.Sub(f.since)
	switch b := q.Get("bucket"); b {
	case "minute", "hour", "day":
		f.bucket = b
	case "", "auto":
		switch {
		case window <= 3*time.Hour:
			f.bucket = "minute"
		case window <= 72*time.Hour:
			f.bucket = "hour"
		default:
			f.bucket = "day"
		}
	default:
		return filters{}, badRequestf("bucket: %q is not minute, hour, day or auto", b)
	}
	if n := window / (time.Duration(f.step()) * time.Second); n > maxBuckets {
		return filters{}, badRequestf("bucket: %s over %s is %d buckets, more than %d: choose a longer bucket", f.bucket, f.sinceRaw, n, maxBuckets)
	}
	return f, nil
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if t.After(now) {
			return time.Time{}, badRequestf("since: %s is in the future", s)
		}
		if now.Sub(t) > maxWindow {
			return time.Time{}, badRequestf("since: %s is more than 400 days ago", s)
		}
		return t.UTC(), nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return time.Time{}, badRequestf("since: %q is not a duration (90m, 24h, 7d) or an RFC 3339 time", s)
		}
		if n > 400 {
			return time.Time{}, badRequestf("since: %q is more than 400 days", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return time.Time{}, badRequestf("since: %q is not a duration (90m, 24h, 7d) or an RFC 3339 time", s)
		}
	}
	if d <= 0 {
		return time.Time{}, badRequestf("since: %q must be > 0", s)
	}
	if d > maxWindow {
		return time.Time{}, badRequestf("since: %q is more than 400 days", s)
	}
	return now.Add(-d).UTC().Truncate(time.Second), nil
}

func (f filters) key() string {
	return f.sinceRaw + "\x00" + f.tenant + "\x00" + f.bucket
}

// step is the bucket length in seconds.
func (f filters) step() int {
	switch f.bucket {
	case "minute":
		return 60
	case "day":
		return 86400
	}
	return 3600
}
