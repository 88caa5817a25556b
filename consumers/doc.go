// Package consumers is Switchyard's consume edge: a consumer-group member
// that runs a [Handler] for every record, concurrently within and across
// partitions, and commits offsets only for work that is durably done.
//
// # Delivery
//
// At least once. A record's offset is marked for commit only after its
// handler returned nil, which by contract means every output the record
// caused was acknowledged by Kafka; per partition only the contiguous
// completed prefix is marked, so a commit never passes a record that is
// still running, waiting or failing. A failing record is retried with
// jittered exponential backoff and never skipped; poison input is the
// handler's to dead-letter (publish, await, return nil). A partition that
// was revoked is fenced before anything else happens, so a handler that
// finishes after the revoke can never mark, and the old owner never
// commits that partition again.
//
// # Imports
//
// This package imports only the standard library, franz-go, the Prometheus
// client and this repository's producers package (for the produce defaults
// of the shared client), and must stay that way: it knows nothing of
// requests, providers or routing. The handlers that give the consumer groups
// their jobs live in consumers/roles. internal/archtest enforces both.
package consumers
