// Package roles holds the handlers the consumer groups run: RouterRole (decode, validate and
// route each request to a provider's work topic) and WorkerRole (call the provider through its
// adapter, publish the response, stream and audit trail, or the next hop of the fallback chain).
// Each handler returns only once every output it caused is acknowledged by Kafka, as the
// consumers package's Handler contract asks.
//
// It imports adapters (the contract, never a concrete adapter), router, producers and schemas;
// never analytics or cmd/switchyard.
package roles
