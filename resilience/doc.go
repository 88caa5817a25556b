// Package resilience guards provider calls: circuit breakers per provider and model, cool-downs
// that honour Retry-After and bad keys, request and token rate limits with a concurrency cap,
// per-phase timeouts for one attempt, retry backoff, hedge delays learnt from the observed time
// to first token with a budget on the extra calls, and the health verdict of a probe loop.
//
// It decides nothing about a request's route: the worker (consumers/roles) asks it whether a
// call may go out now, reports how the call ended, and chooses retry, hedge or fallback from
// the answers. It has no Kafka and no provider code; it reads failures only through the
// adapters' error taxonomy (adapters.KindOf).
//
// # How an outcome counts
//
//	kind                                   breaker       other effect
//	nil (success)                          success
//	unavailable, timeout, internal,        failure
//	malformed
//	rate_limited                           not counted   cool-down until Retry-After (or a default)
//	auth                                   not counted   cool-down of the whole provider (AuthCooldown)
//	invalid_request, context_too_long,     not counted   (the request's fault, not the provider's)
//	content_filtered
//	canceled (hedge loser, shutdown)       not counted
//
// Not counting means gobreaker's IsExcluded: the call is neither a success nor a failure, and a
// half-open probe that ends so frees its slot for another probe. Every call must report its end
// (the done func of Breakers.Allow) and every call has a deadline (Watch), so a probe can never
// hold a half-open breaker forever.
package resilience
