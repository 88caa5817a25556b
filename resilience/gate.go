package resilience

import "context"

type gateKey struct{}

// WithGate returns a context whose HTTP requests, sent through Transport, first ask gate:
// an error refuses the request before a byte leaves (the error is returned by RoundTrip).
// The worker's gate re-checks the provider's cool-down at the last moment, so that a
// Retry-After learnt while this call was being prepared still keeps it from going out.
func WithGate(ctx context.Context, gate func() error) context.Context {
	return context.WithValue(ctx, gateKey{}, gate)
}
