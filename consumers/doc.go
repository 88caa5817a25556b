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
// The consume edge (Consumer, Config, Handler and their unexported helpers)
// imports only the standard library, franz-go, the Prometheus client and
// this repository's producers package (for the produce defaults of the
// shared client). It must not import router, adapters, analytics or
// cmd/switchyard: roles build on it, never the other way round.
//
// Note: router_role.go, worker_role.go, outputs.go and panic.go (RouterRole,
// WorkerRole) were added to this package by the roles change and import
// router, adapters and schemas. They use the edge only through its exported
// API; the edge's files must keep not referring to them, and they belong in
// a package of their own so that the dependency rule holds for the whole
// package.
package consumers
