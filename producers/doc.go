// Package producers is Switchyard's produce edge: client options with safe
// defaults for every role that writes to Kafka, a helper that produces a set
// of records and waits until Kafka has acknowledged every one of them, and
// idempotent topic provisioning.
//
// Every role that consumes a record and produces its outputs (router,
// workers, the DLQ path) must await the acknowledgements of those outputs
// before the input's offset may be marked: see [ProduceAll] and the
// consumers package. Fire-and-forget producing (franz-go's DLQ example) is
// never safe here.
//
// It also holds the client upstream Go services use: [Requester] publishes
// requests and, when asked, awaits each one's response and stream on a reply
// partition of its own ([HeaderReplyPartition], [ReplyPartitioner]).
//
// This package is a Kafka edge only: it imports the standard library,
// franz-go (kgo, kadm, kerr) and, of this repository, schemas alone. In
// particular it must not import router, adapters, analytics, consumers or
// cmd/switchyard; those depend on it, never the other way round.
package producers
